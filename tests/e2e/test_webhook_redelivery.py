"""AskCall's "503 so that it is retried", tested through the fake Pilot Status (issue 20 §2): while the database
can't store a webhook, AskCall answers 503 with Retry-After; the fake delivers it again, as Pilot Status does, and
once the database is back the customer's answer lands in the thread, once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.config import Settings
from bot.fakes.pilot_status import FakePilotStatus
from bot.fakes.slack import FakeSlack
from tests.conftest import REP, make_settings, start_server, stop_server
from tests.e2e.helpers import DIGITS, ask, only_request, replies
from tests.postgres import PrivateServer, execute


async def test_a_webhook_refused_with_503_while_the_database_is_down_is_redelivered_and_lands_once(
    slack: FakeSlack, pilot: FakePilotStatus, pg_private_server: PrivateServer, tmp_path: Path
) -> None:
    database = pg_private_server
    await execute(database.info.admin_url, "CREATE DATABASE askcall")
    url = database.info.url_for("askcall")
    settings: Settings = make_settings(slack, pilot, tmp_path / "unused.db", database_url=url)
    pilot.redelivery_delays = (0.5, 1.0, 2.0, 4.0, 8.0)
    server = await start_server(settings, slack, pilot)
    try:
        parent = await ask(server)
        await asyncio.to_thread(database.stop)

        first, _ = await server.answer(DIGITS, "PERMANENT")  # the customer answers while the database is down

        assert first == 503
        await asyncio.sleep(1.0)  # at least one redelivery meets the outage too
        await asyncio.to_thread(database.start)
        await pilot.redeliveries_done(timeout=60)
        attempts = [(d.status, d.attempt) for d in pilot.deliveries]
        assert attempts[0] == (503, 1) and attempts[-1][0] == 200 and len(attempts) >= 3, attempts
        await slack.wait_for(lambda: len(replies(slack, parent)) == 1, timeout=30)
        await server.wait_idle(timeout=30)
        assert "♾️" in replies(slack, parent)[0]["text"] and f"<@{REP}>" in replies(slack, parent)[0]["text"]
        assert (await only_request(server)).state == "answered"
    finally:
        await stop_server(server)
