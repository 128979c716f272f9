"""Store contract for calls in records (run on SQLite and PostgreSQL): the reads App Home and `askcall export`
use, and what retention erases or deletes of calls, call events, call links and page sessions."""

from __future__ import annotations

from typing import Any

from bot.domain import CallState, EventResult, RequestState
from bot.store import IncomingEvent, PurgeCounts, Store
from tests.store.helpers import ANSWER_AT, CUSTOMER, new_request
from tests.tenants import TENANT

NOW = ANSWER_AT
DAY = 24 * 3600.0
OLD = NOW - 200 * DAY  # created before the cutoff
OTHER_CUSTOMER = "+5521998765432"
CUTOFF = NOW - 180 * DAY
ANSWERED = RequestState.ANSWERED


async def ended_call(store: Store, request_id: int, user_id: str, started_at: float, pilot_id: str) -> int:
    call = await store.create_call(TENANT, request_id, user_id, started_at)
    fields = {"pilot_call_id": pilot_id, "state": CallState.ENDED, "duration": 61, "end_reason": "completed"}
    assert await store.advance_call(TENANT, call.id, [CallState.STARTED], fields)
    return call.id


async def live_call(store: Store, request_id: int, started_at: float, pilot_id: str) -> int:
    call = await store.create_call(TENANT, request_id, "U2", started_at)
    assert await store.advance_call(
        TENANT, call.id, [CallState.STARTED], {"pilot_call_id": pilot_id, "state": "connected"}
    )
    return call.id


async def call_event(store: Store, pilot_id: str, request_id: int | None) -> int:
    recorded = await store.record_webhook_event(
        IncomingEvent(
            TENANT,
            dedup_key=f"call:call.ended:{pilot_id}:COMPLETED",
            event="call.ended",
            status="COMPLETED",
            from_phone="5511888888888",
            to_phone=CUSTOMER.lstrip("+"),
            event_ts="2027-01-15T10:00:00.000Z",
            body=f'{{"callId": "{pilot_id}", "to": "{CUSTOMER.lstrip("+")}"}}',
        ),
        result=EventResult.CALL,
        request_id=request_id,
    )
    return recorded.id


async def rows(store: Store, table: str) -> list[dict[str, Any]]:
    return await store.export_rows(table, None, 1000)


async def test_calls_for_requests_gives_each_requests_calls_oldest_first(store: Store) -> None:
    a, b, quiet = [await new_request(store) for _ in range(3)]
    first = await ended_call(store, a, "U1", NOW, "c1")
    other = await ended_call(store, b, "U3", NOW + 1, "c2")
    second = (await store.create_call(TENANT, a, "U2", NOW + 2)).id

    found = await store.calls_for_requests(TENANT, [a, b, quiet, 999_999, a])

    assert {request_id: [c.id for c in calls] for request_id, calls in found.items()} == {
        a: [first, second],
        b: [other],
    }
    assert found[a][0].user_id == "U1" and found[a][1].state is CallState.STARTED
    assert await store.calls_for_requests(TENANT, []) == {}


async def test_requests_called_by_a_rep_on_teammates_requests_most_recently_called_first(store: Store) -> None:
    older = await new_request(store, created_at=NOW - 2 * DAY)
    newer = await new_request(store, created_at=NOW - DAY)
    before_window = await new_request(store, created_at=NOW - 40 * DAY)
    not_called = await new_request(store, created_at=NOW - DAY)
    own = await new_request(store, created_at=NOW - DAY, user_id="U2")
    await ended_call(store, own, "U2", NOW + 20, "c6")  # U2's own request: in their own list, not here
    await ended_call(store, newer, "U2", NOW, "c1")
    await ended_call(store, older, "U2", NOW + 10, "c2")
    await ended_call(store, older, "U2", NOW + 5, "c3")
    await ended_call(store, before_window, "U2", NOW, "c4")
    await ended_call(store, not_called, "U3", NOW, "c5")

    called = await store.requests_called_by(TENANT, "U2", NOW - 30 * DAY)

    assert [r.id for r in called] == [older, newer]  # each request once; asked by U1, called by U2
    assert called[0].phone_e164 == CUSTOMER
    assert [r.id for r in await store.requests_called_by(TENANT, "U2", NOW - 30 * DAY, limit=1)] == [older]
    assert await store.requests_called_by(TENANT, "U1", NOW - 30 * DAY) == []
    assert [r.id for r in await store.requests_called_by(TENANT, "U3", NOW - 30 * DAY)] == [not_called]


