"""Restarts (in-process): pending and half-done work is picked up again, nothing is lost or sent twice.

"The process died" is a crash (`stop_server(..., crash=True)`): nothing in flight finishes and no lease is
released, so the next instance takes the work over when the leases run out, as after a kill -9."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.config import Settings
from bot.fakes.pilot_status import FakePilotStatus
from bot.fakes.slack import FakeSlack
from tests.conftest import CHANNEL, REP, start_server, stop_server
from tests.e2e.helpers import (
    DIGITS,
    PERMISSION_PROBE,
    PERMISSION_REQUEST,
    answer,
    ask,
    assert_checked_before_each_retry,
    db_execute,
    db_rows,
    only_parent,
    only_reply,
    only_request,
    patient,
    posts,
    quiet_past_a_lease,
    render,
    replies,
    reply_attempts,
    running,
    updates_of,
)


@pytest.fixture(autouse=True)
def every_post_in_doubt_is_read_back_before_it_is_sent_again(slack: FakeSlack) -> Iterator[None]:
    """Whatever else a test here checks: no post whose answer was in doubt was sent again unchecked."""
    yield
    assert_checked_before_each_retry(slack)


async def reply_delivery(settings: Settings) -> dict[str, object]:
    (row,) = await db_rows(settings, "SELECT * FROM deliveries WHERE kind = 'reply'")
    return row


async def test_reply_pending_while_slack_is_down_reaches_the_thread_after_a_restart(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    settings = patient(settings)
    first = await start_server(settings, slack, pilot)
    try:
        parent = await ask(first)
        slack.fail_next("chat.postMessage", status=503, times=100_000)
        status, _ = await first.answer(DIGITS, "TEMPORARY")
        assert status == 200
        await slack.wait_for(lambda: len(reply_attempts(slack, parent)) >= 3)
    finally:
        await stop_server(first, crash=True)
    assert replies(slack, parent) == []
    assert (await reply_delivery(settings))["state"] in ("pending", "inflight")

    slack.clear_scripts()  # Slack is healthy again
    async with running(settings, slack, pilot) as second:
        await quiet_past_a_lease(second)
        reply = only_reply(slack, parent)
        assert reply["text"].startswith(f"<@{REP}> ✅")
        (update,) = updates_of(slack, parent)
        assert "✅" in render(update)
        assert (await only_request(second)).state == "answered"
    assert (await reply_delivery(settings))["state"] == "done"
    assert len(posts(pilot)) == 1


async def test_reply_already_in_slack_when_the_process_died_is_not_posted_again(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    """Crash window: Slack stored the reply but AskCall died before recording it."""
    settings = patient(settings)
    first = await start_server(settings, slack, pilot)
    try:
        parent = await ask(first)
        slack.delay_next("chat.postMessage", 1.0)
        await first.answer(DIGITS, "PERMANENT")
        await slack.wait_for(lambda: len(reply_attempts(slack, parent)) == 1)
    finally:
        await stop_server(first, crash=True)  # the reply is still in Slack's hands: AskCall can't know it landed
    assert (await reply_delivery(settings))["state"] == "inflight"
    await slack.wait_for(lambda: len(replies(slack, parent)) == 1)  # ...and then Slack did store it

    async with running(settings, slack, pilot) as second:
        await quiet_past_a_lease(second)
        only_reply(slack, parent)
        assert len(reply_attempts(slack, parent)) == 1
        lookups = slack.calls_to("conversations.replies")
        assert [(c.args["channel"], c.args["ts"]) for c in lookups] == [(CHANNEL, parent["ts"])]
        (update,) = updates_of(slack, parent)
        assert "♾️" in render(update)
    assert (await reply_delivery(settings))["state"] == "done"
    assert (await reply_delivery(settings))["result_ts"] == replies(slack, parent)[0]["ts"]


async def test_reply_lost_with_the_process_is_posted_exactly_once_after_restart(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    """Crash window, other side: the reply was in flight, and Slack never stored it."""
    settings = patient(settings)
    first = await start_server(settings, slack, pilot)
    try:
        parent = await ask(first)
        slack.fail_next("chat.postMessage", status=503, delay=1.0)
        await first.answer(DIGITS, "NO_PERMISSION")
        await slack.wait_for(lambda: len(reply_attempts(slack, parent)) == 1)
    finally:
        await stop_server(first, crash=True)
    assert (await reply_delivery(settings))["state"] == "inflight"
    await slack.wait_for(lambda: reply_attempts(slack, parent)[0].outcome == "503")
    assert replies(slack, parent) == []

    async with running(settings, slack, pilot) as second:
        await quiet_past_a_lease(second)
        reply = only_reply(slack, parent)
        assert "❌" in reply["text"]
        assert [a.outcome for a in reply_attempts(slack, parent)] == ["503", "ok"]
        assert len(slack.calls_to("conversations.replies")) == 1
        assert len(updates_of(slack, parent)) == 1


async def test_inflight_row_left_in_the_database_is_reconciled(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    """The same crash window, simulated directly in SQLite: posted reply marked inflight → adopted, not resent."""
    async with running(settings, slack, pilot) as first:
        parent = await ask(first)
        await answer(first, DIGITS, "PERMANENT")
    only_reply(slack, parent)
    await db_execute(settings, "UPDATE deliveries SET state = 'inflight', result_ts = NULL WHERE kind = 'reply'")

    async with running(settings, slack, pilot) as second:
        await second.wait_idle()
    only_reply(slack, parent)
    assert len(reply_attempts(slack, parent)) == 1
    assert (await reply_delivery(settings))["state"] == "done"
    assert (await reply_delivery(settings))["result_ts"] == replies(slack, parent)[0]["ts"]


async def test_parent_already_in_slack_when_the_process_died_is_adopted(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    settings = patient(settings)
    first = await start_server(settings, slack, pilot)
    try:
        slack.delay_next("chat.postMessage", 1.0)
        response = await first.command("+55 11 98765-4321 Podemos te ligar?")
        assert response.status == 200
        await slack.wait_for(lambda: len(slack.calls_to("chat.postMessage", only_ok=False)) == 1)
    finally:
        await stop_server(first, crash=True)
    await slack.wait_for(lambda: len(slack.messages) == 1)
    assert posts(pilot) == []

    async with running(settings, slack, pilot) as second:
        await quiet_past_a_lease(second)
        parent = only_parent(slack)
        assert len(slack.calls_to("chat.postMessage", only_ok=False)) == 1
        assert len(posts(pilot)) == 1
        request = await only_request(second)
        assert (request.state, request.parent_ts) == ("waiting", parent["ts"])


async def test_crash_while_pilot_status_is_answering_is_never_resent(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    settings = patient(settings)
    pilot.script("POST", PERMISSION_REQUEST, delay=1.0)
    first = await start_server(settings, slack, pilot)
    try:
        await first.command("+55 11 98765-4321 Podemos te ligar?")
        await slack.wait_for(lambda: len(posts(pilot)) == 1)
    finally:
        await stop_server(first, crash=True)

    async with running(settings, slack, pilot) as second:
        await quiet_past_a_lease(second)
        parent = only_parent(slack)
        reply = only_reply(slack, parent)
        assert "⚠️" in reply["text"]
        assert (await only_request(second)).state == "unconfirmed"
        await slack.wait_for(lambda: len(pilot.permission_requests) == 1)
    async with running(settings, slack, pilot) as third:
        await quiet_past_a_lease(third)
    assert len(posts(pilot)) == 1
    assert len(replies(slack, parent)) == 1


async def test_answer_stored_but_not_processed_before_the_crash_is_processed_after(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    settings = patient(settings)
    first = await start_server(settings, slack, pilot)
    try:
        parent = await ask(first)
        pilot.script("GET", PERMISSION_PROBE, delay=1.0)
        status, _ = await first.answer(DIGITS, "TEMPORARY")
        assert status == 200  # stored before the 200
        await slack.wait_for(lambda: len(pilot.requests_to("GET", PERMISSION_PROBE)) == 1)
    finally:
        await stop_server(first, crash=True)
    (event,) = await db_rows(settings, "SELECT * FROM webhook_events")
    assert event["processed_at"] is None
    assert replies(slack, parent) == []

    async with running(settings, slack, pilot) as second:
        await quiet_past_a_lease(second)
        reply = only_reply(slack, parent)
        assert "✅" in reply["text"]
        assert (await only_request(second)).outcome == "TEMPORARY"


async def test_dm_notice_in_flight_during_a_crash_is_not_sent_twice(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    """The modal has no response_url: the rep's notice is a DM. Slack stores it; AskCall dies before the answer."""
    settings = patient(settings)
    slack.add_channel(CHANNEL, private=True)  # private and AskCall not invited: channel_not_found
    first = await start_server(settings, slack, pilot)
    try:
        slack.fail_next("chat.postMessage", error="channel_not_found")  # the parent
        slack.delay_next("chat.postMessage", 1.0)  # the DM
        await first.submit_modal("+55 11 98765-4321", "motivo", metadata={"channel_id": CHANNEL})
        await slack.wait_for(lambda: len(slack.calls_to("chat.postMessage", only_ok=False)) == 2)
    finally:
        await stop_server(first, crash=True)
    await slack.wait_for(lambda: len(slack.messages) == 1)

    async with running(settings, slack, pilot) as second:
        await quiet_past_a_lease(second)
    dm = slack.dm_channel(REP)
    assert [m["channel"] for m in slack.messages] == [dm]
    assert [c.args["users"] for c in slack.calls_to("conversations.open")] == [REP]
    assert [c.args["channel"] for c in slack.calls_to("conversations.history")] == [dm]


async def test_graceful_stop_lets_an_inflight_pilot_status_call_finish(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    """A SIGTERM-style stop within the grace period: the call completes and is recorded, nothing is unknown."""
    assert settings.shutdown_grace >= 1.0
    pilot.script("POST", PERMISSION_REQUEST, delay=0.5)
    first = await start_server(settings, slack, pilot)
    try:
        await first.command("+55 11 98765-4321 Podemos te ligar?")
        await slack.wait_for(lambda: len(posts(pilot)) == 1)
    finally:
        await stop_server(first)
    assert [p.status for p in posts(pilot)] == [200]
    assert [r["state"] for r in await db_rows(settings, "SELECT state FROM requests")] == ["waiting"]

    async with running(settings, slack, pilot) as second:
        await second.wait_idle()
        parent = only_parent(slack)
        assert replies(slack, parent) == []
        await answer(second, DIGITS, "PERMANENT")
        assert "♾️" in only_reply(slack, parent)["text"]
    assert len(posts(pilot)) == 1
