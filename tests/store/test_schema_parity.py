"""Schema parity: after all migrations, SQLite and PostgreSQL hold the same schema.

The same tables and columns (types mapped between the two: INTEGER ↔ integer/bigint, REAL ↔ double precision,
TEXT ↔ text; nullability, defaults and primary keys compared too), the same indexes (by name: table, columns, unique,
partial), the same unique constraints and the same foreign keys. `askcall db copy` moves rows column for column
between the backends, and both run the same SQL (bot/store/sql.py): a migration written for one backend only breaks
both, and this test says where. Each backend's own bookkeeping is left out (PostgreSQL's `askcall_schema` table;
SQLite keeps the version in `PRAGMA user_version`).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from bot.store import create_store, sqlite_url
from bot.store.postgres.schema import MIGRATIONS as POSTGRES_MIGRATIONS
from bot.store.sqlite.schema import MIGRATIONS as SQLITE_MIGRATIONS

# Each backend's own record of the schema version, not AskCall data.
BOOKKEEPING = {"askcall_schema"}
SQLITE_TYPES = {"INTEGER": "integer", "REAL": "real", "TEXT": "text"}
POSTGRES_TYPES = {"bigint": "integer", "integer": "integer", "double precision": "real", "text": "text"}


@dataclass(frozen=True)
class Column:
    type: str
    not_null: bool
    default: str | None
    primary_key: bool


@dataclass(frozen=True)
class Index:
    table: str
    columns: tuple[str, ...]
    unique: bool
    partial: bool


@dataclass
class Schema:
    columns: dict[str, dict[str, Column]] = field(default_factory=dict)  # table -> column -> its definition
    indexes: dict[str, Index] = field(default_factory=dict)  # created by CREATE INDEX, by name
    unique: set[tuple[str, tuple[str, ...]]] = field(default_factory=set)  # UNIQUE constraints: (table, columns)
    foreign_keys: set[tuple[str, str, str, str]] = field(default_factory=set)  # (table, column, ref table, ref column)


def differences(sqlite: Schema, postgres: Schema) -> list[str]:
    """What differs, one line each (empty: the same schema)."""
    found = []
    for table in sorted(sqlite.columns.keys() | postgres.columns.keys()):
        mine, theirs = sqlite.columns.get(table), postgres.columns.get(table)
        if mine is None or theirs is None:
            found.append(f"table {table}: only in {'PostgreSQL' if mine is None else 'SQLite'}")
            continue
        for name in sorted(mine.keys() | theirs.keys()):
            if mine.get(name) != theirs.get(name):
                found.append(f"column {table}.{name}: SQLite {mine.get(name)} / PostgreSQL {theirs.get(name)}")
    for name in sorted(sqlite.indexes.keys() | postgres.indexes.keys()):
        if sqlite.indexes.get(name) != postgres.indexes.get(name):
            found.append(f"index {name}: SQLite {sqlite.indexes.get(name)} / PostgreSQL {postgres.indexes.get(name)}")
    for label, a, b in (
        ("unique", sqlite.unique, postgres.unique),
        ("foreign key", sqlite.foreign_keys, postgres.foreign_keys),
    ):
        found += [f"{label} {item}: only in SQLite" for item in sorted(a - b)]
        found += [f"{label} {item}: only in PostgreSQL" for item in sorted(b - a)]
    return found


# --- reading each backend's schema -------------------------------------------------------------------------
def sqlite_schema(path: Path) -> Schema:
    schema = Schema()
    with sqlite3.connect(path) as conn:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            if table.startswith("sqlite_") or table in BOOKKEEPING:
                continue
            schema.columns[table] = {
                name: Column(
                    SQLITE_TYPES.get(kind, kind),
                    bool(not_null or pk),  # a primary key is never NULL (SQLite doesn't say so for TEXT keys)
                    default,
                    bool(pk),
                )
                for _, name, kind, not_null, default, pk in conn.execute(f"PRAGMA table_info({table})")
            }
            for _, name, unique, origin, partial in conn.execute(f"PRAGMA index_list({table})"):
                columns = tuple(row[2] for row in conn.execute(f"PRAGMA index_info({name})"))
                if origin == "c":
                    schema.indexes[name] = Index(table, columns, bool(unique), bool(partial))
                elif origin == "u":
                    schema.unique.add((table, columns))
            for row in conn.execute(f"PRAGMA foreign_key_list({table})"):
                schema.foreign_keys.add((table, row[3], row[2], row[4]))
    return schema


async def postgres_schema(url: str) -> Schema:
    schema = Schema()
    conn = await asyncpg.connect(url)
    try:
        keys = {
            (row["table"], row["column"])
            for row in await conn.fetch(
                """SELECT c.relname AS table, a.attname AS column FROM pg_index i
                   JOIN pg_class c ON c.oid = i.indrelid
                   JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
                   WHERE i.indisprimary AND c.relnamespace = current_schema()::regnamespace"""
            )
        }
        for row in await conn.fetch(
            """SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns
               WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"""
        ):
            table, name = row["table_name"], row["column_name"]
            if table in BOOKKEEPING:
                continue
            default = re.sub(r"::[a-z ]+$", "", row["column_default"]) if row["column_default"] else None
            schema.columns.setdefault(table, {})[name] = Column(
                POSTGRES_TYPES.get(row["data_type"], row["data_type"]),
                row["is_nullable"] == "NO",
                default,
                (table, name) in keys,
            )
        for row in await conn.fetch(
            """SELECT ic.relname AS name, tc.relname AS table, i.indisunique AS unique,
                      i.indpred IS NOT NULL AS partial,
                      ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(attnum, n)
                            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                            ORDER BY k.n)::text[] AS columns,
                      con.contype::text AS constraint
               FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class tc ON tc.oid = i.indrelid
               LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.contype IN ('p', 'u')
               WHERE tc.relnamespace = current_schema()::regnamespace"""
        ):
            if row["table"] in BOOKKEEPING or row["constraint"] == "p":
                continue
            if row["constraint"] == "u":
                schema.unique.add((row["table"], tuple(row["columns"])))
            else:
                schema.indexes[row["name"]] = Index(row["table"], tuple(row["columns"]), row["unique"], row["partial"])
        for row in await conn.fetch(
            """SELECT t.relname AS table, a.attname AS column, rt.relname AS ref_table, ra.attname AS ref_column
               FROM pg_constraint con
               JOIN pg_class t ON t.oid = con.conrelid JOIN pg_class rt ON rt.oid = con.confrelid
               JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1]
               JOIN pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attnum = con.confkey[1]
               WHERE con.contype = 'f' AND t.relnamespace = current_schema()::regnamespace"""
        ):
            schema.foreign_keys.add((row["table"], row["column"], row["ref_table"], row["ref_column"]))
    finally:
        await conn.close()
    return schema


async def migrated(sqlite_path: Path, pg_url: str) -> tuple[Schema, Schema]:
    for url in (sqlite_url(str(sqlite_path)), pg_url):
        store = create_store(url)
        await store.open()  # every migration
        await store.close()
    return sqlite_schema(sqlite_path), await postgres_schema(pg_url)


# --- the tests ---------------------------------------------------------------------------------------------
async def test_both_backends_have_the_same_schema_after_all_migrations(tmp_path: Path, pg_url: str) -> None:
    assert len(SQLITE_MIGRATIONS) == len(POSTGRES_MIGRATIONS)
    sqlite, postgres = await migrated(tmp_path / "askcall.db", pg_url)

    found = differences(sqlite, postgres)
    assert not found, "the backends' schemas differ:\n" + "\n".join(found)
    # The schema was read for real: every AskCall table, its indexes, unique keys and foreign keys.
    assert {"requests", "webhook_events", "deliveries", "reminders", "calls", "health"} <= sqlite.columns.keys()
    assert {"requests_by_customer", "calls_unsettled", "webhook_events_by_customer"} <= sqlite.indexes.keys()
    assert sqlite.indexes["calls_unsettled"] == Index("calls", ("updated_at",), unique=False, partial=True)
    assert ("deliveries", ("tenant_id", "dedup_key")) in sqlite.unique
    assert ("calls", "request_id", "requests", "id") in sqlite.foreign_keys
    assert sqlite.columns["reminders"]["state"] == Column("text", not_null=True, default="'pending'", primary_key=False)


async def test_a_divergence_is_reported(tmp_path: Path, pg_url: str) -> None:
    """The comparison is not blind: one backend's extra column, changed type or missing index each show up."""
    path = tmp_path / "askcall.db"
    await migrated(path, pg_url)
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE calls ADD COLUMN note TEXT")
        conn.execute("DROP INDEX calls_by_caller")
        conn.execute("CREATE INDEX calls_by_caller ON calls (user_id)")
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("ALTER TABLE reminders ALTER COLUMN due_at TYPE text")
    finally:
        await conn.close()

    found = differences(sqlite_schema(path), await postgres_schema(pg_url))

    assert [line.split(":")[0] for line in found] == [
        "column calls.note",
        "column reminders.due_at",
        "index calls_by_caller",
    ]
