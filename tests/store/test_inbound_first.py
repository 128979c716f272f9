"""Inbound requests first at the store (bot/store/priority.py): at SQLite's one connection an ack's transaction
waits for the one in progress, not for a backlog of background ones; at PostgreSQL's pool it gets the next free
connection; a steady stream of requests never starves background work."""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.store import Store, create_store, priority
from bot.store.priority import InboundFirstQueue, InboundFirstSlots
from bot.store.sqlite import SQLiteStore


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def put(q: InboundFirstQueue, item: str, *, inbound: bool) -> None:
    if inbound:
        with priority.inbound():
            q.put_nowait(item)
    else:
        q.put_nowait(item)


def drain(q: InboundFirstQueue) -> list[str]:
    return [q.get() for _ in range(q.qsize())]


def test_inbound_work_is_taken_before_background_work_queued_earlier() -> None:
    q = InboundFirstQueue(max_wait=60, clock=Clock())
    for name in ("b1", "b2", "b3"):
        put(q, name, inbound=False)
    put(q, "i1", inbound=True)
    put(q, "i2", inbound=True)

    assert drain(q) == ["i1", "i2", "b1", "b2", "b3"]


def test_background_work_that_waited_its_share_takes_turns_with_inbound_work() -> None:
    clock = Clock()
    q = InboundFirstQueue(max_wait=0.05, clock=clock)
    for name in ("b1", "b2", "b3"):
        put(q, name, inbound=False)
    for name in ("i1", "i2", "i3", "i4"):
        put(q, name, inbound=True)
    clock.now = 0.05  # the background work has waited max_wait: no longer behind every request

    assert drain(q) == ["i1", "b1", "i2", "b2", "i3", "b3", "i4"]


def test_an_empty_queue_blocks_the_database_thread_until_work_comes() -> None:
    q = InboundFirstQueue()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.01)
    with pytest.raises(queue.Empty):
        q.get_nowait()
    taken: list[str] = []
    thread = threading.Thread(target=lambda: taken.append(q.get()))
    thread.start()
    put(q, "work", inbound=False)
    thread.join(5)
    assert taken == ["work"] and q.empty()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    s = SQLiteStore(str(tmp_path / "askcall.db"))
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def test_the_sqlite_store_gives_its_database_thread_an_inbound_first_queue(store: SQLiteStore) -> None:
    """aiosqlite has no public hook for its thread's queue: this fails loudly if an upgrade moves it."""
    assert isinstance(store.db._tx, InboundFirstQueue)
    assert store.db._thread.is_alive() and store.db._thread.daemon


async def test_an_inbound_hop_overtakes_background_hops_queued_behind_a_busy_database(store: SQLiteStore) -> None:
    busy, free = threading.Event(), threading.Event()
    order: list[str] = []

    def hold(conn: sqlite3.Connection) -> None:
        busy.set()
        free.wait(5)

    def record(name: str) -> Callable[[sqlite3.Connection], str]:
        def work(conn: sqlite3.Connection) -> str:
            order.append(name)
            return str(conn.execute("SELECT ?", (name,)).fetchone()[0])

        return work

    holding = asyncio.create_task(store._in_db_thread(hold))
    await asyncio.to_thread(busy.wait, 5)
    background = [asyncio.create_task(store._in_db_thread(record(f"background-{n}"))) for n in range(5)]
    await asyncio.sleep(0.01)
    with priority.inbound():
        ack = asyncio.create_task(store._in_db_thread(record("ack")))
    await asyncio.sleep(0.01)
    free.set()

    assert await ack == "ack"
    await asyncio.gather(holding, *background)
    assert order == ["ack"] + [f"background-{n}" for n in range(5)]


async def test_a_freed_slot_goes_to_the_inbound_waiter_before_background_ones_that_came_first() -> None:
    slots = InboundFirstSlots(1)
    order: list[str] = []
    held = asyncio.Event()

    async def use(name: str, release: asyncio.Event | None = None) -> None:
        async with slots.slot():
            order.append(name)
            if release is not None:
                held.set()
                await release.wait()

    release = asyncio.Event()
    holder = asyncio.create_task(use("holder", release))
    await held.wait()
    background = [asyncio.create_task(use(f"background-{n}")) for n in range(3)]
    await asyncio.sleep(0)
    with priority.inbound():
        ack = asyncio.create_task(use("ack"))
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(holder, ack, *background)

    assert order == ["holder", "ack", "background-0", "background-1", "background-2"]


async def test_slots_are_never_held_by_more_than_their_number_and_survive_cancelled_waiters() -> None:
    slots = InboundFirstSlots(2)
    inside = most = 0

    async def use() -> None:
        nonlocal inside, most
        async with slots.slot():
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.001)
            inside -= 1

    users = [asyncio.create_task(use()) for _ in range(30)]
    await asyncio.sleep(0)
    for user in users[5:15]:  # cancelled while waiting in line
        user.cancel()
    await asyncio.gather(*users, return_exceptions=True)
    assert most == 2 and inside == 0
    # Every slot came back: two more users get in at once.
    async with slots.slot(), slots.slot():
        pass


async def test_a_waiter_cancelled_as_it_is_handed_the_slot_passes_it_on() -> None:
    slots = InboundFirstSlots(1)
    release = asyncio.Event()

    async def hold() -> None:
        async with slots.slot():
            await release.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    unlucky = asyncio.create_task(hold())
    await asyncio.sleep(0)
    release.set()
    await holder  # its release hands the slot to `unlucky`, which has not run yet
    unlucky.cancel()
    await asyncio.gather(unlucky, return_exceptions=True)
    await asyncio.wait_for(hold(), timeout=1)  # the slot was passed on, not lost


@pytest.fixture
async def two_connections(pg_url: str) -> AsyncIterator[Store]:
    store = create_store(pg_url, pool_size=2, owner="replica-a")
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def test_an_inbound_request_gets_the_next_free_postgresql_connection(two_connections: Store) -> None:
    store: Any = two_connections
    order: list[str] = []
    releases = [asyncio.Event(), asyncio.Event()]
    both_held = asyncio.Event()
    holding = 0

    async def hold(release: asyncio.Event) -> None:
        nonlocal holding
        async with store.connection():
            holding += 1
            if holding == 2:
                both_held.set()
            await release.wait()

    async def read(name: str) -> None:
        await store._fetchval("SELECT 1")
        order.append(name)

    holders = [asyncio.create_task(hold(release)) for release in releases]
    await asyncio.wait_for(both_held.wait(), timeout=5)
    background = [asyncio.create_task(read(f"background-{n}")) for n in range(4)]
    await asyncio.sleep(0.01)
    with priority.inbound():
        ack = asyncio.create_task(read("ack"))
    await asyncio.sleep(0.01)
    releases[0].set()  # one connection comes free: the ack's, though four background reads waited longer
    await asyncio.wait_for(ack, timeout=5)
    releases[1].set()
    await asyncio.gather(*holders, *background)

    assert order[0] == "ack" and sorted(order[1:]) == [f"background-{n}" for n in range(4)]
