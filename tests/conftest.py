"""Shared fixtures: loopback fakes of Slack and Pilot Status, and AskCall served over real HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.app import ASKCALL, AskCall, create_web_app
from bot.config import RetryPolicy, Settings
from bot.fakes.pilot_status import FakePilotStatus
from bot.fakes.slack import (
    FakeSlack,
    interaction_body,
    slack_signed_headers,
    slash_command_body,
    view_submission_payload,
)

# PostgreSQL for the tests: pg_server, pg_admin_url, pg_url and the two-backend database_url fixture.
pytest_plugins = ["tests.postgres"]

SIGNING_SECRET = "test-signing-secret"
WEBHOOK_SECRET = "whsec_test"
CHANNEL = "C1"
REP = "U1"


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake
    # Whatever else a test checks: AskCall never sent Slack a payload real Slack would refuse.
    assert fake.invalid_payloads == [], f"Slack would refuse what AskCall sent: {fake.invalid_payloads}"


@pytest.fixture
async def pilot() -> AsyncIterator[FakePilotStatus]:
    """The fake Pilot Status, as strict as the real one (Meta's request limits on), except that the tests'
    customers are in conversation with the team: their 24-hour window is open (tests of the window close it)."""
    async with FakePilotStatus(webhook_secret=WEBHOOK_SECRET, window=False) as fake:
        yield fake


def make_settings(slack: FakeSlack, pilot: FakePilotStatus, db_path: Path, **overrides: Any) -> Settings:
    settings = Settings(
        slack_bot_token=slack.token,
        slack_signing_secret=SIGNING_SECRET,
        pilot_status_api_key=pilot.api_key,
        pilot_status_webhook_secret=WEBHOOK_SECRET,
        slack_api_url=slack.api_url,
        pilot_status_base_url=pilot.base_url,
        db_path=str(db_path),
        host="127.0.0.1",
        port=0,
        # Fast retries keep the suite quick; Retry-After values sent by the fakes are still honoured.
        pilot_status_retry=RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.2, max_retry_after=5),
        slack_retry=RetryPolicy(attempts=6, base_delay=0.05, max_delay=0.2, max_retry_after=5),
        pilot_status_timeout=5.0,
        shutdown_grace=2.0,
        # A killed process's work is taken over quickly (its leases run out).
        lease_seconds=1.5,
        metrics_max_age=0.0,  # every scrape reads the store (tests of the cache set their own)
    )
    return replace(settings, **overrides)


@dataclass
class Server:
    """AskCall running in this process, reached over loopback HTTP like Slack and Pilot Status would."""

    url: str
    runner: web.AppRunner
    http: aiohttp.ClientSession
    slack: FakeSlack
    pilot: FakePilotStatus

    @property
    def askcall(self) -> AskCall:
        return self.runner.app[ASKCALL]

    async def command(self, text: str, **fields: Any) -> aiohttp.ClientResponse:
        # Like Slack, each command comes with its own response_url and trigger_id.
        fields.setdefault("response_url", self.slack.new_response_url())
        fields.setdefault("trigger_id", self.slack.trigger_id())
        fields.setdefault("channel_id", CHANNEL)
        fields.setdefault("user_id", REP)
        body = slash_command_body(text, **fields)
        return await self.post_slack(body)

    async def submit_modal(
        self,
        phone: str,
        reason: str = "",
        *,
        metadata: dict[str, Any] | None = None,
        extra_values: dict[str, Any] | None = None,
        **kw: Any,
    ) -> aiohttp.ClientResponse:
        values = {
            "phone": {"phone_value": {"type": "plain_text_input", "value": phone}},
            "reason": {"reason_value": {"type": "plain_text_input", "value": reason or None}},
            **(extra_values or {}),
        }
        meta = metadata if metadata is not None else {"channel_id": CHANNEL, "response_url": self.slack.response_url()}
        payload = view_submission_payload("askcall_request", values, json.dumps(meta), **kw)
        return await self.post_slack(interaction_body(payload))

    async def post_slack(self, body: str, headers: dict[str, str] | None = None) -> aiohttp.ClientResponse:
        headers = headers or slack_signed_headers(body, SIGNING_SECRET)
        response = await self.http.post(self.url + "/slack/events", data=body.encode(), headers=headers)
        await response.read()
        return response

    async def answer(self, customer: str, status: str, **kw: Any) -> tuple[int, str]:
        """The customer answers, as one operation of the fake Pilot Status: its permission probe says so from now
        on, and its signed webhook reaches AskCall (redelivered, as Pilot Status does, until it gets a 2xx)."""
        return await self.pilot.customer_answers(self.url + "/webhooks/pilot-status", customer, status, **kw)

    async def wait_idle(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until no background task and no pending delivery is left, twice in a row a moment apart
        (a sweep or a loop may be between two steps, holding no task for an instant). Work a crashed instance
        left is taken over only once its lease runs out: see `quiet_past_a_lease` (tests/e2e/helpers.py)."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while time.monotonic() < deadline:
            if len(self.askcall.tasks) == 0 and await self.askcall.store.pending_delivery_count() == 0:
                quiet += 1
                if quiet == 2:
                    return
            else:
                quiet = 0
            await _sleep(0.02)
        raise AssertionError("AskCall did not become idle:\n" + self.slack.summary())


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


async def start_server(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus, clock: Callable[[], float] = time.time
) -> Server:
    runner = web.AppRunner(create_web_app(settings, clock))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return Server(f"http://127.0.0.1:{port}", runner, aiohttp.ClientSession(), slack, pilot)


async def stop_server(server: Server, *, crash: bool = False) -> None:
    """Stop AskCall: gracefully (work in flight finishes, leases are released), or with `crash` the way a
    killed process stops (nothing finishes, nothing is released: its leases run out by themselves)."""
    if crash:
        await server.askcall.abort()
    await server.http.close()
    await server.runner.cleanup()


class ManualClock:
    """A clock the test moves by hand: reminders days away fire without waiting."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    """A hand-moved clock, for the app of a test that asks for it (reminders, budgets, call sweeps)."""
    return ManualClock()


@pytest.fixture
def settings(slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path, database_url: str) -> Settings:
    """AskCall's settings against the fakes; every test that uses them runs on both backends."""
    return make_settings(slack, pilot, tmp_path / "askcall.db", database_url=database_url)


@pytest.fixture
async def server(settings: Settings, slack: FakeSlack, pilot: FakePilotStatus) -> AsyncIterator[Server]:
    running = await start_server(settings, slack, pilot)
    try:
        yield running
    finally:
        await stop_server(running)
