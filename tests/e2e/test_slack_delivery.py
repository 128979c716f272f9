"""Posting to Slack through the deliveries outbox: retries, give-ups, and channels AskCall can't post in."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest

from bot.domain import DeliveryKind
from bot.fakes.slack import CHANNEL_POST_BURST, FakeSlack
from bot.store import NewDelivery, NewRequest
from tests.conftest import CHANNEL, REP, Server
from tests.e2e.helpers import (
    DIGITS,
    E164,
    PHONE,
    REASON,
    answer,
    ask,
    assert_checked_before_each_retry,
    db_rows,
    only_parent,
    only_reply,
    only_request,
    parents,
    posts,
    render,
    replies,
    reply_attempts,
    update_attempts,
    updates_of,
)
from tests.tenants import TENANT


@pytest.fixture(autouse=True)
def every_post_in_doubt_is_read_back_before_it_is_sent_again(slack: FakeSlack) -> Iterator[None]:
    """Whatever else a test here checks: no post whose answer was in doubt was sent again unchecked."""
    yield
    assert_checked_before_each_retry(slack)


async def deliveries(server: Server) -> list[dict[str, object]]:
    return await db_rows(server.askcall.settings, "SELECT * FROM deliveries ORDER BY id")


# --- transient failures are retried until delivered once ---------------------------------------------------


async def test_thread_reply_rate_limited_once_is_delivered_after_retry_after(server: Server) -> None:
    parent = await ask(server)
    server.slack.fail_next("chat.postMessage", status=429, retry_after=1)
    await answer(server, DIGITS, "PERMANENT")

    only_reply(server.slack, parent)
    attempts = reply_attempts(server.slack, parent)
    assert [a.outcome for a in attempts] == ["ratelimited", "ok"]
    # Retry-After honoured: a lower bound, so it cannot flake on a slow machine.
    assert attempts[1].at - attempts[0].at >= 0.95
    assert len(updates_of(server.slack, parent)) == 1


@pytest.mark.parametrize(
    ("fail", "outcomes"),
    [
        ({"status": 503, "times": 2}, ["503", "503", "ok"]),
        ({"status": 500}, ["500", "ok"]),
        ({"error": "internal_error"}, ["internal_error", "ok"]),
        ({"status": 200, "error": "ratelimited"}, ["ratelimited", "ok"]),
    ],
)
async def test_thread_reply_transient_failures_are_retried(
    server: Server, fail: dict[str, object], outcomes: list[str]
) -> None:
    parent = await ask(server)
    server.slack.fail_next("chat.postMessage", **fail)  # type: ignore[arg-type]
    await answer(server, DIGITS, "NO_PERMISSION")

    reply = only_reply(server.slack, parent)
    assert "❌" in reply["text"]
    assert [a.outcome for a in reply_attempts(server.slack, parent)] == outcomes
    assert len(updates_of(server.slack, parent)) == 1


# --- Slack stored the message, then the answer said otherwise (or never came) --------------------------------

STORED_THEN = {
    "5xx": lambda slack: slack.fail_after_storing("chat.postMessage", status=503),
    "internal_error": lambda slack: slack.fail_after_storing("chat.postMessage", error="internal_error"),
    "dropped": lambda slack: slack.drop_after_storing("chat.postMessage"),
}


@pytest.mark.parametrize("fail", STORED_THEN.values(), ids=STORED_THEN.keys())
async def test_thread_reply_stored_then_failed_is_found_and_not_posted_again(
    server: Server, fail, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.slack.notifier")
    slack = server.slack
    parent = await ask(server)
    fail(slack)
    await answer(server, DIGITS, "PERMANENT")

    reply = only_reply(slack, parent)
    assert len(reply_attempts(slack, parent)) == 1
    assert [c.args["ts"] for c in slack.calls_to("conversations.replies")] == [parent["ts"]]
    (update,) = updates_of(slack, parent)
    assert "♾️" in render(update)
    (row,) = [d for d in await deliveries(server) if d["kind"] == "reply"]
    assert (row["state"], row["result_ts"]) == ("done", reply["ts"])
    adopted = [r.getMessage() for r in caplog.records if r.name == "bot.slack.notifier" and "landed" in r.getMessage()]
    assert adopted == ["Slack reply for request 1 had already landed; not sent again"]


@pytest.mark.parametrize("fail", STORED_THEN.values(), ids=STORED_THEN.keys())
async def test_parent_stored_then_failed_is_adopted_and_the_customer_asked_once(server: Server, fail) -> None:
    slack = server.slack
    fail(slack)
    parent = await ask(server)
    assert len(slack.calls_to("chat.postMessage", only_ok=False)) == 1
    assert len(slack.calls_to("conversations.history")) == 1
    assert len(posts(server.pilot)) == 1
    assert parent["ts"] == (await only_request(server)).parent_ts


async def test_parent_update_5xx_is_retried(server: Server) -> None:
    parent = await ask(server)
    server.slack.fail_next("chat.update", status=502, times=2)
    await answer(server, DIGITS, "PERMANENT")
    assert [a.outcome for a in update_attempts(server.slack, parent)] == ["502", "502", "ok"]
    (update,) = updates_of(server.slack, parent)
    assert "♾️" in render(update)


async def test_parent_message_5xx_is_retried_and_pilot_status_called_once(server: Server) -> None:
    server.slack.fail_next("chat.postMessage", status=503, times=2)
    parent = await ask(server)
    assert len(server.slack.calls_to("chat.postMessage", only_ok=False)) == 3
    assert len(posts(server.pilot)) == 1
    assert parent["ts"] == (await only_request(server)).parent_ts


async def test_thread_reply_is_posted_before_the_parent_update(server: Server) -> None:
    parent = await ask(server)
    server.slack.fail_next("chat.postMessage", status=503)
    await answer(server, DIGITS, "PERMANENT")
    reply_ok = [c for c in reply_attempts(server.slack, parent) if c.outcome == "ok"]
    update_ok = [c for c in update_attempts(server.slack, parent) if c.outcome == "ok"]
    assert reply_ok[0].at <= update_ok[0].at


# --- permanent failures give up, and don't hold anything else up --------------------------------------------


async def test_permanent_error_is_not_retried_and_does_not_block_other_requests(server: Server) -> None:
    slack = server.slack
    parent_a = await ask(server, f"{PHONE} cliente A")
    slack.fail_next("chat.update", error="message_not_found")
    await answer(server, DIGITS, "PERMANENT")

    assert [a.outcome for a in update_attempts(slack, parent_a)] == ["message_not_found"]
    assert "♾️" in only_reply(slack, parent_a)["text"]
    dead = [d for d in await deliveries(server) if d["state"] == "dead"]
    assert [(d["kind"], d["last_error"], d["attempts"]) for d in dead] == [("update", "message_not_found", 1)]

    parent_b = await ask(server, "+55 21 99876-5432 cliente B")
    await answer(server, "5521998765432", "NO_PERMISSION")
    assert "❌" in only_reply(slack, parent_b)["text"]
    assert len(updates_of(slack, parent_b)) == 1
    # The dead update was never tried again.
    assert len(update_attempts(slack, parent_a)) == 1


async def test_endless_5xx_gives_up_after_the_configured_attempts(server: Server) -> None:
    slack = server.slack
    attempts = server.askcall.settings.slack_retry.attempts
    parent = await ask(server)
    slack.fail_next("chat.update", status=503, times=attempts)
    await answer(server, DIGITS, "PERMANENT")

    assert [a.outcome for a in update_attempts(slack, parent)] == ["503"] * attempts
    (dead,) = [d for d in await deliveries(server) if d["state"] == "dead"]
    assert (dead["kind"], dead["attempts"]) == ("update", attempts)
    # Later work for the same request and for others still flows.
    parent_b = await ask(server, "+55 21 99876-5432 cliente B")
    await answer(server, "5521998765432", "PERMANENT")
    assert len(updates_of(slack, parent_b)) == 1
    assert len(update_attempts(slack, parent)) == attempts


async def test_a_request_waiting_on_retry_after_does_not_hold_up_another(server: Server) -> None:
    slack = server.slack
    parent_a = await ask(server, f"{PHONE} cliente A")
    slack.fail_next("chat.postMessage", status=429, retry_after=2)
    await server.answer(DIGITS, "PERMANENT")
    await slack.wait_for(lambda: len(reply_attempts(slack, parent_a)) == 1)

    # While A's reply waits out Retry-After, B's whole request and answer go through.
    response = await server.command("+55 21 99876-5432 cliente B")
    assert response.status == 200
    await slack.wait_for(lambda: len(posts(server.pilot)) == 2)
    await slack.wait_for(lambda: len(slack.channel_messages(CHANNEL)) == 2)
    parent_b = next(m for m in slack.channel_messages(CHANNEL) if m["ts"] != parent_a["ts"])
    await server.answer("5521998765432", "NO_PERMISSION")
    await slack.wait_for(lambda: len(updates_of(slack, parent_b)) == 1)
    assert replies(slack, parent_a) == []

    await server.wait_idle(timeout=10)
    assert "♾️" in only_reply(slack, parent_a)["text"]
    assert [a.outcome for a in reply_attempts(slack, parent_a)] == ["ratelimited", "ok"]


async def test_a_burst_in_one_channel_meets_slacks_rate_limit_and_every_message_lands_once(server: Server) -> None:
    """Slack takes about one post a second in a channel after a short burst. More requests at once than the burst
    plus a message's attempts: the excess is refused with 429 and Retry-After (nothing scripted), waits its turn
    without using up its attempts, and every status message lands once."""
    slack = server.slack
    count = CHANNEL_POST_BURST + server.askcall.settings.slack_retry.attempts + 1
    phones = [f"+55 11 98765-{4300 + n}" for n in range(count)]
    acks = await asyncio.gather(*(server.command(f"{phone} {REASON}") for phone in phones))
    assert [ack.status for ack in acks] == [200] * count
    await server.wait_idle(timeout=count + 10)

    outcomes = [c.outcome for c in slack.calls_to("chat.postMessage", only_ok=False)]
    assert outcomes.count("ok") == count and outcomes.count("ratelimited") >= count - CHANNEL_POST_BURST
    assert len(parents(slack)) == count
    assert len(posts(server.pilot)) == count
    assert {d["state"] for d in await deliveries(server)} == {"done"}


# --- the channel is out of reach ----------------------------------------------------------------------------


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel"])
async def test_unreachable_channel_tells_the_rep_through_response_url(server: Server, error: str) -> None:
    slack = server.slack
    slack.unreachable_channels[CHANNEL] = error
    response = await server.command(f"{PHONE} {REASON}")
    assert response.status == 200
    await server.wait_idle()

    assert posts(server.pilot) == []
    assert slack.messages == []
    (notice,) = slack.responses
    assert notice["_name"] == "r1"
    assert notice["response_type"] == "ephemeral"
    assert "/invite @askcall" in notice["text"]
    assert f"<#{CHANNEL}>" in notice["text"]
    assert "não enviei nada ao cliente" in notice["text"]
    request = await only_request(server)
    assert (request.state, request.error_code) == ("undeliverable", error)


async def test_unreachable_channel_from_the_modal_without_response_url_sends_a_dm(server: Server) -> None:
    slack = server.slack
    slack.unreachable_channels[CHANNEL] = "channel_not_found"
    response = await server.submit_modal(PHONE, REASON, metadata={"channel_id": CHANNEL})
    assert response.status == 200
    await server.wait_idle()

    assert posts(server.pilot) == []
    assert slack.responses == []
    (dm,) = slack.messages
    assert dm["channel"] == slack.dm_channel(REP)
    assert "/invite @askcall" in dm["text"]


async def test_unreachable_channel_from_the_modal_uses_the_commands_response_url(server: Server) -> None:
    slack = server.slack
    slack.unreachable_channels[CHANNEL] = "not_in_channel"
    metadata = {"channel_id": CHANNEL, "response_url": slack.response_url("from-command")}
    await server.submit_modal(PHONE, REASON, metadata=metadata)
    await server.wait_idle()
    assert posts(server.pilot) == []
    (notice,) = slack.responses
    assert notice["_name"] == "from-command"
    assert "/invite @askcall" in notice["text"]


async def test_notice_through_an_expired_response_url_reaches_the_rep_in_a_dm(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    """The rep left the form open for 40 minutes: the command's response_url (in the form) has expired by the
    time AskCall finds the channel out of reach, so the note goes to the rep's DM with the app instead."""
    slack = server.slack
    slack.unreachable_channels[CHANNEL] = "not_in_channel"
    metadata = {"channel_id": CHANNEL, "response_url": slack.response_url("from-command")}
    slack.pass_time(40 * 60)
    await server.submit_modal(PHONE, REASON, metadata=metadata)
    await server.wait_idle()

    assert posts(server.pilot) == []
    assert slack.responses == []
    (refused,) = slack.rejected_responses
    assert "/invite @askcall" in refused["text"]
    (dm,) = slack.messages
    assert dm["channel"] == slack.dm_channel(REP)
    assert dm["text"] == refused["text"]
    kinds = {d["kind"]: (d["state"], d["last_error"]) for d in await deliveries(server)}
    assert kinds == {
        "parent": ("dead", "not_in_channel"),
        "respond": ("dead", "response_url: expired_url"),
        "direct": ("done", None),
    }
    assert [r.getMessage() for r in caplog.records if r.name == "bot.slack.notifier"] == [
        "Slack parent for request 1 failed for good: not_in_channel",
        "the response_url of request 1 takes no more posts (response_url: expired_url); the note goes to the rep's DM",
    ]


