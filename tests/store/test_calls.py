"""Store contract for calls from the browser (run on SQLite and PostgreSQL): links, sessions, calls."""

from __future__ import annotations

import asyncio
import time

from bot.domain import CallState
from bot.phones import customer_key
from bot.store import NewDelivery, Store
from tests.store.helpers import ANSWER_AT, CUSTOMER, new_request

NOW = ANSWER_AT


async def test_a_link_is_redeemed_once_into_a_session_bound_to_its_user_and_request(store: Store) -> None:
    request_id = await new_request(store)
    await store.create_call_link("tok", request_id, "U7", NOW, NOW + 600)
    session = await store.redeem_call_link("tok", "sess", NOW + 10, NOW + 3600)
    assert session is not None and (session.request_id, session.user_id) == (request_id, "U7")
    assert await store.redeem_call_link("tok", "sess2", NOW + 11, NOW + 3600) is None  # single use
    assert await store.call_session("sess", NOW + 20) == session
    assert await store.call_session("sess", NOW + 3600) is None  # expired
    assert await store.call_session("sess2", NOW + 20) is None
    assert await store.call_session("tok", NOW + 20) is None  # a link is not a session


async def test_an_expired_or_unknown_link_opens_nothing(store: Store) -> None:
    request_id = await new_request(store)
    await store.create_call_link("tok", request_id, "U7", NOW, NOW + 600)
    assert await store.redeem_call_link("tok", "sess", NOW + 600, NOW + 3600) is None
    assert await store.redeem_call_link("other", "sess", NOW, NOW + 3600) is None
    assert await store.call_session("sess", NOW) is None


async def test_racing_redemptions_open_one_session(store: Store, rival: Store) -> None:
    request_id = await new_request(store)
    await store.create_call_link("tok", request_id, "U7", NOW, NOW + 600)
    results = await asyncio.gather(
        *(s.redeem_call_link("tok", f"sess{n}", NOW + 1, NOW + 3600) for n, s in enumerate([store, rival] * 3))
    )
    assert sum(r is not None for r in results) == 1


async def test_a_call_only_moves_forward_and_stores_its_messages_with_it(store: Store) -> None:
    request_id = await new_request(store)
    call = await store.create_call(request_id, "U2", NOW)
    assert (call.state, call.user_id, call.delivery_key, call.pilot_call_id) == (
        "started",
        "U2",
        f"call{call.id}",
        None,
    )
    post = NewDelivery(f"{call.delivery_key}:post", "reply", {"channel": "C1", "text": "calling"})
    ringing = await store.advance_call(
        call.id, [CallState.STARTED], {"state": "ringing", "pilot_call_id": "call_X"}, [post]
    )
    assert ringing is not None and ringing.state == "ringing"
    assert await store.call_by_pilot_id("call_X") == ringing
    assert await store.advance_call(call.id, [CallState.STARTED], {"state": "ringing"}, [post]) is None
    ended = await store.advance_call(
        call.id,
        [CallState.RINGING, CallState.CONNECTED],
        {"state": "ended", "duration": 252, "end_reason": "completed"},
    )
    assert ended is not None and (ended.duration, ended.end_reason) == (252, "completed")
    assert await store.get_call(call.id) == ended
    assert await store.last_call(request_id) == ended
    later = await store.create_call(request_id, "U1", NOW + 5)
    assert (await store.last_call(request_id)) == later
    queued = await store.delivery_for(request_id, "reply")
    assert queued is not None and queued.dedup_key == f"{call.delivery_key}:post"
    assert await store.posted_ts(queued.dedup_key) is None
    assert not await store.posted_for(request_id, "123.456")
    await store.complete_delivery(queued, "123.456", NOW)
    assert await store.posted_ts(queued.dedup_key) == "123.456"
    assert await store.posted_for(request_id, "123.456")  # a button on it belongs to this request
    assert not await store.posted_for(request_id, "123.457")
    assert not await store.posted_for(await new_request(store, phone="+5511987650000"), "123.456")


async def test_calls_to_settle_and_lost_starts_by_customer(store: Store) -> None:
    request_id = await new_request(store)
    lost = await store.create_call(request_id, "U1", NOW)  # no Pilot Status id: its start's answer was lost
    live = await store.create_call(request_id, "U1", NOW)
    live = await store.advance_call(live.id, [CallState.STARTED], {"pilot_call_id": "call_L", "state": "ringing"})
    assert live is not None
    done = await store.create_call(request_id, "U1", NOW)
    await store.advance_call(done.id, [CallState.STARTED], {"pilot_call_id": "call_D", "state": "ended"})
    # A lost start is due once older than the start grace; a live call once quiet (updated_at is real time).
    assert await store.unsettled_calls(NOW - 1, 0) == []
    assert [c.id for c in await store.unsettled_calls(NOW + 1, 0)] == [lost.id]
    assert {c.id for c in await store.unsettled_calls(NOW + 1, time.time() + 1)} == {lost.id, live.id}
    # The customer's lost start, by their key; another customer has none.
    found = await store.unconfirmed_call_to(customer_key(CUSTOMER), NOW - 10)
    assert found is not None and found.id == lost.id
    assert await store.unconfirmed_call_to(customer_key(CUSTOMER), NOW + 1) is None
    assert await store.unconfirmed_call_to(customer_key("+5511912345678"), NOW - 10) is None
    # Given an id once only; a cancelled one is still found (to be terminated if it turns out to ring).
    assert (
        await store.advance_call(lost.id, [CallState.STARTED], {"state": "failed", "end_reason": "CANCELLED"})
        is not None
    )
    assert (await store.unconfirmed_call_to(customer_key(CUSTOMER), NOW - 10)).id == lost.id  # type: ignore[union-attr]
    assigned = await store.advance_call(lost.id, [CallState.FAILED], {"pilot_call_id": "call_X"}, unassigned=True)
    assert assigned is not None and assigned.pilot_call_id == "call_X"
    assert await store.advance_call(lost.id, [CallState.FAILED], {"pilot_call_id": "call_Y"}, unassigned=True) is None
    assert await store.unconfirmed_call_to(customer_key(CUSTOMER), NOW - 10) is None
