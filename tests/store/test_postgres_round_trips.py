"""PostgreSQL round trips of the store (issue 19): a pooled connection goes back to the pool without asyncpg's reset
query, and a one-statement method runs without BEGIN and COMMIT, so either is one round trip; a connection that held a
session advisory lock is still released of it before anyone else gets that connection. PostgreSQL only (SQLite has
no pool)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from bot.domain import EventResult, ReminderKind, RequestState, TenantId
from bot.store import Effects, IncomingEvent, NewReminder, Store, create_store, sql
from bot.store.postgres.connection import WORK_CHANNEL
from tests.store.helpers import FAR_FUTURE, asking, new_request, reply
from tests.tenants import TENANT


@pytest.fixture
async def one_connection(pg_url: str) -> AsyncIterator[Store]:
    """A store whose pool holds one connection, so every call below runs on the connection the test watches."""
    store = create_store(pg_url, pool_size=1, owner="replica-a")
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def test_a_one_statement_read_is_one_round_trip(one_connection: Store) -> None:
    seen: list[str] = []
    async with one_connection.connection() as conn:  # type: ignore[attr-defined]
        conn.add_query_logger(lambda record: seen.append(record.query))

    for _ in range(3):
        assert await one_connection.slack_installation(TenantId("T1")) is None
    await asyncio.sleep(0)  # asyncpg hands query records to loggers with call_soon: let them run

    assert seen == [sql.SLACK_INSTALLATION.postgres] * 3


async def test_a_one_statement_write_is_one_round_trip_without_begin_and_commit(one_connection: Store) -> None:
    seen: list[str] = []
    async with one_connection.connection() as conn:  # type: ignore[attr-defined]
        conn.add_query_logger(lambda record: seen.append(record.query))

    await one_connection.set_locale(TenantId("T1"), "U1", "en", 1.0)
    await asyncio.sleep(0)  # the query records' call_soon

    assert seen == [sql.SET_LOCALE.postgres]
    assert (await one_connection.user_prefs(TenantId("T1"), "U1"))[1] == "en"  # committed: another read sees it


async def test_a_claim_and_the_next_due_time_are_one_round_trip(one_connection: Store) -> None:
    store = one_connection
    request_id = await new_request(store)
    await store.add_deliveries(TENANT, request_id, [reply("r-1")])
    seen: list[str] = []
    async with store.connection() as conn:  # type: ignore[attr-defined]
        conn.add_query_logger(lambda record: seen.append(record.query))

    claimed, next_at = await store.claim_due(FAR_FUTURE)
    await asyncio.sleep(0)  # the query records' call_soon

    assert [d.kind for d in claimed] == ["parent"] and len(seen) == 1
    assert next_at is None  # the reply waits behind its parent, just claimed
    assert await store.claim_due(FAR_FUTURE) == ([], None)


async def test_completing_a_post_and_claiming_the_requests_next_is_one_round_trip(one_connection: Store) -> None:
    store = one_connection
    request_id = await new_request(store)
    await store.add_deliveries(TENANT, request_id, [reply("r-1")])
    [parent] = await store.claim_due_deliveries(FAR_FUTURE)
    seen: list[str] = []
    async with store.connection() as conn:  # type: ignore[attr-defined]
        conn.add_query_logger(lambda record: seen.append(record.query))

    following, drained = await store.complete_delivery(parent, "1.0", FAR_FUTURE)
    assert following is not None and following.dedup_key == "r-1" and drained is False
    assert await store.complete_delivery(following, "2.0", FAR_FUTURE) == (None, True)
    await asyncio.sleep(0)  # the query records' call_soon

    assert len(seen) == 2 and not {"BEGIN;", "COMMIT;"} & set(seen)


async def test_settling_an_answer_with_its_effects_is_one_round_trip_that_wakes_listeners(
    one_connection: Store, pg_url: str
) -> None:
    store = one_connection
    request_id = await new_request(store)
    event = await store.record_webhook_event(
        IncomingEvent(
            TENANT,
            dedup_key="k1",
            event="call.permission_updated",
            status="PERMANENT",
            from_phone=None,
            to_phone=None,
            event_ts=None,
            body="{}",
        )
    )
    listener = create_store(pg_url, owner="replica-b")
    await listener.open()
    woken = asyncio.Event()
    listening = asyncio.create_task(listener.listen(woken.set))
    try:
        await asyncio.wait_for(woken.wait(), 10)  # connecting wakes once
        woken.clear()
        seen: list[str] = []
        async with store.connection() as conn:  # type: ignore[attr-defined]
            conn.add_query_logger(lambda record: seen.append(record.query))
        effects = Effects({"outcome": "PERMANENT"}, [reply("answer-1")], [NewReminder(ReminderKind.EXPIRY, 1.0)])

        assert await store.settle_webhook_event(
            TENANT, event.id, EventResult.MATCHED, request_id=request_id, effects=effects
        )
        await asyncio.wait_for(woken.wait(), 10)
        await asyncio.sleep(0)  # the query records' call_soon
        assert len(seen) == 1

        # Settled already: nothing applied, and no one is woken for it.
        woken.clear()
        assert not await store.settle_webhook_event(
            TENANT, event.id, EventResult.CHANGED, request_id=request_id, effects=effects
        )
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(woken.wait(), 0.5)
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
        await listener.close()


async def test_a_session_lock_left_behind_is_released_before_its_connection_is_reused(
    one_connection: Store, pg_url: str
) -> None:
    rival = create_store(pg_url, owner="replica-b")
    await rival.open()
    try:
        # What `exclusive` does, with its unlock cut short (a cancellation or an error in its `finally`).
        async with one_connection.connection() as conn:  # type: ignore[attr-defined]
            one_connection._takes_session_lock(conn)  # type: ignore[attr-defined]
            assert await conn.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", "retention")

        async with rival.exclusive("retention") as theirs:
            assert theirs
    finally:
        await rival.close()


async def test_a_new_request_with_its_parent_is_four_round_trips_and_wakes_every_replica(
    one_connection: Store, pg_url: str
) -> None:
    """BEGIN, the customer's and the rep's locks with the new id (one statement), every check with the request, its
    parent message and the wake-up (one), COMMIT: what the ack waits for on PostgreSQL."""
    listener = await asyncpg.connect(pg_url)
    woken: list[str] = []
    await listener.add_listener(WORK_CHANNEL, lambda *args: woken.append(args[2]))
    seen: list[str] = []
    async with one_connection.connection() as conn:  # type: ignore[attr-defined]
        conn.add_query_logger(lambda record: seen.append(record.query))
    try:
        request_id, created = await one_connection.create_request(
            asking("cmd:1"), lambda rid: reply(f"{rid}:parent"), refuse_if_open=True, max_per_user_hour=5
        )
        await asyncio.sleep(0.2)  # the query records' call_soon, and the notification
    finally:
        await listener.close()

    assert created
    assert len(seen) == 4, seen
    assert [seen[0].strip(), seen[-1].strip()] == ["BEGIN;", "COMMIT;"]
    assert woken == [WORK_CHANNEL]
    due = await one_connection.claim_due_deliveries(time.time() + 1)
    assert [(d.request_id, d.dedup_key) for d in due] == [(request_id, f"{request_id}:parent")]
    # The same command again (Slack's retry): the request it made, nothing new.
    assert await one_connection.create_request(
        asking("cmd:1"), lambda rid: reply(f"{rid}:again"), refuse_if_open=True, max_per_user_hour=5
    ) == (request_id, False)


async def test_a_step_without_effects_is_one_round_trip(one_connection: Store) -> None:
    request_id, _ = await one_connection.create_request(asking("cmd:2"), reply("cmd:2:parent"))
    seen: list[str] = []
    async with one_connection.connection() as conn:  # type: ignore[attr-defined]
        conn.add_query_logger(lambda record: seen.append(record.query))

    moved = await one_connection.advance(TENANT, request_id, [RequestState.NEW], RequestState.READY, parent_ts="1.5")
    again = await one_connection.advance(TENANT, request_id, [RequestState.NEW], RequestState.READY, parent_ts="2.5")
    await asyncio.sleep(0)  # the query records' call_soon

    assert len(seen) == 2 and not any(q.strip() in ("BEGIN;", "COMMIT;") for q in seen), seen
    assert moved is not None and (moved.state, moved.parent_ts) == (RequestState.READY, "1.5")
    assert again is None  # guarded: it moved already
    request = await one_connection.get_request(TENANT, request_id)
    assert request is not None and request.parent_ts == "1.5"
