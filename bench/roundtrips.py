"""Measurement: PostgreSQL round trips per statement and work-loop wake-ups of one AskCall process (issue 19 §1).

    python -m bench --quick --phases 3 --no-sqlite --postgres-replicas 1 --askcall-command "python -m bench.roundtrips"

asyncpg has no query log, so this starts AskCall with a query logger on every connection it opens (pool and
LISTEN): each `execute`/`fetch*` call, `BEGIN` and `COMMIT` included, is one round trip (a statement's first
Parse/Describe is not counted). It also counts each work loop's wake-ups (`wake()` calls: LISTEN/NOTIFY or the same
process) and passes (claims tried). On exit the counts go to `roundtrips-<pid>.json` in the working directory (the
bench's workdir): statement text (first 100 characters, whitespace folded) → [calls, seconds]. Not product code:
it wraps the driver from outside, as bench/split.py patches start-up. On SQLite the statements come from SQLite's
trace callback (each statement, also inside one hop) and `hops` counts the jobs handed to aiosqlite's thread.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
from collections import Counter
from typing import Any

import aiosqlite
import asyncpg

import bot.store.sqlite.connection
import bot.worker
from bot.cli import main


class Counts:
    """What this process did, written out once at exit."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()
        self.wakes: Counter[str] = Counter()
        self.passes: Counter[str] = Counter()
        self.hops = 0  # SQLite: jobs handed to aiosqlite's thread (each an event-loop ↔ thread round trip)

    def logged(self, record: Any) -> None:
        text = " ".join(str(record.query).split())[:100]
        self.calls[text] += 1
        self.seconds[text] += record.elapsed

    def traced(self, statement: str) -> None:  # SQLite's trace callback, in aiosqlite's thread
        self.calls[" ".join(statement.split())[:100]] += 1

    def write(self) -> None:
        statements = {k: [n, round(self.seconds[k], 4)] for k, n in self.calls.most_common()}
        body = {"statements": statements, "wakes": dict(self.wakes), "passes": dict(self.passes), "hops": self.hops}
        with open(f"roundtrips-{os.getpid()}.json", "w") as out:
            json.dump(body, out, indent=1)


def install(counts: Counts) -> None:
    create_pool, connect = asyncpg.create_pool, asyncpg.connect

    async def logging_init(conn: asyncpg.Connection) -> None:
        conn.add_query_logger(counts.logged)

    def counted_pool(*args: Any, **kwargs: Any) -> Any:
        return create_pool(*args, init=logging_init, **kwargs)

    async def counted_connect(*args: Any, **kwargs: Any) -> asyncpg.Connection:
        conn = await connect(*args, **kwargs)
        conn.add_query_logger(counts.logged)
        return conn

    asyncpg.create_pool = counted_pool  # type: ignore[assignment]
    asyncpg.connect = counted_connect  # type: ignore[assignment]
    loop_wake, loop_idle = bot.worker.DueWorkLoop.wake, bot.worker.DueWorkLoop._idle_time

    def wake(self: bot.worker.DueWorkLoop) -> None:
        counts.wakes[self._name] += 1
        loop_wake(self)

    def idle_time(self: bot.worker.DueWorkLoop, next_at: float | None) -> float:
        counts.passes[self._name] += 1
        return loop_idle(self, next_at)

    sqlite_connect, hop = bot.store.sqlite.connection.SQLiteConnection._connect, aiosqlite.Connection._execute

    async def traced_connect(self: Any, read_only: bool) -> None:
        await sqlite_connect(self, read_only)
        await self._db.set_trace_callback(counts.traced)

    async def counted_hop(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        counts.hops += 1
        return await hop(self, fn, *args, **kwargs)

    bot.store.sqlite.connection.SQLiteConnection._connect = traced_connect  # type: ignore[method-assign]
    aiosqlite.Connection._execute = counted_hop  # type: ignore[method-assign]
    bot.worker.DueWorkLoop.wake = wake  # type: ignore[method-assign]
    bot.worker.DueWorkLoop._idle_time = idle_time  # type: ignore[method-assign]
    atexit.register(counts.write)


if __name__ == "__main__":
    install(Counts())
    sys.exit(main(["serve"]))
