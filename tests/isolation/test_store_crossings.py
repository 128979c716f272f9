"""Crossings at the store, on every backend: two workspaces in one database with the same customer phone, the same
webhook dedup key, the same Slack user id, the same source key, and request ids guessed across. Nothing of one tenant
is seen, matched, counted, budgeted or changed through the other."""

from __future__ import annotations

import time

import pytest

from bot.domain import BudgetSpent, CallInProgress, DeliveryKind, EventResult, OpenRequestExists, RequestState
from bot.phones import customer_key
from bot.store import Effects, IncomingEvent, NewDelivery, Store
from tests.store.helpers import ANSWER_AT, CUSTOMER, asking, new_request, reply
from tests.tenants import OTHER, TENANT

KEY = customer_key(CUSTOMER)


def answer(tenant: str, dedup_key: str = "evt-same") -> IncomingEvent:
    return IncomingEvent(
        tenant,  # type: ignore[arg-type]
        dedup_key=dedup_key,
        event="call.permission_updated",
        status="PERMANENT",
        from_phone=CUSTOMER,
        to_phone=None,
        event_ts="2027-01-15T08:00:00.000Z",
        body="{}",
    )


async def test_the_same_customer_may_have_an_open_request_in_each_workspace(store: Store) -> None:
    mine = await new_request(store, refuse_if_open=True)
    theirs = await new_request(store, tenant=OTHER, refuse_if_open=True)

    assert mine != theirs
    assert (await store.open_request_for(TENANT, "default", KEY, time.time())).id == mine  # type: ignore[union-attr]
    assert (await store.open_request_for(OTHER, "default", KEY, time.time())).id == theirs  # type: ignore[union-attr]
    with pytest.raises(OpenRequestExists) as exists:
        await new_request(store, tenant=OTHER, refuse_if_open=True)
    assert exists.value.request.id == theirs and exists.value.request.tenant == OTHER


async def test_a_request_id_guessed_from_another_workspace_reads_and_changes_nothing(store: Store) -> None:
    mine = await new_request(store)

    assert await store.get_request(OTHER, mine) is None
    assert await store.transition(OTHER, mine, [RequestState.NEW], RequestState.READY) is False
    assert await store.advance(OTHER, mine, [RequestState.NEW], RequestState.READY, parent_ts="1.0") is None
    await store.update_request(OTHER, mine, reason="changed")
    assert await store.claim_request(OTHER, mine, RequestState.NEW, ANSWER_AT) is None
    await store.add_deliveries(OTHER, mine, [reply("sneaked")])
    assert await store.delivery_for(OTHER, mine, DeliveryKind.PARENT) is None
    assert await store.claim_status_check(OTHER, mine, ANSWER_AT, 10.0) == (False, None)
    await store.record_status_check(OTHER, mine, "theirs")
    await store.create_call_link(OTHER, "hash-x", mine, "U1", ANSWER_AT, ANSWER_AT + 600)
    assert await store.redeem_call_link("hash-x", "session-x", ANSWER_AT + 1, ANSWER_AT + 3600) is None
    with pytest.raises(LookupError):
        await store.create_call(OTHER, mine, "U1", ANSWER_AT)
    assert await store.calls_for_requests(OTHER, [mine]) == {}
    assert await store.posted_for(OTHER, mine, "1.0") is False
    assert await store.reminders_for(OTHER, mine) == []

    request = await store.get_request(TENANT, mine)
    assert request is not None and request.state is RequestState.NEW and request.reason != "changed"
    assert request.tenant == TENANT
    claimed, _ = await store.claim_due(ANSWER_AT + 10**9)
    assert [d.dedup_key for d in claimed if d.request_id == mine] == [claimed[0].dedup_key]  # its parent only
    assert all(d.tenant == TENANT for d in claimed)


async def test_effects_and_settling_land_only_on_the_tenants_own_request(store: Store) -> None:
    mine = await new_request(store)
    recorded = await store.record_webhook_event(answer(OTHER))

    settled = await store.settle_webhook_event(
        OTHER, recorded.id, EventResult.MATCHED, request_id=mine, effects=Effects({"outcome": "PERMANENT"})
    )

    assert settled is False  # the event is OTHER's, the request is not: nothing applied, the event stays open
    assert (await store.get_request(TENANT, mine)).outcome is None  # type: ignore[union-attr]
    assert await store.settle_webhook_event(TENANT, recorded.id, EventResult.IGNORED) is False  # not TENANT's event


async def test_the_same_webhook_dedup_key_is_kept_once_per_workspace(store: Store) -> None:
    first = await store.record_webhook_event(answer(TENANT))
    second = await store.record_webhook_event(answer(OTHER))
    again = await store.record_webhook_event(answer(OTHER))

    assert first.is_new and second.is_new and first.id != second.id
    assert not again.is_new and again.id == second.id
    assert (await store.get_webhook_event(TENANT, first.id)).tenant == TENANT  # type: ignore[union-attr]
    assert await store.get_webhook_event(TENANT, second.id) is None
    assert {(tenant, event_id) for event_id, tenant, _ in await store.unprocessed_webhook_events()} <= {
        (TENANT, first.id),
        (OTHER, second.id),
    }


