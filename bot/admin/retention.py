"""LGPD retention: erase customers' phone numbers and reasons from closed requests after N days.

Rows are kept (with empty phone and reason, `purged_at` set), so counts and outcomes stay.
Work happens in small transactions so a running AskCall is never blocked for long.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable

from bot.store import PurgeCounts, Store

log = logging.getLogger(__name__)

DAY = 24 * 3600
HOUR = 3600
Progress = Callable[[int, int], None]  # (requests purged so far, requests to purge)
_AGE = re.compile(r"^\s*(\d+)\s*([dh])\s*$", re.IGNORECASE)


def parse_age(text: str) -> float:
    """`180d` or `12h` → seconds. Raises ValueError with a message an admin understands."""
    match = _AGE.match(text or "")
    if not match:
        raise ValueError(f"{text!r} is not an age like 180d (days) or 12h (hours)")
    amount, unit = int(match.group(1)), match.group(2).lower()
    if amount < 1:
        raise ValueError("the age must be at least 1 hour or 1 day")
    return amount * (DAY if unit == "d" else HOUR)


async def purge(store: Store, cutoff: float, batch_size: int = 500, progress: Progress | None = None) -> PurgeCounts:
    """Erase customer data of closed requests created before `cutoff` (epoch seconds); idempotent."""
    total = await store.count_purgeable_requests(cutoff)
    counts = PurgeCounts()
    while True:
        batch = await store.purge_requests_batch(cutoff, batch_size)
        if batch.requests == 0:
            break
        counts += batch
        if progress is not None:
            progress(counts.requests, max(total, counts.requests))
        await asyncio.sleep(0)  # let the app's own transactions in between batches
    while True:
        batch = await store.purge_leftovers_batch(cutoff, batch_size)
        counts += batch
        if batch.events == 0 and batch.deliveries == 0:
            return counts
        await asyncio.sleep(0)


async def purge_closed(store: Store, cutoff: float, batch_size: int = 500, progress: Progress | None = None) -> int:
    """Like :func:`purge`; returns how many requests were purged by this call."""
    counts = await purge(store, cutoff, batch_size, progress)
    return counts.requests


async def retention_loop(
    store: Store, days: int, clock: Callable[[], float] = time.time, interval: float = 3600
) -> None:
    """Purge requests older than `days` now and every `interval` seconds, until cancelled. `days` 0: no-op."""
    if days <= 0:
        log.info("data retention is off (ASKCALL_RETENTION_DAYS=0)")
        return
    while True:
        try:
            async with store.exclusive("retention") as mine:  # one replica purges; the others skip this round
                counts = await purge(store, clock() - days * DAY) if mine else PurgeCounts()
        except Exception as error:  # a failed run must not end retention; the next one retries
            log.warning("data retention run failed (%s); next run in %.0f s", error, interval)
        else:
            if counts.requests or counts.events:
                log.info(
                    "retention: erased customer data of %d request(s) and %d webhook event(s) older than %d days",
                    counts.requests,
                    counts.events,
                    days,
                )
        await asyncio.sleep(interval)
