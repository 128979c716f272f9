"""Issue 10 §3 end to end: status buttons act only on their own message; "Check status" probes at most
once per 10 s; a refused "Ask again" keeps its button; each rep's hourly request budget."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from bot.config import Settings
from bot.fakes.pilot_status import FakePilotStatus
from bot.fakes.slack import FakeSlack
from tests.conftest import CHANNEL, REP, ManualClock, Server, start_server, stop_server
from tests.e2e.helpers import DIGITS, PERMISSION_PROBE, PHONE, button, button_value, posts, status_messages

OUTSIDE_WINDOW = {"error": "x", "code": "META_OUTSIDE_24H_WINDOW"}


@pytest.fixture
async def app(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus, clock: ManualClock
) -> AsyncIterator[Server]:
    pilot.now = clock
    running = await start_server(replace(settings, max_requests_per_rep_per_hour=3), slack, pilot, clock)
    try:
        yield running
    finally:
        await stop_server(running)


_clicks = iter(range(1, 1_000_000))


async def click(
    app: Server,
    action_id: str,
    parent: dict[str, Any],
    *,
    user: str = REP,
    channel: str | None = None,
    ts: str | None = None,
    action_ts: str | None = None,
) -> None:
    """A signed block_actions payload, as Slack sends it for a click on `parent` (or on the message
    and channel a forger claims)."""
    body = button(
        action_id,
        button_value(parent),
        user=user,
        message=parent,
        response_url=app.slack.response_url(f"click{next(_clicks)}"),
        channel=channel,
        ts=ts,
        action_ts=action_ts or f"{next(_clicks)}.5",
    )
    assert (await app.post_slack(body)).status == 200


def probes(pilot: FakePilotStatus) -> int:
    return len(pilot.requests_to("GET", PERMISSION_PROBE))


async def started(app: Server, text: str = f"{PHONE} Podemos ligar?", **fields: Any) -> dict[str, Any]:
    before = len(status_messages(app.slack))
    assert (await app.command(text, **fields)).status == 200
    await app.slack.wait_for(lambda: len(status_messages(app.slack)) > before)
    await app.wait_idle()
    return status_messages(app.slack)[-1]


async def failed_request(app: Server) -> dict[str, Any]:
    """A request Pilot Status refused (outside the 24 h window): its status message offers "Ask again"."""
    app.pilot.script("POST", "/v1/calls/permissions/request", status=400, body=OUTSIDE_WINDOW, times=1)
    parent = await started(app)
    assert "askcall_again" in json.dumps(app.slack.updates[-1]["blocks"])
    return parent


# --- buttons act only on their own message ---------------------------------------------------------
@pytest.mark.parametrize("forged", ["channel", "message"])
async def test_a_button_claiming_another_message_changes_nothing(app: Server, forged: str) -> None:
    parent = await failed_request(app)
    writes, pilot_calls = len(app.slack.calls), len(app.pilot.requests)
    elsewhere = {"channel": "C_OTHER"} if forged == "channel" else {"ts": "1700000000.000100"}

    await click(app, "askcall_check", parent, **elsewhere)
    await click(app, "askcall_again", parent, **elsewhere)
    await app.slack.wait_for(lambda: len(app.slack.responses) == 2)
    await app.wait_idle()

    assert len(app.pilot.requests) == pilot_calls  # no probe, no send
    assert len(app.slack.calls) == writes  # no post, no update
    assert all("doesn't belong" in r["text"] or "não pertence" in r["text"] for r in app.slack.responses)
    assert len(status_messages(app.slack)) == 1
    # The real message's buttons still work.
    await click(app, "askcall_again", parent)
    await app.slack.wait_for(lambda: len(status_messages(app.slack)) == 2)


async def test_a_status_message_in_a_reps_thread_is_its_own_message(app: Server) -> None:
    """Started from a message's thread (a shortcut): the button's message is the status message, not
    the thread's root."""
    root_ts = "1700000000.000200"
    app.slack.messages.append({"ts": root_ts, "text": "ligar?", "channel": CHANNEL, "thread_ts": None, "user": "U9"})
    response = await app.submit_modal(
        PHONE, "motivo", metadata={"channel_id": CHANNEL, "thread_ts": root_ts, "response_url": ""}
    )
    assert response.status == 200
    await app.slack.wait_for(lambda: len(status_messages(app.slack)) == 1)
    await app.wait_idle()
    parent = status_messages(app.slack)[0]
    assert parent.get("thread_ts") == root_ts and parent["ts"] != root_ts
    before = probes(app.pilot)

    await click(app, "askcall_check", parent, ts=root_ts)
    await app.wait_idle()
    assert probes(app.pilot) == before
    await click(app, "askcall_check", parent)
    await app.slack.wait_for(lambda: probes(app.pilot) == before + 1)


