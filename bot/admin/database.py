"""`askcall db status` and `askcall db migrate`: what a database holds and runs, and bringing its schema up to date.

Invariants: `status` changes nothing (it never migrates, never creates a SQLite file); `migrate` is
the only step that changes the schema outside `askcall serve`, and refuses a database that a newer
AskCall migrated. Neither prints a password: databases are shown by `DatabaseConfig.redacted()`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.config import DatabaseConfig
from bot.store import Store, create_store


@dataclass(frozen=True)
class Status:
    lines: list[str]
    up_to_date: bool


async def database_status(database: DatabaseConfig) -> Status:
    store = create_store(database.url, pool_size=1)
    await store.connect(read_only=True)
    try:
        version, known = await store.schema_version(), store.latest_schema_version
        lines = [
            f"Database: {database.redacted()}",
            f"Backend: {store.backend} {await store.server_version()}",
            f"Schema version: {version} (this AskCall knows {known})",
            f"Pending migrations: {pending_migrations(version, known)}",
        ]
        if version == known:
            lines += await lease_lines(store, time.time())
        else:
            lines.append("Open leases: unknown until the schema matches this AskCall")
    finally:
        await store.close()
    return Status(lines, version == known)


def pending_migrations(version: int, known: int) -> str:
    if version > known:
        return (
            f"none — the database is NEWER than this AskCall (schema version {version} > {known}): "
            "upgrade AskCall before serving it"
        )
    if version == known:
        return "none (up to date)"
    numbers = ", ".join(str(n) for n in range(version + 1, known + 1))
    return f"{known - version} ({numbers}) — run askcall db migrate, or start askcall serve, to apply them"


async def lease_lines(store: Store, now: float) -> list[str]:
    leases = sorted(await store.open_leases(now), key=lambda lease: (lease[1], lease[0]))
    if not leases:
        return ["Open leases: none"]
    lines = [f"Open leases: {sum(count for _, _, count, _ in leases)}"]
    for table, owner, count, expired in leases:
        state = "expired (any replica may take the work over)" if expired else "live"
        lines.append(f"  {owner}  {table}: {count} {state}")
    return lines


@dataclass(frozen=True)
class Migration:
    before: int
    after: int
    known: int


async def migrate_database(database: DatabaseConfig) -> Migration:
    """Migrate to this AskCall's schema; raises SchemaTooNew (a StoreError) for a newer database."""
    store = create_store(database.url, pool_size=1)
    await store.connect()
    try:
        before = await store.schema_version()
        await store.migrate()
        return Migration(before, await store.schema_version(), store.latest_schema_version)
    finally:
        await store.close()
