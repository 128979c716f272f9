"""The store contract for several processes: leases, takeovers, and races between two owners.

`store` and `rival` are two stores (two owners, as two replicas are) on the same database.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.domain import DeliveryState, EventResult, OpenRequestExists, ReminderKind, ReminderState, RequestState
from bot.store import Effects, IncomingEvent, LeasedTable, NewDelivery, NewReminder, Store, create_store
from tests.store.conftest import LEASE_SECONDS
from tests.store.helpers import CUSTOMER, asking, new_request, reply
from tests.tenants import TENANT


async def record(
    store: Store, key: str, status: str = "TEMPORARY", phone: str = CUSTOMER, answered_at: float | None = None
) -> int:
    recorded = await store.record_webhook_event(
        IncomingEvent(
            TENANT,
            dedup_key=key,
            event="call.permission_updated",
            status=status,
            from_phone=phone,
            to_phone="+5511999990000",
            event_ts="2026-12-01T12:00:00Z",
            body="{}",
        ),
        answered_at=answered_at,
    )
    return recorded.id


def later() -> float:
    """A moment when every lease taken until now has run out."""
    return time.time() + LEASE_SECONDS + 1


def epoch(_: str | None) -> float:
    """The answer was given now (within the clock skew of the requests the test just made)."""
    return time.time()


# --- deliveries ----------------------------------------------------------------------------------
async def test_a_claimed_delivery_is_not_taken_over_while_its_owner_lives(store: Store, rival: Store) -> None:
    await new_request(store)
    [_claimed] = await store.claim_due_deliveries(time.time())

    assert await rival.claim_abandoned_deliveries(time.time()) == []
    assert await rival.claim_due_deliveries(time.time()) == []


async def test_a_dead_owners_delivery_is_taken_over_once_its_lease_runs_out(store: Store, rival: Store) -> None:
    await new_request(store)
    [claimed] = await store.claim_due_deliveries(time.time())

    [taken] = await rival.claim_abandoned_deliveries(later())

    assert (taken.id, taken.state) == (claimed.id, DeliveryState.INFLIGHT)
    assert await store.claim_abandoned_deliveries(later()) == []  # the rival holds it now


async def test_renewing_keeps_held_deliveries_only(store: Store, rival: Store) -> None:
    await new_request(store)
    await new_request(store)
    held, dropped = await store.claim_due_deliveries(time.time())

    assert await store.renew_leases(later() - 1, {LeasedTable.DELIVERIES: [held.id]}) == 1

    taken = await rival.claim_abandoned_deliveries(later())
    assert [d.id for d in taken] == [dropped.id]


async def test_released_leases_are_taken_over_at_once(store: Store, rival: Store) -> None:
    await new_request(store)
    [claimed] = await store.claim_due_deliveries(time.time())

    assert await store.release_leases() == 1

    assert [d.id for d in await rival.claim_abandoned_deliveries(time.time())] == [claimed.id]


async def test_finishing_a_delivery_ends_its_lease(store: Store) -> None:
    await new_request(store)
    [claimed] = await store.claim_due_deliveries(time.time())
    await store.complete_delivery(claimed, "1.0", time.time())

    assert await store.open_leases(time.time()) == []


async def test_rivals_claiming_at_once_never_share_a_delivery(store: Store, rival: Store) -> None:
    for _ in range(40):
        await new_request(store)

    async def claim_all(s: Store) -> list[int]:
        got: list[int] = []
        for _ in range(10):
            got += [d.id for d in await s.claim_due_deliveries(time.time(), limit=3)]
        return got

    mine, theirs = await asyncio.gather(claim_all(store), claim_all(rival))

    assert not set(mine) & set(theirs)
    assert len(mine) + len(theirs) == 40


# --- requests ------------------------------------------------------------------------------------
async def test_a_request_is_sent_under_one_owners_lease(store: Store, rival: Store) -> None:
    request_id = await new_request(store, state=RequestState.READY)

    assert await store.claim_request(TENANT, request_id, RequestState.READY, time.time()) is not None
    assert await rival.claim_request(TENANT, request_id, RequestState.READY, time.time()) is None
    assert await rival.abandoned_requests(time.time()) == []

    taken = await rival.claim_request(TENANT, request_id, RequestState.READY, later())
    assert taken is not None and taken.id == request_id


async def test_the_send_keeps_its_lease_and_any_other_step_ends_it(store: Store, rival: Store) -> None:
    request_id = await new_request(store, state=RequestState.READY)
    await store.claim_request(TENANT, request_id, RequestState.READY, time.time())

    assert await store.transition(TENANT, request_id, [RequestState.READY], RequestState.SENDING)
    assert await rival.abandoned_requests(time.time()) == []  # still being sent
    assert [r.id for r in await rival.abandoned_requests(later())] == [request_id]  # its sender died

    assert await store.transition(TENANT, request_id, [RequestState.SENDING], RequestState.WAITING)
    assert await store.open_leases(time.time()) == []


async def test_abandoned_requests_include_new_ones_whose_parent_is_posted(store: Store) -> None:
    posted = await new_request(store)
    await new_request(store)  # its parent is not posted yet
    [parent, _] = await store.claim_due_deliveries(time.time())
    await store.complete_delivery(parent, "1.0", time.time(), claim_next=False)

    assert [r.id for r in await store.abandoned_requests(time.time())] == [posted]


async def test_two_owners_asking_for_one_customer_at_once_create_one_request(store: Store, rival: Store) -> None:
    async def ask(s: Store, n: int) -> int | None:
        try:
            request_id, _ = await s.create_request(
                asking(f"race-{n}", user_id=f"U{n}"),
                NewDelivery(f"race-parent-{n}", "parent", {"channel": "C1", "text": "x"}),
                refuse_if_open=True,
            )
        except OpenRequestExists:
            return None
        return request_id

    results = await asyncio.gather(*(ask(s, n) for n, s in enumerate([store, rival] * 4)))

    assert len([r for r in results if r is not None]) == 1


async def test_the_same_submission_on_two_owners_is_one_request(store: Store, rival: Store) -> None:
    async def submit(s: Store, n: int) -> tuple[int, bool]:
        return await s.create_request(
            asking("trigger-1"),  # a Slack retry that reached another replica
            NewDelivery(f"retry-parent-{n}", "parent", {"channel": "C1", "text": "x"}),
        )

    results = await asyncio.gather(*(submit(s, n) for n, s in enumerate([store, rival, store, rival])))

    assert len({request_id for request_id, _ in results}) == 1
    assert sorted(created for _, created in results) == [False, False, False, True]


# --- webhook events ------------------------------------------------------------------------------
async def test_an_answer_is_applied_under_one_owners_lease(store: Store, rival: Store) -> None:
    await new_request(store, state=RequestState.WAITING)
    event_id = await record(store, "e1")

    assert await store.open_answer(TENANT, event_id, epoch) is not None
    assert await rival.open_answer(TENANT, event_id, epoch) is None
    assert await rival.abandoned_webhook_events(time.time()) == []
    assert [e for e, _, _ in await rival.abandoned_webhook_events(later())] == [event_id]


async def test_a_customers_answers_are_handed_out_in_order(store: Store, rival: Store) -> None:
    await new_request(store, state=RequestState.WAITING)
    first = await record(store, "e1")
    second = await record(store, "e2", status="NO_PERMISSION")

    assert await rival.open_answer(TENANT, second, epoch) is None  # the first answer goes first
    target = await store.open_answer(TENANT, first, epoch)
    assert target is not None
    assert target.next_id is None  # not settled yet: the settling tells the next one
    assert await store.settle_answer(
        target.event, EventResult.MATCHED, request_id=target.request.id if target.request else None
    ) == (True, second)

    assert await rival.open_answer(TENANT, second, epoch) is not None


async def test_an_answer_opened_for_nobody_is_settled_and_names_the_customers_next(store: Store) -> None:
    first = await record(store, "e1", phone="+5521977776666")  # no answered_at: left to processing
    second = await record(store, "e2", phone="+5521977776666", status="NO_PERMISSION")

    target = await store.open_answer(TENANT, first, epoch)

    assert target is not None and target.request is None and target.next_id == second
    assert await store.open_answer(TENANT, first, epoch) is None  # settled `unmatched` as it was opened
    assert await store.open_answer(TENANT, second, epoch) is not None


async def test_an_answer_for_nobody_is_settled_without_a_lease(store: Store) -> None:
    event_id = await record(store, "e1", phone="+5521977776666", answered_at=time.time())  # settled on ingest

    assert await store.open_answer(TENANT, event_id, epoch) is None
    assert await store.open_leases(time.time()) == []
    assert await store.settle_answer(await _event(store, event_id), EventResult.UNMATCHED) == (False, None)


async def _event(store: Store, event_id: int):  # type: ignore[no-untyped-def]
    event = await store.get_webhook_event(TENANT, event_id)
    assert event is not None
    return event


# --- reminders -----------------------------------------------------------------------------------
async def test_a_due_reminder_fires_under_one_owners_lease(store: Store, rival: Store) -> None:
    request_id = await new_request(store, state=RequestState.ANSWERED)
    await store.add_deliveries(TENANT, request_id, [reply("r1")])
    assert await store.transition(
        TENANT,
        request_id,
        [RequestState.ANSWERED],
        RequestState.ANSWERED,
        Effects(reminders=[NewReminder(ReminderKind.EXPIRY, 100.0)]),
    )

    [mine] = await store.claim_due_reminders(200.0)
    assert await rival.claim_due_reminders(200.0) == []
    assert await store.next_reminder_time() == pytest.approx(200.0 + LEASE_SECONDS)

    assert await store.complete_reminder(TENANT, mine.id, ReminderState.FIRED, request_id=request_id)
    assert await rival.claim_due_reminders(later()) == []


async def test_open_leases_name_their_owner(store: Store, rival: Store) -> None:
    await new_request(store)
    await new_request(store)
    await store.claim_due_deliveries(time.time(), limit=1)
    await rival.claim_due_deliveries(time.time(), limit=1)

    leases = sorted(await store.open_leases(time.time()))

    assert leases == [("deliveries", "replica-a", 1, False), ("deliveries", "replica-b", 1, False)]
    assert sorted(await store.open_leases(later())) == [
        ("deliveries", "replica-a", 1, True),
        ("deliveries", "replica-b", 1, True),
    ]


# --- periodic singletons -------------------------------------------------------------------------
async def test_a_periodic_job_runs_in_one_process_at_a_time(store: Store, rival: Store, database_url: str) -> None:
    async with store.exclusive("retention") as mine:
        assert mine
        async with rival.exclusive("retention") as theirs:
            # PostgreSQL: an advisory lock across replicas. SQLite serves one process, which always runs it.
            assert theirs is database_url.startswith("sqlite")
        async with rival.exclusive("another-job") as other:
            assert other
    async with rival.exclusive("retention") as theirs_now:
        assert theirs_now


async def test_serialized_work_takes_turns_across_replicas_and_a_waiter_gives_up_in_time(
    store: Store, rival: Store, database_url: str
) -> None:
    # PostgreSQL: `rival` is another replica. SQLite serves one process, whose one store keeps the turns in memory.
    waiter = rival if database_url.startswith("postgres") else store
    order: list[str] = []

    async def second() -> None:
        async with waiter.serialized("connect T2 default", wait=5.0) as mine:
            assert mine
            order.append("second")

    async with store.serialized("connect T2 default", wait=1.0) as mine:
        assert mine
        started = time.monotonic()
        async with waiter.serialized("connect T2 default", wait=0.2) as theirs:
            assert not theirs and time.monotonic() - started >= 0.15  # it waited its time, then gave up
        async with waiter.serialized("connect T3 default", wait=0.2) as other:
            assert other  # another name never waits
        turn = asyncio.create_task(second())
        await asyncio.sleep(0.2)
        order.append("first")
    await turn
    assert order == ["first", "second"]  # the waiter went as soon as the holder was done
    async with waiter.serialized("connect T2 default", wait=0.2) as again:
        assert again


async def test_work_stored_by_another_replica_wakes_listeners_at_once(pg_url: str) -> None:
    listener = create_store(pg_url, owner="replica-a")
    writer = create_store(pg_url, owner="replica-b")
    await listener.open()
    await writer.open()
    woken = asyncio.Event()
    listening = asyncio.create_task(listener.listen(woken.set))
    try:
        await asyncio.wait_for(woken.wait(), 10)  # (re)connecting wakes once, for what was stored meanwhile
        woken.clear()
        await new_request(writer)  # its parent message is a new delivery

        await asyncio.wait_for(woken.wait(), 10)
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
        await listener.close()
        await writer.close()


async def test_a_listener_wakes_only_the_side_of_the_work_that_was_stored(pg_url: str) -> None:
    listener = create_store(pg_url, owner="replica-a")
    writer = create_store(pg_url, owner="replica-b")
    await listener.open()
    await writer.open()
    deliveries, reminders = asyncio.Event(), asyncio.Event()
    listening = asyncio.create_task(listener.listen(deliveries.set, reminders=reminders.set))
    try:
        await asyncio.wait_for(asyncio.gather(deliveries.wait(), reminders.wait()), 10)  # connecting wakes both
        deliveries.clear(), reminders.clear()
        request_id = await new_request(writer)  # its parent message: deliveries only

        await asyncio.wait_for(deliveries.wait(), 10)
        assert not reminders.is_set()  # a notification's wake-ups run at once, together
        deliveries.clear()
        reminder = NewReminder(ReminderKind.EXPIRY, 1.0)
        await writer.transition(
            TENANT, request_id, [RequestState.NEW], RequestState.WAITING, Effects(reminders=[reminder])
        )

        await asyncio.wait_for(reminders.wait(), 10)
        assert not deliveries.is_set()
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
        await listener.close()
        await writer.close()


# --- edges the mutation run (tests/MUTATION.md) found unchecked --------------------------------------------------
async def test_unknown_ids_read_as_nothing(store: Store) -> None:
    assert await store.get_request(TENANT, 10**6) is None
    assert await store.get_delivery(TENANT, 10**6) is None
    assert await store.get_webhook_event(TENANT, 10**6) is None


async def test_an_attempt_is_counted_only_when_asked(store: Store) -> None:
    request_id = await new_request(store)
    [delivery] = await store.claim_due_deliveries(time.time() + 1)
    await store.mark_delivery(TENANT, delivery.id, DeliveryState.PENDING, last_error="ratelimited")
    await store.mark_delivery(TENANT, delivery.id, DeliveryState.PENDING, last_error="ratelimited")
    stored = await store.delivery_for(TENANT, request_id, "parent")
    assert stored is not None and stored.attempts == 0
    await store.mark_delivery(TENANT, delivery.id, DeliveryState.PENDING, last_error="http_503", count_attempt=True)
    stored = await store.delivery_for(TENANT, request_id, "parent")
    assert stored is not None and stored.attempts == 1


async def test_abandoned_deliveries_come_back_in_order_leased_for_a_whole_lease(store: Store, rival: Store) -> None:
    for _ in range(3):
        await new_request(store)
    t0 = time.time() + 1
    claimed = await store.claim_due_deliveries(t0)
    assert len(claimed) == 3
    taken = await rival.claim_abandoned_deliveries(t0 + LEASE_SECONDS + 1)
    assert [d.id for d in taken] == sorted(d.id for d in claimed)
    # The rival now holds them for a whole lease from its takeover, then they are abandoned again.
    assert await store.claim_abandoned_deliveries(t0 + 2 * LEASE_SECONDS) == []
    again = await store.claim_abandoned_deliveries(t0 + 2 * LEASE_SECONDS + 2)
    assert [d.id for d in again] == [d.id for d in taken]


async def test_the_message_handed_over_on_completion_is_leased_to_this_process(store: Store, rival: Store) -> None:
    request_id = await new_request(store)
    await store.add_deliveries(TENANT, request_id, [reply("r1")])
    now = time.time() + 1
    [parent] = await store.claim_due_deliveries(now)
    handed, _ = await store.complete_delivery(parent, "1.0", now)
    assert handed is not None and handed.dedup_key == "r1"
    assert await rival.claim_abandoned_deliveries(now + LEASE_SECONDS - 1) == []
    assert [d.id for d in await rival.claim_abandoned_deliveries(now + LEASE_SECONDS + 1)] == [handed.id]


async def test_renewed_leases_last_a_whole_lease_from_the_renewal(store: Store, rival: Store) -> None:
    request_id = await new_request(store, state=RequestState.READY)
    t0 = time.time() + 1
    assert await store.claim_request(TENANT, request_id, RequestState.READY, t0) is not None
    [delivery] = await store.claim_due_deliveries(t0)
    held = {LeasedTable.REQUESTS: [request_id], LeasedTable.DELIVERIES: [delivery.id]}
    assert await store.renew_leases(t0 + 20, held) == 2
    assert await rival.claim_abandoned_deliveries(t0 + 20 + LEASE_SECONDS - 1) == []
    assert await rival.claim_request(TENANT, request_id, RequestState.READY, t0 + 20 + LEASE_SECONDS - 1) is None
    assert [d.id for d in await rival.claim_abandoned_deliveries(t0 + 20 + LEASE_SECONDS + 1)] == [delivery.id]


async def test_a_parent_built_from_the_new_requests_id_is_queued_under_that_id(store: Store) -> None:
    request_id, created = await store.create_request(
        asking("src-built"), lambda rid: NewDelivery(f"req{rid}:parent", "parent", {"channel": "C1", "text": "t"})
    )
    assert created
    parent = await store.delivery_for(TENANT, request_id, "parent")
    assert parent is not None and parent.dedup_key == f"req{request_id}:parent"
