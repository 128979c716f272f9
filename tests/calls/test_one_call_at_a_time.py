"""Calls without a browser, over real HTTP (issue 17 §1, §2, §4, §6): at most one live call per customer, whole
offer bodies under the body deadline, bounded event streams that share one read of the answer SDP, the call
webhooks the SDK allows (no callId), a hang-up whatever terminate's 2xx says, and a web number that takes a start
without the browser's offer.

The offers here are plain SDP text the fake accepts; the customer never picks up unless a test says so (no WebRTC
needed), so each test is about what AskCall asks of Pilot Status and tells the page and the thread."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import aiohttp
import pytest

from bot.config import Settings, WhatsAppNumber
from bot.fakes.pilot_status import CallBehaviour, FakePilotStatus, WebCalls, call_event
from bot.fakes.slack import FakeSlack
from bot.i18n import Translator
from tests.calls.askcall import calling_askcall, click_call_now, granted_request, link_in
from tests.calls.helpers import wait_until
from tests.conftest import REP, Server
from tests.e2e.helpers import E164, db_rows, post_webhook, replies

OTHER_REP = "U2"
# What the fake takes as a business offer (it only answers it with WebRTC once the customer picks up).
OFFER = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    "c=IN IP4 0.0.0.0\r\na=setup:active\r\na=rtpmap:111 opus/48000/2\r\n"
)
TEAM_NUMBER = WhatsAppNumber("vendas-rj", "ps_rj_key", "whsec_rj", frozenset({"C2"}))


@pytest.fixture
async def app(settings: Settings, slack: FakeSlack, pilot: FakePilotStatus) -> AsyncIterator[Server]:
    pilot.call_behaviour = CallBehaviour(answer_after=None)  # the phone rings until the test says otherwise
    async with calling_askcall(settings, slack, pilot) as server:
        yield server


async def page_session(app: Server, request_id: int, user: str = REP) -> dict[str, str]:
    """A page session of `user` on the request ("Call now", the link followed): the headers its page sends."""
    link = link_in(await click_call_now(app, request_id, user=user))
    async with app.http.get(link, allow_redirects=False) as response:
        assert response.status == 200
        cookie = response.cookies["askcall_call"].value
    return {"Cookie": f"askcall_call={cookie}", "Origin": app.url}


async def offer(app: Server, request_id: int, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    async with app.http.post(f"{app.url}/call/r/{request_id}/offer", json={"sdp": OFFER}, headers=headers) as r:
        return r.status, await r.json()


async def hang_up(app: Server, request_id: int, headers: dict[str, str]) -> dict[str, Any]:
    async with app.http.post(f"{app.url}/call/r/{request_id}/hangup", headers=headers) as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


def stream_headers(headers: dict[str, str]) -> dict[str, str]:
    """What a browser's EventSource sends: the cookie, no Origin, Sec-Fetch-Site."""
    return {"Cookie": headers["Cookie"], "Sec-Fetch-Site": "same-origin"}


def starts(pilot: FakePilotStatus) -> int:
    return len(pilot.requests_to("POST", "/v1/calls"))


def call_lines(app: Server, parent: dict[str, Any]) -> list[str]:
    return [m.get("text", "") for m in replies(app.slack, parent) if m.get("text", "").startswith(("📞", "📵", "⚠️"))]


