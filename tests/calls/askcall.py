"""AskCall itself for the calls tests: served on a port fixed before start (ASKCALL_PUBLIC_URL names it), with
the customer's permission granted, the "Call now" click signed like Slack's, and the link read from the fake Slack."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import aiohttp
from aiohttp import web

from bot.app import create_web_app, http_shutdown_timeout
from bot.config import Settings, WhatsAppNumber
from bot.fakes.pilot_status import FakePilotStatus, iso_timestamp
from bot.fakes.slack import FakeSlack, button_payload, interaction_body
from bot.pilot_status.webhooks import CALL_EVENTS
from tests.conftest import CHANNEL, REP, Server
from tests.e2e.helpers import E164, PHONE, REASON, free_port, parents, requests

LINK_RE = re.compile(r"<(https?://[^|>]+)\|")


@asynccontextmanager
async def calling_askcall(
    settings: Settings,
    slack: FakeSlack,
    pilot: FakePilotStatus,
    *,
    public_url: str | None = "",
    clock: Callable[[], float] = time.time,
    **overrides: Any,
) -> AsyncIterator[Server]:
    """AskCall on a free loopback port; ASKCALL_PUBLIC_URL is that address unless `public_url` says otherwise."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = replace(settings, public_url=url if public_url == "" else public_url, **overrides)
    # Stopped as `askcall serve` stops: a page's event stream whose browser went away does not hold the stop.
    runner = web.AppRunner(create_web_app(settings, clock), shutdown_timeout=http_shutdown_timeout(settings))
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
    # The customer answers: the fake's probe says so from now on, and its signed webhook reaches AskCall.
    path, secret = ("/webhooks/pilot-status", None) if number is None else (number.webhook_path, number.webhook_secret)
    code, text = await server.pilot.customer_answers(
        server.url + path,
        E164,
        status,
        timestamp=iso_timestamp(time.time()),
        expiration_time=expiration_time,
        secret=secret,
    )
    assert code == 200, text
    await server.wait_idle()
    return (await requests(server))[-1].id, parents(server.slack, channel)[-1]


def call_click(
    request_id: int, *, user: str = REP, message: dict[str, Any] | None = None, channel: str = CHANNEL
) -> str:
    """A signed-ready block_actions body: `user` clicks "📞 Call now" on the status message."""
    payload = button_payload(
        "askcall_call", str(request_id), user=user, channel=channel, message=message or {"ts": "1.0", "text": ""}
    )
    return interaction_body(payload)


def carrying_call_now(slack: FakeSlack, request_id: int) -> list[dict[str, Any]]:
    """The messages in Slack that carry the request's "Call now" button (its status message, its grant reply)."""

    def carries(message: dict[str, Any]) -> bool:
        return any(
            element.get("action_id") == "askcall_call" and element.get("value") == str(request_id)
            for block in message.get("blocks") or []
            for element in block.get("elements") or []
        )

    return [m for m in slack.messages if carries(m)]


async def click_call_now(
    server: Server, request_id: int, *, user: str = REP, message: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Click "Call now" as `user` on `message` (default: the newest message carrying the request's button);
    returns the ephemeral message AskCall sent them."""
    if message is None:
        carrying = carrying_call_now(server.slack, request_id)
        assert carrying, server.slack.summary()
        message = carrying[-1]
    before = len(server.slack.ephemerals)
    click = call_click(request_id, user=user, message=message, channel=message.get("channel", CHANNEL))
    response = await server.post_slack(click)
    assert response.status == 200
    await server.slack.wait_for(lambda: len(server.slack.ephemerals) > before)
    return server.slack.ephemerals[-1]


def link_in(ephemeral: dict[str, Any]) -> str:
    found = LINK_RE.search(ephemeral["text"])
    assert found, ephemeral
    return found.group(1)
