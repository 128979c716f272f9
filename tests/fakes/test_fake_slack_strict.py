"""The fake Slack refuses what real Slack refuses: bad Block Kit, missing scopes, reads without membership,
GET bodies; and it can store a message while its answer never arrives."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.fakes import FakeSlack
from bot.fakes.slack import MANIFEST, manifest_scopes

TOKEN = {"Authorization": "Bearer xoxb-test"}


async def slack_error(call: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as err:
        await call
    data: dict[str, Any] = err.value.response.data  # type: ignore[assignment]
    return data


def section(text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def button(action_id: str = "a", value: str = "v", text: str = "Go") -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action_id, "value": value}


# --- Block Kit ---------------------------------------------------------------------------------------------

INVALID_BLOCKS = {
    "51 blocks": [{"type": "divider"}] * 51,
    "unknown block type": [{"type": "carousel"}],
    "section text over 3000": [section("x" * 3001)],
    "empty text object": [section("")],
    "section text as a string": [{"type": "section", "text": "plain"}],
    "section without text or fields": [{"type": "section"}],
    "header over 150": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
    "button value over 2000": [{"type": "actions", "elements": [button(value="v" * 2001)]}],
    "action_id over 255": [{"type": "actions", "elements": [button(action_id="a" * 256)]}],
    "block_id over 255": [section(block_id="b" * 256)],
    "duplicate action_id in a block": [{"type": "actions", "elements": [button("same"), button("same", text="B")]}],
    "duplicate block_id in a message": [section(block_id="x"), section(block_id="x")],
    "unknown element": [{"type": "actions", "elements": [{"type": "hologram", "action_id": "h"}]}],
    "mrkdwn over 3000 in context": [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c" * 3001}]}],
    "field over 2000": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}],
    "blocks not a list": {"type": "divider"},
}


@pytest.mark.parametrize("blocks", INVALID_BLOCKS.values(), ids=INVALID_BLOCKS.keys())
async def test_invalid_blocks_are_refused_and_nothing_is_stored(
    fake: FakeSlack, client: AsyncWebClient, blocks: Any
) -> None:
    fake.add_member("C1")
    error = await slack_error(client.chat_postMessage(channel="C1", text="t", blocks=blocks))
    assert error["error"] == "invalid_blocks"
    assert error["response_metadata"]["messages"][0].startswith("[ERROR] ")
    assert fake.messages == []
    assert [method for method, _ in fake.invalid_payloads] == ["chat.postMessage"]

    parent = await client.chat_postMessage(channel="C1", text="ok", blocks=[section()])
    assert (await slack_error(client.chat_update(channel="C1", ts=parent["ts"], text="t", blocks=blocks)))[
        "error"
    ] == "invalid_blocks"
    assert (await slack_error(client.chat_postEphemeral(channel="C1", user="U1", text="t", blocks=blocks)))[
        "error"
    ] == "invalid_blocks"
    assert fake.updates == [] and fake.ephemerals == []


async def test_valid_rich_blocks_are_accepted(fake: FakeSlack, client: AsyncWebClient) -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Pedido"}},
        section("x" * 3000, block_id="b1"),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "ctx"}]},
        {"type": "actions", "block_id": "b2", "elements": [button("a1", "v" * 2000), button("a2", text="B")]},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2000}]},
        *[{"type": "divider"}] * 45,
    ]
    assert len(blocks) == 50
    await client.chat_postMessage(channel="C1", text="t" * 40_000, blocks=blocks)
    assert fake.messages[0]["blocks"] == blocks


async def test_top_level_text_over_40000_is_refused(fake: FakeSlack, client: AsyncWebClient) -> None:
    assert (await slack_error(client.chat_postMessage(channel="C1", text="t" * 40_001)))["error"] == "msg_too_long"


def modal(blocks: list[dict[str, Any]], title: str = "AskCall") -> dict[str, Any]:
    return {"type": "modal", "callback_id": "cb", "title": {"type": "plain_text", "text": title}, "blocks": blocks}


INVALID_VIEWS = {
    "title over 24": modal([section()], title="t" * 25),
    "101 blocks": modal([{"type": "divider"}] * 101),
    "no blocks": {"type": "modal", "title": {"type": "plain_text", "text": "A"}},
    "invalid block inside": modal([section("x" * 3001)]),
    "unknown view type": {"type": "sheet", "blocks": [section()]},
    "private_metadata over 3000": {**modal([section()]), "private_metadata": "m" * 3001},
}


@pytest.mark.parametrize("view", INVALID_VIEWS.values(), ids=INVALID_VIEWS.keys())
async def test_invalid_views_are_refused(fake: FakeSlack, client: AsyncWebClient, view: dict[str, Any]) -> None:
    assert (await slack_error(client.views_open(trigger_id="1.2.t", view=view)))["error"] == "invalid_arguments"
    home = {**view, "type": "home"} if view.get("type") == "modal" else view
    assert (await slack_error(client.views_publish(user_id="U1", view=home)))["error"] == "invalid_arguments"
    assert fake.views == [] and fake.home_views == {}


async def test_response_url_with_invalid_blocks_is_refused(fake: FakeSlack) -> None:
    webhook = AsyncWebhookClient(fake.response_url("r1"))
    refused = await webhook.send(text="t", blocks=[section("")])
    assert (refused.status_code, refused.body) == (400, "invalid_blocks")
    assert fake.responses == [] and len(fake.rejected_responses) == 1
    accepted = await webhook.send(text="t", blocks=[section()])
    assert accepted.status_code == 200 and len(fake.responses) == 1


# --- GET reads the query string only ----------------------------------------------------------------------


async def test_get_arguments_come_from_the_query_string_only(fake: FakeSlack) -> None:
    fake.user_locales["U2"] = "en-US"
    url = fake.api_url + "users.info"
    async with aiohttp.ClientSession(headers=TOKEN) as http:
        async with http.get(url, data={"user": "U2"}) as in_body:
            assert await in_body.json() == {"ok": False, "error": "user_not_found"}
        async with http.get(url, params={"user": "U2"}) as in_query:
            assert (await in_query.json())["user"]["locale"] == "en-US"
        async with http.post(url, data={"user": "U2"}) as posted:
            assert (await posted.json())["user"]["locale"] == "en-US"
        async with http.post(url, json={"user": "U2"}) as posted_json:
            assert (await posted_json.json())["user"]["locale"] == "en-US"


# --- scopes ------------------------------------------------------------------------------------------------


def test_granted_scopes_are_the_manifests() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert manifest_scopes().split(",") == manifest["oauth_config"]["scopes"]["bot"]
    assert FakeSlack().scopes == manifest_scopes()


def test_scopes_follow_the_manifest_file(tmp_path: Path) -> None:
    path = tmp_path / "manifest.yml"
    path.write_text("oauth_config:\n  scopes:\n    bot: [commands, chat:write]\n", encoding="utf-8")
    assert manifest_scopes(path) == "commands,chat:write"


NEEDS = [
    ("chat.postMessage", {"channel": "C1", "text": "t"}, "chat:write"),
    ("conversations.join", {"channel": "C1"}, "channels:join"),
    ("conversations.open", {"users": "U1"}, "im:write"),
    ("conversations.history", {"channel": "C1"}, "channels:history"),
    ("conversations.history", {"channel": "G1"}, "groups:history"),
    ("conversations.history", {"channel": "DU1"}, "im:history"),
    ("conversations.replies", {"channel": "G1", "ts": "1.000001"}, "groups:history"),
    ("users.info", {"user": "U1"}, "users:read"),
    ("usergroups.users.list", {"usergroup": "S1"}, "usergroups:read"),
]


@pytest.mark.parametrize(("method", "args", "scope"), NEEDS, ids=[f"{m}-{s}" for m, _, s in NEEDS])
async def test_each_method_needs_its_scope(
    fake: FakeSlack, client: AsyncWebClient, method: str, args: dict[str, str], scope: str
) -> None:
    fake.add_member("C1")
    fake.scopes = ",".join(s for s in fake.scopes.split(",") if s != scope)
    error = await slack_error(client.api_call(method, params=args))
    assert (error["error"], error["needed"], error["provided"]) == ("missing_scope", scope, fake.scopes)


async def test_public_channel_without_membership_needs_chat_write_public(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    await client.chat_postMessage(channel="C1", text="via chat:write.public")
    fake.scopes = fake.scopes.replace(",chat:write.public", "")
    assert (await slack_error(client.chat_postMessage(channel="C1", text="x")))["error"] == "not_in_channel"
    fake.add_member("C1")
    await client.chat_postMessage(channel="C1", text="invited")
    assert len(fake.messages) == 2


# --- membership --------------------------------------------------------------------------------------------


async def test_history_needs_membership_and_joining_reveals_earlier_messages(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    parent = await client.chat_postMessage(channel="C1", text="before the join")
    for read in (
        client.conversations_history(channel="C1"),
        client.conversations_replies(channel="C1", ts=parent["ts"]),
    ):
        assert (await slack_error(read))["error"] == "not_in_channel"

    joined = await client.conversations_join(channel="C1")
    assert "warning" not in joined
    history = await client.conversations_history(channel="C1")
    assert [m["text"] for m in history["messages"]] == ["before the join"]
    again = await client.conversations_join(channel="C1")
    assert again["warning"] == "already_in_channel"


async def test_private_channels_need_an_invitation(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.add_channel("CPRIV", private=True)
    for call in (
        client.chat_postMessage(channel="CPRIV", text="x"),
        client.conversations_history(channel="CPRIV"),
    ):
        assert (await slack_error(call))["error"] == "channel_not_found"
    join = await slack_error(client.conversations_join(channel="CPRIV"))
    assert join["error"] == "method_not_supported_for_channel_type"

    fake.add_member("CPRIV")  # /invite @askcall
    await client.chat_postMessage(channel="CPRIV", text="now")
    assert len((await client.conversations_history(channel="CPRIV"))["messages"]) == 1
    # G… ids default to a private channel the bot was invited to.
    await client.chat_postMessage(channel="G1", text="g")
    assert len((await client.conversations_history(channel="G1"))["messages"]) == 1


async def test_archived_and_connect_channels_refuse_the_join(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.add_channel("CARCH", archived=True)
    fake.add_channel("CEXT", join_error="method_not_supported_for_channel_type")
    assert (await slack_error(client.chat_postMessage(channel="CARCH", text="x")))["error"] == "is_archived"
    assert (await slack_error(client.conversations_join(channel="CARCH")))["error"] == "is_archived"
    await client.chat_postMessage(channel="CEXT", text="posted through chat:write.public")
    join = await slack_error(client.conversations_join(channel="CEXT"))
    assert join["error"] == "method_not_supported_for_channel_type"
    assert (await slack_error(client.conversations_history(channel="CEXT")))["error"] == "not_in_channel"


async def test_posting_to_a_user_id_lands_in_the_app_dm(fake: FakeSlack, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="U7", text="hello")
    opened = await client.conversations_open(users="U7")
    assert posted["channel"] == opened["channel"]["id"] == fake.dm_channel("U7")
    history = await client.conversations_history(channel=fake.dm_channel("U7"))
    assert [m["text"] for m in history["messages"]] == ["hello"]


# --- an answer that never arrives --------------------------------------------------------------------------


async def test_hung_call_stores_the_message_and_the_caller_times_out(fake: FakeSlack) -> None:
    impatient = AsyncWebClient(token="xoxb-test", base_url=fake.api_url, timeout=0.3)
    fake.hang_next("chat.postMessage")
    with pytest.raises(asyncio.TimeoutError):
        await impatient.chat_postMessage(channel="C1", text="did it land?")
    assert [m["text"] for m in fake.messages] == ["did it land?"]
    assert fake.hanging == 1
    fake.release_hung()
    assert fake.hanging == 0
    await impatient.chat_postMessage(channel="C1", text="next one answers")
    assert len(fake.messages) == 2


async def test_hung_call_released_with_its_answer(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.hang_next("chat.postMessage")
    call = asyncio.create_task(client.chat_postMessage(channel="C1", text="slow"))
    await fake.wait_for(lambda: fake.hanging == 1)
    assert not call.done()
    fake.release_hung()
    assert (await call)["ts"] == fake.messages[0]["ts"]


async def test_hung_call_released_by_dropping_the_connection(fake: FakeSlack) -> None:
    # No SDK retry handlers (AskCall runs without them: a blind retry here would be a duplicate).
    client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url, timeout=5, retry_handlers=[])
    fake.hang_next("chat.postMessage")
    call = asyncio.create_task(client.chat_postMessage(channel="C1", text="lost answer"))
    await fake.wait_for(lambda: fake.hanging == 1)
    fake.release_hung(answer=False)
    with pytest.raises(aiohttp.ClientError):
        await call
    assert len(fake.messages) == 1


async def test_history_pages_with_a_cursor(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.add_member("C1")
    for n in range(5):
        await client.chat_postMessage(channel="C1", text=str(n))
    seen: list[str] = []
    cursor = None
    while True:
        page = await client.conversations_history(channel="C1", limit=2, cursor=cursor)
        seen += [m["text"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        assert bool(cursor) == page["has_more"]
        if not cursor:
            break
    assert seen == ["4", "3", "2", "1", "0"]
