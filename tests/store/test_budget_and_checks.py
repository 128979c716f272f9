"""The store contract for a rep's request budget and the throttled "Check status" probe, on every backend."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.domain import BUDGET_WINDOW, BudgetSpent
from bot.store import Store
from tests.store.helpers import new_request
from tests.tenants import TENANT


async def test_budget_refuses_the_request_past_the_limit_and_says_when_it_refills(store: Store) -> None:
    first = await new_request(store, phone="+5531988880001", max_per_user_hour=2)
    await new_request(store, phone="+5531988880002", max_per_user_hour=2)
    oldest = await store.get_request(TENANT, first)
    assert oldest is not None

    with pytest.raises(BudgetSpent) as refused:
        await new_request(store, phone="+5531988880003", max_per_user_hour=2)

    assert (refused.value.user_id, refused.value.limit) == ("U1", 2)
    assert refused.value.refills_at == pytest.approx(oldest.created_at + BUDGET_WINDOW)
    assert len(await store.requests_by_user(TENANT, "U1", 0)) == 2  # nothing stored
    # 0 means no limit; another rep has their own budget.
    await new_request(store, phone="+5531988880004", max_per_user_hour=0)


async def test_budget_counts_only_the_last_hour(store: Store) -> None:
    old = await new_request(store, phone="+5531988880001", max_per_user_hour=1)
    await store.update_request(TENANT, old, created_at=time.time() - BUDGET_WINDOW - 1)
    recent = await new_request(store, phone="+5531988880002", max_per_user_hour=1)  # the old one no longer counts
    assert {r.id for r in await store.requests_by_user(TENANT, "U1", 0)} == {old, recent}

    # One made 59 minutes ago still counts: the next is refused until an hour after it.
    await store.update_request(TENANT, recent, created_at=time.time() - BUDGET_WINDOW + 60)
    with pytest.raises(BudgetSpent) as refused:
        await new_request(store, phone="+5531988880003", max_per_user_hour=1)
    assert refused.value.refills_at == pytest.approx(time.time() + 60, abs=5)
    assert len(await store.requests_by_user(TENANT, "U1", 0)) == 2


async def test_budget_holds_against_concurrent_replicas(store: Store, rival: Store) -> None:
    async def attempt(s: Store, n: int) -> bool:
        try:
            await new_request(s, phone=f"+55319888800{n:02d}", max_per_user_hour=3)
        except BudgetSpent:
            return False
        return True

    results = await asyncio.gather(*(attempt(store if n % 2 else rival, n) for n in range(10)))
    assert sum(results) == 3
    assert len(await store.requests_by_user(TENANT, "U1", 0)) == 3


async def test_status_check_probes_once_per_interval_and_keeps_the_last_result(store: Store, rival: Store) -> None:
    request_id = await new_request(store)
    now = time.time()

    claims = await asyncio.gather(*(s.claim_status_check(TENANT, request_id, now, 10.0) for s in (store, rival) * 3))
    assert [claimed for claimed, _ in claims].count(True) == 1
    assert all(last is None for _, last in claims)

    await store.record_status_check(TENANT, request_id, "🔎 first")
    assert await rival.claim_status_check(TENANT, request_id, now + 9.0, 10.0) == (False, "🔎 first")
    assert await rival.claim_status_check(TENANT, request_id, now + 10.0, 10.0) == (True, "🔎 first")
    assert await store.claim_status_check(TENANT, request_id, now + 11.0, 10.0) == (False, "🔎 first")
