"""Deliveries of no request (the installer's welcome DM; migration 14), on both backends: queued once per key and
tenant, only for a recorded workspace that is not stopped; each heads a queue of its own (claimed while a request's
queue waits, never blocking one); completed, killed by a stop and purged like any other, and always its tenant's."""

from __future__ import annotations

import time

from bot.domain import DeliveryKind, DeliveryState
from bot.store import NewDelivery, Store, Workspace
from tests.store.helpers import new_request, reply
from tests.tenants import OTHER, TENANT

WELCOME = NewDelivery("welcome", DeliveryKind.DIRECT, {"channel": "U1", "text": "Olá"})


async def recorded(store: Store, *tenants: str) -> None:
    for tenant in tenants:
        await store.record_workspace(Workspace(tenant, tenant, None, name=f"Acme {tenant}", installed_at=1.0))


async def test_queued_once_per_key_for_a_recorded_live_workspace_only(store: Store, rival: Store) -> None:
    assert not await store.add_workspace_delivery(TENANT, WELCOME)  # never recorded: nothing queued
    await recorded(store, TENANT, OTHER)
    assert await store.add_workspace_delivery(TENANT, WELCOME)
    assert not await rival.add_workspace_delivery(TENANT, WELCOME)  # another replica, the same key: once
    assert await store.add_workspace_delivery(OTHER, WELCOME)  # keys are per tenant
    await store.stop_workspace(OTHER, time.time(), disabled=True)
    assert not await store.add_workspace_delivery(OTHER, NewDelivery("welcome-2", DeliveryKind.DIRECT, {}))

    claimed = await rival.claim_due_deliveries(time.time() + 1)
    assert [(d.tenant, d.request_id, d.dedup_key, d.payload) for d in claimed] == [
        (TENANT, None, "welcome", {"channel": "U1", "text": "Olá"})
    ]  # OTHER's died with its stop ("disabled")
    assert await store.claim_due_deliveries(time.time() + 1) == []  # claimed once, across replicas


async def test_it_heads_its_own_queue_and_completes_like_any_other(store: Store) -> None:
    await recorded(store, TENANT)
    request_id = await new_request(store)
    await store.add_deliveries(TENANT, request_id, [reply("r1"), reply("r2")])
    assert await store.add_workspace_delivery(TENANT, WELCOME)
    now = time.time() + 1

    first = await store.claim_due_deliveries(now)
    assert [d.request_id for d in first].count(request_id) == 1  # the head of the request's queue (its parent)
    welcome = next(d for d in first if d.request_id is None)  # and the welcome, beside it
    assert len(first) == 2 and welcome.dedup_key == "welcome"
    following, drained = await store.complete_delivery(welcome, "1.5", now)
    assert (following, drained) == (None, True)  # a queue of its own: nothing follows it
    assert await store.posted_ts(TENANT, "welcome") == "1.5"
    assert await store.posted_ts(OTHER, "welcome") is None  # another tenant never sees it
    done = await store.get_delivery(TENANT, welcome.id)
    assert done is not None and done.state == DeliveryState.DONE and done.request_id is None
    assert await store.get_delivery(OTHER, welcome.id) is None
    assert await store.pending_delivery_count() == 3  # the request's parent (in flight), r1 and r2


async def test_a_stop_kills_it_and_a_purge_deletes_it(store: Store) -> None:
    await recorded(store, TENANT, OTHER)
    assert await store.add_workspace_delivery(TENANT, WELCOME)
    assert await store.add_workspace_delivery(OTHER, WELCOME)
    assert await store.stop_workspace(TENANT, time.time()) == 1
    [dead] = [d for d in await store.export_rows("deliveries", None, 100) if d["tenant_id"] == TENANT]
    assert (dead["state"], dead["last_error"]) == (DeliveryState.DEAD, "uninstalled")

    while await store.purge_workspace_batch(TENANT, 100):
        pass
    assert [d["tenant_id"] for d in await store.export_rows("deliveries", None, 100)] == [OTHER]
    await recorded(store, TENANT)  # a new install after the purge starts over: welcomed again
    assert await store.add_workspace_delivery(TENANT, WELCOME)
