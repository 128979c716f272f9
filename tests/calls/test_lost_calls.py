"""Calls whose news got lost: a start whose answer Pilot Status never delivered, and a live call whose webhooks
stopped coming. AskCall never sends POST /v1/calls twice; it finds out from Pilot Status instead (the call's
webhooks, its list of calls, GET /v1/calls/{id}) and tells the page and the thread what really happened."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.config import Settings
from bot.fakes.pilot_status import CallBehaviour, FakeCall, FakePilotStatus
from bot.fakes.slack import FakeSlack
from bot.services.calls import QUIET
from tests.calls.askcall import calling_askcall, click_call_now, granted_request, link_in
from tests.calls.helpers import AiortcCaller, wait_until
from tests.conftest import ManualClock, Server
from tests.e2e.helpers import E164, db_rows, replies

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def app(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus, clock: ManualClock
) -> AsyncIterator[Server]:
    async with calling_askcall(settings, slack, pilot, clock=clock) as server:
        yield server


class Page:
    """What the call page does over HTTP, with an aiortc stand-in for the browser's WebRTC."""

    def __init__(self, app: Server, request_id: int, cookie: str) -> None:
        self.app = app
        self.base = f"{app.url}/call/r/{request_id}"
        self.headers = {"Cookie": cookie, "Origin": app.url}
        self.caller = AiortcCaller()

    @classmethod
    async def open(cls, app: Server) -> tuple[Page, dict[str, Any]]:
        request_id, parent = await granted_request(app)
        link = link_in(await click_call_now(app, request_id))
        redeemed = await app.http.get(link, allow_redirects=False)
        assert redeemed.status == 200
        morsel = redeemed.cookies["askcall_call"]
        return cls(app, request_id, f"askcall_call={morsel.value}"), parent

    async def offer(self) -> aiohttp.ClientResponse:
        return await self.app.http.post(
            f"{self.base}/offer", json={"sdp": await self.caller.offer()}, headers=self.headers
        )

    async def states(self, until: str) -> list[dict[str, Any]]:
        """The stream's updates until `until` (or a final state)."""
        seen = []
        headers = {"Cookie": self.headers["Cookie"], "Sec-Fetch-Site": "same-origin"}
        async with self.app.http.get(f"{self.base}/events", headers=headers) as events:
            async for line in events.content:
                if line.startswith(b"data: "):
                    seen.append({k: v for k, v in json.loads(line[6:]).items() if k != "now"})
                    if seen[-1]["state"] in (until, "ended", "failed"):
                        break
        return seen

    async def hang_up(self) -> None:
        assert (await self.app.http.post(f"{self.base}/hangup", headers=self.headers)).status == 200

    async def close(self) -> None:
        await self.caller.close()


def starts(pilot: FakePilotStatus) -> int:
    return len(pilot.requests_to("POST", "/v1/calls"))


def call_lines(app: Server, parent: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in replies(app.slack, parent) if m.get("text", "").startswith(("📞", "📵", "⚠️"))]


@pytest.mark.parametrize("webhooks", [True, False], ids=["found-by-webhook", "found-in-the-call-list"])
@pytest.mark.parametrize("lost", ["answer lost", "5xx after ringing"])
async def test_a_start_whose_answer_was_lost_is_found_not_resent(
    app: Server, clock: ManualClock, webhooks: bool, lost: str
) -> None:
    app.pilot.call_behaviour = CallBehaviour(answer_after=0.5)
    if not webhooks:
        app.pilot.webhooks.clear()  # nothing tells AskCall: it must look in Pilot Status's list of calls
    page, parent = await Page.open(app)
    try:
        if lost == "answer lost":
            app.pilot.lose_answer_next("POST", "/v1/calls")
        else:  # a gateway's 502 after Pilot Status asked Meta to ring: nothing says a 5xx means "not started"
            app.pilot.act_then_fail_next("POST", "/v1/calls", status=502, body={"error": "bad gateway"})
        offer = await page.offer()
        assert offer.status == 202 and await offer.json() == {"callId": None, "pending": True}
        seen = await page.states("connected")
        assert seen[-1]["state"] == "connected" and seen[-1]["sdpAnswer"], seen
        await page.caller.accept(seen[-1]["sdpAnswer"])
        (fake_call,) = app.pilot.calls.values()
        assert fake_call.biz_opaque and fake_call.biz_opaque.startswith("askcall:call")
        phone = fake_call.peer
        assert phone is not None
        await wait_until(lambda: phone.frames_received > 5, what="the customer to hear the caller")
        await page.hang_up()
        if not webhooks:  # nothing will say it ended but Pilot Status itself, when asked
            await app.wait_idle()
            assert app.pilot.calls[fake_call.id].ended_at is not None
            clock.advance(QUIET + 30)  # the store stamps changes in real time: well past them
            await app.askcall.calls.sweep()
        ended = await page.states("ended")
        assert ended[-1]["state"] == "ended", ended
    finally:
        await page.close()
    await app.wait_idle()
    assert starts(app.pilot) == 1  # never resent
    rows = await db_rows(app.askcall.settings, "SELECT * FROM calls")
    assert len(rows) == 1 and rows[0]["pilot_call_id"] == fake_call.id and rows[0]["state"] == "ended"
    lines = call_lines(app, parent)
    assert len(lines) == 1 and lines[0]["text"].startswith("📞") and "em andamento" not in lines[0]["text"]