# --- Check status: one probe per 10 s, retries deduplicated ----------------------------------------
async def test_check_status_probes_at_most_once_per_ten_seconds(app: Server, clock: ManualClock) -> None:
    parent = await started(app)
    before, updates = probes(app.pilot), len(app.slack.updates)

    for _ in range(5):
        await click(app, "askcall_check", parent)
    await app.slack.wait_for(lambda: len(app.slack.updates) == updates + 1)
    await app.wait_idle()
    assert probes(app.pilot) == before + 1
    # A click after the probe got its result is told the last result.
    await click(app, "askcall_check", parent)
    await app.slack.wait_for(lambda: any("🔎" in r["text"] for r in app.slack.responses))
    assert probes(app.pilot) == before + 1

    clock.advance(10)
    await click(app, "askcall_check", parent)
    await app.slack.wait_for(lambda: probes(app.pilot) == before + 2)
    await app.wait_idle()
    assert len(app.slack.updates) == updates + 2


async def test_a_retried_click_acts_once(app: Server, clock: ManualClock) -> None:
    parent = await started(app)
    before = probes(app.pilot)
    await click(app, "askcall_check", parent, action_ts="42.1")
    await app.slack.wait_for(lambda: probes(app.pilot) == before + 1)
    await app.wait_idle()
    clock.advance(60)  # past the interval: only the click's identity stops it now
    responses = len(app.slack.responses)
    await click(app, "askcall_check", parent, action_ts="42.1")
    await app.wait_idle()
    assert probes(app.pilot) == before + 1
    assert len(app.slack.responses) == responses


# --- a refused "Ask again" keeps its button --------------------------------------------------------
async def test_ask_again_refused_by_an_open_request_works_once_it_closes(app: Server) -> None:
    parent = await failed_request(app)
    other = await started(app, f"{PHONE} outra equipe", user_id="U2", channel_id="C2")
    assert len(posts(app.pilot)) == 2

    await click(app, "askcall_again", parent)
    await app.slack.wait_for(lambda: len(app.slack.responses) == 1)
    assert "<@U2>" in app.slack.responses[0]["text"]
    await app.wait_idle()
    assert len(status_messages(app.slack)) == 2

    assert (await app.answer(DIGITS, "NO_PERMISSION"))[0] == 200  # the other request closes
    await app.slack.wait_for(lambda: any("askcall_again" in json.dumps(u["blocks"]) for u in app.slack.updates[-1:]))
    await app.wait_idle()
    await click(app, "askcall_again", parent)
    await app.slack.wait_for(lambda: len(status_messages(app.slack)) == 3)
    await app.wait_idle()
    again = status_messages(app.slack)[2]
    assert again.get("thread_ts") == parent["ts"] and other["ts"] != again["ts"]
    # ...and only once.
    await click(app, "askcall_again", parent)
    await app.wait_idle()
    assert len(status_messages(app.slack)) == 3


# --- the per-rep hourly budget ---------------------------------------------------------------------
async def test_a_rep_past_the_budget_is_told_when_it_refills(app: Server, caplog: pytest.LogCaptureFixture) -> None:
    for n in range(3):
        await started(app, f"+55 11 98765-43{n:02d}")
    caplog.set_level(logging.INFO)

    response = await app.command("+55 11 98765-4399 mais um")
    text = (await response.json())["text"]
    assert "3" in text and re.search(r"<!date\^\d+\^", text)
    modal = await app.submit_modal("+55 11 98765-4398", "pelo formulário")
    assert "min" in json.dumps(await modal.json())
    await app.wait_idle()
    assert len(status_messages(app.slack)) == 3 and len(posts(app.pilot)) == 3

    refusals = [r.getMessage() for r in caplog.records if "budget" in r.getMessage()]
    assert len(refusals) == 2 and not any("98765" in line for line in refusals)
    metrics = await (await app.http.get(app.url + "/metrics")).text()
    assert 'askcall_requests_refused_total{reason="budget"} 2.0' in metrics
    # Another rep is not affected.
    await started(app, "+55 11 98765-4397", user_id="U2")


async def test_ask_again_counts_against_the_budget(app: Server) -> None:
    parent = await failed_request(app)
    await started(app, "+55 11 98765-4301")
    await started(app, "+55 11 98765-4302")
    await click(app, "askcall_again", parent)
    await app.slack.wait_for(lambda: len(app.slack.responses) == 1)
    assert re.search(r"<!date\^\d+\^", app.slack.responses[0]["text"])
    assert len(status_messages(app.slack)) == 3


async def test_no_budget_when_zero(settings: Settings, slack: FakeSlack, pilot: FakePilotStatus) -> None:
    running = await start_server(replace(settings, max_requests_per_rep_per_hour=0), slack, pilot)
    try:
        for n in range(5):
            await started(running, f"+55 11 98765-43{n:02d}")
        assert len(status_messages(slack)) == 5
    finally:
        await stop_server(running)
