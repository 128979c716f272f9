"""Tests of the fake Slack Web API, driven by the real slack_sdk AsyncWebClient over loopback."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.fakes import (
    FakeSlack,
    interaction_body,
    slack_signed_headers,
    slash_command_body,
    view_submission_payload,
)


async def test_auth_test_reports_identity_and_scopes(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.scopes = "commands,chat:write"
    resp = await client.auth_test()
    assert (resp["user_id"], resp["team_id"], resp["bot_id"]) == ("UBOT", "T1", "BBOT")
    assert resp.headers["x-oauth-scopes"] == "commands,chat:write"


async def test_thread_reply_update_and_replies(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.add_member("C1")  # invited: its history is readable
    parent = await client.chat_postMessage(
        channel="C1",
        text="Asking +55…",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "Asking"}}],
        metadata={"event_type": "askcall_request", "event_payload": {"id": "r1"}},
    )
    reply = await client.chat_postMessage(channel="C1", text="Answered", thread_ts=parent["ts"])
    await client.chat_update(channel="C1", ts=parent["ts"], text="Done", blocks=[])

    assert float(reply["ts"]) > float(parent["ts"])
    replies = await client.conversations_replies(channel="C1", ts=parent["ts"], include_all_metadata=True)
    assert [m["text"] for m in replies["messages"]] == ["Done", "Answered"]
    assert replies["messages"][0]["metadata"]["event_payload"] == {"id": "r1"}
    assert replies["messages"][0]["reply_count"] == 1
    assert fake.thread_replies("C1", parent["ts"])[0]["ts"] == reply["ts"]
    assert fake.updates[-1]["text"] == "Done"
    assert len(fake.calls_to("chat.postMessage")) == 2
    assert fake.messages[1]["user"] == "UBOT"


async def test_history_is_newest_first_and_skips_replies(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.add_member("C1")
    first = await client.chat_postMessage(channel="C1", text="one")
    await client.chat_postMessage(channel="C1", text="in thread", thread_ts=first["ts"])
    second = await client.chat_postMessage(channel="C1", text="two")
    await client.chat_postMessage(channel="C2", text="elsewhere")

    history = await client.conversations_history(channel="C1")
    assert [m["text"] for m in history["messages"]] == ["two", "one"]
    newer = await client.conversations_history(channel="C1", oldest=first["ts"])
    assert [m["ts"] for m in newer["messages"]] == [second["ts"]]


async def test_unknown_thread_and_message_are_errors(fake: FakeSlack, client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as thread_err:
        await client.chat_postMessage(channel="C1", text="x", thread_ts="1.000001")
    with pytest.raises(SlackApiError) as update_err:
        await client.chat_update(channel="C1", ts="1.000001", text="x")
    assert thread_err.value.response["error"] == "thread_not_found"
    assert update_err.value.response["error"] == "message_not_found"
    assert fake.messages == []
    assert [c.outcome for c in fake.calls] == ["thread_not_found", "message_not_found"]


async def test_wrong_token_is_invalid_auth(fake: FakeSlack) -> None:
    bad = AsyncWebClient(token="xoxb-wrong", base_url=fake.api_url)
    with pytest.raises(SlackApiError) as err:
        await bad.chat_postMessage(channel="C1", text="x")
    assert err.value.response["error"] == "invalid_auth"
    assert fake.messages == [] and fake.calls_to("chat.postMessage") == []


async def test_scripted_429_carries_retry_after(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.fail_next("chat.postMessage", status=429, retry_after=3)
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C1", text="x")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "3"
    assert err.value.response["error"] == "ratelimited"
    assert fake.messages == []
    assert [c.outcome for c in fake.calls_to("chat.postMessage", only_ok=False)] == ["ratelimited"]

    await client.chat_postMessage(channel="C1", text="x")  # the script was used up
    assert len(fake.messages) == 1


async def test_scripted_503_is_plain_text(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.fail_next("chat.update", status=503, times=2)
    msg = await client.chat_postMessage(channel="C1", text="x")
    for _ in range(2):
        with pytest.raises(SlackApiError) as err:
            await client.chat_update(channel="C1", ts=msg["ts"], text="y")
        assert err.value.response.status_code == 503
        assert err.value.response.data == "upstream error"
    await client.chat_update(channel="C1", ts=msg["ts"], text="y")
    assert fake.messages[0]["text"] == "y"
    assert len(fake.updates) == 1


async def test_delay_next_answers_normally_after_sleeping(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.delay_next("chat.postMessage", 0.3)
    started = time.monotonic()
    resp = await client.chat_postMessage(channel="C1", text="slow")
    assert time.monotonic() - started >= 0.3
    assert resp["ok"] and fake.messages[0]["text"] == "slow"


async def test_unreachable_channel_and_join(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.unreachable_channels = {"CPUB": "not_in_channel", "GPRIV": "channel_not_found"}
    for channel, error in fake.unreachable_channels.copy().items():
        with pytest.raises(SlackApiError) as err:
            await client.chat_postMessage(channel=channel, text="x")
        assert err.value.response["error"] == error

    await client.conversations_join(channel="CPUB")
    await client.chat_postMessage(channel="CPUB", text="after join")
    with pytest.raises(SlackApiError):
        await client.conversations_join(channel="GPRIV")
    assert [m["channel"] for m in fake.messages] == ["CPUB"]


async def test_form_encoded_json_args_are_normalised(fake: FakeSlack, client: AsyncWebClient) -> None:
    blocks = [{"type": "divider"}]
    await client.api_call(
        "chat.postMessage",
        data={
            "channel": "C1",
            "text": "t",
            "blocks": json.dumps(blocks),
            "metadata": '{"event_type": "e", "event_payload": {}}',
        },
    )
    assert fake.messages[0]["blocks"] == blocks
    assert fake.messages[0]["metadata"] == {"event_type": "e", "event_payload": {}}


async def test_views_users_and_usergroups(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.user_locales["U2"] = "en-US"
    fake.usergroups["S1"] = ["U1", "U2"]
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]
    view = {
        "type": "modal",
        "callback_id": "askcall_modal",
        "title": {"type": "plain_text", "text": "A"},
        "blocks": blocks,
    }
    opened = await client.views_open(trigger_id=fake.trigger_id(), view=view)
    await client.views_publish(user_id="U1", view={"type": "home", "blocks": blocks})

    assert opened["view"]["id"].startswith("V") and opened["view"]["callback_id"] == "askcall_modal"
    assert fake.views[0]["callback_id"] == "askcall_modal"
    assert fake.home_views["U1"]["type"] == "home"
    assert (await client.users_info(user="U2"))["user"]["locale"] == "en-US"
    assert (await client.users_info(user="U3"))["user"]["locale"] == "pt-BR"
    assert (await client.usergroups_users_list(usergroup="S1"))["users"] == ["U1", "U2"]


async def test_ephemeral_is_stored(fake: FakeSlack, client: AsyncWebClient) -> None:
    resp = await client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    assert fake.ephemerals[0]["message_ts"] == resp["message_ts"]
    assert fake.messages == []


async def test_response_url_records_and_can_expire(fake: FakeSlack) -> None:
    ok = await AsyncWebhookClient(fake.response_url("r7")).send(text="hi", response_type="ephemeral")
    assert (ok.status_code, ok.body) == (200, "ok")
    assert fake.responses == [{"text": "hi", "response_type": "ephemeral", "_name": "r7"}]

    fake.fail_response_urls = True
    expired = await AsyncWebhookClient(fake.response_url()).send(text="late")
    assert (expired.status_code, expired.body) == (404, "expired_url")
    assert len(fake.responses) == 1


async def test_wait_for_times_out_with_summary(fake: FakeSlack, client: AsyncWebClient) -> None:
    await client.chat_postMessage(channel="C1", text="x")
    await fake.wait_for(lambda: len(fake.messages) == 1, timeout=0.5)
    with pytest.raises(AssertionError, match=r"chat\.postMessage -> ok"):
        await fake.wait_for(lambda: len(fake.messages) == 2, timeout=0.05)


def test_signed_slash_command_verifies() -> None:
    body = slash_command_body("+5511999999999 pedido", response_url="http://127.0.0.1:1/response/r1")
    headers = slack_signed_headers(body, "shh")
    assert SignatureVerifier("shh").is_valid_request(body, headers)
    assert not SignatureVerifier("other").is_valid_request(body, headers)
    form = parse_qs(body)
    assert form["command"] == ["/askcall"] and form["text"] == ["+5511999999999 pedido"]
    assert form["trigger_id"] != parse_qs(slash_command_body("x"))["trigger_id"]


def test_interaction_body_round_trips_view_submission() -> None:
    values = {"phone": {"phone_input": {"type": "plain_text_input", "value": "+5511999999999"}}}
    payload = view_submission_payload("askcall_modal", values, '{"channel_id": "C1"}', view_id="V9")
    decoded = json.loads(parse_qs(interaction_body(payload))["payload"][0])
    assert decoded["type"] == "view_submission"
    assert decoded["view"]["id"] == "V9"
    assert decoded["view"]["state"]["values"] == values
    assert decoded["view"]["private_metadata"] == '{"channel_id": "C1"}'
