"""A deployment-wide (per process) cap on Pilot Status requests in flight, shared fairly between workspaces.

Invariant: at most `limit` slots are held at once; a party (a workspace's lane) takes a slot only while more slots
stay free than it already holds, so one busy or hanging workspace holds at most half of the cap, two at most three
quarters, and a party holding none gets the next free slot. Waiting parties are served round-robin (each in its own
first-come order), so a flood from one workspace never queues ahead of another's single request. No wait has a
timeout: a request's own timeout starts once it holds its slot. asyncio's Semaphore, aiolimiter (a rate, not a
count) and anyio's CapacityLimiter (one FIFO queue for everyone) offer no fair share, hence this small class.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager


class FairLimiter:
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a limit of at least one slot")
        self._limit = limit
        self._in_flight = 0
        self._held: dict[Hashable, int] = {}
        # Parties with callers waiting, in the order they are served next; each party's callers first-come.
        self._waiting: OrderedDict[Hashable, deque[asyncio.Future[None]]] = OrderedDict()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @asynccontextmanager
    async def slot(self, party: Hashable) -> AsyncIterator[None]:
        """Hold one slot for `party` for the block (waiting for it first, without a timeout)."""
        await self._acquire(party)
        try:
            yield
        finally:
            self._release(party)

    def _grantable(self, party: Hashable) -> bool:
        return self._held.get(party, 0) < self._limit - self._in_flight

    def _take(self, party: Hashable) -> None:
        self._in_flight += 1
        self._held[party] = self._held.get(party, 0) + 1

    async def _acquire(self, party: Hashable) -> None:
        if not self._waiting and self._grantable(party):
            self._take(party)
            return
        granted = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(party, deque()).append(granted)
        self._dispatch()
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._release(party)  # the slot came as the caller gave up: hand it on
            else:
                self._forget(party, granted)
            raise

    def _release(self, party: Hashable) -> None:
        self._in_flight -= 1
        held = self._held[party] - 1
        if held:
            self._held[party] = held
        else:
            del self._held[party]
        self._dispatch()

    def _forget(self, party: Hashable, granted: asyncio.Future[None]) -> None:
        queue = self._waiting.get(party)
        if queue is not None and granted in queue:
            queue.remove(granted)
            if not queue:
                del self._waiting[party]

    def _dispatch(self) -> None:
        """Grant free slots round-robin: the first eligible party in order gets one and goes to the back."""
        granted_one = True
        while granted_one and self._in_flight < self._limit:
            granted_one = False
            for party in list(self._waiting):
                queue = self._waiting[party]
                while queue and queue[0].done():  # its caller was cancelled before the slot came
                    queue.popleft()
                if not queue:
                    del self._waiting[party]
                    continue
                if not self._grantable(party):
                    continue
                waiter = queue.popleft()
                if queue:
                    self._waiting.move_to_end(party)
                else:
                    del self._waiting[party]
                self._take(party)
                waiter.set_result(None)
                granted_one = True
                break
