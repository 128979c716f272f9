"""Read-only questions the bench asks of AskCall's database and of the PostgreSQL server, from its own process.

Nothing here writes: AskCall's SQLite file is opened read-only (WAL, so nothing blocks), and the
PostgreSQL questions only SELECT. SQL is written once with `?` placeholders; the PostgreSQL side
turns them into `$1, $2, …`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg


class WorkQuestions:
    """Read-only questions about AskCall's work, asked of its database from the bench process.

    SQL uses `?` placeholders; each backend's subclass answers `query`."""

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    async def close(self) -> None:
        return None

    async def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = await self.query(sql, params)
        return rows[0][0] if rows else None

    async def backlog(self) -> dict[str, int]:
        """Work AskCall still has to do: unfinished requests, unsent deliveries, unprocessed webhooks."""
        soon = time.time() + 5
        rows = await self.query(
            """SELECT (SELECT COUNT(*) FROM requests WHERE state IN ('new', 'ready', 'sending')),
                      (SELECT COUNT(*) FROM deliveries WHERE state IN ('pending', 'inflight')
                                                       AND next_attempt_at <= ?),
                      (SELECT COUNT(*) FROM webhook_events WHERE processed_at IS NULL)""",
            (soon,),
        )
        requests, deliveries, events = rows[0]
        return {"requests": requests, "deliveries": deliveries, "webhooks": events}

    async def wait_idle(self, within: float) -> tuple[bool, dict[str, int]]:
        """Until the backlog is empty twice in a row; returns (idle, last backlog)."""
        deadline = time.monotonic() + within
        quiet = 0
        backlog: dict[str, int] = {}
        while time.monotonic() < deadline:
            backlog = await self.backlog()
            quiet = quiet + 1 if not any(backlog.values()) else 0
            if quiet >= 2:
                return True, backlog
            await asyncio.sleep(0.25)
        return False, backlog


class Database(WorkQuestions):
    """AskCall's SQLite file, read from the bench process (WAL: no blocking)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)
        try:
            return list(conn.execute(sql, tuple(params)).fetchall())
        finally:
            conn.close()

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return await asyncio.to_thread(self._query, sql, params)


def numbered(sql: str) -> str:
    """`?` placeholders (the bench's SQLite questions) as asyncpg's `$1, $2, …`."""
    parts = sql.split("?")
    return "".join(part + (f"${i}" if i < len(parts) else "") for i, part in enumerate(parts, start=1))


class PostgresDatabase(WorkQuestions):
    """AskCall's PostgreSQL database, read from the bench process (one connection of its own)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: asyncpg.Connection | None = None

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self.url, timeout=10)
        return self._conn

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        conn = await self._connection()
        return [tuple(row) for row in await conn.fetch(numbered(sql), *params)]


async def _admin_value(admin_url: str, sql: str) -> Any:
    conn = await asyncpg.connect(admin_url, timeout=5)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def server_version(admin_url: str) -> str:
    return str(await _admin_value(admin_url, "SHOW server_version"))


async def checkpoints(admin_url: str) -> int:
    """Checkpoints the server has run so far (timed and requested). Other clients' CREATE/DROP
    DATABASE each request one, and a checkpoint stalls every commit on the server while it flushes."""
    return int(await _admin_value(admin_url, "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"))
