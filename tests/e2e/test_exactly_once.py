"""Exactly once on real Slack's rules: a post whose answer never arrived is never posted a second time.

The fake Slack is as strict as Slack: AskCall posts into the public channel C1 without being a member
(chat:write.public), where history reads answer not_in_channel until it joins. `hang_next` makes Slack
store a message and never answer: AskCall dies meanwhile (a crash: it releases nothing, so the next instance
takes the work over only once the dead one's lease runs out) or sees the connection drop. Each test then
waits a whole lease more, where a second takeover would post a duplicate.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import Settings
from bot.fakes.pilot_status import FakePilotStatus
from bot.fakes.slack import FakeSlack, manifest_scopes
from tests.conftest import CHANNEL, REP, Server
from tests.e2e.helpers import (
    DIGITS,
    PHONE,
    REASON,
    ask,
    assert_checked_before_each_retry,
    db_rows,
    only_parent,
    only_reply,
    only_request,
    parents,
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


async def deliveries(settings: Settings, kind: str) -> list[dict[str, object]]:
    return await db_rows(settings, "SELECT * FROM deliveries WHERE kind = ? ORDER BY id", (kind,))


def joins(slack: FakeSlack) -> list[str]:
    return [str(c.args.get("channel")) for c in slack.calls_to("conversations.join", only_ok=False)]


async def crash_while_the_parent_is_posted(settings: Settings, slack: FakeSlack, pilot: FakePilotStatus) -> None:
    """`/askcall` in C1; Slack stores the parent but its answer never arrives; AskCall dies meanwhile."""
    async with running(settings, slack, pilot, crash=True) as first:
        slack.hang_next("chat.postMessage")
        response = await first.command(f"{PHONE} {REASON}")
        assert response.status == 200
        await slack.wait_for(lambda: slack.hanging == 1)
    slack.release_hung(answer=False)
    assert len(parents(slack)) == 1  # Slack has it; AskCall could not know
    assert [d["state"] for d in await deliveries(settings, "parent")] == ["inflight"]
    assert posts(pilot) == []


async def crash_while_the_reply_is_posted(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus, status: str
) -> dict[str, Any]:
    """A request in C1 is answered; Slack stores the thread reply but its answer never arrives; AskCall dies."""
    async with running(settings, slack, pilot, crash=True) as first:
        parent = await ask(first)
        slack.hang_next("chat.postMessage")
        code, _ = await first.answer(DIGITS, status)
        assert code == 200
        await slack.wait_for(lambda: slack.hanging == 1)
    slack.release_hung(answer=False)
    assert len(replies(slack, parent)) == 1
    assert [d["state"] for d in await deliveries(settings, "reply")] == ["inflight"]
    return parent


# --- a crash after Slack stored the message, before AskCall recorded it ---------------------------------------


async def test_parent_in_a_public_channel_askcall_never_joined_is_posted_once_after_a_crash(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    settings = patient(settings)
    assert not slack.channel(CHANNEL).member  # posted through chat:write.public only
    await crash_while_the_parent_is_posted(settings, slack, pilot)

    async with running(settings, slack, pilot) as second:
        await quiet_past_a_lease(second)
        parent = only_parent(slack)
        assert len(slack.calls_to("chat.postMessage", only_ok=False)) == 1
        assert joins(slack) == [CHANNEL]  # to read the channel back, once
        assert len(posts(pilot)) == 1
        request = await only_request(second)
        assert (request.state, request.parent_ts) == ("waiting", parent["ts"])
    (row,) = await deliveries(settings, "parent")
    assert (row["state"], row["result_ts"]) == ("done", parent["ts"])


async def test_thread_reply_in_a_public_channel_askcall_never_joined_is_posted_once_after_a_crash(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    settings = patient(settings)
    parent = await crash_while_the_reply_is_posted(settings, slack, pilot, "PERMANENT")
    assert joins(slack) == []  # nothing needed reading until now

    async with running(settings, slack, pilot) as second:
        await quiet_past_a_lease(second)
        reply = only_reply(slack, parent)
        assert len(reply_attempts(slack, parent)) == 1
        assert joins(slack) == [CHANNEL]
        (update,) = updates_of(slack, parent)
        assert "♾️" in render(update)
    (row,) = await deliveries(settings, "reply")
    assert (row["state"], row["result_ts"]) == ("done", reply["ts"])


async def test_dm_notice_whose_answer_never_arrived_is_sent_once_after_a_crash(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    settings = patient(settings)
    slack.add_channel(CHANNEL, private=True)  # AskCall can't post there: the rep is told in a DM
    async with running(settings, slack, pilot, crash=True) as first:
        slack.fail_next("chat.postMessage", error="channel_not_found")  # the parent
        slack.hang_next("chat.postMessage")  # the DM
        await first.submit_modal(PHONE, REASON, metadata={"channel_id": CHANNEL})
        await slack.wait_for(lambda: slack.hanging == 1)
    slack.release_hung(answer=False)
    dm = slack.dm_channel(REP)
    assert [m["channel"] for m in slack.messages] == [dm]

    async with running(settings, slack, pilot) as second:
        await quiet_past_a_lease(second)
    (notice,) = slack.messages
    assert "/invite @askcall" in notice["text"]
    assert [c.args["channel"] for c in slack.calls_to("chat.postMessage")] == [REP]
    assert (await deliveries(settings, "direct"))[0]["state"] == "done"
    assert posts(pilot) == []


async def test_parent_found_in_a_busy_channel_pages_back_through_history(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    """250 messages landed after the parent while AskCall was down: the check pages back until it finds it."""
    settings = patient(settings)
    await crash_while_the_parent_is_posted(settings, slack, pilot)
    (parent,) = parents(slack)
    for n in range(250):
        slack.add_message(CHANNEL, f"chat {n}")

    async with running(settings, slack, pilot) as second:
        await quiet_past_a_lease(second)
        assert len(slack.calls_to("chat.postMessage", only_ok=False)) == 1
        assert len(slack.calls_to("conversations.history")) == 2  # 200 + the page holding the parent
        assert (await only_request(second)).parent_ts == parent["ts"]


async def test_reply_found_in_a_long_thread_pages_through_the_replies(server: Server) -> None:
    """300 people replied in the thread before the customer answered: AskCall's reply, whose answer was lost, is
    on the second page of the thread's read-back (200 messages a page, like Slack's cursors)."""
    slack = server.slack
    parent = await ask(server)
    for n in range(300):
        slack.add_message(CHANNEL, f"chat {n}")["thread_ts"] = parent["ts"]
    slack.drop_after_storing("chat.postMessage")
    assert (await server.answer(DIGITS, "PERMANENT"))[0] == 200
    await quiet_past_a_lease(server)

    lookups = slack.calls_to("conversations.replies")
    assert [bool(c.args.get("cursor")) for c in lookups] == [False, True]
    assert {c.args["ts"] for c in lookups} == {parent["ts"]}
    mine = [m for m in replies(slack, parent) if m.get("user") == slack.bot_user_id]
    assert len(mine) == 1 and "♾️" in mine[0]["text"]
    assert len(reply_attempts(slack, parent)) == 1
    assert "♾️" in render(updates_of(slack, parent)[-1])
    (row,) = await deliveries(server.askcall.settings, "reply")
    assert (row["state"], row["result_ts"]) == ("done", mine[0]["ts"])


async def test_status_message_in_a_reps_thread_is_posted_once_after_a_crash(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    """The message shortcut: AskCall's status message is a reply in the thread of the rep's message."""
    settings = patient(settings)
    original = slack.add_message(CHANNEL, REASON, user=REP)
    metadata = {"channel_id": CHANNEL, "thread_ts": original["ts"], "response_url": slack.response_url()}
    async with running(settings, slack, pilot, crash=True) as first:
        slack.hang_next("chat.postMessage")
        assert (await first.submit_modal(PHONE, REASON, metadata=metadata)).status == 200
        await slack.wait_for(lambda: slack.hanging == 1)
    slack.release_hung(answer=False)

    async with running(settings, slack, pilot) as second:
        await quiet_past_a_lease(second)
        (status,) = slack.thread_replies(CHANNEL, original["ts"])
        assert len(slack.calls_to("chat.postMessage", only_ok=False)) == 1
        assert [c.args["ts"] for c in slack.calls_to("conversations.replies")] == [original["ts"]]
        assert (await only_request(second)).parent_ts == status["ts"]
        assert len(posts(pilot)) == 1


# --- no crash: the answer is lost on the wire ----------------------------------------------------------------


async def test_lost_answer_is_checked_and_never_posted_again(server: Server) -> None:
    slack = server.slack
    slack.hang_next("chat.postMessage")
    assert (await server.command(f"{PHONE} {REASON}")).status == 200
    await slack.wait_for(lambda: slack.hanging == 1)
    slack.release_hung(answer=False)  # the connection drops: AskCall can't know whether Slack stored it
    await quiet_past_a_lease(server)

    parent = only_parent(slack)
    assert len(slack.calls_to("chat.postMessage", only_ok=False)) == 1
    assert joins(slack) == [CHANNEL]
    assert len(posts(server.pilot)) == 1
    assert (await only_request(server)).parent_ts == parent["ts"]


async def test_posting_never_joins_and_never_reads_history(server: Server) -> None:
    """Joining is for checking after a doubt only: no Tier 3 call per post, no bot in every channel."""
    parent = await ask(server)
    status, _ = await server.answer(DIGITS, "TEMPORARY")
    assert status == 200
    await server.wait_idle()
    only_reply(server.slack, parent)
    read = [c for c in server.slack.calls if c.method.startswith("conversations.")]
    assert read == []


async def test_channel_askcall_was_invited_to_is_read_without_joining(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    settings = patient(settings)
    slack.add_member(CHANNEL)  # someone ran /invite @askcall
    await crash_while_the_parent_is_posted(settings, slack, pilot)
    async with running(settings, slack, pilot) as second:
        await quiet_past_a_lease(second)
        only_parent(slack)
        assert joins(slack) == []
        assert len(slack.calls_to("conversations.history")) == 1
        assert len(posts(pilot)) == 1


async def test_a_failed_check_is_retried_not_taken_as_absent(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus, caplog: pytest.LogCaptureFixture
) -> None:
    settings = patient(settings)
    await crash_while_the_parent_is_posted(settings, slack, pilot)
    slack.fail_next("conversations.history", status=429, retry_after=0.1)
    slack.fail_next("conversations.history", status=503)
    async with running(settings, slack, pilot) as second:
        await quiet_past_a_lease(second)
        only_parent(slack)
        outcomes = [c.outcome for c in slack.calls_to("conversations.history", only_ok=False)]
        assert outcomes[:2] == ["ratelimited", "503"] and outcomes[-1] == "ok"
        assert len(slack.calls_to("chat.postMessage", only_ok=False)) == 1
        assert len(posts(pilot)) == 1
    retries = [r.getMessage() for r in caplog.records if r.name == "bot.slack.notifier" and "retry" in r.getMessage()]
    assert re.fullmatch(  # Slack's Retry-After kept, the check's own failure named
        r"Slack parent for request 1 failed \(unconfirmed: check failed: ratelimited\); retry \d+ in 0\.1s", retries[0]
    ), retries


# --- history that can't be read at all: never a duplicate ---------------------------------------------------


@pytest.mark.parametrize(
    ("make_unreadable", "reason"),
    [
        # A Slack Connect channel of another organisation: joining is refused.
        (lambda s: s.add_channel(CHANNEL, join_error="method_not_supported_for_channel_type"), "method_not_supported"),
        # The channel was archived while AskCall was down.
        (lambda s: s.add_channel(CHANNEL, archived=True), "is_archived"),
        # The app was not reinstalled with the new scope.
        (lambda s: setattr(s, "scopes", manifest_scopes().replace(",channels:join", "")), "missing_scope"),
    ],
    ids=["slack-connect", "archived", "no-channels-join-scope"],
)
async def test_parent_that_cannot_be_checked_is_not_posted_again(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus, make_unreadable, reason: str
) -> None:
    settings = patient(settings)
    await crash_while_the_parent_is_posted(settings, slack, pilot)
    make_unreadable(slack)

    async with running(settings, slack, pilot) as second:
        await quiet_past_a_lease(second)
        assert len(slack.calls_to("chat.postMessage", only_ok=False)) == 1
        assert len(parents(slack)) == 1
        assert posts(pilot) == []  # nothing reached the customer
        request = await only_request(second)
        assert request.state == "undeliverable"
        assert (request.error_code or "").startswith("unverifiable: ")
    (row,) = await deliveries(settings, "parent")
    assert row["state"] == "dead"
    assert str(row["last_error"]).startswith("unverifiable: ") and reason in str(row["last_error"])
    (notice,) = slack.responses  # the rep is told, through the command's response_url
    assert f"<#{CHANNEL}>" in notice["text"] and "não publiquei de novo" in notice["text"]


async def test_reply_that_cannot_be_checked_is_not_posted_again(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus, caplog: pytest.LogCaptureFixture
) -> None:
    settings = patient(settings)
    parent = await crash_while_the_reply_is_posted(settings, slack, pilot, "TEMPORARY")
    slack.add_channel(CHANNEL, archived=True)

    async with running(settings, slack, pilot) as second:
        await quiet_past_a_lease(second)
    assert len(reply_attempts(slack, parent)) == 1
    assert len(replies(slack, parent)) == 1
    (row,) = await deliveries(settings, "reply")
    assert (row["state"], row["last_error"], row["attempts"]) == ("dead", "unverifiable: is_archived", 1)
    logged = [r.getMessage() for r in caplog.records if r.name == "bot.slack.notifier" and r.levelno == logging.ERROR]
    assert logged[0] == (
        "Slack reply for request 1 may or may not have landed, and Slack can't tell (is_archived); not sent again"
    )
