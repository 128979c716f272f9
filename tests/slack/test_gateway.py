"""SlackGateway against the strict fake Slack: which failures leave a post in doubt, and reading a post back."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain import DeliveryKind
from bot.fakes import FakeSlack
from bot.slack.gateway import DeliveryError, SlackGateway
from bot.store import Delivery
from tests.e2e.helpers import free_port


def delivery(kind: str, payload: dict[str, object], key: str = "req1:parent") -> Delivery:
    return Delivery(
        id=1,
        dedup_key=key,
        request_id=1,
        kind=kind,
        payload=payload,
        state="inflight",
        attempts=0,
        next_attempt_at=0.0,
        last_error=None,
        result_ts=None,
        created_at=time.time(),
    )


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


# The token of the delivery's workspace: the gateway's client holds none, every call names it.
TOKEN = "xoxb-test"


def gateway(http: aiohttp.ClientSession, base_url: str) -> SlackGateway:
    return SlackGateway(AsyncWebClient(base_url=base_url, session=http, retry_handlers=[]), http)


async def test_a_connection_never_made_is_not_in_doubt(http: aiohttp.ClientSession) -> None:
    closed = gateway(http, f"http://127.0.0.1:{free_port()}/api/")
    with pytest.raises(DeliveryError) as error:
        await closed.execute(delivery(DeliveryKind.PARENT, {"channel": "C1", "text": "t"}), TOKEN)
    assert error.value.transient and not error.value.ambiguous


async def test_a_dropped_answer_and_a_5xx_leave_the_post_in_doubt(
    slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    slack_gateway = gateway(http, slack.api_url)
    slack.hang_next("chat.postMessage")
    sending = asyncio.create_task(
        slack_gateway.execute(delivery(DeliveryKind.PARENT, {"channel": "C1", "text": "t"}), TOKEN)
    )
    await slack.wait_for(lambda: slack.hanging == 1)
    slack.release_hung(answer=False)
    with pytest.raises(DeliveryError) as dropped:
        await sending
    assert dropped.value.ambiguous and dropped.value.code.startswith("network: ")

    slack.fail_next("chat.postMessage", status=503)
    with pytest.raises(DeliveryError) as unavailable:
        await slack_gateway.execute(delivery(DeliveryKind.PARENT, {"channel": "C1", "text": "t"}), TOKEN)
    assert unavailable.value.ambiguous
    slack.fail_next("chat.postMessage", status=429, retry_after=1)
    with pytest.raises(DeliveryError) as limited:
        await slack_gateway.execute(delivery(DeliveryKind.PARENT, {"channel": "C1", "text": "t"}), TOKEN)
    assert limited.value.transient and not limited.value.ambiguous  # a 429 was not carried out


async def test_find_posted_joins_a_public_channel_once_and_finds_the_key(
    slack: FakeSlack, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.slack.gateway")
    slack_gateway = gateway(http, slack.api_url)
    parent = delivery(DeliveryKind.PARENT, {"channel": "C1", "text": "parent"})
    ts = await slack_gateway.execute(parent, TOKEN)
    reply = delivery(DeliveryKind.REPLY, {"channel": "C1", "thread_ts": ts, "text": "reply"}, key="req1:reply")
    reply_ts = await slack_gateway.execute(reply, TOKEN)

    assert await slack_gateway.find_posted(parent, TOKEN) == ts
    assert await slack_gateway.find_posted(reply, TOKEN) == reply_ts
    other = delivery(DeliveryKind.PARENT, {"channel": "C1", "text": "never sent"}, key="req2:parent")
    assert await slack_gateway.find_posted(other, TOKEN) is None
    assert [c.args["channel"] for c in slack.calls_to("conversations.join")] == ["C1"]
    joined = [r.getMessage() for r in caplog.records if r.name == "bot.slack.gateway"]
    assert joined == ["joined channel C1 to check whether a message already landed there"]


async def test_find_posted_reads_the_app_dm_with_a_user(slack: FakeSlack, http: aiohttp.ClientSession) -> None:
    slack_gateway = gateway(http, slack.api_url)
    notice = delivery(DeliveryKind.DIRECT, {"channel": "U1", "text": "notice"}, key="req1:notice")
    ts = await slack_gateway.execute(notice, TOKEN)
    assert await slack_gateway.find_posted(notice, TOKEN) == ts
    assert await slack_gateway.find_posted(notice, TOKEN) == ts
    assert len(slack.calls_to("conversations.open")) == 1  # the DM id is remembered


@pytest.mark.parametrize("kind", [DeliveryKind.RESPOND, DeliveryKind.UPDATE])
async def test_what_cannot_be_read_back_is_a_permanent_doubt(
    slack: FakeSlack, http: aiohttp.ClientSession, kind: str
) -> None:
    with pytest.raises(DeliveryError) as error:
        await gateway(http, slack.api_url).find_posted(delivery(kind, {"channel": "C1", "text": "t"}), TOKEN)
    assert (error.value.code, error.value.transient) == (f"{kind} can't be read back", False)
    assert error.value.transient is False and slack.calls == []


async def test_a_refused_join_is_a_permanent_doubt(slack: FakeSlack, http: aiohttp.ClientSession) -> None:
    slack.add_channel("CEXT", join_error="method_not_supported_for_channel_type")
    with pytest.raises(DeliveryError) as error:
        await gateway(http, slack.api_url).find_posted(
            delivery(DeliveryKind.PARENT, {"channel": "CEXT", "text": "t"}), TOKEN
        )
    assert (error.value.code, error.value.transient) == ("method_not_supported_for_channel_type", False)


# --- edges the mutation run found unchecked (tests/MUTATION.md) ----------------------------------------------------


async def failure(slack_gateway: SlackGateway, kind: str = DeliveryKind.PARENT, **payload: object) -> DeliveryError:
    with pytest.raises(DeliveryError) as error:
        await slack_gateway.execute(delivery(kind, {"channel": "C1", "text": "t", **payload}), TOKEN)
    return error.value


@pytest.mark.parametrize(
    ("error", "ambiguous"),
    [
        ("ratelimited", False),
        ("internal_error", True),
        ("fatal_error", True),
        ("service_unavailable", False),
        ("request_timeout", True),
        ("team_not_ready", False),
    ],
)
async def test_slacks_try_again_errors_are_transient_and_only_the_documented_ones_in_doubt(
    slack: FakeSlack, http: aiohttp.ClientSession, error: str, ambiguous: bool
) -> None:
    slack.fail_next("chat.postMessage", error=error)
    failed = await failure(gateway(http, slack.api_url))
    assert (failed.code, failed.transient, failed.ambiguous, failed.retry_after) == (error, True, ambiguous, None)
    assert not failed.unreachable and not failed.unverifiable


@pytest.mark.parametrize(
    ("error", "unreachable"),
    [
        ("channel_not_found", True),
        ("not_in_channel", True),
        ("is_archived", True),
        ("restricted_action", True),
        ("msg_too_long", False),
        ("invalid_auth", False),
    ],
)
async def test_a_refusal_is_permanent_and_names_the_channels_out_of_reach(
    slack: FakeSlack, http: aiohttp.ClientSession, error: str, unreachable: bool
) -> None:
    slack.fail_next("chat.postMessage", error=error)
    failed = await failure(gateway(http, slack.api_url))
    assert (failed.code, failed.transient, failed.ambiguous, failed.retry_after) == (error, False, False, None)
    assert failed.unreachable is unreachable and not failed.unverifiable


@pytest.mark.parametrize(("header", "wait"), [(7, 7.0), (0.5, 0.5), (None, 1.0)])
async def test_a_429_waits_as_long_as_slack_says_or_a_second(
    slack: FakeSlack, http: aiohttp.ClientSession, header: float | None, wait: float
) -> None:
    slack.fail_next("chat.postMessage", status=429, retry_after=header)
    failed = await failure(gateway(http, slack.api_url))
    assert (failed.code, failed.transient, failed.ambiguous, failed.retry_after) == ("ratelimited", True, False, wait)


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_5xx_is_named_by_its_status_and_in_doubt(
    slack: FakeSlack, http: aiohttp.ClientSession, status: int
) -> None:
    slack.fail_next("chat.update", status=status)
    failed = await failure(gateway(http, slack.api_url), DeliveryKind.UPDATE, ts="1.000001")
    assert (failed.code, failed.transient, failed.ambiguous, failed.retry_after) == (f"http_{status}", True, True, None)


async def test_a_missing_scope_names_the_scope_slack_says_is_needed(
    slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    slack.scopes = ",".join(scope for scope in slack.granted() if scope != "chat:write")
    failed = await failure(gateway(http, slack.api_url))
    assert (failed.code, failed.transient, failed.ambiguous) == ("missing_scope: chat:write", False, False)
    slack.fail_next("chat.postMessage", error="missing_scope")  # no `needed` in the answer
    assert (await failure(gateway(http, slack.api_url))).code == "missing_scope"


async def test_a_connection_never_made_is_named_by_its_exception(http: aiohttp.ClientSession) -> None:
    failed = await failure(gateway(http, f"http://127.0.0.1:{free_port()}/api/"))
    assert (failed.code, failed.retry_after) == ("network: ClientConnectorError", None)


async def test_an_update_returns_the_messages_ts_and_a_response_url_post_none(
    slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    slack_gateway = gateway(http, slack.api_url)
    ts = await slack_gateway.execute(delivery(DeliveryKind.PARENT, {"channel": "C1", "text": "before"}), TOKEN)
    update = delivery(DeliveryKind.UPDATE, {"channel": "C1", "ts": ts, "text": "after"}, key="req1:update")
    assert await slack_gateway.execute(update, TOKEN) == ts
    assert slack.find_message("C1", str(ts))["text"] == "after"  # type: ignore[index]

    note = delivery(DeliveryKind.RESPOND, {"response_url": slack.response_url(), "text": "note"}, key="req1:note")
    assert await slack_gateway.execute(note, TOKEN) is None
    assert [(r["text"], "response_url" in r) for r in slack.responses] == [("note", False)]


async def test_a_response_url_that_takes_no_more_posts_is_a_permanent_failure_named_by_slacks_answer(
    slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    slack.fail_response_urls = True
    failed = await failure(gateway(http, slack.api_url), DeliveryKind.RESPOND, response_url=slack.response_url())
    assert (failed.code, failed.transient, failed.ambiguous) == ("response_url: expired_url", False, False)
    assert failed.code.startswith("response_url: ") and not failed.unverifiable


@pytest.mark.parametrize(
    ("status", "code", "transient", "ambiguous"),
    [(429, "http_429", True, False), (500, "http_500", True, True), (503, "http_503", True, True)],
)
async def test_a_response_url_busy_or_failing_is_retried_and_a_5xx_left_in_doubt(
    slack: FakeSlack, http: aiohttp.ClientSession, status: int, code: str, transient: bool, ambiguous: bool
) -> None:
    slack.fail_response_urls_next(status)
    failed = await failure(gateway(http, slack.api_url), DeliveryKind.RESPOND, response_url=slack.response_url())
    assert (failed.code, failed.transient, failed.ambiguous, failed.retry_after) == (code, transient, ambiguous, None)
    assert slack.responses == []


async def test_a_response_url_post_slack_refuses_as_malformed_is_a_permanent_failure(
    slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    blocks = [{"type": "no_such_block"}]
    url = slack.response_url()
    failed = await failure(gateway(http, slack.api_url), DeliveryKind.RESPOND, response_url=url, blocks=blocks)
    assert (failed.code, failed.transient, failed.ambiguous) == ("response_url: invalid_blocks", False, False)
    assert [why for _, why in slack.invalid_payloads] == ["blocks[0]: unknown block type 'no_such_block'"]
    slack.invalid_payloads.clear()  # sent on purpose


async def test_a_response_url_never_reached_is_not_in_doubt(slack: FakeSlack, http: aiohttp.ClientSession) -> None:
    closed = f"http://127.0.0.1:{free_port()}/response/r1"
    failed = await failure(gateway(http, slack.api_url), DeliveryKind.RESPOND, response_url=closed)
    assert (failed.code, failed.transient, failed.ambiguous) == ("network: ClientConnectorError", True, False)


@pytest.mark.parametrize(("newer", "found"), [(1999, True), (2000, False)])
async def test_the_read_back_pages_through_at_most_ten_pages_of_history(
    slack: FakeSlack, http: aiohttp.ClientSession, newer: int, found: bool
) -> None:
    """Ten pages of 200, newest first: a post behind 2,000 newer messages can't be told apart from none."""
    slack_gateway = gateway(http, slack.api_url)
    parent = delivery(DeliveryKind.PARENT, {"channel": "C1", "text": "parent"})
    ts = await slack_gateway.execute(parent, TOKEN)
    for n in range(newer):
        slack.add_message("C1", f"chatter {n}")
    if found:
        assert await slack_gateway.find_posted(parent, TOKEN) == ts
    else:
        with pytest.raises(DeliveryError) as error:
            await slack_gateway.find_posted(parent, TOKEN)
        assert (error.value.code, error.value.transient) == ("history_too_long", False)
    pages = slack.calls_to("conversations.history")
    assert len(pages) == 10 and {call.args["limit"] for call in pages} == {"200"}


