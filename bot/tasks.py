"""Background tasks that outlive the HTTP request that started them, and their priority.

Its layer (pyproject.toml) is below everything that starts background work (listeners, services, the
Slack outbox, the app); it knows only the store's error type.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Coroutine, Iterator
from typing import Any

from bot.store import StoreError, priority

log = logging.getLogger(__name__)

# Longest a background step defers to inbound requests, so a steady stream of them cannot starve it.
MAX_YIELD = 0.05


class InboundFirst:
    """Slack wants its ack within 3 s and a webhook sender its 200; background work (posting,
    calling Pilot Status) has no such deadline. All of it shares one event loop, so background
    steps wait at their checkpoints while a request is being handled (at most `max_yield`): a
    request is not slowed down by work that can just as well run a moment later. What a request
    asks of the store goes first there too (bot.store.priority).
    """

    def __init__(self, *, max_yield: float = MAX_YIELD) -> None:
        self._max_yield = max_yield
        self._inbound = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.contextmanager
    def inbound(self) -> Iterator[None]:
        """Marks an inbound HTTP request (Slack or webhook) as being handled."""
        self._inbound += 1
        self._idle.clear()
        try:
            with priority.inbound():
                yield
        finally:
            self._inbound -= 1
            if self._inbound == 0:
                self._idle.set()

    async def wait(self) -> None:
        """A background checkpoint: returns at once when no request is being handled."""
        if self._inbound == 0:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._max_yield):
                await self._idle.wait()


class Tasks:
    """Keeps a reference to each task (so none is garbage-collected mid-flight) and logs failures.

    Everything a task does is persisted before it starts, so cancelling at shutdown loses nothing:
    start-up recovery picks the work up again.
    """

    def __init__(self, priority: InboundFirst | None = None) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closing = False
        self.priority = priority or InboundFirst()

    def inbound(self) -> contextlib.AbstractContextManager[None]:
        return self.priority.inbound()

    async def yield_to_inbound(self) -> None:
        await self.priority.wait()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any] | None:
        if self.closing:
            coro.close()
            return None
        # Started from an inbound request or not, a task is background work at the store's door.
        context = contextvars.copy_context()
        context.run(priority.background)
        task = asyncio.create_task(coro, name=name, context=context)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or (error := task.exception()) is None:
            return
        if isinstance(error, StoreError):
            # An outage, not a bug: the job's lease runs out and a sweep (here or elsewhere) resumes it.
            log.warning("background task %s stopped: %s; it resumes when the database is back", task.get_name(), error)
            return
        log.error("background task %s failed", task.get_name(), exc_info=error)

    def __len__(self) -> int:
        return len(self._tasks)

    async def drain(self, grace: float, cancel_wait: float | None = None) -> None:
        """Stop taking new work, give running tasks `grace` seconds, then cancel the rest and wait
        for them at most `cancel_wait` seconds (default: `grace`)."""
        self.closing = True
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                # A task that ignores its cancellation must not hold the shutdown hostage.
                await asyncio.wait(pending, timeout=grace if cancel_wait is None else cancel_wait)
