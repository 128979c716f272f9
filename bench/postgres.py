"""The bench's PostgreSQL: a fresh database per run (created and dropped here), and read-only questions to it.

Every database this module creates is named `askcall_bench_<hex>` and is dropped (WITH FORCE) by the
same bench run, so a run leaves the server as it found it, whatever happened in between.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bench.processes import WorkQuestions

# The project's machines run PostgreSQL 15 here with trust auth (see tests/postgres.py).
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PREFIX = "askcall_bench_"


def database_url(admin_url: str, name: str) -> str:
    """`admin_url` with its database replaced by `name`."""
    parts = urlsplit(admin_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


async def server_version(admin_url: str) -> str:
    conn = await asyncpg.connect(admin_url, timeout=5)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


async def checkpoints(admin_url: str) -> int:
    """Checkpoints the server has run so far (timed and requested). Other clients' CREATE/DROP
    DATABASE each request one, and a checkpoint stalls every commit on the server while it flushes."""
    conn = await asyncpg.connect(admin_url, timeout=5)
    try:
        return int(await conn.fetchval("SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"))
    finally:
        await conn.close()


@asynccontextmanager
async def fresh_database(admin_url: str) -> AsyncIterator[str]:
    """A new empty database on the server at `admin_url`; yields its URL and drops it afterwards."""
    name = PREFIX + uuid.uuid4().hex[:12]
    conn = await asyncpg.connect(admin_url, timeout=5)
    try:
        await conn.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
    finally:
        await conn.close()
    try:
        yield database_url(admin_url, name)
    finally:
        conn = await asyncpg.connect(admin_url, timeout=5)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


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
