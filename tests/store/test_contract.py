"""The store contract: what every backend guarantees (bot/store/interface.py), run against each backend."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import pytest

from bot.domain import (
    CLOCK_SKEW,
    REQUEST_LIFETIME,
    DeliveryState,
    EventResult,
    ReminderKind,
    ReminderState,
    RequestState,
)
from bot.phones import customer_key
from bot.store import Effects, IncomingEvent, NewDelivery, NewReminder, RecordedEvent, Store
from tests.store.helpers import ANSWER_AT, CUSTOMER, FAR_FUTURE, asking, new_request, reply
from tests.tenants import OTHER, TENANT

NEW, READY, SENDING, WAITING, UNCONFIRMED, FAILED, ANSWERED, UNDELIVERABLE = (
    RequestState.NEW,
    RequestState.READY,
    RequestState.SENDING,
    RequestState.WAITING,
    RequestState.UNCONFIRMED,
    RequestState.FAILED,
    RequestState.ANSWERED,
    RequestState.UNDELIVERABLE,
)
PENDING, INFLIGHT, DONE = DeliveryState.PENDING, DeliveryState.INFLIGHT, DeliveryState.DONE


# --- schema ------------------------------------------------------------------------------------
# --- requests ----------------------------------------------------------------------------------
async def test_create_request_stores_fields_and_customer_key(store: Store) -> None:
    request_id = await new_request(store, phone="+5531988887777")

    request = await store.get_request(TENANT, request_id)
    assert request is not None
    assert request.state == NEW
    assert request.phone_key == customer_key("553188887777")
    assert request.channel_id == "C1"
    assert request.outcome is None
    delivery = await store.delivery_for(TENANT, request_id, "parent")
    assert delivery is not None
    assert delivery.state == PENDING
    assert delivery.payload["channel"] == "C1"
    assert delivery.payload["text"].startswith("request ")


async def test_same_source_key_twice_returns_the_first_request(store: Store) -> None:
    new = asking("view:V1")
    first_id, first_created = await store.create_request(new, NewDelivery("parent-a", "parent", {"n": 1}))
    second_id, second_created = await store.create_request(new, NewDelivery("parent-b", "parent", {"n": 2}))

    assert first_created is True
    assert second_created is False
    assert second_id == first_id
    assert await store.pending_delivery_count() == 1
    assert len(await store.requests_in_state(NEW)) == 1
    delivery = await store.delivery_for(TENANT, first_id, "parent")
    assert delivery is not None
    assert delivery.payload == {"n": 1}


@pytest.mark.parametrize("source_key", ["", None])
async def test_requests_without_source_key_are_never_merged(store: Store, source_key: str | None) -> None:
    ids = set()
    for n in range(2):
        request_id, created = await store.create_request(
            asking(source_key), NewDelivery(f"parent-nokey-{n}", "parent", {})
        )
        assert created is True
        ids.add(request_id)

    assert len(ids) == 2


async def test_transition_is_guarded(store: Store) -> None:
    request_id = await new_request(store)

    assert await store.transition(TENANT, request_id, [NEW], READY, parent_ts="1.0") is True
    assert await store.transition(TENANT, request_id, [NEW], READY, parent_ts="2.0") is False

    request = await store.get_request(TENANT, request_id)
    assert request is not None
    assert request.state == READY
    assert request.parent_ts == "1.0"


async def test_refused_transition_queues_no_delivery(store: Store) -> None:
    request_id = await new_request(store)
    assert await store.transition(TENANT, request_id, [NEW], READY)

    assert await store.transition(TENANT, request_id, [NEW], SENDING, Effects(deliveries=[reply("r1")])) is False

    assert await store.delivery_for(TENANT, request_id, "reply") is None


async def test_accepted_transition_queues_its_deliveries(store: Store) -> None:
    request_id = await new_request(store)

    assert await store.transition(
        TENANT, request_id, [NEW, READY], FAILED, Effects(deliveries=[reply("r1")]), error_code="X"
    )

    delivery = await store.delivery_for(TENANT, request_id, "reply")
    assert delivery is not None
    assert delivery.state == PENDING
    request = await store.get_request(TENANT, request_id)
    assert request is not None
    assert (request.state, request.error_code) == (FAILED, "X")


async def test_transition_applies_its_effects_whole(store: Store) -> None:
    request_id = await new_request(store, state=READY)
    answered = Effects(
        {"state": ANSWERED, "outcome": "TEMPORARY", "expires_at": FAR_FUTURE},
        [reply("granted")],
        [NewReminder(ReminderKind.EXPIRY, FAR_FUTURE)],
    )

    assert await store.transition(TENANT, request_id, [READY], ANSWERED, answered)

    request = await store.get_request(TENANT, request_id)
    assert request is not None
    assert (request.state, request.outcome, request.expires_at) == (ANSWERED, "TEMPORARY", FAR_FUTURE)
    assert await store.delivery_for(TENANT, request_id, "reply") is not None
    [reminder] = await store.reminders_for(TENANT, request_id)
    assert (reminder.kind, reminder.state, reminder.due_at) == (ReminderKind.EXPIRY, ReminderState.PENDING, FAR_FUTURE)
    assert reminder.kind is ReminderKind.EXPIRY and reminder.state is ReminderState.PENDING  # typed, not bare strings


async def test_transition_refuses_effects_that_move_the_request_elsewhere(store: Store) -> None:
    request_id = await new_request(store)

    with pytest.raises(ValueError):
        await store.transition(TENANT, request_id, [NEW], READY, Effects({"state": FAILED}, [reply("r1")]))

    request = await store.get_request(TENANT, request_id)
    assert request is not None and request.state == NEW
    assert await store.delivery_for(TENANT, request_id, "reply") is None


async def test_transition_of_unknown_request_is_false(store: Store) -> None:
    assert await store.transition(TENANT, 999, [NEW], READY) is False


async def test_requests_in_state(store: Store) -> None:
    a = await new_request(store, state=WAITING)
    await new_request(store, state=FAILED)
    c = await new_request(store, state=UNCONFIRMED)

    assert [r.id for r in await store.requests_in_state(WAITING, UNCONFIRMED)] == [a, c]


# --- webhook events ----------------------------------------------------------------------------
async def record_event(
    store: Store, key: str = "k1", from_phone: str = "553188887777", answered_at: float | None = None
) -> RecordedEvent:
    return await store.record_webhook_event(
        IncomingEvent(
            TENANT,
            dedup_key=key,
            event="call.permission_updated",
            status="TEMPORARY",
            from_phone=from_phone,
            to_phone="5511888888888",
            event_ts="2026-07-03T15:00:00.000Z",
            body="{}",
        ),
        answered_at=answered_at,
    )


async def record(
    store: Store, key: str = "k1", from_phone: str = "553188887777", answered_at: float | None = None
) -> tuple[int, bool]:
    recorded = await record_event(store, key, from_phone, answered_at)
    return recorded.id, recorded.is_new


async def test_record_webhook_event_dedups(store: Store) -> None:
    first_id, first_new = await record(store)
    second_id, second_new = await record(store)
    other_id, other_new = await record(store, key="k2")

    assert first_new is True
    assert (second_id, second_new) == (first_id, False)
    assert other_new is True
    assert other_id != first_id
    key = customer_key("553188887777")
    assert await store.unprocessed_webhook_events() == [(first_id, TENANT, key), (other_id, TENANT, key)]


async def test_recorded_event_has_the_customer_key(store: Store) -> None:
    event_id, _ = await record(store, from_phone="553188887777")

    event = await store.get_webhook_event(TENANT, event_id)
    assert event is not None
    assert event.phone_key == customer_key(CUSTOMER)
    assert event.processed_at is None


async def test_settle_webhook_event_only_once(store: Store) -> None:
    request_id = await new_request(store, state=WAITING)
    event_id, _ = await record(store)

    first = await store.settle_webhook_event(
        TENANT,
        event_id,
        EventResult.MATCHED,
        request_id=request_id,
        effects=Effects({"state": ANSWERED, "outcome": "TEMPORARY"}, [reply("answer-1")]),
    )
    second = await store.settle_webhook_event(
        TENANT,
        event_id,
        EventResult.CHANGED,
        request_id=request_id,
        effects=Effects({"outcome": "NO_PERMISSION"}, [reply("answer-2")]),
    )

    assert (first, second) == (True, False)
    event = await store.get_webhook_event(TENANT, event_id)
    assert event is not None
    assert event.processed_at is not None
    assert (event.result, event.request_id) == (EventResult.MATCHED, request_id)
    assert event.result is EventResult.MATCHED
    request = await store.get_request(TENANT, request_id)
    assert request is not None
    assert (request.state, request.outcome) == (ANSWERED, "TEMPORARY")
    replies = [d for d in await claim_all(store) if d.kind == "reply"]
    assert [d.dedup_key for d in replies] == ["answer-1"]
    assert await store.unprocessed_webhook_events() == []


async def test_settle_webhook_event_applies_every_effect_to_its_own_request_only(store: Store) -> None:
    request_id = await new_request(store, state=WAITING)
    event_id, _ = await record(store)
    effects = Effects(
        {"state": ANSWERED, "outcome": "TEMPORARY", "expires_at": ANSWER_AT + 60},
        [reply("answer-1"), reply("answer-2"), reply("answer-3")],
        [NewReminder(ReminderKind.EXPIRY, ANSWER_AT), NewReminder(ReminderKind.EXPIRY, ANSWER_AT + 1)],
    )
    # Another tenant's request of the same id: nothing is applied, and the event stays unsettled.
    assert await store.settle_webhook_event(OTHER, event_id, EventResult.MATCHED, request_id=request_id) is False

    assert await store.settle_webhook_event(
        TENANT, event_id, EventResult.MATCHED, request_id=request_id, effects=effects
    )

    request = await store.get_request(TENANT, request_id)
    assert request is not None
    assert (request.state, request.outcome, request.expires_at) == (ANSWERED, "TEMPORARY", ANSWER_AT + 60)
    assert request.updated_at >= request.created_at
    replies = [d for d in await claim_all(store) if d.kind == "reply"]
    assert [d.dedup_key for d in replies] == ["answer-1", "answer-2", "answer-3"]  # queued, and sent, in order
    assert [d.id for d in replies] == sorted(d.id for d in replies)
    reminders = await store.reminders_for(TENANT, request_id)
    assert sorted(r.due_at for r in reminders) == [ANSWER_AT, ANSWER_AT + 1]


async def test_settle_without_request(store: Store) -> None:
    event_id, _ = await record(store)

    assert await store.settle_webhook_event(TENANT, event_id, EventResult.IGNORED) is True

    event = await store.get_webhook_event(TENANT, event_id)
    assert event is not None
    assert (event.result, event.request_id) == (EventResult.IGNORED, None)


# --- correlation -------------------------------------------------------------------------------
async def test_find_request_picks_the_most_recent_correlatable_one(store: Store) -> None:
    await new_request(store, phone="+5531988887777", state=WAITING, created_at=ANSWER_AT - 3 * 3600)
    newest = await new_request(store, phone="+55 31 98888-7777", state=UNCONFIRMED, created_at=ANSWER_AT - 3600)
    await new_request(store, phone="+5531977776666", state=WAITING, created_at=ANSWER_AT - 60)

    found = await store.find_request_for_answer(TENANT, customer_key("553188887777"), ANSWER_AT)

    assert found is not None
    assert found.id == newest


@pytest.mark.parametrize("state", [SENDING, WAITING, UNCONFIRMED, ANSWERED])
async def test_find_request_accepts_correlatable_states(store: Store, state: str) -> None:
    request_id = await new_request(store, state=state, created_at=ANSWER_AT - 60)

    found = await store.find_request_for_answer(TENANT, customer_key(CUSTOMER), ANSWER_AT)

    assert found is not None
    assert found.id == request_id


@pytest.mark.parametrize("state", [NEW, READY, FAILED, UNDELIVERABLE])
async def test_find_request_ignores_requests_that_never_reached_the_customer(store: Store, state: str) -> None:
    older = await new_request(store, state=WAITING, created_at=ANSWER_AT - 7200)
    await new_request(store, state=state, created_at=ANSWER_AT - 60)

    found = await store.find_request_for_answer(TENANT, customer_key(CUSTOMER), ANSWER_AT)

    assert found is not None
    assert found.id == older


async def test_find_request_ignores_failed_and_new_only(store: Store) -> None:
    await new_request(store, state=FAILED, created_at=ANSWER_AT - 60)
    await new_request(store, created_at=ANSWER_AT - 30)

    assert await store.find_request_for_answer(TENANT, customer_key(CUSTOMER), ANSWER_AT) is None


async def test_find_request_ignores_requests_older_than_seven_days(store: Store) -> None:
    await new_request(store, state=WAITING, created_at=ANSWER_AT - REQUEST_LIFETIME - 1)

    assert await store.find_request_for_answer(TENANT, customer_key(CUSTOMER), ANSWER_AT) is None


async def test_find_request_accepts_a_request_just_inside_seven_days(store: Store) -> None:
    request_id = await new_request(store, state=WAITING, created_at=ANSWER_AT - REQUEST_LIFETIME + 1)

    found = await store.find_request_for_answer(TENANT, customer_key(CUSTOMER), ANSWER_AT)

    assert found is not None
    assert found.id == request_id


async def test_find_request_ignores_requests_newer_than_the_answer_plus_skew(store: Store) -> None:
    await new_request(store, state=WAITING, created_at=ANSWER_AT + CLOCK_SKEW + 1)

    assert CLOCK_SKEW == 5 * 60
    assert await store.find_request_for_answer(TENANT, customer_key(CUSTOMER), ANSWER_AT) is None


async def test_find_request_tolerates_small_clock_skew(store: Store) -> None:
    request_id = await new_request(store, state=WAITING, created_at=ANSWER_AT + CLOCK_SKEW - 1)

    found = await store.find_request_for_answer(TENANT, customer_key(CUSTOMER), ANSWER_AT)

    assert found is not None
    assert found.id == request_id


async def test_find_request_ignores_other_customers(store: Store) -> None:
    await new_request(store, phone="+5531977776666", state=WAITING, created_at=ANSWER_AT - 60)

    assert await store.find_request_for_answer(TENANT, customer_key(CUSTOMER), ANSWER_AT) is None


# --- deliveries --------------------------------------------------------------------------------
async def claim_all(store: Store) -> list[Any]:
    """Drain the queue, completing each delivery, and return them in the order they were claimed."""
    claimed: list[Any] = []
    while batch := await store.claim_due_deliveries(FAR_FUTURE):
        claimed += batch
        for delivery in batch:
            await store.mark_delivery(TENANT, delivery.id, DONE, result_ts="1.0")
    return claimed


async def test_claim_returns_at_most_one_delivery_per_request(store: Store) -> None:
    a = await new_request(store)
    b = await new_request(store)
    await store.add_deliveries(TENANT, a, [reply("a-1"), reply("a-2")])
    await store.add_deliveries(TENANT, b, [reply("b-1")])

    claimed = await store.claim_due_deliveries(FAR_FUTURE)

    assert sorted(d.request_id for d in claimed) == [a, b]
    assert all(d.kind == "parent" for d in claimed)


async def test_claim_marks_deliveries_inflight(store: Store) -> None:
    request_id = await new_request(store)

    [claimed] = await store.claim_due_deliveries(FAR_FUTURE)

    assert claimed.request_id == request_id
    stored = await store.get_delivery(TENANT, claimed.id)
    assert stored is not None
    assert stored.state == INFLIGHT
    assert [d.id for d in await store.inflight_deliveries()] == [claimed.id]
    assert await store.claim_due_deliveries(FAR_FUTURE) == []


async def test_second_delivery_waits_until_the_first_is_done(store: Store) -> None:
    request_id = await new_request(store)
    await store.add_deliveries(TENANT, request_id, [reply("r-1"), reply("r-2")])

    [parent] = await store.claim_due_deliveries(FAR_FUTURE)
    assert await store.claim_due_deliveries(FAR_FUTURE) == []

    await store.mark_delivery(TENANT, parent.id, DONE, result_ts="1.0")
    [first] = await store.claim_due_deliveries(FAR_FUTURE)
    assert first.dedup_key == "r-1"
    assert await store.claim_due_deliveries(FAR_FUTURE) == []

    await store.mark_delivery(TENANT, first.id, DONE)
    [second] = await store.claim_due_deliveries(FAR_FUTURE)
    assert second.dedup_key == "r-2"


async def test_head_rescheduled_to_pending_still_blocks_the_rest(store: Store) -> None:
    request_id = await new_request(store)
    await store.add_deliveries(TENANT, request_id, [reply("r-1")])
    [parent] = await store.claim_due_deliveries(FAR_FUTURE)

    # A failed attempt puts the head back as pending, due later: the reply must still wait.
    await store.mark_delivery(TENANT, parent.id, PENDING, next_attempt_at=FAR_FUTURE + 100, count_attempt=True)

    assert await store.claim_due_deliveries(FAR_FUTURE) == []
    [again] = await store.claim_due_deliveries(FAR_FUTURE + 100)
    assert again.id == parent.id
    assert again.attempts == 1


async def test_claim_orders_by_due_time_then_id(store: Store) -> None:
    a = await new_request(store)
    b = await new_request(store)
    c = await new_request(store)
    parent_a = await store.delivery_for(TENANT, a, "parent")
    assert parent_a is not None
    await store.mark_delivery(TENANT, parent_a.id, PENDING, next_attempt_at=time.time() + 10)

    claimed = await store.claim_due_deliveries(FAR_FUTURE)

    assert [d.request_id for d in claimed] == [b, c, a]


async def test_claim_skips_deliveries_not_yet_due(store: Store) -> None:
    request_id = await new_request(store)
    parent = await store.delivery_for(TENANT, request_id, "parent")
    assert parent is not None
    await store.mark_delivery(TENANT, parent.id, PENDING, next_attempt_at=FAR_FUTURE)

    assert await store.claim_due_deliveries(FAR_FUTURE - 1) == []
    assert [d.id for d in await store.claim_due_deliveries(FAR_FUTURE)] == [parent.id]


async def test_claim_respects_limit(store: Store) -> None:
    for _ in range(3):
        await new_request(store)

    assert len(await store.claim_due_deliveries(FAR_FUTURE, limit=2)) == 2
    assert len(await store.claim_due_deliveries(FAR_FUTURE, limit=2)) == 1


async def test_duplicate_delivery_key_is_queued_once(store: Store) -> None:
    request_id = await new_request(store)
    await store.add_deliveries(TENANT, request_id, [reply("same"), reply("same")])
    await store.add_deliveries(TENANT, request_id, [reply("same")])

    assert await store.pending_delivery_count() == 2  # the parent and one reply


async def test_next_delivery_time_ignores_blocked_deliveries(store: Store) -> None:
    blocked = await new_request(store)
    await store.add_deliveries(TENANT, blocked, [reply("blocked-reply")])
    [head] = await store.claim_due_deliveries(FAR_FUTURE)
    assert head.request_id == blocked
    queued = await store.delivery_for(TENANT, blocked, "reply")
    assert queued is not None
    await store.mark_delivery(TENANT, queued.id, PENDING, next_attempt_at=100.0)

    assert await store.next_delivery_time() is None

    other = await new_request(store)
    other_parent = await store.delivery_for(TENANT, other, "parent")
    assert other_parent is not None
    await store.mark_delivery(TENANT, other_parent.id, PENDING, next_attempt_at=5000.0)

    assert await store.next_delivery_time() == 5000.0

    await store.mark_delivery(TENANT, head.id, DONE)
    assert await store.next_delivery_time() == 100.0


async def test_next_delivery_time_of_empty_queue_is_none(store: Store) -> None:
    assert await store.next_delivery_time() is None


async def test_mark_delivery_keeps_earlier_values_and_counts_attempts(store: Store) -> None:
    request_id = await new_request(store)
    [delivery] = await store.claim_due_deliveries(FAR_FUTURE)

    await store.mark_delivery(TENANT, delivery.id, PENDING, last_error="ratelimited", count_attempt=True)
    await store.mark_delivery(TENANT, delivery.id, DONE, result_ts="123.456", count_attempt=True)

    stored = await store.delivery_for(TENANT, request_id, "parent")
    assert stored is not None
    assert (stored.state, stored.attempts, stored.last_error, stored.result_ts) == (DONE, 2, "ratelimited", "123.456")
    assert await store.pending_delivery_count() == 0


async def test_complete_delivery_hands_over_the_same_requests_next_message(store: Store) -> None:
    a = await new_request(store)
    b = await new_request(store)
    await store.add_deliveries(TENANT, a, [reply("a-1"), reply("a-2")])
    await store.add_deliveries(TENANT, b, [reply("b-1")])
    parents = {d.request_id: d for d in await store.claim_due_deliveries(FAR_FUTURE)}

    following, drained = await store.complete_delivery(parents[a], "1.0", FAR_FUTURE)

    assert following is not None and drained is False
    assert (following.request_id, following.dedup_key) == (a, "a-1")
    stored = await store.get_delivery(TENANT, following.id)
    assert stored is not None and stored.state == INFLIGHT
    done = await store.get_delivery(TENANT, parents[a].id)
    assert done is not None and (done.state, done.result_ts, done.attempts) == (DONE, "1.0", 1)
    # Only the head of each queue moves: a-2 waits behind a-1, b's reply behind b's parent.
    assert await store.claim_due_deliveries(FAR_FUTURE) == []


async def test_complete_delivery_leaves_a_message_not_yet_due(store: Store) -> None:
    request_id = await new_request(store)
    await store.add_deliveries(TENANT, request_id, [reply("r-1")])
    [parent] = await store.claim_due_deliveries(FAR_FUTURE)

    # The reply was queued "now"; completing the parent at an earlier instant finds it not yet due.
    assert await store.complete_delivery(parent, "1.0", time.time() - 3600) == (None, False)
    [later] = await store.claim_due_deliveries(FAR_FUTURE)
    assert later.dedup_key == "r-1"


async def test_complete_delivery_without_claiming_the_next(store: Store) -> None:
    request_id = await new_request(store)
    await store.add_deliveries(TENANT, request_id, [reply("r-1")])
    [parent] = await store.claim_due_deliveries(FAR_FUTURE)

    assert await store.complete_delivery(parent, "1.0", FAR_FUTURE, claim_next=False) == (None, False)

    [following] = await store.claim_due_deliveries(FAR_FUTURE)
    assert following.dedup_key == "r-1"


async def test_complete_delivery_that_marks_nothing_hands_nothing_over(store: Store) -> None:
    request_id = await new_request(store)
    await store.add_deliveries(TENANT, request_id, [reply("r-1")])
    [parent] = await store.claim_due_deliveries(FAR_FUTURE)

    # Named under another tenant, the parent is not marked: it still heads its queue, so the reply is not claimed.
    assert await store.complete_delivery(replace(parent, tenant_id=OTHER), "1.0", FAR_FUTURE) == (None, False)

    stored = await store.get_delivery(TENANT, parent.id)
    assert stored is not None and (stored.state, stored.result_ts, stored.attempts) == (INFLIGHT, None, 0)
    queued = await store.delivery_for(TENANT, request_id, "reply")
    assert queued is not None and queued.state == PENDING


async def test_answer_target_says_whether_the_rep_wants_a_dm(store: Store) -> None:
    request_id = await new_request(store, state=WAITING, created_at=ANSWER_AT - 60)

    assert await store.answer_target(TENANT, customer_key(CUSTOMER), ANSWER_AT) == (
        await store.get_request(TENANT, request_id),
        False,
    )
    await store.set_dm_answers(TENANT, "U1", True)
    request, dm = await store.answer_target(TENANT, customer_key(CUSTOMER), ANSWER_AT)
    assert request is not None and request.id == request_id
    assert dm is True


async def test_open_answer_returns_the_event_its_request_and_the_dm_wish(store: Store) -> None:
    request_id = await new_request(store, phone="+5531988887777", state=WAITING)
    await store.set_dm_answers(TENANT, "U1", True)
    event_id, _ = await record(store)

    target = await store.open_answer(TENANT, event_id, lambda ts: time.time())

    assert target is not None
    assert target.event.id == event_id
    assert target.request is not None and target.request.id == request_id
    assert target.dm is True
    assert [e for e, _, _ in await store.unprocessed_webhook_events()] == [event_id]  # applied later, by settle


async def test_open_answer_settles_an_unmatched_event_in_the_same_hop(store: Store) -> None:
    event_id, _ = await record(store, from_phone="5521977776666")

    target = await store.open_answer(TENANT, event_id, lambda ts: time.time())

    assert target is not None and target.request is None
    event = await store.get_webhook_event(TENANT, event_id)
    assert event is not None and event.result == "unmatched" and event.processed_at is not None
    assert await store.open_answer(TENANT, event_id, lambda ts: time.time()) is None


@pytest.mark.parametrize("disabled", [False, True])
async def test_open_answer_leaves_an_answer_of_a_stopped_workspace_stored(store: Store, disabled: bool) -> None:
    await new_request(store, phone="+5531988887777", state=WAITING)
    event_id, _ = await record(store)
    await store.stop_workspace(TENANT, time.time(), disabled=disabled)

    assert await store.open_answer(TENANT, event_id, lambda ts: time.time()) is None
    event = await store.get_webhook_event(TENANT, event_id)
    assert event is not None and event.processed_at is None and event.result is None
    # Enabled again, the workspace's stored answer opens.
    if disabled:
        await store.enable_workspace(TENANT)
        target = await store.open_answer(TENANT, event_id, lambda ts: time.time())
        assert target is not None and target.request is not None


async def test_complete_delivery_says_when_the_requests_queue_ran_dry(store: Store) -> None:
    request_id = await new_request(store)
    await store.add_deliveries(TENANT, request_id, [reply("r-1")])
    [parent] = await store.claim_due_deliveries(FAR_FUTURE)
    following, _ = await store.complete_delivery(parent, "1.0", FAR_FUTURE)
    assert following is not None

    assert await store.complete_delivery(following, "2.0", FAR_FUTURE) == (None, True)


async def test_an_answer_no_request_can_own_is_settled_when_it_is_stored(store: Store) -> None:
    event_id, is_new = await record(store, from_phone="5521977776666", answered_at=time.time())

    assert is_new is True
    event = await store.get_webhook_event(TENANT, event_id)
    assert event is not None and event.result == "unmatched" and event.processed_at is not None
    assert await store.unprocessed_webhook_events() == []


async def test_an_answer_with_a_request_is_left_for_processing(store: Store) -> None:
    await new_request(store, phone="+5531988887777", state=WAITING)

    recorded = await record_event(store, answered_at=time.time())

    assert (recorded.is_new, recorded.unmatched) == (True, False)
    assert [event_id for event_id, _, _ in await store.unprocessed_webhook_events()] == [recorded.id]


async def test_webhooks_arriving_together_are_stored_once_each_in_arrival_order(store: Store) -> None:
    await new_request(store, phone="+5531988887777", state=WAITING)
    already, _ = await record(store, key="old")
    now = time.time()

    # Arriving together, they share one write: a key twice, a redelivery of a stored one, an answer
    # that a request owns and one that none can own.
    results = await asyncio.gather(
        record_event(store, "a", "553188887777", now),
        record_event(store, "a", "553188887777", now),
        record_event(store, "old"),
        record_event(store, "b", "5521977776666", now),
        record_event(store, "c", "553188887777"),
    )

    a, a_again, old, b, c = results
    assert (a.is_new, a.unmatched) == (True, False)
    assert (a_again.id, a_again.is_new) == (a.id, False)
    assert (old.id, old.is_new) == (already, False)
    assert (b.is_new, b.unmatched) == (True, True)
    assert (c.is_new, c.unmatched) == (True, False)
    assert a.id < b.id < c.id
    unprocessed = [event_id for event_id, _, _ in await store.unprocessed_webhook_events()]
    assert unprocessed == [already, a.id, c.id]
    settled = await store.get_webhook_event(TENANT, b.id)
    assert settled is not None and settled.result == "unmatched"


async def test_advance_returns_the_moved_request_in_its_new_state(store: Store) -> None:
    request_id = await new_request(store)

    moved = await store.advance(TENANT, request_id, [NEW], READY, parent_ts="1.0")

    assert moved is not None and (moved.id, moved.state, moved.parent_ts) == (request_id, READY, "1.0")
    assert await store.advance(TENANT, request_id, [NEW], READY) is None


async def test_claim_due_says_when_the_next_delivery_falls_due(store: Store) -> None:
    a = await new_request(store)
    await new_request(store)
    [parent_a, parent_b] = await store.claim_due_deliveries(FAR_FUTURE)
    await store.mark_delivery(TENANT, parent_b.id, PENDING, next_attempt_at=FAR_FUTURE + 50, count_attempt=True)
    await store.complete_delivery(parent_a, "1.0", FAR_FUTURE, claim_next=False)
    await store.add_deliveries(TENANT, a, [reply("a-1")])

    claimed, next_at = await store.claim_due(FAR_FUTURE)

    assert [d.dedup_key for d in claimed] == ["a-1"]
    assert next_at == FAR_FUTURE + 50 == await store.next_delivery_time()


async def test_open_request_for_finds_the_newest_open_request_of_that_customer_on_that_number(store: Store) -> None:
    key, now = customer_key(CUSTOMER), time.time()
    assert await store.open_request_for(TENANT, "default", key, now) is None
    older = await new_request(store, state=RequestState.WAITING, created_at=now - 60)
    newer = await new_request(store, state=RequestState.WAITING, created_at=now - 30)

    found = await store.open_request_for(TENANT, "default", key, now)
    assert found is not None and (found.id, found.state) == (newer, RequestState.WAITING)
    assert await store.open_request_for(TENANT, "sales-sp", key, now) is None  # another WhatsApp number
    assert await store.open_request_for(TENANT, "default", customer_key("+5531977776666"), now) is None
    # A week on, only a request made within the last seven days is still open.
    late = await store.open_request_for(TENANT, "default", key, now + REQUEST_LIFETIME - 40)
    assert late is not None and late.id == newer
    assert await store.open_request_for(TENANT, "default", key, now + REQUEST_LIFETIME - 20) is None
    # Answered: no longer open; the older one still is.
    await store.update_request(TENANT, newer, state=RequestState.ANSWERED)
    found = await store.open_request_for(TENANT, "default", key, now)
    assert found is not None and found.id == older