@pytest.mark.parametrize(("replies", "found"), [(1998, True), (1999, False)])
async def test_the_read_back_of_a_reply_pages_through_at_most_ten_pages_of_its_thread(
    slack: FakeSlack, http: aiohttp.ClientSession, replies: int, found: bool
) -> None:
    slack.add_member("C1")
    slack_gateway = gateway(http, slack.api_url)
    parent = slack.add_message("C1", "parent")
    for n in range(replies):
        slack.add_message("C1", f"reply {n}")["thread_ts"] = parent["ts"]
    reply = delivery(DeliveryKind.REPLY, {"channel": "C1", "thread_ts": parent["ts"], "text": "r"}, key="req1:reply")
    ts = await slack_gateway.execute(reply, TOKEN)  # the thread's 2,000th or 2,001st message, oldest first
    if found:
        assert await slack_gateway.find_posted(reply, TOKEN) == ts
    else:
        with pytest.raises(DeliveryError) as error:
            await slack_gateway.find_posted(reply, TOKEN)
        assert error.value.code == "history_too_long"
    assert len(slack.calls_to("conversations.replies")) == 10
    assert slack.calls_to("conversations.history") == []


@pytest.mark.parametrize(("queued_after", "found"), [(290, True), (310, False)])
async def test_the_read_back_starts_five_minutes_before_the_post_was_queued(
    slack: FakeSlack, http: aiohttp.ClientSession, queued_after: float, found: bool
) -> None:
    """Slack stamps a message with its own clock: one stamped up to 300 s before AskCall queued it is still seen
    (older history is not read)."""
    slack_gateway = gateway(http, slack.api_url)
    parent = delivery(DeliveryKind.PARENT, {"channel": "C1", "text": "parent"})
    ts = await slack_gateway.execute(parent, TOKEN)
    queued = replace(parent, created_at=float(str(ts).split(".")[0]) + queued_after)
    assert await slack_gateway.find_posted(queued, TOKEN) == (ts if found else None)


