"""Pilot Status fairness end to end over HTTP, on both backends (2 replicas on PostgreSQL): two workspaces installed
and connected from Slack, each to its own Pilot Status account. Acme's account is down (every call with its key
hangs past AskCall's timeout, then 503s), Beta's is fine. Asked at once (Acme first), Beta's request is sent, its
customer answers and the grant is told in Beta's thread while Acme's is still waiting for its account; once Acme's
account answers again, Acme's request completes too. The order is asserted, never a duration."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain import RequestState
from bot.fakes import FakePilotStatus, FakeSlack
from tests.calls.helpers import wait_until
from tests.oauth.deployment import Deployment, Workspace, deployment, join

REASON = "Podemos te ligar?"
PROBE = "/v1/calls/permissions"
TIMEOUT = 2.0  # AskCall's Pilot Status timeout here: Acme's three tries take at least 3 × this
HANG = 2 * TIMEOUT  # how long each of Acme's calls hangs: past AskCall's timeout, so each one times out


@pytest.fixture
async def deployed(
    slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path, database_url: str
) -> AsyncIterator[Deployment]:
    async with deployment(slack, pilot, tmp_path, database_url, pilot_status_timeout=TIMEOUT) as running:
        yield running


def grant_told(slack: FakeSlack, ws: Workspace) -> bool:
    parents = [m for m in slack.channel_messages(ws.channel) if m.get("thread_ts") is None]
    return len(parents) == 1 and any(
        "permitiu" in r.get("text", "") for r in slack.thread_replies(ws.channel, parents[0]["ts"])
    )


async def request_of(deployed: Deployment, ws: Workspace) -> RequestState:
    store = deployed.replicas[0].askcall.store
    (request,) = [r for r in await store.requests_in_state(*RequestState) if r.tenant_id == ws.team]
    return request.state


async def test_one_workspaces_pilot_status_down_does_not_hold_the_others(
    deployed: Deployment, workspaces: tuple[Workspace, Workspace], slack: FakeSlack
) -> None:
    acme, beta = workspaces
    for ws in workspaces:
        await join(deployed, ws)
    # Acme's account is down: its probes hang until AskCall gives up on each (all its retries); Beta's is fine.
    acme.account.script(
        "GET", PROBE, status=503, body={"error": "down", "code": "UPSTREAM_TIMEOUT"}, delay=HANG, times=3
    )

    asked = [deployed.command(ws.team, ws.channel, ws.rep, f"{ws.phone} {REASON}") for ws in (acme, beta)]
    assert [status for status, _ in await asyncio.gather(*asked)] == [200, 200]
    await wait_until(lambda: [r.to for r in beta.account.permission_requests] == [beta.e164], what="Beta's request")
    code, text = await beta.account.customer_answers(None, beta.e164, "TEMPORARY")
    assert code == 200, text
    await wait_until(lambda: grant_told(slack, beta), what="Beta's grant in its thread")

    # Beta is done while Acme still waits for its account: nothing of Acme's was sent, nor answered 2xx.
    assert acme.account.permission_requests == []
    assert all(r.status != 200 for r in acme.account.requests_to("GET", PROBE))
    assert await request_of(deployed, acme) in (RequestState.READY, RequestState.SENDING)
    assert await request_of(deployed, beta) is RequestState.ANSWERED

    # Acme's account is back (its probes gave up, so AskCall sends anyway): Acme completes the same loop.
    await wait_until(
        lambda: [r.to for r in acme.account.permission_requests] == [acme.e164], timeout=5 * HANG, what="Acme's"
    )
    code, text = await acme.account.customer_answers(None, acme.e164, "TEMPORARY")
    assert code == 200, text
    await wait_until(lambda: grant_told(slack, acme), what="Acme's grant in its thread")
    await deployed.wait_idle()
    assert await request_of(deployed, acme) is RequestState.ANSWERED
    # Neither account was ever asked about the other's customer.
    for ws, other in ((acme, beta), (beta, acme)):
        assert all(other.e164 not in str(r.query) + str(r.json) for r in ws.account.requests)
