"""App Home's Settings section over HTTP in multi-workspace mode, on both backends: a workspace installed through
Add to Slack, its installer (an admin) connecting Pilot Status from App Home with block actions and view
submissions signed as Slack sends them, then pasting the webhook secret; a non-admin sees no section, and their
forged action and submission change nothing. No key or secret reaches Slack or the logs."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.domain import TenantId
from bot.fakes import FakePilotStatus, FakeSlack
from bot.fakes.slack import interaction_body, slack_signed_headers, view_submission_payload
from bot.fakes.slack_oauth import app_event_body
from bot.slack.settings import (
    CONNECT_ACTION,
    CONNECT_VIEW,
    KEY_BLOCK,
    KEY_INPUT,
    SECRET_BLOCK,
    SECRET_INPUT,
    SECRET_VIEW,
)
from tests.conftest import SIGNING_SECRET
from tests.oauth.install_helpers import MultiServer, browser, free_socket, install, multi_settings, start_multi

T2 = TenantId("T2")
ADMIN, REP = "UINSTALLER", "U5"
DEFAULT_NUMBER_META = json.dumps({"number": "default"})


@pytest.fixture
async def askcall(
    slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path, database_url: str
) -> AsyncIterator[MultiServer]:
    slack.oauth.add_team("T2", "Acme Vendas")
    sock = free_socket()
    server = await start_multi(multi_settings(slack, pilot, tmp_path, database_url, sock.getsockname()[1]), sock, slack)
    try:
        async with browser() as http:
            status, _ = await install(http, server.url, "T2")
        assert status == 200
        yield server
    finally:
        await server.stop()


async def post(server: MultiServer, body: str, content_type: str) -> tuple[int, str]:
    headers = {**slack_signed_headers(body, SIGNING_SECRET), "Content-Type": content_type}
    async with (
        aiohttp.ClientSession() as http,
        http.post(server.url + "/slack/events", data=body.encode(), headers=headers) as answer,
    ):
        return answer.status, await answer.text()


async def interact(server: MultiServer, payload: dict[str, Any]) -> tuple[int, str]:
    return await post(server, interaction_body(payload), "application/x-www-form-urlencoded")


async def until(check: Callable[[], bool]) -> None:
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("never happened")


async def open_home(server: MultiServer, slack: FakeSlack, user: str) -> dict[str, Any]:
    slack.home_views.pop(user, None)
    event = {"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home", "event_ts": "1.2"}
    status, _ = await post(server, app_event_body("T2", event), "application/json")
    assert status == 200
    await until(lambda: user in slack.home_views)
    return slack.home_views[user]


def home_action(user: str, action_id: str, trigger_id: str, value: str = "connect") -> dict[str, Any]:
    """A click on App Home (no channel, no response_url), as Slack sends it."""
    return {
        "type": "block_actions",
        "team": {"id": "T2", "domain": "acme"},
        "user": {"id": user, "username": user.lower(), "team_id": "T2"},
        "api_app_id": "A1",
        "token": "legacy",
        "trigger_id": trigger_id,
        "container": {"type": "view", "view_id": "VHOME"},
        "view": {"id": "VHOME", "type": "home", "team_id": "T2", "blocks": [], "private_metadata": ""},
        "actions": [{"type": "button", "action_id": action_id, "value": value, "action_ts": "1.1"}],
    }


def submission(
    callback_id: str, block: str, action: str, value: str, user: str, metadata: str = "", view: str | None = None
) -> dict[str, Any]:
    values = {block: {action: {"type": "plain_text_input", "value": value}}}
    return view_submission_payload(callback_id, values, metadata, user_id=user, team_id="T2", view_id=view)


def updates(slack: FakeSlack, view_id: str) -> list[dict[str, Any]]:
    """The views `views.update` put in the modal `view_id`, in order."""
    return [c.args["view"] for c in slack.calls_to("views.update") if c.args.get("view_id") == view_id]


def actions_of(view: dict[str, Any]) -> list[str]:
    return [e.get("action_id") for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]


async def test_an_admin_connects_pilot_status_from_app_home_and_a_non_admin_changes_nothing(
    askcall: MultiServer, slack: FakeSlack, pilot: FakePilotStatus, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store = askcall.askcall.store
    # The installer sees the Settings section; a rep doesn't.
    assert CONNECT_ACTION in actions_of(await open_home(askcall, slack, ADMIN))
    assert CONNECT_ACTION not in actions_of(await open_home(askcall, slack, REP))

    # A rep's forged click and submission: no modal, nothing stored, no webhook.
    status, _ = await interact(askcall, home_action(REP, CONNECT_ACTION, slack.trigger_id()))
    assert status == 200
    status, text = await interact(askcall, submission(CONNECT_VIEW, KEY_BLOCK, KEY_INPUT, pilot.api_key, REP))
    assert status == 200 and json.loads(text)["response_action"] == "errors"
    await asyncio.sleep(0.2)
    assert slack.views == [] and await store.workspace_numbers(T2) == [] and pilot.webhooks == {}

    # The admin opens the modal; a malformed key is refused under its field at once, nothing saved.
    status, _ = await interact(askcall, home_action(ADMIN, CONNECT_ACTION, slack.trigger_id()))
    assert status == 200
    await until(lambda: any(v.get("callback_id") == CONNECT_VIEW for v in slack.views))
    view_id = slack.views[-1]["id"]
    status, text = await interact(
        askcall, submission(CONNECT_VIEW, KEY_BLOCK, KEY_INPUT, "ps wrong", ADMIN, view=view_id)
    )
    answer = json.loads(text)
    assert answer["response_action"] == "errors" and "Pilot Status" in answer["errors"][KEY_BLOCK]

    # A wrong key: "checking…" at once, then the form again saying why (nothing saved).
    status, text = await interact(
        askcall, submission(CONNECT_VIEW, KEY_BLOCK, KEY_INPUT, "ps_wrong", ADMIN, view=view_id)
    )
    assert json.loads(text)["response_action"] == "update"
    await until(lambda: len(updates(slack, view_id)) == 1)
    (refused,) = updates(slack, view_id)
    assert refused["callback_id"] == CONNECT_VIEW and "Pilot Status" in json.dumps(refused)
    assert any(b.get("block_id") == KEY_BLOCK for b in refused["blocks"])  # the admin may try again in place
    assert await store.workspace_numbers(T2) == []

    # The right key: connected, the webhook registered, and the modal asks for the secret (and says where it is).
    status, text = await interact(
        askcall, submission(CONNECT_VIEW, KEY_BLOCK, KEY_INPUT, pilot.api_key, ADMIN, view=view_id)
    )
    answer = json.loads(text)
    assert answer["response_action"] == "update" and answer["view"]["callback_id"] == CONNECT_VIEW
    await until(lambda: len(updates(slack, view_id)) == 2)
    shown = updates(slack, view_id)[-1]
    assert shown["callback_id"] == SECRET_VIEW
    (number,) = await store.workspace_numbers(T2)
    assert [w["url"] for w in pilot.webhooks.values()] == [
        f"{askcall.url}/webhooks/pilot-status/t/{number.webhook_token}"
    ]
    assert "Webhooks" in json.dumps(shown)

    # A rep's forged secret changes nothing; the admin's is stored (encrypted), and hint mode ends.
    status, text = await interact(
        askcall, submission(SECRET_VIEW, SECRET_BLOCK, SECRET_INPUT, "whsec_forged", REP, DEFAULT_NUMBER_META)
    )
    assert "response_action" in text and json.loads(text)["response_action"] == "errors", (status, text)
    assert (await store.workspace_numbers(T2))[0].webhook_secret is None
    status, text = await interact(
        askcall,
        submission(SECRET_VIEW, SECRET_BLOCK, SECRET_INPUT, pilot.webhook_secret, ADMIN, DEFAULT_NUMBER_META),
    )
    assert status == 200 and text in ("", "{}")
    (number,) = await store.workspace_numbers(T2)
    assert number.webhook_secret is not None
    numbers = await askcall.askcall.configs.numbers_of(T2)
    assert [(n.api_key, n.webhook_secret) for n in numbers] == [(pilot.api_key, pilot.webhook_secret)]

    # Neither the key nor the secret ever reached Slack or the logs.
    said_to_slack = json.dumps([c.args for c in slack.calls], default=str)
    for secret in (pilot.api_key, pilot.webhook_secret):
        assert secret not in said_to_slack and secret not in caplog.text
