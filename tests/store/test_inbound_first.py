"""Inbound requests first at SQLite's one connection (bot/store/priority.py): an ack's transaction waits for
the one in progress, not for a backlog of background ones; a steady stream of requests never starves
background work."""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.store import priority
from bot.store.priority import InboundFirstQueue
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