async def test_other_permanent_parent_failure_is_reported_and_nothing_sent(server: Server) -> None:
    server.slack.fail_next("chat.postMessage", error="invalid_blocks")
    await server.command(f"{PHONE} {REASON}")
    await server.wait_idle()
    assert posts(server.pilot) == []
    (notice,) = server.slack.responses
    assert "nada foi enviado ao cliente" in notice["text"]
    assert (await only_request(server)).state == "undeliverable"


async def test_channel_reachable_again_works_for_the_next_request(server: Server) -> None:
    slack = server.slack
    slack.unreachable_channels[CHANNEL] = "not_in_channel"
    await server.command(f"{PHONE} {REASON}")
    await server.wait_idle()
    del slack.unreachable_channels[CHANNEL]
    parent = await ask(server)
    assert len(posts(server.pilot)) == 1
    assert parent == only_parent(slack)


# --- edges the mutation run found unchecked (tests/MUTATION.md) ----------------------------------------------------


async def test_a_rate_limit_on_the_last_attempt_costs_no_attempt(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    """Slack's "later" is not a failed attempt: after attempts-1 failures, a 429 still leaves the last one."""
    slack = server.slack
    attempts = server.askcall.settings.slack_retry.attempts
    parent = await ask(server)
    slack.fail_next("chat.update", status=503, times=attempts - 1)
    slack.fail_next("chat.update", status=429, retry_after=0.1)
    await answer(server, DIGITS, "PERMANENT")

    assert [a.outcome for a in update_attempts(slack, parent)] == ["503"] * (attempts - 1) + ["ratelimited", "ok"]
    (update,) = [d for d in await deliveries(server) if d["kind"] == "update"]
    assert (update["state"], update["attempts"]) == ("done", attempts)
    retries = [r.getMessage() for r in caplog.records if r.name == "bot.slack.notifier" and "retry" in r.getMessage()]
    assert retries[0].startswith("Slack update for request 1 failed (unconfirmed: http_503); retry 1 in ")
    assert retries[-1] == f"Slack update for request 1 failed (ratelimited); retry {attempts - 1} in 0.1s"
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []  # the loop itself never failed meanwhile


async def test_the_jitter_spreads_each_retry_over_the_last_quarter_of_its_delay(server: Server) -> None:
    """Retries of many messages don't all hit Slack in the same instant: each waits 75 % to 100 % of its delay."""
    notifier, policy = server.askcall.notifier, server.askcall.settings.slack_retry
    for attempt in (1, 3):
        delay = policy.delay(attempt)
        shares = [notifier._backoff(attempt) / delay for _ in range(2000)]
        assert all(0.75 <= share < 1.0 for share in shares)
        assert min(shares) < 0.76 and max(shares) > 0.99  # the whole quarter is used


async def test_a_note_whose_response_url_stays_busy_is_given_up_not_sent_as_a_dm(server: Server) -> None:
    """Only a response_url that takes no more posts sends the note to the DM: one that answered 429 until the
    attempts ran out is given up (the rep's next command gets a fresh one)."""
    slack = server.slack
    attempts = server.askcall.settings.slack_retry.attempts
    slack.unreachable_channels[CHANNEL] = "channel_not_found"
    slack.fail_response_urls_next(429, times=attempts)
    assert (await server.command(f"{PHONE} {REASON}")).status == 200
    await server.wait_idle()

    assert slack.responses == [] and len(slack.rejected_responses) == attempts
    assert slack.messages == []  # no DM
    kinds = {d["kind"]: (d["state"], d["last_error"], d["attempts"]) for d in await deliveries(server)}
    assert kinds == {
        "parent": ("dead", "channel_not_found", 1),
        "respond": ("dead", "http_429", attempts),
    }


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # leases set by hand in the SQLite file
async def test_the_sweep_passes_over_what_this_process_is_still_sending_and_takes_the_rest_over(
    server: Server,
) -> None:
    """Two parents left inflight past their leases: one this process is still posting (its lease lapsed while
    Slack hung), one a dead process left. The sweep marks only the second "unconfirmed" (checked, then sent);
    the first is never read back or sent again."""
    slack, store = server.slack, server.askcall.store
    ids = []
    for name in ("held", "abandoned"):
        request_id, _ = await store.create_request(
            NewRequest(TENANT, CHANNEL, REP, E164, name, "pt-BR", source_key=name),
            NewDelivery(f"{name}:parent", DeliveryKind.PARENT, {"channel": CHANNEL, "text": name}),
        )
        ids.append(request_id)
    await store.db.execute(
        "UPDATE deliveries SET state = 'inflight', lease_owner = 'dead', lease_until = 0 WHERE request_id = ?",
        (ids[1],),
    )
    await store.db.commit()
    slack.hang_next("chat.postMessage")
    server.askcall.notifier.wake()
    await slack.wait_for(lambda: slack.hanging == 1)
    await store.db.execute("UPDATE deliveries SET lease_until = 0 WHERE request_id = ?", (ids[0],))
    await store.db.commit()

    await server.askcall.notifier.sweep()
    slack.release_hung()
    await server.wait_idle()

    posted = [c.args["text"] for c in slack.calls_to("chat.postMessage", only_ok=False) if "thread_ts" not in c.args]
    assert sorted(posted) == ["abandoned", "held"]  # each parent posted once
    assert len(slack.calls_to("conversations.history")) == 1  # only the abandoned one was checked first


async def test_an_update_of_an_earlier_post_goes_to_that_posts_ts(server: Server) -> None:
    """An update may name the post it edits by its delivery key (`ts_of`): its ts, known once that post landed,
    is filled in; the key itself never goes to Slack."""
    slack, store = server.slack, server.askcall.store
    request_id, _ = await store.create_request(
        NewRequest(TENANT, CHANNEL, REP, E164, "edit", "pt-BR", source_key="edit"),
        NewDelivery("edit:parent", DeliveryKind.PARENT, {"channel": CHANNEL, "text": "before"}),
    )
    edit = {"channel": CHANNEL, "ts_of": "edit:parent", "text": "after"}
    lost = {"channel": CHANNEL, "ts_of": "never:posted", "text": "lost"}  # names a post that never landed
    await store.add_deliveries(
        TENANT,
        request_id,
        [NewDelivery("edit:update", DeliveryKind.UPDATE, edit), NewDelivery("edit:lost", DeliveryKind.UPDATE, lost)],
    )
    server.askcall.notifier.wake()
    await server.wait_idle()

    parent = await store.delivery_for(TENANT, request_id, "parent")
    (update,) = [c for c in slack.calls_to("chat.update", only_ok=False) if c.args.get("text") == "after"]
    assert update.outcome == "ok" and "ts_of" not in update.args
    assert parent is not None and update.args["ts"] == parent.result_ts
    # An update of a post that never landed waits for it (a transient failure), then gives up; nothing is sent.
    (gave_up,) = [d for d in await deliveries(server) if d["dedup_key"] == "edit:lost"]
    attempts = server.askcall.settings.slack_retry.attempts
    assert (gave_up["state"], gave_up["last_error"], gave_up["attempts"]) == ("dead", "message_not_posted", attempts)
    assert [c for c in slack.calls if c.args.get("text") == "lost"] == []
