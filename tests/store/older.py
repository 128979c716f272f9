"""A database as an older AskCall left it: the first migrations only, holding rows written in that schema's SQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from urllib.parse import urlsplit

import asyncpg

from bot.store.postgres.schema import MIGRATIONS as POSTGRES_MIGRATIONS
from bot.store.sqlite.schema import MIGRATIONS as SQLITE_MIGRATIONS


async def at_version(url: str, version: int, rows: Sequence[str] = (), *, identities: Sequence[str] = ()) -> None:
    """Migrate the empty database at `url` to `version` and insert `rows`. On PostgreSQL, the identity sequence of
    each table in `identities` is moved past the ids the rows gave explicitly."""
    if url.startswith("sqlite"):
        with sqlite3.connect(urlsplit(url).path) as db:
            for script in SQLITE_MIGRATIONS[:version]:
                db.executescript(script)
            for row in rows:
                db.execute(row)
            db.execute(f"PRAGMA user_version = {version}")
        return
    connection = await asyncpg.connect(url)
    try:
        for script in POSTGRES_MIGRATIONS[:version]:
            await connection.execute(script)
        for row in rows:
            await connection.execute(row)
        for table in identities:
            await connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
            )
        await connection.execute("CREATE TABLE askcall_schema (version INTEGER NOT NULL)")
        await connection.execute(f"INSERT INTO askcall_schema (version) VALUES ({version})")
    finally:
        await connection.close()
