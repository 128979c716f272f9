"""Leases: this process's claims on work, renewed while it lives and released when it stops."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping

from bot.store import sql
from bot.store.sqlite.connection import SQLiteConnection, marks
from bot.store.types import LeasedTable


class LeaseQueries(SQLiteConnection):
    async def renew_leases(self, now: float, held: Mapping[LeasedTable, Iterable[int]]) -> int:
        until = now + self.lease_seconds
        work = {table: list(held.get(table, ())) for table in LeasedTable}

        def renew(conn: sqlite3.Connection) -> int:
            return sum(
                conn.execute(
                    f"UPDATE {table} SET lease_until = ? WHERE lease_owner = ? AND id IN ({marks(ids)})",
                    (until, self.owner, *ids),
                ).rowcount
                for table, ids in work.items()
                if ids
            )

        return await self._write(renew)

    async def release_leases(self) -> int:
        def release(conn: sqlite3.Connection) -> int:
            return sum(conn.execute(sql.RELEASE_LEASES[table].sqlite, (self.owner,)).rowcount for table in LeasedTable)

        return await self._write(release)

    async def open_leases(self, now: float) -> list[tuple[LeasedTable, str, int, bool]]:
        def read(conn: sqlite3.Connection) -> list[tuple[LeasedTable, str, int, bool]]:
            found: list[tuple[LeasedTable, str, int, bool]] = []
            for table in LeasedTable:
                for owner, count, expired in conn.execute(sql.OPEN_LEASES[table].sqlite, (now,)):
                    found.append((table, str(owner), int(count), bool(expired)))
            return found

        return await self._in_db_thread(read)
