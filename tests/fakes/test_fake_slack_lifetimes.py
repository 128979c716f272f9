"""The fake Slack keeps Slack's rules on what runs out and what is only shown when asked: metadata in history
reads, pages, response_url and trigger_id lifetimes, the per-channel posting rate, and calls that were carried
out although their caller saw a failure. Smaller refusals too: editing another's message, an empty update, an
ephemeral to someone not in the channel, an unknown user, metadata without its event type or payload."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.fakes import FakeSlack
from bot.fakes.slack import (
    CHANNEL_POST_BURST,
    RESPONSE_URL_LIFETIME,
    RESPONSE_URL_POSTS,
    TRIGGER_LIFETIME,
)
from tests.conftest import ManualClock

KEY = {"event_type": "askcall_delivery", "event_payload": {"key": "req1:parent"}}
VIEW = {"type": "modal", "title": {"type": "plain_text", "text": "A"}, "blocks": [{"type": "divider"}]}


async def slack_error(call: Any) -> str:
    with pytest.raises(SlackApiError) as err:
        await call
    return str(err.value.response["error"])


def bare(client: AsyncWebClient) -> AsyncWebClient:
    """The client as AskCall runs it: no SDK retries (a blind retry of a post would be a duplicate)."""
    return AsyncWebClient(token=client.token, base_url=client.base_url, timeout=5, retry_handlers=[])


# --- metadata ----------------------------------------------------------------------------------------------
async def test_history_and_replies_show_metadata_only_when_asked(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.add_member("C1")
    parent = await client.chat_postMessage(channel="C1", text="parent", metadata=KEY)
    await client.chat_postMessage(channel="C1", text="reply", thread_ts=parent["ts"], metadata=KEY)

    for read in (
        lambda **kw: client.conversations_history(channel="C1", **kw),
        lambda **kw: client.conversations_replies(channel="C1", ts=parent["ts"], **kw),
    ):
        assert all("metadata" not in m for m in (await read())["messages"])
        assert all("metadata" not in m for m in (await read(include_all_metadata=False))["messages"])
        asked = (await read(include_all_metadata=True))["messages"]
        assert asked and all(m["metadata"] == KEY for m in asked)


@pytest.mark.parametrize(
    ("metadata", "error"),
    [
        ("not json", "invalid_metadata_format"),
        ([KEY], "invalid_metadata_format"),
        ({"event_payload": {"key": "k"}}, "invalid_metadata_schema"),
        ({"event_type": "", "event_payload": {"key": "k"}}, "invalid_metadata_schema"),
        ({"event_type": "askcall_delivery"}, "invalid_metadata_schema"),
        ({"event_type": "askcall_delivery", "event_payload": "k"}, "invalid_metadata_schema"),
    ],
    ids=["not-json", "a-list", "no-event-type", "empty-event-type", "no-event-payload", "payload-not-an-object"],
)
async def test_metadata_without_an_event_type_and_payload_is_refused(
    fake: FakeSlack, client: AsyncWebClient, metadata: Any, error: str
) -> None:
    assert await slack_error(client.chat_postMessage(channel="C1", text="t", metadata=metadata)) == error
    assert fake.messages == []
    posted = await client.chat_postMessage(channel="C1", text="t")
    assert await slack_error(client.chat_update(channel="C1", ts=posted["ts"], text="u", metadata=metadata)) == error
    assert fake.updates == []


# --- pages -------------------------------------------------------------------------------------------------
async def test_replies_page_with_limit_and_cursor_like_slack(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.add_member("C1")
    parent = await client.chat_postMessage(channel="C1", text="parent")
    for n in range(4):
        fake.add_message("C1", f"reply {n}")["thread_ts"] = parent["ts"]
    pages: list[list[str]] = []
    cursor = None
    while True:
        page = await client.conversations_replies(channel="C1", ts=parent["ts"], limit=2, cursor=cursor)
        pages.append([m["text"] for m in page["messages"]])
        cursor = page["response_metadata"]["next_cursor"]
        assert page["has_more"] == bool(cursor)
        if not cursor:
            break
    assert pages == [["parent", "reply 0"], ["reply 1", "reply 2"], ["reply 3"]]
    assert "next_ts" not in cursor_of(await client.conversations_replies(channel="C1", ts=parent["ts"], limit=1))
    # Without a limit, the whole (short) thread in one page.
    whole = await client.conversations_replies(channel="C1", ts=parent["ts"])
    assert len(whole["messages"]) == 5 and not whole["has_more"]
    bad = client.conversations_replies(channel="C1", ts=parent["ts"], cursor="not-a-cursor")
    assert await slack_error(bad) == "invalid_cursor"


def cursor_of(page: Any) -> str:
    """A cursor is opaque, like Slack's (base64), not readable text."""
    return str(page["response_metadata"]["next_cursor"])