# ---------------------------------------------------------------------------------------------------- §1
async def test_concurrent_offers_from_one_page_start_one_call_and_one_hang_up_ends_it(app: Server) -> None:
    """A double click, or an offer sent again: the customer's phone rings once, every answer names that call, and
    one hang-up ends it (a second one says nothing is live)."""
    app.pilot.script("POST", "/v1/calls", delay=0.3)  # slow to start: the other offers arrive while it is in flight
    request_id, parent = await granted_request(app)
    headers = await page_session(app, request_id)

    answers = await asyncio.gather(*(offer(app, request_id, headers) for _ in range(5)))

    assert [status for status, _ in answers] == [200] * 5, answers
    assert starts(app.pilot) == 1
    assert {body["callId"] for _, body in answers} - {None} == {"call_FAKE1"}
    assert sum(bool(body.get("repeated")) for _, body in answers) == 4
    assert len(await db_rows(app.askcall.settings, "SELECT id FROM calls")) == 1
    again = await offer(app, request_id, headers)  # later still, while it rings: the same call
    assert again == (200, {"callId": "call_FAKE1", "repeated": True})

    assert await hang_up(app, request_id, headers) == {"ok": True, "ended": True}
    await wait_until(lambda: app.pilot.calls["call_FAKE1"].status == "COMPLETED", what="the call to be hung up")
    await wait_until(lambda: app.askcall.tasks.__len__() == 0, what="AskCall to settle")
    await app.wait_idle()
    assert await hang_up(app, request_id, headers) == {"ok": True, "ended": False}
    assert len(app.pilot.requests_to("POST", "/v1/calls/call_FAKE1/terminate")) == 1
    assert len(call_lines(app, parent)) == 1, call_lines(app, parent)  # one call, one line in the thread


async def test_a_second_page_is_refused_naming_who_is_on_the_call_and_each_page_keeps_its_own(app: Server) -> None:
    """The rep calls from one tab; their teammate (or another tab) on the same customer is refused before Pilot
    Status is asked, told who is on the call and since when, and its hang-up ends nothing. The thread hears of
    one call only; the first page follows and ends its own call; then the second page can call."""
    app.slack.user_names[REP] = "Maria Souza"
    request_id, parent = await granted_request(app)
    mine, theirs = await page_session(app, request_id), await page_session(app, request_id, user=OTHER_REP)
    before = time.time()
    assert (await offer(app, request_id, mine))[0] == 200

    status, refused = await offer(app, request_id, theirs)

    assert (status, refused["code"], refused["by"]) == (409, "CALL_IN_PROGRESS", "Maria Souza")
    since = datetime.fromisoformat(refused["since"].replace("Z", "+00:00")).timestamp()
    assert before - 1 <= since <= time.time()
    assert starts(app.pilot) == 1  # refused before Pilot Status was asked
    assert await hang_up(app, request_id, theirs) == {"ok": True, "ended": False}
    await wait_until(lambda: app.pilot.calls["call_FAKE1"].status == "RINGING", what="the first call to ring")
    assert app.pilot.requests_to("POST", "/v1/calls/call_FAKE1/terminate") == []
    await app.wait_idle()
    assert len(call_lines(app, parent)) == 1, call_lines(app, parent)

    # The first page follows its own call to its end.
    async with app.http.get(f"{app.url}/call/r/{request_id}/events", headers=stream_headers(mine)) as stream:
        assert (await next_state(stream))["state"] == "ringing"
        assert await hang_up(app, request_id, mine) == {"ok": True, "ended": True}
        assert (await next_state(stream))["state"] == "ended"
    await wait_until(lambda: app.pilot.calls["call_FAKE1"].status == "COMPLETED", what="the call to be hung up")
    await wait_until(lambda: app.askcall.tasks.__len__() == 0, what="AskCall to settle")
    await asyncio.sleep(0.2)  # the call.ended webhook lands
    # Over: the customer can be called again, from the other page.
    assert (await offer(app, request_id, theirs))[0] == 200
    assert starts(app.pilot) == 2


async def next_state(stream: aiohttp.ClientResponse, timeout: float = 10.0) -> dict[str, Any]:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        async for line in stream.content:
            if line.startswith(b"data: "):
                update: dict[str, Any] = json.loads(line[6:])
                return update
    raise AssertionError("the stream ended")