@pytest.mark.parametrize("how", ["connection dropped", "5xx"])
async def test_a_start_pilot_status_never_made_is_said_to_have_not_started(
    app: Server, clock: ManualClock, how: str
) -> None:
    page, parent = await Page.open(app)
    try:
        if how == "5xx":  # refused before it rang, but AskCall can't know that: looked for, then said not started
            app.pilot.script("POST", "/v1/calls", status=503, body={"error": "no", "code": "UPSTREAM_TIMEOUT"})
        else:
            app.pilot.drop_connection_next("POST", "/v1/calls")  # read, never handled: no call exists
        offer = await page.offer()
        assert offer.status == 202
        await app.askcall.calls.sweep()  # too early: the start may still be on its way somewhere
        assert (await db_rows(app.askcall.settings, "SELECT state FROM calls")) == [{"state": "started"}]
        clock.advance(10 * 60)
        await app.askcall.calls.sweep()
        assert (await page.states("failed"))[-1] == {"state": "failed", "reason": "NOT_STARTED", "seconds": None}
    finally:
        await page.close()
    assert starts(app.pilot) == 1 and not app.pilot.calls
    await app.wait_idle()
    lines = call_lines(app, parent)  # the thread hears of the try, and what to do next
    assert [m["text"] for m in lines] == [
        "⚠️ <@U1> tentou ligar — a Pilot Status não confirmou e a ligação não começou. Tente de novo."
    ]


async def test_hanging_up_before_a_lost_start_is_found_terminates_it_when_found(app: Server) -> None:
    app.pilot.call_behaviour = CallBehaviour(answer_after=None, ring_timeout=20)
    app.pilot.webhooks.clear()
    page, _ = await Page.open(app)
    try:
        app.pilot.lose_answer_next("POST", "/v1/calls")
        assert (await page.offer()).status == 202
        await page.hang_up()  # before AskCall found the call: it rings at the customer's
        (fake_call,) = app.pilot.calls.values()
        await wait_until(lambda: fake_call.ended_at is not None, what="the ringing call to be terminated")
    finally:
        await page.close()
    assert len(app.pilot.requests_to("POST", f"/v1/calls/{fake_call.id}/terminate")) == 1
    rows = await db_rows(app.askcall.settings, "SELECT * FROM calls")
    assert rows[0]["state"] == "failed" and rows[0]["end_reason"] == "CANCELLED"
    assert rows[0]["pilot_call_id"] == fake_call.id


async def test_a_stream_between_two_updates_when_its_call_ends_still_tells_the_end(app: Server) -> None:
    """The page's stream is suspended after an update while the server writes it; if the call ends meanwhile
    (this process re-reads the followed call), the stream's next update is the end, never the stream's end
    without it (the page would show a live call that is over)."""
    app.pilot.call_behaviour = CallBehaviour(answer_after=0.2)
    page, _ = await Page.open(app)
    updates = None
    try:
        assert (await page.offer()).status == 200
        seen = await page.states("connected")
        await page.caller.accept(seen[-1]["sdpAnswer"])
        session = await app.askcall.calls.session(page.headers["Cookie"].split("=", 1)[1])
        assert session is not None
        updates = app.askcall.calls.page_updates(session)
        assert (await anext(updates))["state"] == "connected"  # suspended at its yield, as while written
        await page.hang_up()
        # Another stream of the same call (sharing what this process follows) sees it end: the followed row is
        # the ended one now, while the first stream has not asked for its next update yet.
        assert (await page.states("ended"))[-1]["state"] == "ended"
        end = await anext(updates)
        assert end["state"] == "ended" and end["reason"] == "completed", end
    finally:
        if updates is not None:
            await updates.aclose()
        await page.close()


