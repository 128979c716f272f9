"""JSON logs of a real `askcall serve` (no phone, key, token or secret in them), and Slack over Socket Mode."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.config import ConfigError, Settings
from bot.fakes.pilot_status import FakePilotStatus, permission_event, send_webhook, sign_pilot_status
from bot.fakes.slack import FakeSlack, slack_signed_headers, slash_command_body, slash_command_envelope
from tests.conftest import make_settings
from tests.e2e.helpers import PERMISSION_REQUEST, only_parent, only_reply, posts, replies, running
from tests.process.test_kill9 import AskCallProcess, process_env

# Distinctive values, so finding any of them in the log can only mean a leak.
BOT_TOKEN = "xoxb-logcheck-bot-token-7f3a"
SIGNING_SECRET = "logcheck-signing-secret-91bd"
API_KEY = "ps_logcheck_api_key_c0de"
WEBHOOK_SECRET = "whsec_logcheck_secret_5e11"
CUSTOMER_DIGITS = "5511987654321"
# The customer's number as it could appear: E.164 digits, the local part, formatted or not.
PHONE_FORMS = (CUSTOMER_DIGITS, "551187654321", "98765-4321", "987654321", "98765 4321")
LOG_KEYS = {"time", "level", "logger", "message", "request_id"}


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeSlack, FakePilotStatus]]:
    async with (
        FakeSlack(token=BOT_TOKEN) as slack,
        FakePilotStatus(api_key=API_KEY, webhook_secret=WEBHOOK_SECRET, window=False) as pilot,
    ):
        yield slack, pilot


def log_entries(path: Path) -> list[dict[str, Any]]:
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError as error:
            raise AssertionError(f"log line {number} is not JSON: {line!r}") from error
        assert isinstance(entry, dict), line
        assert entry.keys() >= LOG_KEYS, line
        entries.append(entry)
    return entries


async def test_json_logs_have_request_ids_and_no_phone_numbers_or_secrets(
    fakes: tuple[FakeSlack, FakePilotStatus], tmp_path: Path
) -> None:
    slack, pilot = fakes
    env = process_env(slack, pilot, tmp_path)
    env.update(
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        PILOT_STATUS_WEBHOOK_SECRET=WEBHOOK_SECRET,
        ASKCALL_LOG_FORMAT="json",
        ASKCALL_LOG_LEVEL="DEBUG",
    )
    log_path = tmp_path / "askcall.log"
    app = AskCallProcess(env, log_path)
    await app.start()
    try:
        # Pilot Status is too busy once (a 429 proves it did not take the request); AskCall retries.
        pilot.script(
            "POST", PERMISSION_REQUEST, status=429, headers={"Retry-After": "0"}, body={"code": "RATE_LIMITED"}
        )
        async with aiohttp.ClientSession() as http:
            status = await _command(app, http, "+55 11 98765-4321 Podemos ligar amanhã?", slack.response_url("ask"))
            assert status == 200
            await slack.wait_for(lambda: len(pilot.permission_requests) == 1, timeout=15)
            assert [p.status for p in posts(pilot)] == [429, 200]
            parent = only_parent(slack)

            # Another rep asks for the same customer: the answer (ephemeral, in the HTTP response to
            # Slack) names the customer in full, and must not end up in the log with it.
            async with http.post(
                app.url + "/slack/events",
                data=(body := slash_command_body("+55 11 98765-4321", user_id="U2")).encode(),
                headers=slack_signed_headers(body, SIGNING_SECRET),
            ) as response:
                assert "+55 11 98765-4321" in (await response.json())["text"]

            code, _ = await send_webhook(
                app.url + "/webhooks/pilot-status",
                permission_event(CUSTOMER_DIGITS, "TEMPORARY"),
                secret=WEBHOOK_SECRET,
            )
            assert code == 200
            await slack.wait_for(lambda: len(replies(slack, parent)) == 1, timeout=10)
            assert "✅" in only_reply(slack, parent)["text"]
            await slack.wait_for(lambda: any("✅" in (u.get("text") or "") for u in slack.updates), timeout=10)

            forged = json.dumps(permission_event(CUSTOMER_DIGITS, "PERMANENT")).encode()
            code, _ = await send_webhook(
                app.url + "/webhooks/pilot-status", forged, secret=None, signature=sign_pilot_status(forged, "guess")
            )
            assert code == 401

            # The rep's own status query shows them the full number, ephemerally: not in the log either.
            status = await _command(app, http, "status +55 11 98765-4321", slack.response_url("status"))
            assert status == 200
            await slack.wait_for(lambda: any(r["_name"] == "status" for r in slack.responses), timeout=10)
    finally:
        assert await app.terminate() == 0

    entries = log_entries(log_path)
    assert any(e["level"] == "DEBUG" for e in entries)  # the level was honoured: this is the noisiest log
    assert any(e["request_id"] != "-" for e in entries)
    assert any("rejected a Pilot Status webhook" in e["message"] for e in entries)
    raw = log_path.read_text()
    for secret in (*PHONE_FORMS, BOT_TOKEN, SIGNING_SECRET, API_KEY, WEBHOOK_SECRET):
        leaks = [line for line in raw.splitlines() if secret in line]
        assert leaks == [], f"{secret!r} is in the log:\n" + "\n".join(leaks[:5])


async def _command(app: AskCallProcess, http: aiohttp.ClientSession, text: str, response_url: str) -> int:
    body = slash_command_body(text, response_url=response_url)
    async with http.post(
        app.url + "/slack/events", data=body.encode(), headers=slack_signed_headers(body, SIGNING_SECRET)
    ) as response:
        return response.status


# --- Socket Mode ---------------------------------------------------------------------------------------
# `slack` and `pilot` are the shared fakes from tests/conftest.py.


async def test_socket_mode_takes_slack_traffic_while_http_serves_webhooks(
    slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path
) -> None:
    settings = make_settings(slack, pilot, tmp_path / "askcall.db", slack_app_token=slack.app_token)
    async with running(settings, slack, pilot) as server:
        await slack.wait_for(lambda: len(slack.sockets) == 1)
        [opened] = slack.calls_to("apps.connections.open")  # with the app-level token, not the bot token

        envelope = slash_command_envelope("+55 11 98765-4321 Podemos ligar?", response_url=slack.response_url())
        await slack.socket_send(envelope)
        await slack.wait_for(lambda: slack.socket_ack(envelope["envelope_id"]) is not None)
        assert slack.socket_ack(envelope["envelope_id"]) == {"envelope_id": envelope["envelope_id"]}
        await slack.wait_for(lambda: len(posts(pilot)) == 1)
        await server.wait_idle()
        parent = only_parent(slack)
        assert posts(pilot)[0].json["to"] == "+5511987654321"

        # What the listener acks with travels back over the socket too.
        help_envelope = slash_command_envelope("help", response_url=slack.response_url("help"))
        await slack.socket_send(help_envelope)
        await slack.wait_for(lambda: slack.socket_ack(help_envelope["envelope_id"]) is not None)
        acked = slack.socket_ack(help_envelope["envelope_id"]) or {}
        assert acked["payload"]["response_type"] == "ephemeral" and "/askcall" in acked["payload"]["text"]

        # The HTTP server still takes Pilot Status webhooks, health and metrics, but not Slack events.
        code, text = await server.answer("5511987654321", "PERMANENT")
        assert code == 200, text
        await server.wait_idle()
        assert "♾️" in only_reply(slack, parent)["text"]
        async with server.http.post(server.url + "/slack/events", data=b"payload=%7B%7D") as response:
            assert response.status == 404
        async with server.http.get(server.url + "/healthz") as response:
            assert response.status == 200
        assert len(slack.calls_to("apps.connections.open")) == 1 and opened.outcome == "ok"

    assert slack.sockets == []  # AskCall closed its connection on the way out


def test_socket_mode_needs_no_signing_secret() -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-x",
        "SLACK_APP_TOKEN": "xapp-1-socket",
        "PILOT_STATUS_API_KEY": "ps_x",
        "PILOT_STATUS_WEBHOOK_SECRET": "whsec_x",
    }
    settings = Settings.from_env(env)
    assert settings.slack_app_token == "xapp-1-socket" and settings.slack_signing_secret is None
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        Settings.from_env({k: v for k, v in env.items() if k != "SLACK_APP_TOKEN"})