# ---------------------------------------------------------------------------------------------------- §2
async def raw_offer(app: Server, request_id: int, headers: dict[str, str], pieces: list[bytes], pause: float) -> int:
    """POST the offer body in `pieces`, `pause` seconds apart (chunked encoding), over a raw connection: the
    HTTP status AskCall answers."""
    host, port = app.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        head = (
            f"POST /call/r/{request_id}/offer HTTP/1.1\r\nHost: {host}\r\nOrigin: {headers['Origin']}\r\n"
            f"Cookie: {headers['Cookie']}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
            "Connection: close\r\n\r\n"
        )
        writer.write(head.encode())
        for n, piece in enumerate(pieces):
            if n:
                await asyncio.sleep(pause)
            writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 15)
        return int(status_line.split()[1])
    finally:
        writer.close()


async def test_an_offer_sent_in_pieces_is_read_whole_within_the_body_deadline_and_limit(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    pilot.call_behaviour = CallBehaviour(answer_after=None)
    async with calling_askcall(settings, slack, pilot, body_timeout=1.0) as app:
        request_id, _ = await granted_request(app)
        headers = await page_session(app, request_id)
        body = json.dumps({"sdp": OFFER}).encode()

        assert await raw_offer(app, request_id, headers, [body[:40], body[40:]], pause=0.2) == 200
        assert starts(pilot) == 1
        assert await hang_up(app, request_id, headers) == {"ok": True, "ended": True}

        # A body that never finishes gets 408 at the deadline; one past the offer's size limit, 413.
        host, port = app.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            (
                f"POST /call/r/{request_id}/offer HTTP/1.1\r\nHost: {host}\r\nOrigin: {headers['Origin']}\r\n"
                f"Cookie: {headers['Cookie']}\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
                '{"sdp": "v=0'
            ).encode()
        )
        began = time.monotonic()
        status_line = await asyncio.wait_for(reader.readline(), 15)
        writer.close()
        assert int(status_line.split()[1]) == 408 and time.monotonic() - began < 10
        huge = json.dumps({"sdp": "v=0\r\n" + "a=x\r\n" * 20_000}).encode()
        assert await raw_offer(app, request_id, headers, [huge], pause=0) == 413
        assert starts(pilot) == 1


