"""A small per-process cache of one value per tenant, read in front of the store (installations, settings).

Invariant: a value is served at most `seconds` after it was loaded, and never after an invalidation of its
tenant (or of everything) that happened after its load started: a load racing an invalidation is returned to its
caller but not cached. Bounded to `size` entries, least recently used first out. An entry is a tenant's, or one
of a tenant's (`subkey(tenant, user)`: one per user); invalidating a tenant forgets all of its entries.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
SEPARATOR = "\x1f"  # never in a Slack id


def subkey(tenant: str, sub: str) -> str:
    """The key of one of a tenant's entries (a user's, say)."""
    return tenant + SEPARATOR + sub


def split_subkey(key: str) -> tuple[str, str]:
    tenant, _, sub = key.partition(SEPARATOR)
    return tenant, sub


class TenantCache(Generic[T]):
    def __init__(
        self,
        load: Callable[[str], Awaitable[T]],
        *,
        seconds: float,
        size: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._load = load
        self._seconds = seconds
        self._size = size
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, T]] = OrderedDict()
        # Bumped by every invalidation: a load that started before one is not cached.
        self._generation = 0

    async def get(self, tenant: str) -> T:
        now = self._clock()
        cached = self._entries.get(tenant)
        if cached is not None and cached[0] > now:
            self._entries.move_to_end(tenant)
            return cached[1]
        generation = self._generation
        value = await self._load(tenant)
        if generation == self._generation:
            self._entries[tenant] = (now + self._seconds, value)
            self._entries.move_to_end(tenant)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._entries)

    def invalidate(self, tenant: str | None) -> None:
        """Forget a tenant and its subkeys (None: everything), in this process."""
        self._generation += 1
        if tenant is None:
            self._entries.clear()
            return
        self._entries.pop(tenant, None)
        prefix = tenant + SEPARATOR
        for key in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[key]

    def forget(self, key: str) -> None:
        """Forget one entry (a subkey, say), in this process."""
        self._generation += 1
        self._entries.pop(key, None)
