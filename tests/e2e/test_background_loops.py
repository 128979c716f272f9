"""Every loop that runs in production does its work in a test, on its own timer: nothing here calls `sweep()`,
`wake()` or a purge by hand. Intervals are shortened through the settings (the calls sweep's is in tests/calls).

- the reminders loop fires an expiry reminder when it falls due;
- the retention loop erases a request that became old enough while AskCall runs;
- the lease loop renews the lease of a slow Slack post, so another replica's sweep never takes it over;
- the lease loop of a running replica takes over the work of one that crashed, once its lease runs out.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

from bot.config import Settings
from bot.fakes.pilot_status import FakePilotStatus
from bot.fakes.slack import FakeSlack
from bot.store import Delivery, create_store
from tests.conftest import Server, make_settings
from tests.e2e.helpers import (
    DAY,
    DIGITS,
    ask,
    assert_checked_before_each_retry,
    db_execute,
    db_rows,
    only_reply,
    posts,
    replies,
    reply_attempts,
    running,
    updates_of,
)


async def test_the_reminders_loop_fires_an_expiry_when_it_falls_due(server: Server) -> None:
    slack = server.slack
    parent = await ask(server)
    expiry = int(time.time()) + 2
    assert (await server.answer(DIGITS, "TEMPORARY", expiration_time=expiry))[0] == 200  # a two-second grant
    await server.wait_idle()
    assert "✅" in only_reply(slack, parent)["text"]

    # Nobody wakes the loop: its own timer brings it to the expiry, and the fresh probe says it lapsed.
    await slack.wait_for(lambda: len(replies(slack, parent)) == 2, timeout=15)
    assert time.time() >= expiry
    assert "⌛" in replies(slack, parent)[1]["text"]
    await slack.wait_for(lambda: "⌛" in (updates_of(slack, parent)[-1].get("text") or ""))
    (request,) = await db_rows(server.askcall.settings, "SELECT state FROM requests")
    assert request["state"] == "expired"


async def test_the_retention_loop_erases_a_request_that_became_old_while_running(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    settings = replace(settings, retention_days=180, retention_interval_seconds=0.2)
    async with running(settings, slack, pilot) as app:
        await ask(app)
        (fresh,) = await db_rows(settings, "SELECT phone_e164, purged_at FROM requests")
        assert fresh == {"phone_e164": "+" + DIGITS, "purged_at": None}  # the start-up run left it alone
        await db_execute(settings, "UPDATE requests SET created_at = ?", (time.time() - 200 * DAY,))

        async def erased() -> bool:
            (row,) = await db_rows(settings, "SELECT phone_e164, reason, purged_at FROM requests")
            return row["purged_at"] is not None and row["phone_e164"] == "" and row["reason"] == ""

        for _ in range(200):
            if await erased():
                break
            await asyncio.sleep(0.05)
        assert await erased()


def replica_settings(slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path, pg_url: str) -> Settings:
    """Replicas share PostgreSQL, as in production."""
    return make_settings(slack, pilot, tmp_path / "unused.db", database_url=pg_url, shutdown_grace=0.5)


async def test_the_lease_loop_renews_a_slow_post_so_no_other_replica_takes_it_over(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    """A thread reply that takes three leases to be answered stays this instance's: another replica looking for
    abandoned work all the while (here: its store's sweep, every 10 ms) never gets it."""
    async with running(settings, slack, pilot) as app:
        parent = await ask(app)
        slack.delay_next("chat.postMessage", 3 * settings.lease_seconds)
        assert (await app.answer(DIGITS, "PERMANENT"))[0] == 200
        await slack.wait_for(lambda: len(reply_attempts(slack, parent)) == 1)

        rival = create_store(settings.database.url, lease_seconds=settings.lease_seconds)
        await rival.connect()
        taken: list[Delivery] = []
        try:
            deadline = time.monotonic() + 3 * settings.lease_seconds + 10
            while not replies(slack, parent) and time.monotonic() < deadline:
                taken += await rival.claim_abandoned_deliveries(time.time())
                await asyncio.sleep(0.01)
        finally:
            await rival.close()
        assert taken == []
        await app.wait_idle()
    only_reply(slack, parent)
    assert len(reply_attempts(slack, parent)) == 1
    (row,) = await db_rows(settings, "SELECT state, attempts FROM deliveries WHERE kind = 'reply'")
    assert row == {"state": "done", "attempts": 1}


async def test_a_running_replica_takes_over_the_post_of_one_that_crashed_once_its_lease_runs_out(
    slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path, pg_url: str
) -> None:
    settings = replica_settings(slack, pilot, tmp_path, pg_url)
    async with running(settings, slack, pilot, crash=True) as doomed:
        parent = await ask(doomed)
        slack.hang_next("chat.postMessage")  # Slack stores the reply; its answer never arrives
        assert (await doomed.answer(DIGITS, "PERMANENT"))[0] == 200
        await slack.wait_for(lambda: slack.hanging == 1)
    slack.release_hung(answer=False)
    assert len(replies(slack, parent)) == 1
    (held,) = await db_rows(settings, "SELECT state, lease_until FROM deliveries WHERE kind = 'reply'")
    assert held["state"] == "inflight"  # the dead replica's lease still holds it: nothing was released

    async with running(settings, slack, pilot) as survivor:
        # Its start-up sweep found the lease alive; its lease loop finds it lapsed and checks the thread.
        await slack.wait_for(lambda: len(slack.calls_to("conversations.replies")) == 1, timeout=10)
        (check,) = slack.calls_to("conversations.replies")
        assert check.wall >= held["lease_until"]
        await survivor.wait_idle()
        await asyncio.sleep(2 * settings.lease_seconds)  # a second takeover would have happened by now
    only_reply(slack, parent)
    assert len(reply_attempts(slack, parent)) == 1
    assert "♾️" in (updates_of(slack, parent)[-1].get("text") or "")
    assert len(posts(pilot)) == 1
    assert_checked_before_each_retry(slack)