async def test_event_streams_are_limited_per_page_session_and_in_all(
    app: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.web.call_page.MAX_STREAMS", 6, raising=False)
    request_id, _ = await granted_request(app)
    first, second = await page_session(app, request_id), await page_session(app, request_id)
    url = f"{app.url}/call/r/{request_id}/events"
    opened: list[aiohttp.ClientResponse] = []
    try:
        for _ in range(4):  # MAX_STREAMS_PER_SESSION
            opened.append(await app.http.get(url, headers=stream_headers(first)))
        fifth = await app.http.get(url, headers=stream_headers(first))
        assert (fifth.status, (await fifth.json())["code"]) == (429, "TOO_MANY_STREAMS")
        for _ in range(2):
            opened.append(await app.http.get(url, headers=stream_headers(second)))
        over = await app.http.get(url, headers=stream_headers(second))  # 6 open in all
        assert (over.status, (await over.json())["code"]) == (429, "TOO_MANY_STREAMS")
        assert [r.status for r in opened] == [200] * 6
        opened.pop().close()  # one page goes away: its slot is free again within a second or so
        await asyncio.sleep(1.5)
        opened.append(await app.http.get(url, headers=stream_headers(second)))
        assert opened[-1].status == 200
    finally:
        for response in opened:
            response.close()


async def connected_without_an_answer(app: Server) -> tuple[int, dict[str, Any], dict[str, str]]:
    """A call from a page that Pilot Status says is connected (its webhook) while it has no answer SDP to give (the
    fake's call still rings): (request id, status message, the page's headers)."""
    request_id, parent = await granted_request(app)
    headers = await page_session(app, request_id)
    assert (await offer(app, request_id, headers))[0] == 200
    assert (await post_webhook(app, call_event("call.connected", "call_FAKE1", "ACCEPTED", customer=E164)))[0] == 200
    return request_id, parent, headers


async def test_forty_streams_of_a_connected_call_read_its_answer_once_with_backoff(
    app: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pilot Status says the call connected, but has no answer SDP yet: the 40 open streams don't each ask it
    every second (on the key permission requests use); one read per call, backing off."""
    monkeypatch.setattr("bot.web.call_page.MAX_STREAMS_PER_SESSION", 40, raising=False)
    request_id, _, headers = await connected_without_an_answer(app)
    reads_before = len(app.pilot.requests_to("GET", "/v1/calls/call_FAKE1"))
    url = f"{app.url}/call/r/{request_id}/events"
    streams = [await app.http.get(url, headers=stream_headers(headers)) for _ in range(40)]
    try:
        assert [s.status for s in streams] == [200] * 40
        await asyncio.sleep(3.0)
        reads = len(app.pilot.requests_to("GET", "/v1/calls/call_FAKE1")) - reads_before
        assert 1 <= reads <= 6, reads  # 0, 0.25, 0.75, 1.75 s… (it was 40 a second)
    finally:
        for stream in streams:
            stream.close()


async def test_a_connected_call_whose_answer_sdp_never_comes_is_ended_with_a_clear_reason(
    app: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.services.calls.ANSWER_WAIT", 1.0, raising=False)
    request_id, parent, headers = await connected_without_an_answer(app)
    async with app.http.get(f"{app.url}/call/r/{request_id}/events", headers=stream_headers(headers)) as stream:
        update = await next_state(stream)
        assert (update["state"], update["reason"]) == ("failed", "NO_ANSWER_SDP")
    await wait_until(lambda: app.pilot.calls["call_FAKE1"].status == "COMPLETED", what="the call to be hung up")
    await app.wait_idle()
    assert call_lines(app, parent) == [Translator("pt-BR").t("call.no_browser_audio", user=REP)]


# ---------------------------------------------------------------------------------------------------- §4
async def test_call_webhooks_without_a_call_id_are_kept_and_matched(app: Server) -> None:
    """The SDK allows `callId: null`: such an event is stored and applied, by the provider's id, else by the
    customer's one live call; nothing is dropped."""
    app.pilot.call_behaviour = CallBehaviour(ring_after=30, answer_after=None)  # the fake's own webhooks wait
    request_id, parent = await granted_request(app)
    headers = await page_session(app, request_id)
    assert (await offer(app, request_id, headers))[0] == 200
    ringing = {**call_event("call.ringing", "x", "RINGING", customer=E164), "callId": None}
    ringing["externalCallId"] = "wacid.FAKE1"
    assert (await post_webhook(app, ringing))[0] == 200
    ended = {**call_event("call.ended", "x", "REJECTED", customer=E164), "callId": None}
    assert (await post_webhook(app, ended))[0] == 200  # no id at all: the customer's live call

    rows = await db_rows(app.askcall.settings, "SELECT state, end_reason, external_call_id FROM calls")
    assert rows == [{"state": "ended", "end_reason": "rejected", "external_call_id": "wacid.FAKE1"}]
    stored = await db_rows(app.askcall.settings, "SELECT event FROM webhook_events WHERE event LIKE 'call.%'")
    assert sorted(e["event"] for e in stored if e["event"] != "call.permission_updated") == [
        "call.ended",
        "call.ringing",
    ]
    assert (await post_webhook(app, ended))[0] == 200  # a redelivery: stored once
    assert len(await db_rows(app.askcall.settings, "SELECT id FROM webhook_events WHERE event = 'call.ended'")) == 1
    await app.wait_idle()
    assert call_lines(app, parent) == [Translator("pt-BR").t("call.rejected", user=REP)]


@pytest.mark.parametrize("status", [200, 204])
async def test_a_hang_up_is_done_whatever_body_terminates_2xx_has(app: Server, status: int) -> None:
    request_id, _ = await granted_request(app)
    headers = await page_session(app, request_id)
    assert (await offer(app, request_id, headers))[0] == 200
    app.pilot.script("POST", "/v1/calls/call_FAKE1/terminate", status=status, body=b"" if status == 200 else None)
    assert await hang_up(app, request_id, headers) == {"ok": True, "ended": True}
    (terminate,) = app.pilot.requests_to("POST", "/v1/calls/call_FAKE1/terminate")
    assert "content-type" not in terminate.headers and terminate.json is None  # as the SDK sends it


# ---------------------------------------------------------------------------------------------------- §6
@pytest.mark.parametrize("web_calls", [WebCalls.REFUSE, WebCalls.ACCEPT])
async def test_a_web_number_either_refuses_the_start_or_takes_it_without_audio_and_askcall_hangs_up(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus, web_calls: WebCalls
) -> None:
    """What Pilot Status does with a browser's offer on a web (EVO_GO) number is not documented. Refused:
    the page and the thread say a web number can't call from the browser. Taken, with the offer dropped (no
    answer SDP will ever come): AskCall hangs up at once, so the customer is not left ringing, and says why."""
    pilot.call_behaviour = CallBehaviour(ring_after=0.5, answer_after=0.5)  # would ring, then pick up
    pilot.web_calls = web_calls
    pilot.accepted_keys.add(TEAM_NUMBER.api_key)
    (channel,) = TEAM_NUMBER.channels
    async with calling_askcall(settings, slack, pilot, extra_numbers=(TEAM_NUMBER,)) as app:
        request_id, parent = await granted_request(app, channel=channel, number=TEAM_NUMBER)
        pilot.web_keys.add(TEAM_NUMBER.api_key)  # the team's number became a web number since the grant
        headers = await page_session(app, request_id)

        status, body = await offer(app, request_id, headers)

        assert starts(pilot) == 1
        tr = Translator("pt-BR")
        if web_calls is WebCalls.REFUSE:
            assert (status, body["code"]) == (400, "FEATURE_NOT_SUPPORTED")
            assert pilot.calls == {}
            line = tr.t("call.unsupported", user=REP)
        else:
            assert (status, body["code"]) == (502, "NO_ANSWER_SDP")
            call = pilot.calls["call_FAKE1"]
            assert call.status == "COMPLETED" and call.connected_at is None  # hung up before the customer picked up
            assert [e["event"] for e in call.events] == ["call.ended"]  # it never even rang
            assert len(pilot.requests_to("POST", "/v1/calls/call_FAKE1/terminate")) == 1
            line = tr.t("call.no_browser_audio", user=REP)
        await app.wait_idle()
        rows = await db_rows(app.askcall.settings, "SELECT state, end_reason FROM calls")
        assert rows == [{"state": "failed", "end_reason": body["code"]}]
        assert call_lines(app, parent) == [line]


async def test_a_meta_numbers_call_shown_without_its_offer_is_not_hung_up_on_that_alone(app: Server) -> None:
    """`sdpOffer` null is what a web number shows; a Meta number showing it too (undocumented) is not taken for a
    web number: its calling settings answer, so the call goes on (and its answer SDP is waited for)."""
    request_id, _ = await granted_request(app)
    headers = await page_session(app, request_id)
    shown = {"id": "call_FAKE1", "status": "RINGING", "sdpOffer": None, "sdpAnswer": None}
    app.pilot.script("GET", "/v1/calls/call_FAKE1", body=shown)
    assert await offer(app, request_id, headers) == (200, {"callId": "call_FAKE1"})
    assert len(app.pilot.requests_to("GET", "/v1/calls/settings")) == 1
    assert app.pilot.requests_to("POST", "/v1/calls/call_FAKE1/terminate") == []
    rows = await db_rows(app.askcall.settings, "SELECT state FROM calls")
    assert rows[0]["state"] in ("started", "ringing")
