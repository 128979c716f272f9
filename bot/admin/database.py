"""The database as the admin commands see it: opening it as it is, `askcall db status` and `askcall db migrate`.

Invariants: `migrate` is the only command that changes the schema outside `askcall serve`, and refuses a
database that a newer AskCall migrated. Before migrating, a backup is offered (rolling back means restoring it):
SQLite's online backup into a new private file, or the `pg_dump` command for PostgreSQL. Every other command
opens the database as it is (`open_existing`): read-only unless it must write (`purge`), never created, never
migrated, and refused in one line naming `askcall db migrate` when its schema isn't this AskCall's; `status`
changes nothing and only reports. Nothing here prints a password: databases are shown by
`DatabaseConfig.redacted()`.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from bot.config import DatabaseConfig
from bot.store import Store, StoreError, create_store


class SchemaMismatch(StoreError):
    """The database's schema isn't this AskCall's: only `askcall db migrate` (or `askcall serve`) changes it."""

    def __init__(self, where: str, version: int, known: int) -> None:
        if version == 0:
            why = "holds no AskCall schema yet: run askcall db migrate (or start askcall serve) to create it"
        elif version < known:
            why = (
                f"is at schema version {version}, older than this AskCall's ({known}): run askcall db migrate "
                "first (it offers a backup)"
            )
        else:
            why = (
                f"is at schema version {version}, newer than this AskCall's ({known}): use the AskCall version "
                "that ran askcall db migrate on it"
            )
        super().__init__(f"the database {where} {why}")
        self.version = version
        self.known = known


async def open_existing(database: DatabaseConfig, *, writable: bool = False) -> Store:
    """The database as it is, for a command other than `serve` and `db migrate`: read-only unless `writable`,
    never created or migrated. SchemaMismatch unless its schema is this AskCall's, found out on a read-only
    connection: a writable one sets things up (SQLite's WAL mode) that a refused command must not have changed."""
    store = create_store(database.url, pool_size=database.pool_size)
    try:
        await store.connect(read_only=True)
        version, known = await store.schema_version(), store.latest_schema_version
        if version != known:
            raise SchemaMismatch(database.redacted(), version, known)
        if writable:
            await store.close()
            await store.connect()
    except BaseException:
        await store.close()
        raise
    return store


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


async def schema_versions(database: DatabaseConfig) -> tuple[int, int]:
    """(the database's schema version, this AskCall's), read without changing anything."""
    store = create_store(database.url, pool_size=1)
    await store.connect(read_only=True)
    try:
        return await store.schema_version(), store.latest_schema_version
    finally:
        await store.close()


def backup_path(database: DatabaseConfig, version: int, now: float) -> str:
    """Where the backup taken before migrating goes by default: next to the database, named after its schema."""
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{database.sqlite_path}.schema-{version}.{stamp}.bak"


def backup_sqlite(database: DatabaseConfig, target: str) -> None:
    """A consistent copy of the SQLite database (its online backup: safe while AskCall runs) into a new file that
    only its owner may read (it holds customers' numbers). OSError/sqlite3.Error when it can't be made."""
    source_path = str(database.sqlite_path)
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never over an existing file
    os.close(descriptor)
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    try:
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
    except BaseException:
        os.remove(target)
        raise
    finally:
        source.close()


def pg_dump_command(database: DatabaseConfig, version: int) -> str:
    """The pg_dump command that backs up this PostgreSQL database, its file named after the schema version. The
    password is left out of it (pg_dump reads PGPASSWORD or ~/.pgpass)."""
    return f"pg_dump --format=custom --file=askcall-schema-{version}.dump {shlex.quote(without_password(database.url))}"


def without_password(url: str) -> str:
    parts = urlsplit(url)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    netloc = f"{userinfo.split(':', 1)[0]}@{hosts}" if at else hosts
    query = "&".join(item for item in parts.query.split("&") if item and not item.lower().startswith("password="))
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