async def call_whose_webhooks_stop(app: Server) -> tuple[Page, dict[str, Any], FakeCall]:
    """A connected call whose end Pilot Status never announces; returns once the customer hung up."""
    app.pilot.call_behaviour = CallBehaviour(answer_after=0.2, hang_up_after=1.0)
    page, parent = await Page.open(app)
    try:
        assert (await page.offer()).status == 200
        seen = await page.states("connected")
        await page.caller.accept(seen[-1]["sdpAnswer"])
        app.pilot.webhooks.clear()  # the end of the call will never be announced
        (fake_call,) = app.pilot.calls.values()
        await wait_until(lambda: fake_call.ended_at is not None, timeout=15, what="the customer to hang up")
    except BaseException:
        await page.close()
        raise
    return page, parent, fake_call


async def test_a_call_whose_webhooks_stopped_is_settled_by_asking(app: Server, clock: ManualClock) -> None:
    page, parent, fake_call = await call_whose_webhooks_stop(app)
    try:
        await app.askcall.calls.sweep()  # not quiet for long yet: not asked
        asked = app.pilot.requests_to("GET", f"/v1/calls/{fake_call.id}")
        assert all("includeSdp" in r.query for r in asked)  # only the answer SDP was read
        clock.advance(QUIET + 30)  # the store stamps changes in real time: well past them
        await app.askcall.calls.sweep()
        assert (await page.states("ended"))[-1] == {
            "state": "ended",
            "reason": "completed",
            "seconds": fake_call.duration,
        }
    finally:
        await page.close()
    await app.wait_idle()
    lines = call_lines(app, parent)
    assert len(lines) == 1 and lines[0]["text"].endswith(" s") and "em andamento" not in lines[0]["text"]
    rows = await db_rows(app.askcall.settings, "SELECT * FROM calls")
    assert rows[0]["duration"] == fake_call.duration


async def test_the_sweep_loop_itself_settles_a_call_whose_webhooks_stopped(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus, clock: ManualClock
) -> None:
    """Nobody calls `sweep()`: the loop `askcall serve` runs (every ASKCALL_CALLS_SWEEP_SECONDS) asks Pilot Status
    about the quiet call by itself."""
    async with calling_askcall(settings, slack, pilot, clock=clock, calls_sweep_seconds=0.2) as app:
        page, parent, fake_call = await call_whose_webhooks_stop(app)
        try:
            clock.advance(QUIET + 30)  # quiet long enough to be asked about, at the loop's next round
            ended = (await page.states("ended"))[-1]
            assert ended == {"state": "ended", "reason": "completed", "seconds": fake_call.duration}
        finally:
            await page.close()
        await app.wait_idle()
        assert len(call_lines(app, parent)) == 1
        assert app.pilot.requests_to("GET", f"/v1/calls/{fake_call.id}")


async def test_another_tools_call_to_the_same_customer_is_not_taken_for_a_lost_start(
    app: Server, clock: ManualClock
) -> None:
    app.pilot.call_behaviour = CallBehaviour(answer_after=None, ring_timeout=20)
    page, _ = await Page.open(app)
    other = AiortcCaller()
    try:
        app.pilot.drop_connection_next("POST", "/v1/calls")  # AskCall's start never happened
        assert (await page.offer()).status == 202
        # Meanwhile another tool calls the same customer through the same number: its webhooks reach AskCall.
        foreign = await app.http.post(
            f"{app.pilot.base_url}/v1/calls",
            json={"to": E164, "sdp": await other.offer(), "bizOpaqueCallbackData": "crm:42"},
            headers={"x-api-key": app.pilot.api_key},
        )
        assert foreign.status == 200
        foreign_id = (await foreign.json())["id"]
        await wait_until(lambda: len(app.pilot.calls[foreign_id].events) > 0, what="the foreign call's webhook")
        await app.wait_idle()
        clock.advance(10 * 60)
        await app.askcall.calls.sweep()
        assert (await page.states("failed"))[-1] == {"state": "failed", "reason": "NOT_STARTED", "seconds": None}
    finally:
        await page.close()
        await other.close()
    rows = await db_rows(app.askcall.settings, "SELECT pilot_call_id, state FROM calls")
    assert rows == [{"pilot_call_id": None, "state": "failed"}]
    assert app.pilot.calls[foreign_id].ended_at is None or app.pilot.calls[foreign_id].status == "MISSED"
    assert not app.pilot.requests_to("POST", f"/v1/calls/{foreign_id}/terminate")
