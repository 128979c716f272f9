"""Administration: server version, row counts, and whole-table export and import (`askcall db …`).

Table names come only from `DATA_TABLES` (checked by `data_table_key`); column names only from the
table itself, so no text from outside ever reaches SQL unchecked. Imported rows keep their ids; the
table's identity sequence is then moved past the largest one, in the same transaction, so rows made
afterwards never collide with copied ones.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from bot.store import sql
from bot.store.postgres.connection import PostgresConnection
from bot.store.types import DATA_TABLES, StoreError, data_table_key


class AdminQueries(PostgresConnection):
    @property
    def backend(self) -> str:
        return "PostgreSQL"

    async def server_version(self) -> str:
        async with self.connection() as conn:
            return str(await conn.fetchval("SHOW server_version"))

    async def row_counts(self) -> dict[str, int]:
        async with self.connection() as conn:
            return {table: int(await conn.fetchval(sql.ROW_COUNT[table].postgres)) for table, _ in DATA_TABLES}

    async def export_rows(self, table: str, after: Any, limit: int) -> list[dict[str, Any]]:
        data_table_key(table)
        if after is None:
            rows = await self._fetch(sql.EXPORT_FIRST[table].postgres, limit)
        else:
            rows = await self._fetch(sql.EXPORT_AFTER[table].postgres, after, limit)
        return [dict(row) for row in rows]

    async def import_rows(self, table: str, rows: list[dict[str, Any]]) -> None:
        key = data_table_key(table)
        if not rows:
            return
        columns = list(rows[0])
        async with self.transaction() as conn:
            types = {
                str(name): str(kind)
                for name, kind in await conn.fetch(
                    "SELECT column_name::text, data_type::text FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = $1",
                    table,
                )
            }
            unknown = [name for name in columns if name not in types]
            if unknown:
                raise StoreError(f"{table} in {self.description} has no column(s) {', '.join(unknown)}")
            try:
                await conn.copy_records_to_table(
                    table, records=[tuple(row[name] for name in columns) for row in rows], columns=columns
                )
            except (TypeError, ValueError, OverflowError, asyncpg.DataError) as error:
                # A value that is not of its column's type (SQLite keeps whatever it is given): say where.
                raise StoreError(
                    _misfit(table, key, rows, types) or f"{table}: a row can't be stored ({error})"
                ) from None
            if key == "id":
                await conn.execute(
                    f"""SELECT setval(pg_get_serial_sequence('{table}', 'id'),
                                      GREATEST(MAX(id), 1), MAX(id) IS NOT NULL) FROM {table}"""
                )

    async def database_id(self) -> str | None:
        async with self.connection() as conn:
            if not await conn.fetchval("SELECT to_regclass('askcall_database') IS NOT NULL"):
                return None
            found = await conn.fetchval(sql.DATABASE_ID.postgres)
        return str(found) if found is not None else None

    async def erase_all_rows(self) -> None:
        tables = ", ".join(table for table, _ in DATA_TABLES)
        async with self.transaction() as conn:
            await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY")


NUMBERS = {"bigint": int, "integer": int, "smallint": int, "double precision": float, "real": float}


def _misfit(table: str, key: str, rows: list[dict[str, Any]], types: dict[str, str]) -> str | None:
    """Where the first value that does not fit its PostgreSQL column is: table, row (by key) and column. The value
    itself is not shown (it may be a customer's data)."""
    for row in rows:
        for column, value in row.items():
            kind = types.get(column, "text")
            if value is None:
                continue
            number = NUMBERS.get(kind)
            fits = (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and (number is float or value == int(value))
                if number is not None
                else kind != "text" or isinstance(value, str)
            )
            if not fits:
                return (
                    f"{table} row {key} {row.get(key)!r}: column {column} holds {type(value).__name__} "
                    f"where PostgreSQL needs {kind}; fix that row in the source and copy again"
                )
    return None
