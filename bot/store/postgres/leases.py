"""Leases: this process's claims on work, renewed while it lives and released when it stops."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bot.store import sql
from bot.store.postgres.connection import PostgresConnection, row_count
from bot.store.types import LeasedTable


class LeaseQueries(PostgresConnection):
    async def renew_leases(self, now: float, held: Mapping[LeasedTable, Iterable[int]]) -> int:
        renewed = 0
        async with self.transaction() as conn:
            for table in LeasedTable:
                ids = list(held.get(table, ()))
                if ids:
                    status = await conn.execute(
                        f"UPDATE {table} SET lease_until = $2 WHERE lease_owner = $1 AND id = ANY($3::bigint[])",
                        self.owner,
                        now + self.lease_seconds,
                        ids,
                    )
                    renewed += row_count(status)
        return renewed

    async def release_leases(self) -> int:
        async with self.transaction() as conn:
            return sum(
                [row_count(await conn.execute(sql.RELEASE_LEASES[table].postgres, self.owner)) for table in LeasedTable]
            )

    async def open_leases(self, now: float) -> list[tuple[LeasedTable, str, int, bool]]:
        found: list[tuple[LeasedTable, str, int, bool]] = []
        async with self.connection() as conn:
            for table in LeasedTable:
                rows = await conn.fetch(sql.OPEN_LEASES[table].postgres, now)
                found += [(table, str(r[0]), int(r[1]), bool(r[2])) for r in rows]
        return found
