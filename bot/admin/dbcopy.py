"""`askcall db copy`: move an install's data between databases, SQLite ⇄ PostgreSQL, in either direction.

Invariants:
- the source and the target are never the same database, however they are named: databases are told apart
  by what they say themselves (the id AskCall wrote into each database's `askcall_database` table when it
  created its tables), a SQLite file also by its resolved device and inode, never by the text of their URLs;
- the source is only read: it is opened read-only, never migrated, and its schema must be exactly
  the one this AskCall knows (a copy is column for column);
- nothing is copied from a source that a running AskCall still works on (a live lease), nor into a
  target one works on: rows written during the copy would be missed;
- the target must exist: a PostgreSQL database is never created here (a missing one is refused with
  how to create it; a SQLite file is created like at any first start);
- the target is migrated first. It must hold no AskCall rows, unless `force`: then every AskCall
  table of the target is emptied (one transaction) before the copy. Nothing else is touched;
- rows keep their ids, so answers to requests made before the move find their requests, threads and
  deliveries; rows made afterwards get ids past the copied ones (PostgreSQL's identity sequences are
  moved with each batch);
- memory is bounded: each table is read in key order, `batch_size` rows at a time;
- the copy ends by comparing the row count of every table on both sides; any difference fails it, and so
  does a target left empty by a source that had rows (never "Copied 0 rows").

Transactions: one per batch on the target (each `import_rows`), not one for the whole copy. A batch
is all or nothing, the transactions stay short (no long-held locks, no WAL the size of the database
on either backend) and progress is durable. The copy as a whole is made safe by its procedure
instead: it starts from an empty target (or empties it), rows keep their ids, and the final count
check catches a copy that stopped halfway; running it again with `--force` starts over cleanly.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from bot.config import DatabaseConfig
from bot.store import DATA_TABLES, SchemaTooNew, Store, StoreError, create_store, data_table_key

DEFAULT_BATCH_SIZE = 1000
# PostgreSQL's SQLSTATE for "database … does not exist".
INVALID_CATALOG_NAME = "3D000"
# (table, rows copied so far, rows in the source table)
Progress = Callable[[str, int, int], None]


class CopyRefused(Exception):
    """The copy did not start: the message says why and what to do."""


class CopyFailed(Exception):
    """The copy ran but its result is wrong: the message says what (the source is unchanged)."""


@dataclass(frozen=True)
class TableCount:
    table: str
    source: int
    target: int

    @property
    def matches(self) -> bool:
        return self.source == self.target


async def copy_database(
    source_config: DatabaseConfig,
    target_config: DatabaseConfig,
    *,
    force: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress = lambda table, done, total: None,
) -> list[TableCount]:
    """Copy every AskCall row from source to target; returns the row counts of both, table by table.
    Raises CopyRefused, before any row is written or erased, when the copy must not happen."""
    check_arguments(source_config, target_config)
    source = create_store(source_config.url, pool_size=2, owner="askcall-db-copy")
    target = create_store(target_config.url, pool_size=2, owner="askcall-db-copy")
    await source.connect(read_only=True)
    try:
        await _check_source(source, source_config)
        await _open_target(target, target_config)
        try:
            await _refuse_the_same_database(source, target, source_config)
            totals = await source.row_counts()
            await _check_target(target, target_config, force)
            for table, _ in DATA_TABLES:
                await _copy_table(source, target, table, totals[table], batch_size, progress)
            source_counts, target_counts = await source.row_counts(), await target.row_counts()
        finally:
            await target.close()
    finally:
        await source.close()
    if sum(totals.values()) and not sum(target_counts.values()):
        raise CopyFailed(
            f"the source had {sum(totals.values())} rows and the target got none: nothing was copied "
            f"({target_config.redacted()} is empty)"
        )
    return [TableCount(table, source_counts[table], target_counts[table]) for table, _ in DATA_TABLES]


async def _refuse_the_same_database(source: Store, target: Store, config: DatabaseConfig) -> None:
    """Whatever the URLs say (another host alias, a socket, another user), a database answers with its own id:
    the same id is the same database (or a byte-for-byte copy of it), and a copy onto it would erase the source."""
    mine = await source.database_id()
    if mine is not None and mine == await target.database_id():
        raise CopyRefused(
            f"--from and --to are the same database ({config.redacted()}: the database says so itself, whatever "
            "the URLs name), or a byte-for-byte copy of it: a copy would erase it"
        )


async def _check_source(source: Store, config: DatabaseConfig) -> None:
    where = config.redacted()
    version, known = await source.schema_version(), source.latest_schema_version
    if version == 0:
        raise CopyRefused(f"{where} (--from) holds no AskCall database (no schema)")
    if version > known:
        raise CopyRefused(
            f"{where} (--from) is at schema version {version}, NEWER than this AskCall knows ({known}): "
            "copy it with the AskCall version that last used it"
        )
    if version < known:
        raise CopyRefused(
            f"{where} (--from) is at schema version {version}, this AskCall knows {known}: a copy needs the same "
            "schema on both sides. Migrate the source first (askcall db migrate, with ASKCALL_DATABASE_URL set to "
            "it; this changes the source), or copy it with the AskCall version that last used it"
        )
    await _refuse_live_leases(source, f"{where} (--from)")


async def _open_target(target: Store, config: DatabaseConfig) -> None:
    try:
        await target.open()  # migrates it to this AskCall's schema
    except SchemaTooNew as error:
        raise CopyRefused(f"{config.redacted()} (--to) was migrated by a newer AskCall ({error})") from error
    except StoreError as error:
        if getattr(error.__cause__, "sqlstate", None) != INVALID_CATALOG_NAME or config.dsn is None:
            raise
        parts, (_, port, name) = urlsplit(config.dsn), _postgres_identity(config.dsn)
        host = parts.hostname or parse_qs(parts.query).get("host", ["localhost"])[0]
        raise CopyRefused(
            f"{config.redacted()} (--to): the database {name!r} does not exist. The copy creates AskCall's tables "
            "in an existing database, not the database itself: create it first (empty, owned by the user AskCall "
            f"connects as), e.g. createdb -h {host} -p {port} -U postgres -O {parts.username or 'USER'} {name}"
        ) from error


async def _check_target(target: Store, config: DatabaseConfig, force: bool) -> None:
    where = config.redacted()
    await _refuse_live_leases(target, f"{where} (--to)")
    filled = {table: count for table, count in (await target.row_counts()).items() if count}
    if not filled:
        return
    if not force:
        rows = ", ".join(f"{table} {count}" for table, count in filled.items())
        raise CopyRefused(
            f"{where} (--to) already holds AskCall data ({rows} rows): copy into an empty database, or add --force "
            "to delete every row of its AskCall tables first"
        )
    await target.erase_all_rows()


async def _refuse_live_leases(store: Store, where: str) -> None:
    live = sorted({owner for _, owner, _, expired in await store.open_leases(time.time()) if not expired})
    if live:
        raise CopyRefused(
            f"AskCall is still running on {where}: {', '.join(live)} hold(s) work in it. Stop every AskCall process "
            "that uses it first (the leases of a process that died run out within ASKCALL_LEASE_SECONDS, 30 s by "
            "default)"
        )


async def _copy_table(
    source: Store, target: Store, table: str, total: int, batch_size: int, progress: Progress
) -> None:
    key = data_table_key(table)
    after: object = None
    done = 0
    progress(table, done, total)
    while rows := await source.export_rows(table, after, batch_size):
        await target.import_rows(table, rows)
        done += len(rows)
        after = rows[-1][key]
        progress(table, done, total)


def check_arguments(source: DatabaseConfig, target: DatabaseConfig) -> None:
    """Refuse a copy onto itself, or from a SQLite file that does not exist (it would be created empty)."""
    if same_database(source, target):
        raise CopyRefused(f"--from and --to name the same database ({source.redacted()})")
    if source.sqlite_path is not None and not os.path.isfile(source.sqlite_path):
        raise CopyRefused(f"there is no database at {source.sqlite_path} (--from)")


def same_database(a: DatabaseConfig, b: DatabaseConfig) -> bool:
    """Whether two configurations name the same database, as far as can be told before opening them: the same
    resolved path or the same file (device and inode: a hard link, a bind mount) for SQLite, the same server and
    name for PostgreSQL. Opened, databases are also compared by their own id (`_refuse_the_same_database`)."""
    if a.sqlite_path is not None and b.sqlite_path is not None:
        if os.path.realpath(a.sqlite_path) == os.path.realpath(b.sqlite_path):
            return True
        try:
            return os.path.samefile(a.sqlite_path, b.sqlite_path)
        except OSError:  # the target does not exist yet: not the same file
            return False
    if a.dsn is not None and b.dsn is not None:
        return _postgres_identity(a.dsn) == _postgres_identity(b.dsn)
    return False


def _postgres_identity(dsn: str) -> tuple[str, int, str]:
    parts = urlsplit(dsn)
    options = parse_qs(parts.query)
    host = (parts.hostname or options.get("host", ["localhost"])[0]).lower()
    if host in ("127.0.0.1", "::1"):
        host = "localhost"
    port = parts.port or int(options.get("port", ["5432"])[0])
    database = parts.path.lstrip("/") or options.get("dbname", [""])[0]
    return host, port, database
