"""Background tasks yield to inbound requests (bot/tasks.py)."""

from __future__ import annotations

import asyncio

from bot.tasks import InboundFirst, Tasks


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
