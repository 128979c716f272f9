"""AskCall itself for the calls tests: served on a port fixed before start (ASKCALL_PUBLIC_URL names it), with
the customer's permission granted, the "Call now" click signed like Slack's, and the link read from the fake Slack."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import aiohttp
from aiohttp import web

from bot.app import create_web_app, http_shutdown_timeout
from bot.config import Settings, WhatsAppNumber
from bot.fakes.pilot_status import FakePilotStatus, iso_timestamp, permission_event, send_webhook
from bot.fakes.slack import FakeSlack, interaction_body
from bot.pilot_status.webhooks import CALL_EVENTS
from tests.conftest import CHANNEL, REP, WEBHOOK_SECRET, Server
from tests.e2e.helpers import E164, PHONE, REASON, free_port, parents, requests

LINK_RE = re.compile(r"<(https?://[^|>]+)\|")


@asynccontextmanager
async def calling_askcall(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus, *, public_url: str | None = "", **overrides: Any
) -> AsyncIterator[Server]:
    """AskCall on a free loopback port; ASKCALL_PUBLIC_URL is that address unless `public_url` says otherwise."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = replace(settings, public_url=url if public_url == "" else public_url, **overrides)
    # Stopped as `askcall serve` stops: a page's event stream whose browser went away does not hold the stop.
    runner = web.AppRunner(create_web_app(settings), shutdown_timeout=http_shutdown_timeout(settings))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    server = Server(url, runner, aiohttp.ClientSession(), slack, pilot)
    pilot.subscribe(url + "/webhooks/pilot-status", sorted(CALL_EVENTS))
    try:
        yield server
    finally:
        await server.http.close()
        await runner.cleanup()


async def granted_request(
    server: Server,
    *,
    status: str = "PERMANENT",
    expiration_time: int | None = None,
    channel: str = CHANNEL,
    number: WhatsAppNumber | None = None,
) -> tuple[int, dict[str, Any]]:
    """`/askcall` for the customer in `channel`, who grants (until `expiration_time` for a TEMPORARY permission),
    told by the webhook of `number` (the default number's when None); returns (request id, the status message)."""
    assert (await server.command(f"{PHONE} {REASON}", channel_id=channel)).status == 200
    await server.wait_idle()
    server.pilot.set_permission(E164, status, expiration_time)
    event = permission_event(E164, status, timestamp=iso_timestamp(time.time()))
    if number is None:
        code, text = await send_webhook(server.url + "/webhooks/pilot-status", event, secret=WEBHOOK_SECRET)
    else:
        code, text = await send_webhook(server.url + number.webhook_path, event, secret=number.webhook_secret or "")
    assert code == 200, text
    await server.wait_idle()
    return (await requests(server))[-1].id, parents(server.slack, channel)[-1]


def call_click(
    request_id: int, *, user: str = REP, message: dict[str, Any] | None = None, channel: str = CHANNEL
) -> str:
    """A signed-ready block_actions body: `user` clicks "📞 Call now" on the status message."""
    payload = {
        "type": "block_actions",
        "team": {"id": "T1", "domain": "fake"},
        "user": {"id": user, "username": user.lower(), "team_id": "T1"},
        "api_app_id": "A1",
        "token": "legacy",
        "trigger_id": "111.222.abc",
        "channel": {"id": channel, "name": "general"},
        "container": {"type": "message", "channel_id": channel, "message_ts": (message or {}).get("ts", "1.0")},
        "message": message or {"ts": "1.0", "text": ""},
        "response_url": "",
        "actions": [{"type": "button", "action_id": "askcall_call", "value": str(request_id), "action_ts": "1.1"}],
    }
    return interaction_body(payload)


async def click_call_now(server: Server, request_id: int, *, user: str = REP, channel: str = CHANNEL) -> dict[str, Any]:
    """Click "Call now" as `user` in `channel`; returns the ephemeral message AskCall sent them."""
    before = len(server.slack.ephemerals)
    response = await server.post_slack(call_click(request_id, user=user, channel=channel))
    assert response.status == 200
    await server.slack.wait_for(lambda: len(server.slack.ephemerals) > before)
    return server.slack.ephemerals[-1]


def link_in(ephemeral: dict[str, Any]) -> str:
    found = LINK_RE.search(ephemeral["text"])
    assert found, ephemeral
    return found.group(1)
