"""Background tasks yield to inbound requests (bot/tasks.py); a database outage stopping background work
is told in one warning line, a bug with its traceback (bot/tasks.py, bot/worker.py)."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from bot.store import StoreError
from bot.tasks import InboundFirst, Tasks
from bot.worker import DueWorkLoop


async def spin(rounds: int = 20) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


async def test_checkpoint_passes_at_once_when_no_request_is_handled() -> None:
    priority = InboundFirst(max_yield=60)

    await asyncio.wait_for(priority.wait(), timeout=1)


async def test_checkpoint_waits_for_the_request_being_handled() -> None:
    priority = InboundFirst(max_yield=60)
    with priority.inbound():
        waiter = asyncio.create_task(priority.wait())
        await spin()
        assert not waiter.done()
        with priority.inbound():  # a second, overlapping request
            pass
        await spin()
        assert not waiter.done()
    await asyncio.wait_for(waiter, timeout=1)


async def test_a_steady_stream_of_requests_cannot_starve_background_work() -> None:
    priority = InboundFirst(max_yield=0.01)
    with priority.inbound():
        await asyncio.wait_for(priority.wait(), timeout=5)


async def test_tasks_route_their_checkpoints_through_the_priority() -> None:
    tasks = Tasks(InboundFirst(max_yield=60))
    with tasks.inbound():
        step = asyncio.create_task(tasks.yield_to_inbound())
        await spin()
        assert not step.done()
    await asyncio.wait_for(step, timeout=1)


async def test_a_task_started_while_handling_a_request_is_background_work_at_the_store() -> None:
    from bot.store import priority

    tasks = Tasks(InboundFirst(max_yield=60))
    seen: list[bool] = []

    async def look() -> None:
        seen.append(priority.is_inbound())

    with tasks.inbound():
        assert priority.is_inbound()
        task = tasks.spawn(look(), name="look")
        assert task is not None
        await task
    assert seen == [False] and not priority.is_inbound()


async def task_log(error: Exception, caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What bot.tasks logs when a background task fails with `error`."""

    async def fail() -> None:
        raise error

    task = Tasks().spawn(fail(), name="delivery-7")
    assert task is not None
    await asyncio.gather(task, return_exceptions=True)
    await spin()
    return [r for r in caplog.records if r.name == "bot.tasks"]


async def test_a_task_stopped_by_a_database_outage_is_one_warning_line(caplog: pytest.LogCaptureFixture) -> None:
    records = await task_log(StoreError("PostgreSQL at postgresql://db/askcall failed (refused)"), caplog)
    assert [(r.levelname, r.exc_info) for r in records] == [("WARNING", None)]
    assert "delivery-7" in records[0].getMessage() and "(refused)" in records[0].getMessage()


async def test_a_task_that_fails_otherwise_is_an_error_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    (record,) = await task_log(ValueError("a bug"), caplog)
    assert record.levelname == "ERROR" and record.exc_info is not None


async def test_a_due_work_loop_tells_a_database_outage_in_one_line(caplog: pytest.LogCaptureFixture) -> None:
    calls = 0

    async def run_due() -> float | None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise StoreError("PostgreSQL at postgresql://db/askcall failed (refused)")
        if calls == 2:
            raise ValueError("a bug")
        return None

    loop = DueWorkLoop("notifier", run_due, time.time)
    loop.start()
    try:
        for _ in range(300):  # the loop retries after 1 s
            if calls >= 3:
                break
            await asyncio.sleep(0.01)
    finally:
        await loop.stop()
    records = [(r.levelname, r.exc_info is not None) for r in caplog.records if r.name == "bot.worker"]
    assert records == [("WARNING", False), ("ERROR", True)]