async def test_a_dm_with_an_enterprise_user_is_read_back_and_each_workspace_opens_its_own(
    slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    slack_gateway = gateway(http, slack.api_url)
    notice = delivery(DeliveryKind.DIRECT, {"channel": "W1", "text": "notice"}, key="req1:notice")
    ts = await slack_gateway.execute(notice, TOKEN)
    assert await slack_gateway.find_posted(notice, TOKEN) == ts
    assert await slack_gateway.find_posted(replace(notice, tenant_id="T9"), TOKEN) == ts
    assert [call.args["users"] for call in slack.calls_to("conversations.open")] == ["W1", "W1"]
    assert [call.args["channel"] for call in slack.calls_to("conversations.history")] == ["DW1", "DW1"]


async def test_a_read_back_slack_refuses_is_not_retried_by_joining(
    slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    slack.add_channel("G1", private=True)
    with pytest.raises(DeliveryError) as error:
        await gateway(http, slack.api_url).find_posted(
            delivery(DeliveryKind.PARENT, {"channel": "G1", "text": "t"}), TOKEN
        )
    assert (error.value.code, error.value.transient, error.value.unreachable) == ("channel_not_found", False, True)
    assert slack.calls_to("conversations.join", only_ok=False) == []


async def test_a_read_back_rate_limited_or_failing_is_asked_again_later(
    slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    slack.add_member("C1")
    slack_gateway = gateway(http, slack.api_url)
    parent = delivery(DeliveryKind.PARENT, {"channel": "C1", "text": "t"})
    slack.fail_next("conversations.history", status=429, retry_after=3)
    with pytest.raises(DeliveryError) as limited:
        await slack_gateway.find_posted(parent, TOKEN)
    assert (limited.value.code, limited.value.transient, limited.value.retry_after) == ("ratelimited", True, 3.0)
    slack.fail_next("conversations.history", status=503)
    with pytest.raises(DeliveryError) as failing:
        await slack_gateway.find_posted(parent, TOKEN)
    assert (failing.value.code, failing.value.transient) == ("http_503", True)


async def test_a_read_back_that_never_reaches_slack_is_asked_again_and_not_in_doubt(
    http: aiohttp.ClientSession,
) -> None:
    closed = gateway(http, f"http://127.0.0.1:{free_port()}/api/")
    with pytest.raises(DeliveryError) as error:
        await closed.find_posted(delivery(DeliveryKind.PARENT, {"channel": "C1", "text": "t"}), TOKEN)
    assert (error.value.code, error.value.transient, error.value.ambiguous) == (
        "network: ClientConnectorError",
        True,
        False,
    )
