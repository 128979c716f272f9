"""LGPD retention: erase customers' phone numbers and reasons from closed requests after N days.

Rows are kept (with empty phone and reason, `purged_at` set), so counts and outcomes stay. With a
request go the customer data of its webhook events (call events included), its sent messages, its
calls' Pilot Status call ids, and its call links and page sessions; its calls stay (who called, when,
how long, how it ended). Independently of the retention period, call links that can no longer be used
and expired call page sessions are deleted: they are worth nothing once spent.
A workspace that uninstalled AskCall more than ASKCALL_UNINSTALL_GRACE_DAYS ago loses all its rows, every table, in
batches (:func:`purge_workspace`; `askcall workspaces purge` does it at once); a reinstall before then keeps them.
Work happens in small transactions so a running AskCall is never blocked for long.
In multi-workspace mode each workspace's own retention period applies to its rows only (what its admins set in
App Home, else ASKCALL_RETENTION_DAYS), read at every run so a change applies at the next one.

`askcall serve` runs :func:`retention_loop`; `askcall purge` runs :func:`purge` and
:func:`delete_spent_call_credentials` once (bot.admin.commands).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable

from bot.domain import TenantId
from bot.store import PurgeCounts, Store
from bot.tenant_config import TenantConfigs

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


async def purge(
    store: Store,
    cutoff: float,
    batch_size: int = 500,
    progress: Progress | None = None,
    tenant: TenantId | None = None,
) -> PurgeCounts:
    """Erase customer data of closed requests created before `cutoff` (epoch seconds), only the tenant's when
    `tenant` is given; idempotent."""
    total = await store.count_purgeable_requests(cutoff, tenant)
    counts = PurgeCounts()
    while True:
        batch = await store.purge_requests_batch(cutoff, batch_size, tenant)
        if batch.requests == 0:
            break
        counts += batch
        if progress is not None:
            progress(counts.requests, max(total, counts.requests))
        await asyncio.sleep(0)  # let the app's own transactions in between batches
    while True:
        batch = await store.purge_leftovers_batch(cutoff, batch_size, tenant)
        counts += batch
        if not batch.leftovers:
            return counts
        await asyncio.sleep(0)


async def _in_batches(batch: Callable[[], Awaitable[int]]) -> int:
    """Run `batch` until it deletes nothing, letting the app's own transactions in between; how many it deleted."""
    deleted = 0
    while True:
        count = await batch()
        deleted += count
        if count == 0:
            return deleted
        await asyncio.sleep(0)


async def delete_spent_call_credentials(store: Store, now: float, batch_size: int = 500) -> int:
    """Delete call links that can no longer open a page (used or expired) and expired page sessions."""
    return await _in_batches(lambda: store.delete_spent_call_credentials(now, batch_size))


async def purge_workspace(store: Store, tenant: TenantId, batch_size: int = 500) -> int:
    """Delete every row of the tenant, every table, in batches; how many rows. Idempotent (a purge cut short is
    finished by the next one: the workspace's registry row goes last)."""
    return await _in_batches(lambda: store.purge_workspace_batch(tenant, batch_size))


async def purge_left_workspaces(store: Store, before: float, batch_size: int = 500) -> dict[TenantId, int]:
    """Purge every workspace uninstalled before `before` (its grace period over): tenant → rows deleted."""
    return {
        tenant: await purge_workspace(store, tenant, batch_size)
        for tenant in await store.workspaces_left_before(before)
    }


async def purge_closed(store: Store, cutoff: float, batch_size: int = 500, progress: Progress | None = None) -> int:
    """Like :func:`purge`; returns how many requests were purged by this call."""
    counts = await purge(store, cutoff, batch_size, progress)
    return counts.requests


async def purge_each_workspace(store: Store, configs: TenantConfigs, now: float) -> PurgeCounts:
    """Each workspace's closed requests older than its own retention period (0: never), its rows only."""
    counts = PurgeCounts()
    for workspace in await store.workspaces():
        days = (await configs.config_of(workspace.tenant)).retention_days
        if days > 0:
            counts += await purge(store, now - days * DAY, tenant=workspace.tenant)
    return counts


async def retention_loop(
    store: Store,
    days: int,
    clock: Callable[[], float] = time.time,
    interval: float = 3600,
    grace_days: int = 30,
    configs: TenantConfigs | None = None,
) -> None:
    """Until cancelled, now and every `interval` seconds: purge requests older than `days` (0: never) — with
    `configs` (multi-workspace mode), each workspace's older than its own retention period instead — delete
    spent call links and expired call page sessions (always), and purge the workspaces uninstalled more than
    `grace_days` ago."""
    if days <= 0 and configs is None:
        log.info("data retention is off (ASKCALL_RETENTION_DAYS=0); spent call links are still deleted")
    while True:
        try:
            async with store.exclusive("retention") as mine:  # one replica purges; the others skip this round
                counts = PurgeCounts()
                if mine:
                    now = clock()
                    if configs is not None:
                        counts = await purge_each_workspace(store, configs, now)
                    elif days > 0:
                        counts = await purge(store, now - days * DAY)
                    await delete_spent_call_credentials(store, now)
                    for tenant, rows in (await purge_left_workspaces(store, now - grace_days * DAY)).items():
                        log.info(
                            "retention: deleted workspace %s (%d rows), uninstalled over %d days ago",
                            tenant,
                            rows,
                            grace_days,
                        )
        except Exception as error:  # a failed run must not end retention; the next one retries
            log.warning("data retention run failed (%s); next run in %.0f s", error, interval)
        else:
            if counts.requests or counts.events or counts.calls:
                log.info(
                    "retention: erased customer data of %d request(s), %d webhook event(s) and %d call(s) "
                    "past their retention period",
                    counts.requests,
                    counts.events,
                    counts.calls,
                )
        await asyncio.sleep(interval)