# --- stored, then an error --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("failure", "status", "error"),
    [({"status": 503}, 503, None), ({"error": "internal_error"}, 200, "internal_error")],
    ids=["5xx", "internal_error"],
)
async def test_a_post_stored_then_failed_is_in_the_channel(
    fake: FakeSlack, client: AsyncWebClient, failure: dict[str, Any], status: int, error: str | None
) -> None:
    fake.fail_after_storing("chat.postMessage", **failure)
    with pytest.raises(SlackApiError) as err:
        await bare(client).chat_postMessage(channel="C1", text="did it land?", metadata=KEY)
    assert err.value.response.status_code == status
    if error is not None:
        assert err.value.response["error"] == error
    assert [m["text"] for m in fake.messages] == ["did it land?"]  # it did
    (call,) = fake.calls_to("chat.postMessage", only_ok=False)
    assert call.in_doubt
    await client.chat_postMessage(channel="C1", text="next")  # the script was used up
    assert len(fake.messages) == 2


async def test_a_post_stored_then_dropped_is_in_the_channel(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.drop_after_storing("chat.postMessage")
    with pytest.raises(aiohttp.ClientError):
        await bare(client).chat_postMessage(channel="C1", text="did it land?")
    assert [m["text"] for m in fake.messages] == ["did it land?"]
    (call,) = fake.calls_to("chat.postMessage", only_ok=False)
    assert call.dropped and call.in_doubt
    assert fake.hanging == 0  # answered at once (by dropping), not held


async def test_a_failure_that_did_nothing_is_not_in_doubt_unless_slack_says_so(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.fail_next("chat.postMessage", status=429, retry_after=1)
    fake.fail_next("chat.postMessage", error="channel_not_found")
    fake.fail_next("chat.postMessage", status=502)
    for _ in range(3):
        with pytest.raises(SlackApiError):
            await bare(client).chat_postMessage(channel="C1", text="x")
    assert fake.messages == []
    assert [c.in_doubt for c in fake.calls_to("chat.postMessage", only_ok=False)] == [False, False, True]


# --- response_url and trigger_id lifetimes -----------------------------------------------------------------
async def test_a_response_url_takes_five_posts_within_thirty_minutes() -> None:
    clock = ManualClock(1000.0)
    async with FakeSlack(clock=clock) as fake:
        many, late = fake.response_url("many"), fake.response_url("late")
        for n in range(RESPONSE_URL_POSTS):
            sent = await AsyncWebhookClient(many).send(text=f"note {n}")
            assert (sent.status_code, sent.body) == (200, "ok")
        used = await AsyncWebhookClient(many).send(text="one too many")
        assert (used.status_code, used.body) == (404, "used_url")

        clock.advance(RESPONSE_URL_LIFETIME - 1)
        assert (await AsyncWebhookClient(late).send(text="in time")).status_code == 200
        clock.advance(2)
        expired = await AsyncWebhookClient(late).send(text="too late")
        assert (expired.status_code, expired.body) == (404, "expired_url")
        unknown = await AsyncWebhookClient(fake.base_url + "/response/never-issued").send(text="?")
        assert (unknown.status_code, unknown.body) == (404, "invalid_url")
    assert [r["text"] for r in fake.responses] == [*(f"note {n}" for n in range(RESPONSE_URL_POSTS)), "in time"]
    assert [r["text"] for r in fake.rejected_responses] == ["one too many", "too late", "?"]


async def test_each_interaction_gets_its_own_response_url(fake: FakeSlack) -> None:
    urls = {fake.new_response_url() for _ in range(3)}
    assert len(urls) == 3
    for url in urls:
        assert (await AsyncWebhookClient(url).send(text="hi")).status_code == 200


async def test_a_trigger_id_opens_one_view_within_three_seconds(fake: FakeSlack, client: AsyncWebClient) -> None:
    fresh, slow = fake.trigger_id(), fake.trigger_id()
    assert (await client.views_open(trigger_id=fresh, view=VIEW))["ok"]
    assert await slack_error(client.views_open(trigger_id=fresh, view=VIEW)) == "exchanged_trigger_id"
    fake.pass_time(TRIGGER_LIFETIME + 0.1)
    assert await slack_error(client.views_open(trigger_id=slow, view=VIEW)) == "expired_trigger_id"
    assert await slack_error(client.views_open(trigger_id="12345.98765.abcd2358fdea", view=VIEW)) == (
        "invalid_trigger_id"
    )
    assert len(fake.views) == 1


# --- smaller refusals -------------------------------------------------------------------------------------
async def test_chat_update_edits_only_the_bots_own_messages_and_needs_text(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    someone = fake.add_message("C1", "a rep wrote this", user="U9")
    assert await slack_error(client.chat_update(channel="C1", ts=someone["ts"], text="x")) == "cant_update_message"
    mine = await client.chat_postMessage(channel="C1", text="the bot wrote this")
    for empty in ({}, {"text": ""}, {"blocks": []}):  # (through api_call: the SDK would warn first)
        update = client.api_call("chat.update", json={"channel": "C1", "ts": mine["ts"], **empty})
        assert await slack_error(update) == "no_text"
    assert fake.updates == [] and someone["text"] == "a rep wrote this"
    await client.chat_update(channel="C1", ts=mine["ts"], text="edited")
    assert fake.find_message("C1", mine["ts"])["text"] == "edited"  # type: ignore[index]


async def test_an_ephemeral_goes_only_to_a_user_in_the_channel(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.add_channel("C2").users = {"U1"}
    assert await slack_error(client.chat_postEphemeral(channel="C2", user="U2", text="x")) == "user_not_in_channel"
    assert await slack_error(client.chat_postEphemeral(channel="C2", user="B1", text="x")) == "user_not_found"
    assert await slack_error(client.chat_postEphemeral(channel="DU1", user="U2", text="x")) == "user_not_in_channel"
    await client.chat_postEphemeral(channel="C2", user="U1", text="only you")
    await client.chat_postEphemeral(channel="DU1", user="U1", text="in your DM")
    assert [(e["channel"], e["user"]) for e in fake.ephemerals] == [("C2", "U1"), ("DU1", "U1")]


async def test_users_info_knows_only_users(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.unknown_users.add("U404")
    for user in ("U404", "B123", "C1", "u1", "U1 "):
        assert await slack_error(client.users_info(user=user)) == "user_not_found"
    assert (await client.users_info(user="U1"))["user"]["id"] == "U1"


# --- the per-channel posting rate --------------------------------------------------------------------------
async def test_posting_is_rate_limited_per_channel_with_short_bursts(fake: FakeSlack, client: AsyncWebClient) -> None:
    clock = ManualClock(0.0)
    fake.clock = clock
    poster = bare(client)
    for n in range(CHANNEL_POST_BURST):
        await poster.chat_postMessage(channel="C1", text=f"burst {n}")
    with pytest.raises(SlackApiError) as err:
        await poster.chat_postMessage(channel="C1", text="one too many")
    assert (err.value.response.status_code, err.value.response["error"]) == (429, "ratelimited")
    assert err.value.response.headers["Retry-After"] == "1"
    assert len(fake.messages) == CHANNEL_POST_BURST  # nothing stored
    # Another channel, and the DM with a user, have their own budget; updates are not limited this way.
    await poster.chat_postMessage(channel="C2", text="elsewhere")
    await poster.chat_postMessage(channel="U1", text="a DM")
    await poster.chat_update(channel="C1", ts=fake.messages[0]["ts"], text="edited")

    clock.advance(1.0)  # one more post a second
    await poster.chat_postMessage(channel="C1", text="a second later")
    with pytest.raises(SlackApiError):
        await poster.chat_postMessage(channel="C1", text="again too soon")
    clock.advance(60.0)  # a long quiet spell refills the burst, no more
    for n in range(CHANNEL_POST_BURST):
        await poster.chat_postMessage(channel="C1", text=f"second burst {n}")
    assert await slack_error(poster.chat_postMessage(channel="C1", text="x")) == "ratelimited"
    outcomes = [c.outcome for c in fake.calls_to("chat.postMessage", only_ok=False)]
    assert outcomes.count("ratelimited") == 3


async def test_the_rate_limit_applies_to_concurrent_posts(fake: FakeSlack, client: AsyncWebClient) -> None:
    poster = bare(client)
    results = await asyncio.gather(
        *(poster.chat_postMessage(channel="C1", text=str(n)) for n in range(CHANNEL_POST_BURST + 3)),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, SlackApiError)]
    assert len(refused) == 3 and all(r.response.status_code == 429 for r in refused)
    assert len(fake.messages) == CHANNEL_POST_BURST


async def test_the_benchmarks_load_fake_can_turn_slacks_limits_off() -> None:
    async with FakeSlack(limits=False) as unlimited:
        poster = AsyncWebClient(token="xoxb-test", base_url=unlimited.api_url, retry_handlers=[])
        for n in range(3 * CHANNEL_POST_BURST):
            await poster.chat_postMessage(channel="C1", text=str(n))
        url = unlimited.response_url("bench")
        unlimited.pass_time(2 * RESPONSE_URL_LIFETIME)
        for _ in range(3 * RESPONSE_URL_POSTS):
            assert (await AsyncWebhookClient(url).send(text="note")).status_code == 200
    assert len(unlimited.messages) == 3 * CHANNEL_POST_BURST
