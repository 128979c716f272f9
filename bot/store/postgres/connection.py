"""The PostgreSQL backend's connection pool, transactions and migrations.

Several AskCall replicas share one database, so nothing here relies on being the only writer:
every method is one transaction on a pooled connection; guarded updates (`… WHERE state = …`),
unique keys and row locks make racing replicas act once; the open-request check holds a
transaction-scoped advisory lock on the customer; migrations run under a session advisory lock,
so replicas that start together on an empty database migrate it exactly once.

Driver errors never leave this package: a database that can't be reached or written raises
StoreError. The pool reconnects by itself when the server is back.

A connection goes back to the pool without asyncpg's reset query (`pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
RESET ALL`, one more round trip per release: a quarter of all statements in figure 3): pooled connections open no
cursor, LISTEN on none (listening has its own connection) and SET only LOCAL; an open transaction is still rolled
back (asyncpg does that before any reset), and a connection that took a session advisory lock (migrations,
`exclusive`) still has every lock released before another caller gets it. A method that runs one statement runs it
without an explicit transaction (a statement is atomic on its own): BEGIN and COMMIT would be two more round trips.
A new pooled connection looks up the array types AskCall binds before it is handed out, so no statement pays
asyncpg's type lookup in the middle of a request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from bot.config import redact_url
from bot.store import sql
from bot.store.connection import PROBE_TIMEOUT
from bot.store.interface import Store
from bot.store.postgres.schema import MIGRATIONS
from bot.store.priority import InboundFirstSlots
from bot.store.types import SchemaTooNew, StoreError

log = logging.getLogger(__name__)

# Arbitrary, fixed keys for pg_advisory_lock: one for migrations, one namespace for customers.
MIGRATION_LOCK = 0x41534B43  # "ASKC"
# Short enough that a slash command arriving while the database is down is answered inside Slack's 3 s.
CONNECT_TIMEOUT = 2.0
# A statement that takes longer than this is treated as an outage rather than waited on forever.
COMMAND_TIMEOUT = 15.0

# LISTEN/NOTIFY channel: "work was stored" (new deliveries or reminders), for every replica.
WORK_CHANNEL = "askcall_work"
# What a notification on WORK_CHANNEL says was stored (its payload names one or both); an empty payload (a replica of
# an older AskCall during a rolling upgrade) means either.
DELIVERIES_STORED, REMINDERS_STORED = "deliveries", "reminders"
LISTEN_RETRY = 2.0

# Parameter types that asyncpg has no built-in codec for (text[] has one): it looks each up in pg_type the first time
# a statement binds it on a connection (three statements, the lookup itself slow on a new backend: 5-30 ms here, more
# on a busy server), i.e. in the middle of the first webhooks' group commit on each pooled connection. Looked up for
# both at once when the connection opens instead.
_ARRAY_PARAMETERS = "SELECT $1::float8[], $2::bigint[]"

DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


class PostgresConnection(Store):
    def __init__(self, url: str, *, pool_size: int = 10, **lease: Any) -> None:
        super().__init__(**lease)
        self.url = url
        self.pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        # One slot per pooled connection: inbound requests get the next free connection first.
        self._slots = InboundFirstSlots(pool_size)
        # Server pids of pooled connections that took a session advisory lock: released whole before reuse.
        self._session_locked: set[int] = set()

    @property
    def description(self) -> str:
        return redact_url(self.url)

    @property
    def latest_schema_version(self) -> int:
        return len(MIGRATIONS)

    # --- lifecycle --------------------------------------------------------------------------
    async def connect(self, *, read_only: bool = False) -> None:
        # Read-only: the server itself refuses every write in every session of the pool.
        settings = {"default_transaction_read_only": "on"} if read_only else None
        try:
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=1,
                max_size=self.pool_size,
                timeout=CONNECT_TIMEOUT,
                command_timeout=COMMAND_TIMEOUT,
                server_settings=settings,
                init=_know_array_types,
                reset=self._reset,
            )
        except DRIVER_ERRORS as error:
            raise StoreError(f"PostgreSQL at {self.description} cannot be reached ({_reason(error)})") from error
        except ValueError as error:  # a malformed DSN
            raise StoreError(f"the database URL {self.description} is not valid ({error})") from error

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await pool.close()
            except DRIVER_ERRORS:
                pool.terminate()

    async def _reset(self, conn: asyncpg.Connection) -> None:
        """What a released connection needs before reuse (asyncpg has already rolled back an open transaction)."""
        pid = conn.get_server_pid()
        if pid in self._session_locked:
            self._session_locked.discard(pid)
            await conn.execute("SELECT pg_advisory_unlock_all()")

    def _takes_session_lock(self, conn: asyncpg.Connection) -> None:
        self._session_locked.add(conn.get_server_pid())

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("store is not open")
        return self._pool

    async def schema_version(self) -> int:
        async with self.connection() as conn:
            return await _version(conn)

    async def migrate(self) -> None:
        """Bring the schema up to date, once, however many replicas start at the same moment."""
        async with self.connection() as conn:
            self._takes_session_lock(conn)
            await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
            try:
                await conn.execute("CREATE TABLE IF NOT EXISTS askcall_schema (version INTEGER NOT NULL)")
                current = await _version(conn)
                if current > len(MIGRATIONS):
                    raise SchemaTooNew(self.description, current, len(MIGRATIONS))
                for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
                    async with conn.transaction():
                        await conn.execute(script)
                        await conn.execute("DELETE FROM askcall_schema")
                        await conn.execute("INSERT INTO askcall_schema (version) VALUES ($1)", version)
                    log.info("database migrated to schema version %d", version)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)

    async def probe_write(self, timeout: float = PROBE_TIMEOUT, *, commit: bool = True) -> None:  # noqa: ASYNC109
        """A one-row upsert of this process's own `health` row (no two replicas contend for it), committed or
        rolled back. A read-only server (a standby, default_transaction_read_only) or a full disk refuses it."""
        try:
            async with asyncio.timeout(timeout * 4), self.connection() as conn:  # connecting included
                transaction = conn.transaction()
                await transaction.start()
                try:
                    await conn.execute(f"SET LOCAL lock_timeout = {int(timeout * 1000)}")
                    await conn.execute(sql.PROBE_WRITE.postgres, self.owner, time.time())
                except BaseException:
                    await transaction.rollback()
                    raise
                await (transaction.commit() if commit else transaction.rollback())
        except TimeoutError as error:
            raise StoreError(f"PostgreSQL at {self.description} did not take a write in time") from error

    @asynccontextmanager
    async def exclusive(self, job: str) -> AsyncIterator[bool]:
        """A session advisory lock on `job`, held on one pooled connection for the job's duration."""
        async with self.connection() as conn:
            self._takes_session_lock(conn)
            mine = bool(await conn.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", job))
            try:
                yield mine
            finally:
                if mine:
                    await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", job)

    @asynccontextmanager
    async def serialized(self, key: str, wait: float) -> AsyncIterator[bool]:
        """A transaction advisory lock on `key`, waited for at most `wait` seconds, on a connection of its own (not
        the pool's: holders and waiters never starve the work they wait for), its transaction open and nothing
        written while the work runs; a crashed holder's lock ends with its connection."""
        try:
            conn = await asyncpg.connect(self.url, timeout=CONNECT_TIMEOUT)
        except DRIVER_ERRORS as error:
            raise StoreError(f"PostgreSQL at {self.description} failed ({_reason(error)})") from error
        try:
            try:
                await conn.execute(f"BEGIN; SET LOCAL lock_timeout = {max(1, int(wait * 1000))}")
                await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)
            except asyncpg.LockNotAvailableError:
                mine = False
            except DRIVER_ERRORS as error:
                raise StoreError(f"PostgreSQL at {self.description} failed ({_reason(error)})") from error
            else:
                mine = True
            yield mine
        finally:
            try:  # the lock ends with the transaction: at once for whoever waits
                await conn.execute("ROLLBACK")
                await conn.close(timeout=CONNECT_TIMEOUT)
            except BaseException as error:  # cancelled, or the connection broke
                conn.terminate()  # the server ends the transaction, and the lock, when it sees the connection go
                if not isinstance(error, DRIVER_ERRORS):
                    raise

    async def listen(self, wake: Callable[[], None], *, reminders: Callable[[], None] | None = None) -> None:
        """LISTEN on a connection of its own (not from the pool), reconnecting after an outage; each
        reconnection also wakes, in case something was stored while nobody listened. With `reminders`, a
        notification wakes only the side its payload names (an answer's deliveries don't wake the reminder loop)."""

        def heard(payload: str) -> None:
            if reminders is None:
                wake()
                return
            if not payload or DELIVERIES_STORED in payload:
                wake()
            if not payload or REMINDERS_STORED in payload:
                reminders()

        def connected() -> None:
            wake()
            if reminders is not None:
                reminders()

        await self._listen(WORK_CHANNEL, heard, connected)

    async def _listen(self, channel: str, heard: Callable[[str], None], connected: Callable[[], None]) -> None:
        """LISTEN on `channel` (each notification's payload to `heard`), on a connection of its own, reconnecting
        after an outage; `connected` runs on each (re)connection, for what was missed meanwhile."""
        while True:
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(self.url, timeout=CONNECT_TIMEOUT)
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _, lost=lost: lost.set())
                await connection.add_listener(channel, lambda *args: heard(str(args[-1])))
                connected()
                await lost.wait()
                log.warning("lost the LISTEN connection to PostgreSQL; reconnecting")
            except DRIVER_ERRORS as error:
                log.warning("cannot LISTEN on PostgreSQL (%s); retrying in %.0f s", _reason(error), LISTEN_RETRY)
            finally:
                if connection is not None and not connection.is_closed():
                    connection.terminate()
            await asyncio.sleep(LISTEN_RETRY)

    # --- connections and transactions -----------------------------------------------------------
    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection, inbound requests first when all are taken; driver errors become StoreError."""
        try:
            async with self._slots.slot(), self.pool.acquire() as conn:
                yield conn
        except DRIVER_ERRORS as error:
            raise StoreError(f"PostgreSQL at {self.description} failed ({_reason(error)})") from error

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.connection() as conn, conn.transaction():
            yield conn

    # One statement, read or write, runs without an explicit transaction: atomic on its own (autocommit), so no
    # BEGIN and COMMIT round trips.
    async def _fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        async with self.connection() as conn:
            return await conn.fetchrow(sql, *args)

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self.connection() as conn:
            return list(await conn.fetch(sql, *args))

    async def _fetchval(self, sql: str, *args: Any) -> Any:
        async with self.connection() as conn:
            return await conn.fetchval(sql, *args)


def row_count(status: str) -> int:
    """The row count of a command status (`UPDATE 3`, `DELETE 0`, `INSERT 0 1`)."""
    return int(status.rsplit(" ", 1)[-1])


def texts(values: Iterable[Any]) -> list[str]:
    """An IN list as one array parameter (`= ANY($n::text[])`)."""
    return [str(v) for v in values]


def assignments(columns: Iterable[str], first: int) -> str:
    """`a = $2, b = $3` for the given column names, numbering from `first`."""
    return ", ".join(f"{name} = ${n}" for n, name in enumerate(columns, start=first))


async def _know_array_types(conn: asyncpg.Connection) -> None:
    """A new pooled connection learns the array types AskCall binds (`_ARRAY_PARAMETERS`) before its first request."""
    await conn.prepare(_ARRAY_PARAMETERS)


async def _version(conn: asyncpg.Connection) -> int:
    exists = await conn.fetchval("SELECT to_regclass('askcall_schema') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM askcall_schema"))


def _reason(error: BaseException) -> str:
    return str(error) or type(error).__name__
