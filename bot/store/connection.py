"""The store's life: connecting, migrating, proving it takes writes, and the process that owns its leases.

A store instance belongs to one process, its `owner` (unique across restarts); every lease it takes
carries that name. Coordination between processes (`exclusive`, `serialized`, `listen`) defaults to what one
process alone needs (nothing, or a lock in memory): the PostgreSQL backend overrides them for replicas.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from bot.store.types import DEFAULT_LEASE_SECONDS

# How long the readiness write probe waits for a lock before calling the store unready.
PROBE_TIMEOUT = 0.5


def new_owner() -> str:
    """A name for this process's leases: readable in `askcall db status`, unique across restarts."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class StoreConnection(ABC):
    """Lifecycle and process coordination; every concern of the store builds on it."""

    def __init__(self, *, owner: str | None = None, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> None:
        self.owner = owner or new_owner()
        self.lease_seconds = lease_seconds
        # `serialized` in one process: a lock per key while anyone holds or waits for it (then forgotten).
        self._serial_locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @property
    @abstractmethod
    def description(self) -> str:
        """Where the data lives, safe to log (no password)."""

    async def open(self) -> None:
        """Connect and bring the schema up to date (what `askcall serve` does)."""
        await self.connect()
        try:
            await self.migrate()
        except BaseException:
            await self.close()
            raise

    @abstractmethod
    async def connect(self, *, read_only: bool = False) -> None:
        """Connect without touching the schema. `read_only`: every write is refused (the source of
        `askcall db copy`); a SQLite file that does not exist is then an error, not a new database.
        Raises StoreError."""

    @abstractmethod
    async def migrate(self) -> None:
        """Bring the schema up to date, once, however many processes try at the same moment. Raises
        StoreError (SchemaTooNew) for a database migrated by a newer AskCall."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def schema_version(self) -> int: ...

    @property
    @abstractmethod
    def latest_schema_version(self) -> int:
        """The schema version this AskCall knows."""

    @abstractmethod
    async def probe_write(self, timeout: float = PROBE_TIMEOUT, *, commit: bool = True) -> None:  # noqa: ASYNC109
        """Prove the database takes a committed write now, waiting at most `timeout` for locks: a
        lock held elsewhere, a full disk, a read-only or corrupt database raise StoreError. Used by
        /readyz and `askcall check`; it never touches the connections the request path uses.
        `commit=False` (`askcall check`, which changes nothing) rolls the write back instead."""

    @asynccontextmanager
    async def exclusive(self, job: str) -> AsyncIterator[bool]:
        """Whether this process runs the periodic `job` now: at most one process at a time does, across
        replicas. One process alone (SQLite) always does."""
        yield True

    @asynccontextmanager
    async def serialized(self, key: str, wait: float) -> AsyncIterator[bool]:
        """Whether this holder alone runs the work named `key` now, across replicas: waits up to `wait` seconds for
        whoever holds it (False: still held, the caller should not run it). One process alone locks in memory."""
        lock, users = self._serial_locks.get(key) or (asyncio.Lock(), 0)
        self._serial_locks[key] = (lock, users + 1)
        try:
            try:
                async with asyncio.timeout(wait):
                    await lock.acquire()
            except TimeoutError:
                yield False
                return
            try:
                yield True
            finally:
                lock.release()
        finally:
            lock, users = self._serial_locks[key]
            if users <= 1:
                del self._serial_locks[key]
            else:
                self._serial_locks[key] = (lock, users - 1)

    async def listen(self, wake: Callable[[], None]) -> None:
        """Call `wake` whenever another process stores work this one may run (new deliveries or
        reminders), so it runs at once rather than at the next poll. Runs until cancelled. One process
        alone (SQLite) wakes itself in memory, so the default listens to nothing."""
        await asyncio.Event().wait()

    async def upkeep(self, wait_idle: Callable[[], Awaitable[None]]) -> None:
        """Background housekeeping the backend needs while AskCall runs (forever; cancelled at
        shutdown). `wait_idle` returns once no inbound request is being handled."""
        await asyncio.Event().wait()