async def test_request_records_carry_their_calls(store: Store) -> None:
    called = await new_request(store, created_at=NOW)
    quiet = await new_request(store, created_at=NOW + 1)
    call_id = await ended_call(store, called, "U2", NOW + 5, "c1")

    records = [record async for record in store.request_records(NOW, batch_size=1)]

    assert [(r.request.id, [c.id for c in r.calls]) for r in records] == [(called, [call_id]), (quiet, [])]
    assert (records[0].calls[0].duration, records[0].calls[0].end_reason) == (61, "completed")


async def test_call_records_are_the_calls_started_in_the_period_with_their_requests(store: Store) -> None:
    old = await new_request(store, created_at=NOW - 90 * DAY)  # a lasting grant, called long after it was asked
    recent = await new_request(store, created_at=NOW, phone=OTHER_CUSTOMER)
    before = await ended_call(store, old, "U2", NOW - DAY, "c0")
    first = await ended_call(store, old, "U2", NOW, "c1")
    await ended_call(store, recent, "U2", NOW + DAY, "c3")  # the day after the period
    second = (await store.create_call(TENANT, recent, "U3", NOW + 10)).id  # still live: the customer's one live call

    records = [r async for r in store.call_records(NOW, NOW + DAY, batch_size=1)]

    assert [(r.call.id, r.request.id) for r in records] == [(first, old), (second, recent)]
    call, request = records[0].call, records[0].request
    assert (call.user_id, request.user_id, request.phone_e164) == ("U2", "U1", CUSTOMER)
    assert [r.call.id async for r in store.call_records(NOW - DAY)][:1] == [before]
    assert len([r async for r in store.call_records(NOW - DAY)]) == 4


async def test_a_call_event_is_stored_with_the_request_it_belongs_to(store: Store) -> None:
    request_id = await new_request(store)

    linked = await store.get_webhook_event(TENANT, await call_event(store, "c1", request_id))
    loose = await store.get_webhook_event(TENANT, await call_event(store, "c2", None))

    assert linked is not None and (linked.request_id, linked.result, linked.processed_at is not None) == (
        request_id,
        "call",
        True,
    )
    assert loose is not None and loose.request_id is None
    assert await store.unprocessed_webhook_events() == []


