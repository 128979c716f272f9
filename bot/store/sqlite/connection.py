"""The SQLite backend's connection: one aiosqlite connection, one writer, one hop per transaction.

SQLite serialises writers anyway. On the hot paths a whole transaction runs as one function on the
database thread (`_write`), so an ack or a webhook costs one round trip between the event loop and that
thread, and the thread runs one such function at a time: they need no lock, and the thread takes an
inbound request's before background ones (bot.store.priority). Only a transaction of several hops
(`transaction()`, migrations) holds `_lock`, and single hops wait for it to end, never run inside it.
WAL checkpoints run off the request path (`upkeep`). One process only: several replicas need the PostgreSQL backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import aiosqlite

from bot.store import sql
from bot.store.connection import PROBE_TIMEOUT
from bot.store.interface import Store
from bot.store.priority import InboundFirstQueue
from bot.store.sqlite.schema import MIGRATIONS, statements
from bot.store.types import SchemaTooNew, StoreError

log = logging.getLogger(__name__)

T = TypeVar("T")

# SQLite checkpoints the WAL into the database from inside the commit that crosses its threshold
# (1,000 pages by default): 10-15 ms with the fsync, spent inside whichever ack or webhook was
# committing. The server checkpoints from its own thread instead (`upkeep`); the automatic one
# stays only as a safety net, far off (~80 MB of WAL with 4 KiB pages).
AUTOCHECKPOINT_PAGES = 4_000
BUSY_TIMEOUT_MS = 5000
CHECKPOINT_EVERY = 0.5
RESTART_PAGES = 2_000


class SQLiteConnection(Store):
    def __init__(self, path: str, **lease: Any) -> None:
        super().__init__(**lease)
        self.path = path
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()  # held only by a transaction of several hops (migrations)
        # WAL side files that a read-only connection created (see `close`).
        self._created_side_files: list[str] = []

    @property
    def description(self) -> str:
        return f"sqlite:///{os.path.abspath(self.path)}"

    @property
    def latest_schema_version(self) -> int:
        return len(MIGRATIONS)

    # --- lifecycle --------------------------------------------------------------------------
    async def connect(self, *, read_only: bool = False) -> None:
        """StoreError (one line naming the problem and its fix) when the database can't be used."""
        _preflight_read(self.path) if read_only else _preflight(self.path)
        try:
            await self._connect(read_only)
        except StoreError:
            await self.close()
            raise
        except (sqlite3.Error, OSError) as error:
            await self.close()
            raise StoreError(_explain(self.path, error)) from error

    async def _connect(self, read_only: bool) -> None:
        if read_only:
            # mode=ro: SQLite itself refuses every write on this connection.
            self._created_side_files = _missing_side_files(self.path)
            connection = aiosqlite.connect(_read_only_uri(self.path), uri=True)
        else:
            connection = aiosqlite.connect(self.path, isolation_level=None)
            _inbound_first(connection)
        # aiosqlite's worker thread is not a daemon: a caller that never reaches close() (a crashed
        # test, an aborted CLI command) would keep the process alive forever. Every write is
        # committed before it is acknowledged, so letting the thread die with the process is safe.
        connection._thread.daemon = True
        try:
            self._db = await connection
        except BaseException:
            # aiosqlite stops its thread without waiting for it; waiting here keeps that thread from
            # reporting back to an event loop that may be closed by then.
            await asyncio.to_thread(connection._thread.join, 1.0)
            raise
        self._db.row_factory = aiosqlite.Row
        await self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        await self._in_db_thread(_quick_check)
        if read_only:
            return
        # WAL: readers never block the writer; NORMAL sync is durable against process crashes
        # (kill -9) because committed pages live in the WAL, and costs no fsync per commit.
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA synchronous=NORMAL")
        await self._db.execute("PRAGMA foreign_keys=ON")
        await self._db.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()
        if self._created_side_files:
            created, self._created_side_files = self._created_side_files, []
            _remove_empty_side_files(created)

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("store is not open")
        return self._db

    async def schema_version(self) -> int:
        try:
            row = await self._fetchone("PRAGMA user_version")
        except sqlite3.Error as error:
            raise StoreError(f"the database at {self.path} cannot be read ({error})") from error
        return int(row[0]) if row else 0

    async def migrate(self) -> None:
        try:
            await self._migrate()
        except sqlite3.Error as error:
            raise StoreError(f"the database at {self.path} cannot be migrated ({error})") from error

    async def _migrate(self) -> None:
        # Foreign keys off while migrating (a migration may rebuild a parent table, which SQLite allows only
        # so); every reference is checked before the migrations commit.
        await self.db.execute("PRAGMA foreign_keys=OFF")
        try:
            await self._migrate_unchecked()
        finally:
            await self.db.execute("PRAGMA foreign_keys=ON")

    async def _migrate_unchecked(self) -> None:
        async with self.transaction() as db:
            async with db.execute("PRAGMA user_version") as cursor:
                row = await cursor.fetchone()
            current = int(row[0]) if row else 0
            if current > len(MIGRATIONS):
                raise SchemaTooNew(self.path, current, len(MIGRATIONS))
            for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
                for statement in statements(script):
                    await db.execute(statement)
                await db.execute(f"PRAGMA user_version={version}")
            async with db.execute("PRAGMA foreign_key_check") as cursor:
                broken = list(await cursor.fetchall())
            if broken:
                raise StoreError(f"the database at {self.path} holds {len(broken)} broken references after migrating")

    async def probe_write(self, timeout: float = PROBE_TIMEOUT, *, commit: bool = True) -> None:  # noqa: ASYNC109
        try:
            await asyncio.to_thread(_probe_write, self.path, self.owner, timeout, commit)
        except (sqlite3.Error, OSError) as error:
            raise StoreError(_explain(self.path, error)) from error

    async def _read_only(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` on a read-only connection of its own, in a worker thread: it never takes the writer's
        connection or lock (WAL readers don't block the writer)."""
        try:
            return await asyncio.to_thread(_read_only, self.path, work)
        except (sqlite3.Error, OSError) as error:
            raise StoreError(_explain(self.path, error)) from error

    # --- WAL upkeep ---------------------------------------------------------------------------
    async def upkeep(self, wait_idle: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(CHECKPOINT_EVERY)
            try:
                await self.checkpoint(wait_idle)
            except (sqlite3.Error, StoreError) as error:  # busy or I/O: the next round (or the safety net) catches up
                log.warning("WAL checkpoint failed: %s", error)

    async def checkpoint(self, wait_idle: Callable[[], Awaitable[None]]) -> None:
        """Copy committed WAL pages into the database file without stalling a request.

        PASSIVE, from a connection and thread of its own, does the bulk (and its fsync) without
        waiting for or blocking the writer. Under steady writes the WAL still never starts over, so
        once it is long, a RESTART on the writer's own connection (nothing left to wait for) copies
        the few pages written since, at a moment when no request is being handled.
        """
        wal_pages = await asyncio.to_thread(_passive_checkpoint, self.path)
        if wal_pages >= RESTART_PAGES:
            await wait_idle()
            await self._in_db_thread(_restart_wal)

    # --- transactions ---------------------------------------------------------------------------
    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            await self._in_db_thread_unlocked(_begin)
            try:
                yield self.db
                await self.db.execute("COMMIT")
            except BaseException:
                await self._in_db_thread_unlocked(_rollback)
                raise

    async def _in_db_thread(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` on the database thread in one hop. Each aiosqlite call is a round trip
        between the event loop and that thread; on the hot paths (the ack, webhook ingest,
        deliveries) one round trip per transaction keeps latency low when the loop is busy."""
        try:
            if self._lock.locked():  # a transaction of several hops is open: after it, not inside it
                async with self._lock:
                    return await self._in_db_thread_unlocked(work)
            return await self._in_db_thread_unlocked(work)
        except sqlite3.Error as error:  # a full disk, a lock held too long, a corrupt page
            raise StoreError(_explain(self.path, error)) from error

    async def _in_db_thread_unlocked(self, work: Callable[[sqlite3.Connection], T]) -> T:
        connection = self.db
        return await connection._execute(work, connection._conn)

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` inside BEGIN IMMEDIATE … COMMIT, in one hop to the database thread."""

        def transact(conn: sqlite3.Connection) -> T:
            _begin(conn)
            try:
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
            return result

        return await self._in_db_thread(transact)

    async def _fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        args = tuple(params)
        return await self._in_db_thread(lambda conn: conn.execute(sql, args).fetchone())

    async def _fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        args = tuple(params)
        return await self._in_db_thread(lambda conn: conn.execute(sql, args).fetchall())


def _inbound_first(connection: aiosqlite.Connection) -> None:
    """Give the (not yet started) database thread an InboundFirstQueue in place of aiosqlite's FIFO, so
    an ack's transaction waits for the one in progress, not for a backlog of background ones.

    aiosqlite has no public hook for this: its thread reads `_tx`, handed to it at construction
    (checked against the installed aiosqlite by tests/store/test_inbound_first.py). With other
    internals, the FIFO stays: slower under load, never wrong.
    """
    worker = getattr(aiosqlite.core, "_connection_worker_thread", None)
    thread = getattr(connection, "_thread", None)
    unstarted = isinstance(thread, threading.Thread) and not thread.is_alive()
    if worker is None or not hasattr(connection, "_tx") or not unstarted:
        log.warning("aiosqlite's internals changed: inbound requests get no priority at the database")
        return
    tx = InboundFirstQueue()
    connection._tx = tx  # type: ignore[assignment]
    connection._thread = threading.Thread(target=worker, args=(tx,), name="askcall-sqlite")


def _begin(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:  # left open by a failure nothing could roll back: start clean
        _rollback(conn)
    conn.execute("BEGIN IMMEDIATE")


def _rollback(conn: sqlite3.Connection) -> None:
    """End a failed transaction, whatever state the failure left it in. A failed COMMIT (a full disk,
    a lock timeout) may leave the transaction open: without this, every later BEGIN on this
    connection would fail and background work would be stuck until a restart. SQLite may also
    have rolled back by itself already, and then ROLLBACK has nothing to do."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def marks(values: Iterable[Any]) -> str:
    """`?, ?, ?` for an IN list of these values."""
    return ",".join("?" for _ in values)


def _read_only_uri(path: str) -> str:
    """A URI that opens `path` read-only (a missing file is an error, not a new database).

    A WAL database read with mode=ro still needs its -shm file, which SQLite can't create in a folder it may not
    write (a read-only file system, a read-only volume): there it is opened as immutable instead, which needs
    none. That is safe only because nothing can be writing it then: a writer would need a -wal file there, and
    there is none (or an empty one) and no one can create it."""
    where = os.path.abspath(path)
    wal = where + "-wal"
    if not os.access(os.path.dirname(where), os.W_OK) and (not os.path.exists(wal) or os.path.getsize(wal) == 0):
        return f"file:{quote(where)}?immutable=1"
    return f"file:{quote(where)}?mode=ro"


def _missing_side_files(path: str) -> list[str]:
    """The -wal and -shm files that don't exist yet (a read-only connection may create them: see `close`)."""
    return [path + suffix for suffix in ("-wal", "-shm") if not os.path.exists(path + suffix)]


def _remove_empty_side_files(created: list[str]) -> None:
    """Remove the -wal and -shm files that a read-only connection created, as SQLite itself does when the
    last read-write connection closes: a read-only one can't, and would leave them owned by whoever read
    (root, say), where AskCall might not be able to write them. Only when the WAL is empty: nothing in it
    is lost, and no other process can be using it (it would have created them first)."""
    wal = next((name for name in created if name.endswith("-wal")), None)
    if wal is not None and os.path.exists(wal) and os.path.getsize(wal) > 0:
        return
    for name in created:
        # Not there (never created), or not ours to remove (a read-only folder): what went wrong before, if
        # anything, is what the caller must hear about, not this.
        with contextlib.suppress(OSError):
            os.remove(name)


def _restart_wal(conn: sqlite3.Connection) -> None:
    """RESTART without waiting: another process reading the database (an `askcall export`, someone's
    sqlite3 shell) would otherwise hold every write for up to the busy timeout. If it is busy, the
    checkpoint just copies what it can, and the next round tries again."""
    conn.execute("PRAGMA busy_timeout=0")
    try:
        conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
    finally:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def _passive_checkpoint(path: str) -> int:
    """Pages in the WAL, after copying what can be copied without waiting, from a connection of its own."""
    connection = sqlite3.connect(path, timeout=0.2)
    try:
        _, wal_pages, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(wal_pages)
    finally:
        connection.close()


# --- start-up checks, the readiness write probe, read-only snapshots ---------------------------
# None of these touch the writer's connection or its lock.


def _preflight(path: str) -> None:
    """Fail early and plainly on what SQLite would report as 'unable to open database file'."""
    where = os.path.abspath(path)
    folder = os.path.dirname(where)
    fix = "or set ASKCALL_DB_PATH to a writable location"
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise StoreError(
            f"cannot create the database folder {folder} ({error.strerror}): create it and make it writable "
            f"by the user running AskCall, {fix}"
        ) from error
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreError(
            f"the database folder {folder} is not writable (SQLite keeps its -wal and -shm files next to the "
            f"database): make it writable by the user running AskCall, {fix}"
        )
    if os.path.isdir(where):
        raise StoreError(f"the database path {where} is a folder: point ASKCALL_DB_PATH at a file in it")
    if os.path.exists(where) and not os.access(where, os.R_OK):
        raise StoreError(
            f"cannot read the database {where} (permission denied): give the user running AskCall read and "
            f"write access to it (chown/chmod), {fix}"
        )
    if os.path.exists(where) and not os.access(where, os.W_OK):
        raise StoreError(
            f"the database {where} is read-only: give the user running AskCall write access to it (chmod u+w), {fix}"
        )


def _preflight_read(path: str) -> None:
    """For a read-only connection, which creates nothing: the same plain words when the file can't be read."""
    where = os.path.abspath(path)
    if os.path.isdir(where):
        raise StoreError(f"the database path {where} is a folder: point ASKCALL_DB_PATH at a file in it")
    if os.path.exists(where) and not os.access(where, os.R_OK):
        raise StoreError(
            f"cannot read the database {where} (permission denied): give the user running AskCall read access to "
            "it (chown/chmod), or set ASKCALL_DB_PATH to another location"
        )


def _quick_check(conn: sqlite3.Connection) -> None:
    rows = conn.execute("PRAGMA quick_check(3)").fetchall()
    if [tuple(r) for r in rows] != [("ok",)]:
        raise sqlite3.DatabaseError("quick_check: " + "; ".join(str(r[0]) for r in rows))


def _explain(path: str, error: BaseException) -> str:
    """One line naming what is wrong with the database and what to do about it."""
    where = os.path.abspath(path)
    text = " ".join(str(error).split())[:200]  # one line, whatever SQLite said
    lowered = text.lower()
    if "readonly" in lowered or "read-only" in lowered:
        return (
            f"the database {where} is read-only ({text}): make it and its folder writable by the user running "
            "AskCall, or set ASKCALL_DB_PATH to a writable location"
        )
    if "not a database" in lowered or "malformed" in lowered or "quick_check" in lowered or "corrupt" in lowered:
        return (
            f"the database {where} is corrupt ({text}): restore it from a backup, or move it aside to start "
            "with an empty one"
        )
    if "locked" in lowered or "busy" in lowered:
        return f"the database {where} is locked by another process ({text}): stop that process and start again"
    if "disk" in lowered and "full" in lowered:
        return f"the disk holding the database {where} is full ({text}): free some space and start again"
    return f"the database {where} cannot be used ({text}): check its permissions and free space, or restore it"


def _read_only(path: str, work: Callable[[sqlite3.Connection], T]) -> T:
    connection = sqlite3.connect(_read_only_uri(str(Path(path).resolve())), uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        return work(connection)
    finally:
        connection.close()


def _probe_write(path: str, owner: str, timeout: float, commit: bool = True) -> None:
    """BEGIN IMMEDIATE (the write lock, waiting at most `timeout`), a one-row upsert, COMMIT (or ROLLBACK).

    The file's own permission is asked first: SQLite reuses the process's open descriptors, so a
    file made read-only (chmod, a read-only remount, the immutable flag) would still take the write.
    """
    if not os.access(path, os.R_OK | os.W_OK):
        raise sqlite3.OperationalError(f"attempt to write a readonly database ({os.path.abspath(path)} is read-only)")
    connection = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    try:
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute(sql.PROBE_WRITE.sqlite, (owner, time.time()))
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT" if commit else "ROLLBACK")
    finally:
        connection.close()
