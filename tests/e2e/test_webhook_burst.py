"""Webhooks never wait on the request path (issue 17 §3): a burst of signed call webhooks for calls AskCall did not
start (inbound calls, calls from other tools or from the phone) is stored and answered at once, and slash commands
arriving during the burst are acknowledged well inside Slack's 3 s. A generous bound: the speed belongs in the
bench; what this pins is that no handler sleeps or polls before answering."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp

from bot.fakes.pilot_status import call_event, sign_pilot_status
from tests.conftest import WEBHOOK_SECRET, Server
from tests.e2e.helpers import db_rows

BURST = 300
COMMANDS = 10
ACK_BOUND = 3.0  # Slack's limit for a slash command's answer: past it the rep sees operation_timeout
HOOK_BOUND = 3.0  # generous: each is a few milliseconds of work, all of them sent at once to one process


def unknown_call(n: int) -> bytes:
    """A signed-ready call webhook for a call AskCall never started: inbound ones, and outbound ones from other
    tools (no AskCall marker) to customers AskCall has no call with."""
    customer = f"+55119{40_000_000 + n}"
    event = call_event(
        ("call.ringing", "call.connected", "call.ended", "call.missed")[n % 4],
        f"call_ELSEWHERE{n}",
        ("RINGING", "ACCEPTED", "COMPLETED", "MISSED")[n % 4],
        customer=customer,
    )
    if n % 2:
        event.update(direction="INBOUND", **{"from": customer.lstrip("+"), "to": "5511888888888"})
    return json.dumps(event, separators=(",", ":")).encode()


async def test_a_burst_of_unknown_call_webhooks_is_stored_at_once_and_commands_are_acked_in_time(
    server: Server,
) -> None:
    url = server.url + "/webhooks/pilot-status"
    connector = aiohttp.TCPConnector(limit=BURST)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def post_webhook(n: int) -> tuple[int, float]:
            body = unknown_call(n)
            headers = {
                "Content-Type": "application/json",
                "x-pilot-status-signature": sign_pilot_status(body, WEBHOOK_SECRET),
            }
            began = time.monotonic()
            async with http.post(url, data=body, headers=headers) as response:
                await response.read()
                return response.status, time.monotonic() - began

        async def command(n: int) -> tuple[int, float]:
            await asyncio.sleep(0.1 * n)  # spread over the burst
            began = time.monotonic()
            response = await server.command(f"+55 21 9{87650000 + n} Podemos ligar?")
            return response.status, time.monotonic() - began

        webhooks = asyncio.gather(*(post_webhook(n) for n in range(BURST)))
        commands = asyncio.gather(*(command(n) for n in range(COMMANDS)))
        hooks, acks = await asyncio.gather(webhooks, commands)

    assert [status for status, _ in hooks] == [200] * BURST
    assert [status for status, _ in acks] == [200] * COMMANDS
    slowest = max(seconds for _, seconds in acks)
    assert slowest < ACK_BOUND, f"a slash command's ack took {slowest:.1f} s during the burst"
    # Stored and answered, not held while AskCall looks for the call (that took 3 s or more each).
    slowest_hook = max(seconds for _, seconds in hooks)
    assert slowest_hook < HOOK_BOUND, f"a webhook was answered after {slowest_hook:.1f} s"
    stored = await db_rows(
        server.askcall.settings, "SELECT COUNT(*) AS n FROM webhook_events WHERE event LIKE 'call.%'"
    )
    assert stored == [{"n": BURST}]  # every one kept (and counted), none applied to a call
    assert await db_rows(server.askcall.settings, "SELECT id FROM calls") == []
    await server.wait_idle(timeout=30)
    assert len(server.pilot.permission_requests) == COMMANDS