async def test_purge_erases_calls_call_ids_events_and_links_of_purged_requests(store: Store) -> None:
    old = await new_request(store, state=ANSWERED, created_at=OLD)
    recent = await new_request(store, state=ANSWERED, created_at=NOW, phone=OTHER_CUSTOMER)
    ended = await ended_call(store, old, "U2", NOW - 170 * DAY, "call_OLD")
    live = await live_call(store, old, NOW, "call_LIVE")
    kept_call = await ended_call(store, recent, "U2", NOW, "call_RECENT")
    old_event, kept_event = await call_event(store, "call_OLD", old), await call_event(store, "call_RECENT", recent)
    await store.create_call_link(TENANT, "link-old", old, "U2", NOW, NOW + 600)
    assert await store.redeem_call_link("link-old", "session-old", NOW, NOW + 3600)
    await store.create_call_link(TENANT, "link-old-2", old, "U2", NOW, NOW + 600)
    await store.create_call_link(TENANT, "link-recent", recent, "U2", NOW, NOW + 600)

    counts = await store.purge_requests_batch(CUTOFF)

    assert counts == PurgeCounts(requests=1, events=1, calls=1, call_credentials=3)
    calls = {c.id: c for c in (await store.calls_for_requests(TENANT, [old, recent]))[old]}
    # Who called, when, how long and how it ended stay (counts); Pilot Status's id, which maps to the number, goes.
    assert (calls[ended].pilot_call_id, calls[ended].user_id, calls[ended].duration) == (None, "U2", 61)
    assert calls[ended].phone_key is None  # the customer key is the number itself
    assert calls[live].phone_key is not None  # the live call still holds the customer's one live slot
    assert calls[ended].end_reason == "completed"
    assert calls[live].pilot_call_id == "call_LIVE"  # its webhooks must still find it
    assert (await store.get_call(TENANT, kept_call)).pilot_call_id == "call_RECENT"  # type: ignore[union-attr]
    events = {e["id"]: e for e in await rows(store, "webhook_events")}
    assert (events[old_event]["body"], events[old_event]["to_phone"]) == ("", None)
    assert events[old_event]["dedup_key"] == f"purged:{old_event}"
    assert CUSTOMER.lstrip("+") in events[kept_event]["body"]
    assert [link["token_hash"] for link in await rows(store, "call_links")] == ["link-recent"]
    assert await rows(store, "call_sessions") == []

    # Once the live call is over, the leftovers pass erases its id too.
    assert await store.advance_call(
        TENANT, live, [CallState.CONNECTED], {"state": CallState.ENDED, "end_reason": "completed"}
    )
    assert await store.purge_leftovers_batch(CUTOFF) == PurgeCounts(calls=1)
    assert (await store.get_call(TENANT, live)).pilot_call_id is None  # type: ignore[union-attr]
    assert await store.purge_leftovers_batch(CUTOFF) == PurgeCounts()
    assert await store.purge_requests_batch(CUTOFF) == PurgeCounts()


async def test_purge_erases_a_live_looking_call_that_started_before_the_cutoff(store: Store) -> None:
    old = await new_request(store, state=ANSWERED, created_at=OLD)
    stuck = await live_call(store, old, OLD + 60, "call_STUCK")  # its end never arrived

    counts = await store.purge_requests_batch(CUTOFF)

    assert counts.calls == 1
    assert (await store.get_call(TENANT, stuck)).pilot_call_id is None  # type: ignore[union-attr]


async def test_call_events_of_no_known_call_go_with_the_other_leftover_events(store: Store) -> None:
    loose = await call_event(store, "call_UNKNOWN", None)

    assert (await store.purge_leftovers_batch(CUTOFF)).events == 0  # received after the cutoff: kept
    counts = await store.purge_leftovers_batch(NOW + 10 * DAY)

    assert counts.events == 1
    (event,) = [e for e in await rows(store, "webhook_events") if e["id"] == loose]
    assert (event["body"], event["to_phone"]) == ("", None)


async def test_spent_call_links_and_expired_sessions_are_deleted(store: Store) -> None:
    request_id = await new_request(store)
    for name, expires_at in (("used", NOW + 600), ("expired", NOW - 1), ("valid", NOW + 600), ("edge", NOW)):
        await store.create_call_link(TENANT, name, request_id, "U1", NOW - 600, expires_at)
    assert await store.redeem_call_link("used", "session-live", NOW - 10, NOW + 3600)
    await store.create_call_link(TENANT, "for-old-session", request_id, "U1", NOW - 9000, NOW - 8400)
    assert await store.redeem_call_link("for-old-session", "session-old", NOW - 9000, NOW - 1)

    assert await store.delete_spent_call_credentials(NOW, limit=1) == 2  # one link, one session
    assert await store.delete_spent_call_credentials(NOW) == 3
    assert await store.delete_spent_call_credentials(NOW) == 0

    assert [link["token_hash"] for link in await rows(store, "call_links")] == ["valid"]
    assert [s["session_hash"] for s in await rows(store, "call_sessions")] == ["session-live"]
    assert await store.call_session("session-live", NOW) is not None
    assert await store.redeem_call_link("valid", "session-new", NOW, NOW + 3600) is not None
