"""Issue 10 §5: after a write failed (a really full disk), acknowledged requests don't stay stranded.

The SQLite database lives on a tiny tmpfs. While AskCall works, the disk is filled to the last byte
(a filler file, then junk rows through a connection of the test's own until SQLite itself says the
disk is full), so AskCall's writes fail mid-step: after Slack took the parent message, after Pilot
Status took the request, when claiming due work, and when a customer's answer arrives. Then the
space is freed, and every request must complete, each message and each send exactly once, within a
bounded time and without a restart.

Mounting needs root (CI runs as root); elsewhere the test is skipped with the reason.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import asyncpg

from bot.config import Settings
from bot.domain import RequestState
from bot.fakes.pilot_status import FakePilotStatus, permission_event, send_webhook
from bot.fakes.slack import FakeSlack
from tests.conftest import CHANNEL, WEBHOOK_SECRET, Server, make_settings, start_server, stop_server
from tests.e2e.helpers import PERMISSION_REQUEST, ask, parents, posts, replies, requests
from tests.tmpfs import Filler, tiny_disk

__all__ = ["tiny_disk"]  # the fixture

LEASE_SECONDS = 1.5
# Recovery must come well within a minute of the space coming back; with 1.5 s leases it takes seconds.
RECOVERY_BOUND = 20.0


async def eventually(check: Callable[[], Awaitable[bool]], bound: float, what: str) -> None:
    deadline = time.monotonic() + bound
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {bound:.0f} s: {what}")
        await asyncio.sleep(0.1)


class Outage(Protocol):
    """Makes every database write fail (`begin`), then lets them work again (`end`)."""

    async def begin(self) -> None: ...

    async def end(self) -> None: ...


class FullDisk:
    def __init__(self, filler: Filler) -> None:
        self._filler = filler
        self._full = False

    async def begin(self) -> None:
        await asyncio.to_thread(self._filler.fill)
        self._full = True

    async def end(self) -> None:
        if self._full:
            await asyncio.to_thread(self._filler.free)
            self._full = False


class LostDatabase:
    """PostgreSQL refuses AskCall's database: its connections are cut and no new one is let in."""

    def __init__(self, admin_url: str, database: str) -> None:
        self._admin_url = admin_url
        self._database = database
        self._down = False

    async def _admin(self, *statements: str) -> None:
        admin = await asyncpg.connect(self._admin_url)
        try:
            for statement in statements:
                await admin.execute(statement)
        finally:
            await admin.close()

    async def begin(self) -> None:
        await self._admin(
            f'ALTER DATABASE "{self._database}" WITH ALLOW_CONNECTIONS false',
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{self._database}'",
        )
        self._down = True

    async def end(self) -> None:
        if self._down:
            await self._admin(f'ALTER DATABASE "{self._database}" WITH ALLOW_CONNECTIONS true')
            self._down = False


async def test_a_full_disk_strands_nothing_and_duplicates_nothing(
    tiny_disk: Path, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    db_path = tiny_disk / "askcall.db"
    settings = make_settings(slack, pilot, db_path, lease_seconds=LEASE_SECONDS, database_url=None)
    await _run_through(settings, FullDisk(Filler(tiny_disk, db_path)), slack, pilot)


async def test_a_lost_postgresql_strands_nothing_and_duplicates_nothing(
    pg_url: str, pg_admin_url: str, slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path
) -> None:
    settings = make_settings(slack, pilot, tmp_path / "unused.db", lease_seconds=LEASE_SECONDS, database_url=pg_url)
    database = urlsplit(pg_url).path.lstrip("/")
    await _run_through(settings, LostDatabase(pg_admin_url, database), slack, pilot)


async def _run_through(settings: Settings, outage: Outage, slack: FakeSlack, pilot: FakePilotStatus) -> None:
    app = await start_server(settings, slack, pilot)
    try:
        await _strand_and_recover(app, outage, slack, pilot)
    finally:
        await outage.end()
        await stop_server(app)


async def _strand_and_recover(app: Server, outage: Outage, slack: FakeSlack, pilot: FakePilotStatus) -> None:
    # Request 0 is waiting for its customer, who answers while the disk is full.
    answered = await ask(app, "+55 11 98765-4300 zero")
    # Request 1 will be in Pilot Status's hands when the disk fills (its answer can't be recorded);
    # request 2's status message will be in Slack's hands (its ts can't be recorded).
    pilot.script("POST", PERMISSION_REQUEST, delay=2.0)
    assert (await app.command("+55 11 98765-4301 primeiro")).status == 200
    await slack.wait_for(lambda: len(posts(pilot)) == 2)
    slack.delay_next("chat.postMessage", 2.0)
    assert (await app.command("+55 11 98765-4302 segundo")).status == 200
    # Slack has request 2's status message in its hands (it answers 2 s later) when the disk fills.
    await slack.wait_for(lambda: len(slack.calls_to("chat.postMessage", only_ok=False)) == 3)

    await outage.begin()
    # A command while writes fail either fails cleanly (the rep is told, nothing is half-stored) or,
    # if it got in before, is acknowledged and must complete like the others.
    during = await app.command("+55 11 98765-4303 terceiro")
    assert during.status == 200
    stored_while_full = await during.read() == b""
    # An answer while the disk is full is either stored (200) or refused so that Pilot Status retries.
    answer = permission_event("5511987654300", "TEMPORARY")
    webhook_url = app.url + "/webhooks/pilot-status"
    answer_status, _ = await send_webhook(webhook_url, answer, secret=WEBHOOK_SECRET)
    await asyncio.sleep(3 * LEASE_SECONDS)  # leases run out, sweeps and claims fail meanwhile

    await outage.end()
    if answer_status != 200:  # Pilot Status's retry, byte for byte
        assert (await send_webhook(webhook_url, answer, secret=WEBHOOK_SECRET))[0] == 200
    expected = 4 if stored_while_full else 3

    async def all_waiting() -> bool:
        stored = await _stored(app)
        return (
            len(stored) == expected
            and [r.state for r in stored[:1]] == [RequestState.ANSWERED]
            and all(r.state is RequestState.WAITING for r in stored[1:])
        )

    try:
        await eventually(all_waiting, RECOVERY_BOUND, "every acknowledged request sent to the customer")
    except AssertionError as error:
        stored = await _stored(app)
        raise AssertionError(f"{error}: {[(r.id, r.state, r.parent_ts) for r in stored]}\n{slack.summary()}") from None
    await app.wait_idle(timeout=RECOVERY_BOUND)
    stored = await _stored(app)
    assert all(r.message_id for r in stored)
    assert len(posts(pilot)) == expected  # each customer asked once
    status_messages = parents(slack, CHANNEL)
    assert len(status_messages) == expected, slack.summary()  # each status message posted once
    assert sorted(m["ts"] for m in status_messages) == sorted(r.parent_ts for r in stored)
    assert len(replies(slack, answered)) == 1  # the answer, announced once


async def _stored(app: Server) -> list:  # type: ignore[type-arg]
    try:
        return await requests(app)
    except Exception:  # the database is still out: nothing readable yet counts
        return []
