"""Store contract for calls from the browser (run on SQLite and PostgreSQL): links, sessions, calls."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from bot.domain import Call, CallInProgress, CallState
from bot.phones import customer_key
from bot.store import NewDelivery, Store
from tests.store.helpers import ANSWER_AT, CUSTOMER, asking, new_request
from tests.tenants import TENANT

NOW = ANSWER_AT


async def test_a_link_is_redeemed_once_into_a_session_bound_to_its_user_and_request(store: Store) -> None:
    request_id = await new_request(store)
    await store.create_call_link(TENANT, "tok", request_id, "U7", NOW, NOW + 600)
    session = await store.redeem_call_link("tok", "sess", NOW + 10, NOW + 3600)
    assert session is not None and (session.request_id, session.user_id) == (request_id, "U7")
    assert await store.redeem_call_link("tok", "sess2", NOW + 11, NOW + 3600) is None  # single use
    assert await store.call_session("sess", NOW + 20) == session
    assert await store.call_session("sess", NOW + 3600) is None  # expired
    assert await store.call_session("sess2", NOW + 20) is None
    assert await store.call_session("tok", NOW + 20) is None  # a link is not a session


async def test_an_expired_or_unknown_link_opens_nothing(store: Store) -> None:
    request_id = await new_request(store)
    await store.create_call_link(TENANT, "tok", request_id, "U7", NOW, NOW + 600)
    assert await store.redeem_call_link("tok", "sess", NOW + 600, NOW + 3600) is None
    assert await store.redeem_call_link("other", "sess", NOW, NOW + 3600) is None
    assert await store.call_session("sess", NOW) is None


async def test_racing_redemptions_open_one_session(store: Store, rival: Store) -> None:
    request_id = await new_request(store)
    await store.create_call_link(TENANT, "tok", request_id, "U7", NOW, NOW + 600)
    results = await asyncio.gather(
        *(s.redeem_call_link("tok", f"sess{n}", NOW + 1, NOW + 3600) for n, s in enumerate([store, rival] * 3))
    )
    assert sum(r is not None for r in results) == 1


async def test_a_call_only_moves_forward_and_stores_its_messages_with_it(store: Store) -> None:
    request_id = await new_request(store)
    call = await store.create_call(TENANT, request_id, "U2", NOW)
    assert (call.state, call.user_id, call.delivery_key, call.pilot_call_id) == (
        "started",
        "U2",
        f"call{call.id}",
        None,
    )
    post = NewDelivery(f"{call.delivery_key}:post", "reply", {"channel": "C1", "text": "calling"})
    ringing = await store.advance_call(
        TENANT, call.id, [CallState.STARTED], {"state": "ringing", "pilot_call_id": "call_X"}, [post]
    )
    assert ringing is not None and ringing.state == "ringing"
    assert await store.call_by_pilot_id(TENANT, "call_X") == ringing
    assert await store.advance_call(TENANT, call.id, [CallState.STARTED], {"state": "ringing"}, [post]) is None
    ended = await store.advance_call(
        TENANT,
        call.id,
        [CallState.RINGING, CallState.CONNECTED],
        {"state": "ended", "duration": 252, "end_reason": "completed"},
    )
    assert ended is not None and (ended.duration, ended.end_reason) == (252, "completed")
    assert await store.get_call(TENANT, call.id) == ended
    assert await store.last_call(TENANT, request_id) == ended
    later = await store.create_call(TENANT, request_id, "U1", NOW + 5)
    assert (await store.last_call(TENANT, request_id)) == later
    queued = await store.delivery_for(TENANT, request_id, "reply")
    assert queued is not None and queued.dedup_key == f"{call.delivery_key}:post"
    assert await store.posted_ts(TENANT, queued.dedup_key) is None
    assert not await store.posted_for(TENANT, request_id, "123.456")
    await store.complete_delivery(queued, "123.456", NOW)
    assert await store.posted_ts(TENANT, queued.dedup_key) == "123.456"
    assert await store.posted_for(TENANT, request_id, "123.456")  # a button on it belongs to this request
    assert not await store.posted_for(TENANT, request_id, "123.457")
    assert not await store.posted_for(TENANT, await new_request(store, phone="+5511987650000"), "123.456")


async def test_calls_to_settle_and_lost_starts_by_customer(store: Store) -> None:
    request_id = await new_request(store)
    lost = await store.create_call(TENANT, request_id, "U1", NOW)  # no Pilot Status id: its start's answer was lost
    live = await store.create_call(TENANT, await new_request(store, phone="+5521998765432"), "U1", NOW)
    live = await store.advance_call(
        TENANT, live.id, [CallState.STARTED], {"pilot_call_id": "call_L", "state": "ringing"}
    )
    assert live is not None
    done = await store.create_call(TENANT, await new_request(store, phone="+5531912345678"), "U1", NOW)
    await store.advance_call(TENANT, done.id, [CallState.STARTED], {"pilot_call_id": "call_D", "state": "ended"})
    # A lost start is due once older than the start grace; a live call once quiet (updated_at is real time).
    assert await store.unsettled_calls(NOW - 1, 0) == []
    assert [c.id for c in await store.unsettled_calls(NOW + 1, 0)] == [lost.id]
    assert {c.id for c in await store.unsettled_calls(NOW + 1, time.time() + 1)} == {lost.id, live.id}
    # The customer's lost start, by their key; another customer has none.
    found = await store.unconfirmed_call_to(TENANT, customer_key(CUSTOMER), NOW - 10)
    assert found is not None and found.id == lost.id
    assert await store.unconfirmed_call_to(TENANT, customer_key(CUSTOMER), NOW + 1) is None
    assert await store.unconfirmed_call_to(TENANT, customer_key("+5511912345678"), NOW - 10) is None
    # Given an id once only; a cancelled one is still found (to be terminated if it turns out to ring).
    assert (
        await store.advance_call(TENANT, lost.id, [CallState.STARTED], {"state": "failed", "end_reason": "CANCELLED"})
        is not None
    )
    assert (await store.unconfirmed_call_to(TENANT, customer_key(CUSTOMER), NOW - 10)).id == lost.id  # type: ignore[union-attr]
    assigned = await store.advance_call(
        TENANT, lost.id, [CallState.FAILED], {"pilot_call_id": "call_X"}, unassigned=True
    )
    assert assigned is not None and assigned.pilot_call_id == "call_X"
    assert (
        await store.advance_call(TENANT, lost.id, [CallState.FAILED], {"pilot_call_id": "call_Y"}, unassigned=True)
        is None
    )
    assert await store.unconfirmed_call_to(TENANT, customer_key(CUSTOMER), NOW - 10) is None


# --- one live call per customer --------------------------------------------------------------------------------
async def test_a_customer_has_one_live_call_across_requests_sessions_and_replicas(store: Store, rival: Store) -> None:
    """Five starts at once, from two replicas, two requests and three page sessions for one customer: one call is
    stored, the others are refused naming it. Another number, or another customer, calls freely; once the call is
    over the customer can be called again."""
    first_request = await new_request(store)
    second_request = await new_request(store)  # a teammate's request for the same customer (spelt the same)
    starts = [
        (store, first_request, "U1", 1),
        (rival, first_request, "U1", 1),
        (store, first_request, "U2", 2),
        (rival, second_request, "U3", 3),
        (store, second_request, "U3", 3),
    ]

    async def start(s: Store, request_id: int, user_id: str, session_id: int) -> Call | CallInProgress:
        try:
            return await s.create_call(TENANT, request_id, user_id, NOW, session_id)
        except CallInProgress as busy:
            return busy

    results = await asyncio.gather(*(start(*args) for args in starts))

    made = [r for r in results if isinstance(r, Call)]
    refused = [r for r in results if isinstance(r, CallInProgress)]
    assert len(made) == 1 and len(refused) == 4, results
    (call,) = made
    assert {busy.call.id for busy in refused} == {call.id}  # each refusal names the live call: who, since when
    assert (call.number_name, call.phone_key) == ("default", customer_key(CUSTOMER))
    assert await store.live_call_to(TENANT, "default", customer_key(CUSTOMER)) == call
    assert await rival.session_call(TENANT, call.session_id or 0) == call
    # Another customer, and the same customer on another number, are not held up.
    other = await store.create_call(TENANT, await new_request(store, phone="+5521998765432"), "U1", NOW, 9)
    team_request, _ = await store.create_request(
        replace(asking("src-team"), number_name="vendas-rj"), NewDelivery("parent-team", "parent", {"text": "x"})
    )
    elsewhere = await store.create_call(TENANT, team_request, "U1", NOW, 10)
    assert other.phone_key != call.phone_key and elsewhere.number_name == "vendas-rj"
    # Over (ended, or failed to start): the customer can be called again.
    await store.advance_call(
        TENANT, call.id, [CallState.STARTED], {"state": "failed", "end_reason": "VALIDATION_ERROR"}
    )
    again = await rival.create_call(TENANT, second_request, "U3", NOW + 1, 3)
    assert again.state == "started" and await store.live_call_to(TENANT, "default", customer_key(CUSTOMER)) == again


async def test_calls_are_found_by_session_provider_id_and_in_batches(store: Store) -> None:
    request_id = await new_request(store)
    call = await store.create_call(TENANT, request_id, "U1", NOW, 41)
    assert await store.session_call(TENANT, 41) == call and await store.session_call(TENANT, 42) is None
    moved = await store.advance_call(
        TENANT,
        call.id,
        [CallState.STARTED],
        {"pilot_call_id": "call_A", "external_call_id": "wacid.A", "state": "ringing"},
    )
    assert moved is not None and moved.external_call_id == "wacid.A"
    assert (
        await store.call_by_external_id(TENANT, "wacid.A") == moved
        and await store.call_by_external_id(TENANT, "x") is None
    )
    assert await store.calls_by_ids([call.id, call.id, 999]) == {call.id: moved}
    assert await store.calls_by_pilot_ids(TENANT, ["call_A", "call_B"]) == {"call_A": moved}
    assert await store.calls_by_ids([]) == {} and await store.calls_by_pilot_ids(TENANT, []) == {}


async def test_each_database_has_its_own_id_whatever_names_it(store: Store, rival: Store) -> None:
    found = await store.database_id()
    assert found and len(found) >= 16
    assert await rival.database_id() == found  # another connection to the same database: the same id
