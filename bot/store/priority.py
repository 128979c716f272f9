"""Inbound requests first at the store's door.

A Slack command is acknowledged only once its request is stored, and a webhook answered only once its
event is; background work (posting, recording what Pilot Status said, sweeps) has no such deadline.
Where the store serialises its callers (SQLite's one connection and its one thread) or rations them
(PostgreSQL's pool), what an inbound request asks for is served before background work waiting longer,
so an ack waits for the transaction in progress or the next free connection, not for a backlog of
background ones.

Invariant: every item put (waiter) is served exactly once; inbound ones in the order they came,
background ones in theirs; a PostgreSQL slot is held by at most `slots` callers. Once the oldest
background item has waited `max_wait`, inbound and background items take turns, so a steady stream of
requests never starves background work, and a backlog of it delays an inbound request by at most one
transaction per turn. `inbound()` marks the current context (and the tasks it starts, unless they call
`background()`, as bot.tasks' do).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextvars import ContextVar
from typing import Any

# Longest a background waiter lets inbound ones go first (seconds).
MAX_WAIT = 0.05

_INBOUND: ContextVar[bool] = ContextVar("askcall_inbound", default=False)


@contextlib.contextmanager
def inbound() -> Iterator[None]:
    """The store calls made in this context are an inbound request's: they go first."""
    token = _INBOUND.set(True)
    try:
        yield
    finally:
        _INBOUND.reset(token)


def background() -> None:
    """Marks the current context as background work (for a task started from an inbound request)."""
    _INBOUND.set(False)


def is_inbound() -> bool:
    return _INBOUND.get()


class _Turns:
    """Waiting items in two lines: inbound first; once the oldest background item has waited `max_wait`,
    the two lines take turns. Not thread-safe: its owner guards it."""

    def __init__(self, max_wait: float, clock: Callable[[], float]) -> None:
        self._max_wait = max_wait
        self._clock = clock
        self._inbound: collections.deque[Any] = collections.deque()
        self._background: collections.deque[tuple[float, Any]] = collections.deque()
        self._since_background = 0

    def add(self, item: Any) -> None:
        if is_inbound():
            self._inbound.append(item)
        else:
            self._background.append((self._clock(), item))

    def take(self) -> Any:
        overdue = bool(self._background) and self._clock() - self._background[0][0] >= self._max_wait
        if self._inbound and not (overdue and self._since_background > 0):
            self._since_background += 1
            return self._inbound.popleft()
        self._since_background = 0
        return self._background.popleft()[1]

    def __len__(self) -> int:
        return len(self._inbound) + len(self._background)


class InboundFirstQueue:
    """A database thread's work queue (aiosqlite's, in place of its FIFO `SimpleQueue`): what an inbound
    request asks for is taken before background work, within `max_wait`.

    `put_nowait` runs on the event loop's thread, in the caller's context (so it knows whether the caller
    is inbound); `get` on the database thread. Thread-safe.
    """

    def __init__(self, *, max_wait: float = MAX_WAIT, clock: Callable[[], float] = time.monotonic) -> None:
        self._ready = threading.Condition()
        self._items = _Turns(max_wait, clock)

    def put_nowait(self, item: Any) -> None:
        with self._ready:
            self._items.add(item)
            self._ready.notify()

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        self.put_nowait(item)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        with self._ready:
            if not self._ready.wait_for(lambda: len(self._items) > 0, timeout if block else 0):
                raise queue.Empty
            return self._items.take()

    def get_nowait(self) -> Any:
        return self.get(block=False)

    def qsize(self) -> int:
        with self._ready:
            return len(self._items)

    def empty(self) -> bool:
        return self.qsize() == 0


class InboundFirstSlots:
    """A semaphore of `slots` (PostgreSQL: the pool's connections) whose inbound waiters are served first,
    within `max_wait`. A freed slot is handed straight to the next waiter. Event loop only."""

    def __init__(self, slots: int, *, max_wait: float = MAX_WAIT, clock: Callable[[], float] = time.monotonic) -> None:
        self._free = slots
        self._waiters = _Turns(max_wait, clock)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self._acquire()
        try:
            yield
        finally:
            self._release()

    async def _acquire(self) -> None:
        if self._free > 0:  # a free slot means no live waiter: freed slots go to waiters first
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed a slot just as it was cancelled: pass it on
            raise  # else it stays in line, cancelled, and is skipped

    def _release(self) -> None:
        while len(self._waiters):
            waiter = self._waiters.take()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1
