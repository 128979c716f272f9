"""Issue 3 end to end: pre-check, shortcuts, status buttons, expiry reminders, App Home, locale."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs

import pytest

from bot.config import Settings
from bot.fakes.pilot_status import FakePilotStatus, iso_timestamp
from bot.fakes.slack import (
    FakeSlack,
    interaction_body,
    shortcut_payload,
    view_submission_payload,
)
from tests.conftest import CHANNEL, REP, ManualClock, Server, start_server, stop_server
from tests.e2e.helpers import DAY, E164, button, button_value, open_home, posts, replies, status_messages

PROBE = "/v1/calls/permissions"


@pytest.fixture
async def app(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus, clock: ManualClock
) -> AsyncIterator[Server]:
    pilot.now = clock
    running = await start_server(settings, slack, pilot, clock)
    try:
        yield running
    finally:
        await stop_server(running)


def block_actions(action_id: str, value: str, *, user: str = REP, message: dict[str, Any]) -> str:
    return button(action_id, value, user=user, message=message, response_url="")


async def started_request(app: Server, text: str = "+55 11 98765-4321 Podemos ligar?") -> dict[str, Any]:
    assert (await app.command(text)).status == 200
    await app.slack.wait_for(lambda: len(posts(app.pilot)) == 1 or len(status_messages(app.slack)) == 1)
    await app.wait_idle()
    return status_messages(app.slack)[0]


# --- never burn a request needlessly ----------------------------------------------------------------
async def test_already_granted_sends_nothing_and_says_until_when(app: Server, clock: ManualClock) -> None:
    expiry = int(clock() + 3 * DAY)
    app.pilot.set_permission(E164, "temporary", expiration_time=expiry)
    parent = await started_request(app)
    await app.wait_idle()
    assert posts(app.pilot) == []
    [reply] = replies(app.slack, parent)
    assert "✅" in reply["text"] and f"<!date^{expiry}^" in reply["text"]
    assert "✅" in app.slack.updates[-1]["text"]


async def test_permanent_already_sends_nothing(app: Server) -> None:
    app.pilot.set_permission(E164, "permanent")
    parent = await started_request(app)
    assert posts(app.pilot) == []
    assert "♾️" in replies(app.slack, parent)[0]["text"]


async def test_quota_spent_sends_nothing_and_says_when_possible(app: Server, clock: ManualClock) -> None:
    app.pilot.script(
        "GET",
        PROBE,
        body={
            "permission": {"status": "no_permission"},
            "actions": [
                {
                    "action_name": "send_call_permission_request",
                    "can_perform_action": False,
                    "limits": [{"time_period": "P7D", "max_allowed": 2, "current_usage": 2}],
                    "limit_expiration_time": int(clock() + DAY),
                }
            ],
        },
    )
    parent = await started_request(app)
    assert posts(app.pilot) == []
    text = replies(app.slack, parent)[0]["text"]
    assert "❌" in text and f"<!date^{int(clock() + DAY)}^" in text


async def test_probe_failure_falls_back_to_sending(app: Server) -> None:
    app.pilot.script("GET", PROBE, status=503, times=10)
    await started_request(app)
    await app.wait_idle()
    assert len(posts(app.pilot)) == 1


async def test_open_request_elsewhere_sends_nothing_and_links_to_it(app: Server) -> None:
    parent = await started_request(app)
    response = await app.command("+55 11 98765-4321 outra vez", user_id="U2")
    body = await response.json()
    assert "<@U1>" in body["text"] and f"p{parent['ts'].replace('.', '')}" in body["text"]
    await app.wait_idle()
    assert len(posts(app.pilot)) == 1
    assert len(status_messages(app.slack)) == 1


async def test_status_subcommand_shows_permission_and_quota_without_sending(app: Server) -> None:
    response = await app.command("status +55 11 98765-4321")
    assert response.status == 200
    await app.slack.wait_for(lambda: len(app.slack.responses) == 1)
    text = app.slack.responses[0]["text"]
    assert "+55 11 98765-4321" in text and "1 de 1" in text and "2 de 2" in text  # ephemeral: full number
    assert posts(app.pilot) == [] and status_messages(app.slack) == []


# --- shortcuts -------------------------------------------------------------------------------------
async def test_message_shortcut_prefills_and_answers_in_that_thread(app: Server) -> None:
    original = {"ts": "1700000000.000100", "text": "Cliente pediu retorno: (11) 98765-4321, falar com Ana"}
    app.slack.messages.append({**original, "channel": CHANNEL, "thread_ts": None, "user": "U9"})
    payload = shortcut_payload(
        "askcall_message",
        REP,
        trigger_id=app.slack.trigger_id(),
        message=original,
        channel_id=CHANNEL,
        response_url=app.slack.response_url(),
    )
    assert (await app.post_slack(interaction_body(payload))).status == 200
    await app.slack.wait_for(lambda: len(app.slack.views) == 1)
    view = app.slack.views[0]
    phone_block = next(b for b in view["blocks"] if b.get("block_id") == "phone")
    assert phone_block["element"]["initial_value"] == "+55 11 98765-4321"
    metadata = json.loads(view["private_metadata"])
    assert metadata["thread_ts"] == original["ts"]

    await app.submit_modal("+55 11 98765-4321", "Podemos ligar?", metadata=metadata)
    await app.slack.wait_for(lambda: len(posts(app.pilot)) == 1)
    await app.wait_idle()
    [status] = status_messages(app.slack)
    assert status["thread_ts"] == original["ts"]  # AskCall's status message is the first reply
    await app.answer("5511987654321", "PERMANENT")
    await app.wait_idle()
    in_thread = app.slack.thread_replies(CHANNEL, original["ts"])
    assert len(in_thread) == 2 and "♾️" in in_thread[1]["text"]
    assert app.slack.updates[-1]["ts"] == status["ts"]


@pytest.mark.parametrize(
    ("text", "prefilled"),
    [
        ("ligar p/ \u202a+55 11 98765-4321\u202c hoje", "+55 11 98765-4321"),  # copied from WhatsApp
        ("blá " * 10_000 + "(11) 98765-4321", None),  # past the scanned start of a 40,000-character message
    ],
)
async def test_message_shortcut_prefills_only_from_the_start_of_a_message(
    app: Server, text: str, prefilled: str | None
) -> None:
    original = {"ts": "1700000000.000200", "text": text}
    payload = shortcut_payload(
        "askcall_message", REP, trigger_id=app.slack.trigger_id(), message=original, channel_id=CHANNEL
    )
    assert (await app.post_slack(interaction_body(payload))).status == 200
    await app.slack.wait_for(lambda: len(app.slack.views) == 1)
    phone_block = next(b for b in app.slack.views[0]["blocks"] if b.get("block_id") == "phone")
    assert phone_block["element"].get("initial_value") == prefilled


async def test_global_shortcut_opens_modal_with_channel_picker(app: Server) -> None:
    payload = shortcut_payload("askcall_global", REP, trigger_id=app.slack.trigger_id())
    assert (await app.post_slack(interaction_body(payload))).status == 200
    await app.slack.wait_for(lambda: len(app.slack.views) == 1)
    picker = next(b for b in app.slack.views[0]["blocks"] if b.get("block_id") == "channel")
    assert picker["element"]["type"] == "conversations_select"
    values = {
        "channel": {"channel_value": {"type": "conversations_select", "selected_conversation": "C7"}},
        "phone": {"phone_value": {"type": "plain_text_input", "value": "11987654321"}},
        "reason": {"reason_value": {"type": "plain_text_input", "value": None}},
    }
    submission = view_submission_payload("askcall_request", values, "{}")
    submission["response_urls"] = [{"response_url": app.slack.response_url("picked"), "channel_id": "C7"}]
    assert (await app.post_slack(interaction_body(submission))).status == 200
    await app.slack.wait_for(lambda: len(posts(app.pilot)) == 1)
    assert status_messages(app.slack)[0]["channel"] == "C7"


# --- buttons ---------------------------------------------------------------------------------------
async def test_check_status_button_updates_the_status_message(app: Server) -> None:
    parent = await started_request(app)
    before = len(app.slack.updates)
    await app.post_slack(block_actions("askcall_check", button_value(parent), message=parent))
    await app.slack.wait_for(lambda: len(app.slack.updates) > before)
    assert "🔎" in json.dumps(app.slack.updates[-1]["blocks"], ensure_ascii=False)


async def test_check_status_finds_a_grant_whose_webhook_never_came(app: Server, clock: ManualClock) -> None:
    parent = await started_request(app)
    app.pilot.set_permission(E164, "temporary", expiration_time=int(clock() + 7 * DAY))
    await app.post_slack(block_actions("askcall_check", button_value(parent), message=parent))
    await app.slack.wait_for(lambda: len(replies(app.slack, parent)) == 1)
    assert "✅" in replies(app.slack, parent)[0]["text"]


async def test_ask_again_only_for_the_rep_and_only_once(app: Server) -> None:
    app.pilot.script(
        "POST", "/v1/calls/permissions/request", status=400, body={"error": "x", "code": "META_OUTSIDE_24H_WINDOW"}
    )
    parent = await started_request(app)
    await app.wait_idle()
    assert "askcall_again" in json.dumps(app.slack.updates[-1]["blocks"])
    request_id = button_value(parent)

    body = block_actions("askcall_again", request_id, user="U2", message=parent)
    payload = json.loads(parse_qs(body)["payload"][0])
    payload["response_url"] = app.slack.response_url("again")
    await app.post_slack(interaction_body(payload))
    await app.slack.wait_for(lambda: len(app.slack.responses) == 1)
    assert "<@U1>" in app.slack.responses[0]["text"]
    assert len(posts(app.pilot)) == 1

    for _ in range(3):  # a double click, and a retry
        await app.post_slack(block_actions("askcall_again", request_id, message=parent))
    await app.slack.wait_for(lambda: len(posts(app.pilot)) == 2)
    await app.wait_idle()
    assert len(posts(app.pilot)) == 2
    assert len(status_messages(app.slack)) == 2
    assert status_messages(app.slack)[1]["thread_ts"] == parent["ts"]


# --- expiry reminders ------------------------------------------------------------------------------
async def test_reminders_fire_once_each_across_restarts(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus, clock: ManualClock
) -> None:
    pilot.now = clock
    app = await start_server(settings, slack, pilot, clock)
    try:
        parent = await started_request(app)
        expiry = int(clock() + 7 * DAY)
        await app.answer("5511987654321", "TEMPORARY", expiration_time=expiry)
        await app.wait_idle()
        assert len(replies(slack, parent)) == 1

        clock.advance(6 * DAY + 60)  # less than a day left
        app.askcall.reminders.wake()
        await slack.wait_for(lambda: len(replies(slack, parent)) == 2)
        assert "⏰" in replies(slack, parent)[1]["text"]
    finally:
        await stop_server(app)

    app = await start_server(settings, slack, pilot, clock)
    try:
        await app.wait_idle()
        assert len(replies(slack, parent)) == 2  # the heads-up did not fire again

        clock.advance(DAY)  # past the expiry; the fake's grant has lapsed too
        app.askcall.reminders.wake()
        await slack.wait_for(lambda: len(replies(slack, parent)) == 3)
        assert "⌛" in replies(slack, parent)[2]["text"]
        await slack.wait_for(lambda: "⌛" in slack.updates[-1]["text"])
    finally:
        await stop_server(app)

    app = await start_server(settings, slack, pilot, clock)
    try:
        clock.advance(DAY)
        app.askcall.reminders.wake()
        await app.wait_idle()
        assert len(replies(slack, parent)) == 3
    finally:
        await stop_server(app)


async def test_a_renewed_grant_is_announced_with_its_new_expiry(app: Server, clock: ManualClock) -> None:
    parent = await started_request(app)
    first = int(clock() + 7 * DAY)
    await app.answer("5511987654321", "TEMPORARY", timestamp=iso_timestamp(time.time()), expiration_time=first)
    await app.wait_idle()
    renewed = int(clock() + 9 * DAY)
    await app.answer("5511987654321", "TEMPORARY", timestamp=iso_timestamp(time.time() + 60), expiration_time=renewed)
    await app.wait_idle()
    texts = [r["text"] for r in replies(app.slack, parent)]
    assert len(texts) == 2 and f"<!date^{renewed}^" in texts[1]


async def test_expiry_probe_showing_renewal_updates_instead(app: Server, clock: ManualClock) -> None:
    parent = await started_request(app)
    await app.answer("5511987654321", "TEMPORARY", expiration_time=int(clock() + 7 * DAY))
    await app.wait_idle()
    renewed = int(clock() + 14 * DAY)
    app.pilot.set_permission(E164, "temporary", expiration_time=renewed)
    clock.advance(7 * DAY + 1)
    app.askcall.reminders.wake()
    await app.slack.wait_for(lambda: any(f"<!date^{renewed}^" in r["text"] for r in replies(app.slack, parent)))
    assert not any("⌛" in r["text"] for r in replies(app.slack, parent))


# --- App Home and locale ----------------------------------------------------------------------------
async def test_home_tab_lists_only_that_reps_requests_in_groups(app: Server, clock: ManualClock) -> None:
    await started_request(app, "+55 11 98765-4321 granted")
    app.pilot.set_permission("+5511912345678", "no_permission")
    await app.command("+55 11 91234-5678 waiting")
    await app.command("+55 21 99876-5432 other rep", user_id="U2")
    await app.slack.wait_for(lambda: len(posts(app.pilot)) == 3)
    await app.answer("5511987654321", "PERMANENT")
    await app.wait_idle()

    home = await open_home(app, REP)
    text = json.dumps(home["blocks"], ensure_ascii=False)
    assert text.index("♾️ *+55 11 98765-4321*") < text.index("⏳ *+55 11 91234-5678*")
    assert "5432" not in text


async def test_rep_sees_their_slack_locale(app: Server) -> None:
    app.slack.user_locales["U3"] = "en-US"
    response = await app.command("hello", user_id="U3")
    assert "Example:" in (await response.json())["text"]


async def test_a_user_slack_does_not_know_is_answered_in_the_workspace_language(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    """users.info answers user_not_found (an id from another workspace, a deleted user): the workspace language."""
    slack.user_locales["U3"] = "pt-BR"
    slack.unknown_users.add("U3")
    server = await start_server(replace(settings, language="en"), slack, pilot)
    try:
        response = await server.command("hello", user_id="U3")
        assert "Example:" in (await response.json())["text"]
    finally:
        await stop_server(server)
    assert {c.outcome for c in slack.calls_to("users.info", only_ok=False)} == {"user_not_found"}
