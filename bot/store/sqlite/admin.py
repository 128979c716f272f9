"""Administration: server version, row counts, and whole-table export and import (`askcall db …`).

Table names come only from `DATA_TABLES` (checked by `data_table_key`); column names only from the
table itself, so no text from outside ever reaches SQL unchecked.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from bot.store import sql
from bot.store.sqlite.connection import SQLiteConnection, marks
from bot.store.types import DATA_TABLES, StoreError, data_table_key

T = TypeVar("T")


class AdminQueries(SQLiteConnection):
    @property
    def backend(self) -> str:
        return "SQLite"

    async def server_version(self) -> str:
        return sqlite3.sqlite_version

    async def row_counts(self) -> dict[str, int]:
        def count(conn: sqlite3.Connection) -> dict[str, int]:
            return {table: int(conn.execute(sql.ROW_COUNT[table].sqlite).fetchone()[0]) for table, _ in DATA_TABLES}

        return await self._admin(count)

    async def export_rows(self, table: str, after: Any, limit: int) -> list[dict[str, Any]]:
        data_table_key(table)
        query, args = (
            (sql.EXPORT_FIRST[table], (limit,)) if after is None else (sql.EXPORT_AFTER[table], (after, limit))
        )

        def read(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            return [dict(row) for row in conn.execute(query.sqlite, args)]

        return await self._admin(read)

    async def import_rows(self, table: str, rows: list[dict[str, Any]]) -> None:
        data_table_key(table)
        if not rows:
            return
        columns = list(rows[0])

        def write(conn: sqlite3.Connection) -> None:
            known = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            unknown = [name for name in columns if name not in known]
            if unknown:
                raise StoreError(f"{table} in {self.path} has no column(s) {', '.join(unknown)}")
            conn.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks(columns)})",
                [tuple(row[name] for name in columns) for row in rows],
            )
            # SQLite gives a new row the largest id + 1: nothing to reset.

        await self._admin(write, in_transaction=True)

    async def database_id(self) -> str | None:
        def read(conn: sqlite3.Connection) -> str | None:
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'askcall_database'").fetchone() is None:
                return None
            row = conn.execute(sql.DATABASE_ID.sqlite).fetchone()
            return str(row[0]) if row else None

        return await self._admin(read)

    async def erase_all_rows(self) -> None:
        def erase(conn: sqlite3.Connection) -> None:
            for table, _ in reversed(DATA_TABLES):  # children first: foreign keys hold at every step
                conn.execute(f"DELETE FROM {table}")

        await self._admin(erase, in_transaction=True)

    async def _admin(self, work: Callable[[sqlite3.Connection], T], *, in_transaction: bool = False) -> T:
        try:
            return await (self._write(work) if in_transaction else self._in_db_thread(work))
        except sqlite3.Error as error:
            raise StoreError(f"the database at {self.path} failed ({error})") from error
