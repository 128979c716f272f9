"""Which stored jobs this process is working on right now, and the loop that keeps their leases.

Every background job (a Slack delivery, a request's send, a webhook answer, a reminder) is claimed
in the store with a lease: this process's name and a time `lease_seconds` ahead. While a job runs
it is *held* here, and the lease loop renews the leases of held jobs only. A job that dies with
its task (an exception, a failed write) is no longer held: its lease runs out and a sweep, here
or in another replica, resumes the work. A process that dies renews nothing, so its work is
resumed the same way within `lease_seconds` plus one sweep interval.

Its layer (pyproject.toml) is below the services and the Slack outbox, whose work it holds, and above
the store, which keeps the leases.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

from bot.store import LeasedTable, Store

log = logging.getLogger(__name__)
T = TypeVar("T")

# How long a held job keeps retrying the write that records what the outside world already did
# (Slack took the message, Pilot Status took the request) before giving the job up to the sweep.
RECORD_PATIENCE = 600.0

REQUESTS = LeasedTable.REQUESTS
DELIVERIES = LeasedTable.DELIVERIES
REMINDERS = LeasedTable.REMINDERS
WEBHOOK_EVENTS = LeasedTable.WEBHOOK_EVENTS


class HeldWork:
    """The stored jobs this process's tasks are running, by table."""

    def __init__(self) -> None:
        self._held: dict[LeasedTable, Counter[int]] = {}

    @contextlib.contextmanager
    def hold(self, table: LeasedTable, row_id: int) -> Iterator[None]:
        counter = self._held.setdefault(table, Counter())
        counter[row_id] += 1
        try:
            yield
        finally:
            counter[row_id] -= 1
            if counter[row_id] <= 0:
                del counter[row_id]

    def snapshot(self) -> dict[LeasedTable, list[int]]:
        return {table: list(ids) for table, ids in self._held.items() if ids}

    def __contains__(self, item: tuple[LeasedTable, int]) -> bool:
        table, row_id = item
        return row_id in self._held.get(table, ())


async def until_recorded(write: Callable[[], Awaitable[T]], what: str, patience: float = RECORD_PATIENCE) -> T:
    """Run `write` until it succeeds, backing off, for at most `patience` seconds (then the last error).

    For the write that records an outside effect that can't be taken back (a message Slack took, a
    request Pilot Status took). Run while the job is held: its lease is renewed as soon as the
    database takes writes again, so no sweep takes the job over meanwhile, and the effect is
    recorded as what it was instead of being rechecked or reported as unknown.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    delay = 0.2
    while True:
        try:
            return await write()
        except Exception as error:
            if loop.time() + delay > deadline:
                raise
            log.warning("recording %s failed (%s); retrying in %.1f s", what, error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


class LeaseKeeper:
    """Renews the leases of held jobs, then sweeps up abandoned work, every `lease_seconds / 3`."""

    def __init__(self, store: Store, held: HeldWork, sweeps: list[Callable[[], Awaitable[None]]]) -> None:
        self._store = store
        self._held = held
        self._sweeps = sweeps
        self._task: asyncio.Task[None] | None = None
        # Off while the process stops: it keeps the leases of the work it finishes, takes on nothing new.
        self.sweeping = True

    @property
    def interval(self) -> float:
        return self._store.lease_seconds / 3

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="lease-keeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def sweep(self) -> None:
        """Take over whatever a dead process (or a failed job) left, now."""
        for sweep in self._sweeps:
            try:
                await sweep()
            except Exception as error:  # a database outage: the next round tries again
                log.warning("sweeping abandoned work failed (%s); retrying in %.0f s", error, self.interval)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self._store.renew_leases(time.time(), self._held.snapshot())
            except Exception as error:
                log.warning("renewing leases failed (%s); retrying in %.0f s", error, self.interval)
            if self.sweeping:
                await self.sweep()
