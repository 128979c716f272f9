"""A loop that runs stored work when it falls due: the shape shared by Slack deliveries and reminders.

Its layer (pyproject.toml) is below the Slack outbox and the reminder service, which each run one; it
knows only the store's error type.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bot.store import StoreError

log = logging.getLogger(__name__)

# Even with nothing due, look again now and then: cheap, and a safety net for a missed wake-up.
MAX_IDLE = 30.0


class DueWorkLoop:
    """Calls `run_due()` whenever work may be due, then sleeps until the time it returns or a `wake()`.

    `run_due` claims and starts what is due now and returns when the next item falls due (None
    when nothing is scheduled), typically read in the same database hop as the claim. Both come
    from the store, so the loop itself holds no state that a crash could lose.
    """

    def __init__(
        self,
        name: str,
        run_due: Callable[[], Awaitable[float | None]],
        clock: Callable[[], float],
    ) -> None:
        self._name = name
        self._run_due = run_due
        self._clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        # The flag, not only the cancellation, ends the loop: on Python 3.11 a cancellation that
        # races with the wake-up can be swallowed, and the loop would go on forever.
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                timeout = self._idle_time(await self._run_due())
            except StoreError as error:  # an outage: one line, not a traceback every second
                log.warning("%s loop: %s; retrying in 1 s", self._name, error)
                timeout = 1.0
            except Exception:
                log.exception("%s loop failed; retrying in 1 s", self._name)
                timeout = 1.0
            if self._stopping:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    def _idle_time(self, next_at: float | None) -> float:
        if next_at is None:
            return MAX_IDLE
        return min(max(next_at - self._clock(), 0.0), MAX_IDLE) or 0.001