async def test_an_answer_is_matched_only_against_its_own_workspaces_requests(store: Store) -> None:
    theirs = await new_request(store, tenant=OTHER, created_at=ANSWER_AT - 60, state=RequestState.WAITING)

    recorded = await store.record_webhook_event(answer(TENANT, "evt-mine"), answered_at=ANSWER_AT)

    assert recorded.unmatched  # OTHER's request for the same customer is not TENANT's to answer
    assert await store.find_request_for_answer(TENANT, KEY, ANSWER_AT) is None
    assert (await store.find_request_for_answer(OTHER, KEY, ANSWER_AT)).id == theirs  # type: ignore[union-attr]
    assert await store.open_answer(TENANT, recorded.id, lambda _: ANSWER_AT) is None  # settled unmatched already
    other_event = await store.record_webhook_event(answer(OTHER, "evt-theirs"), answered_at=ANSWER_AT)
    assert await store.open_answer(TENANT, other_event.id, lambda _: ANSWER_AT) is None  # not TENANT's event
    opened = await store.open_answer(OTHER, other_event.id, lambda _: ANSWER_AT)
    assert opened is not None and opened.request is not None and opened.request.id == theirs


async def test_the_same_user_id_is_two_people(store: Store) -> None:
    await store.set_dm_answers(TENANT, "U1", True)
    await store.set_locale(OTHER, "U1", "en-US", ANSWER_AT)

    assert await store.user_prefs(TENANT, "U1") == (True, None, None)
    assert await store.user_prefs(OTHER, "U1") == (False, "en-US", ANSWER_AT)
    assert await store.claim_action(TENANT, "click-1") and await store.claim_action(OTHER, "click-1")
    assert not await store.claim_action(OTHER, "click-1")


async def test_a_reps_budget_counts_only_their_workspaces_requests(store: Store) -> None:
    await new_request(store, phone="+5531911110001", max_per_user_hour=1)
    await new_request(store, phone="+5531911110002", tenant=OTHER, max_per_user_hour=1)  # same user id U1

    with pytest.raises(BudgetSpent):
        await new_request(store, phone="+5531911110003", tenant=OTHER, max_per_user_hour=1)
    assert [r.tenant for r in await store.requests_by_user(OTHER, "U1", 0)] == [OTHER]


async def test_the_same_source_key_makes_one_request_in_each_workspace(store: Store) -> None:
    parent = NewDelivery("parent-same", DeliveryKind.PARENT, {"channel": "C1"})
    mine, mine_new = await store.create_request(asking("cmd:TRIGGER"), parent)
    theirs, theirs_new = await store.create_request(asking("cmd:TRIGGER", tenant=OTHER), parent)

    assert mine_new and theirs_new and mine != theirs
    assert (await store.delivery_for(OTHER, theirs, DeliveryKind.PARENT)).tenant == OTHER  # type: ignore[union-attr]
    assert await store.posted_ts(OTHER, "parent-same") is None


async def test_each_workspace_has_its_own_live_call_per_customer(store: Store) -> None:
    mine = await new_request(store)
    theirs = await new_request(store, tenant=OTHER)

    my_call = await store.create_call(TENANT, mine, "U1", ANSWER_AT)
    their_call = await store.create_call(OTHER, theirs, "U1", ANSWER_AT)

    assert my_call.tenant == TENANT and their_call.tenant == OTHER
    assert (await store.live_call_to(OTHER, "default", KEY)).id == their_call.id  # type: ignore[union-attr]
    assert await store.get_call(OTHER, my_call.id) is None
    assert await store.advance_call(OTHER, my_call.id, [my_call.state], {"state": "ended"}) is None
    assert (await store.get_call(TENANT, my_call.id)).state == my_call.state  # type: ignore[union-attr]
    with pytest.raises(CallInProgress) as busy:
        await store.create_call(OTHER, theirs, "U2", ANSWER_AT + 1)
    assert busy.value.call.id == their_call.id


async def test_a_redeemed_link_opens_a_session_of_its_own_workspace(store: Store) -> None:
    theirs = await new_request(store, tenant=OTHER)
    await store.create_call_link(OTHER, "hash-t", theirs, "U1", ANSWER_AT, ANSWER_AT + 600)

    session = await store.redeem_call_link("hash-t", "session-t", ANSWER_AT + 1, ANSWER_AT + 3600)

    assert session is not None and session.tenant == OTHER and session.request_id == theirs
    assert (await store.call_session("session-t", ANSWER_AT + 2)).tenant == OTHER  # type: ignore[union-attr]
