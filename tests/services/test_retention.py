"""bot.services.retention: purge_closed (batches, progress, idempotence) and the automatic retention loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain import RequestState
from bot.services.retention import DAY, HOUR, parse_age, purge, purge_closed, retention_loop
from bot.store import IncomingEvent, NewDelivery, NewRequest
from bot.store.sqlite import SQLiteStore as Store
from tests.tenants import TENANT

FAILED, NEW = RequestState.FAILED, RequestState.NEW


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(str(tmp_path / "askcall.db"))
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def add_request(store: Store, n: int, *, closed: bool = True, days_old: float = 200) -> int:
    request_id, _ = await store.create_request(
        NewRequest(
            TENANT,
            source_key=None,
            team_id="T1",
            channel_id="C1",
            user_id="U1",
            phone_e164=f"+55119876543{n:02d}",
            reason=f"motivo {n}",
            lang="en",
            response_url=None,
        ),
        NewDelivery(f"r{n}:parent", "parent", {"channel": "C1", "text": f"+55119876543{n:02d}"}),
    )
    if closed:
        assert await store.transition(TENANT, request_id, [NEW], FAILED, error_code="HTTP 401")
    await store.update_request(TENANT, request_id, created_at=time.time() - days_old * DAY)
    return request_id


async def test_purge_closed_works_in_batches_with_progress_and_is_idempotent(store: Store) -> None:
    ids = [await add_request(store, n) for n in range(5)]
    open_id = await add_request(store, 9, closed=False)
    seen: list[tuple[int, int]] = []

    first = await purge_closed(store, time.time() - 180 * DAY, batch_size=2, progress=lambda d, t: seen.append((d, t)))
    second = await purge_closed(store, time.time() - 180 * DAY, batch_size=2)

    assert (first, second) == (5, 0)
    assert seen == [(2, 5), (4, 5), (5, 5)]
    for request_id in ids:
        request = await store.get_request(TENANT, request_id)
        assert request is not None
        assert (request.phone_e164, request.reason, request.state) == ("", "", FAILED)
    still_open = await store.get_request(TENANT, open_id)
    assert still_open is not None and still_open.phone_e164 == "+5511987654309"


async def test_unmatched_events_older_than_the_cutoff_are_erased(store: Store) -> None:
    matched_later = await store.record_webhook_event(
        IncomingEvent(
            TENANT,
            dedup_key="k-unprocessed",
            event="call.permission_updated",
            status="TEMPORARY",
            from_phone="5511987654399",
            to_phone="5511888888888",
            event_ts="2026-01-01T00:00:00.000Z",
            body='{"from": "5511987654399"}',
        ),
    )
    unmatched = await store.record_webhook_event(
        IncomingEvent(
            TENANT,
            dedup_key="k-unmatched",
            event="call.permission_updated",
            status="PERMANENT",
            from_phone="5511987654398",
            to_phone="5511888888888",
            event_ts="2026-01-01T00:00:00.000Z",
            body='{"from": "5511987654398"}',
        ),
    )
    await store.settle_webhook_event(TENANT, unmatched.id, "unmatched")

    await purge_closed(store, cutoff=time.time() + 60)  # both events are older than this cutoff

    erased = await store.get_webhook_event(TENANT, unmatched.id)
    assert erased is not None
    assert (erased.from_phone, erased.to_phone, erased.phone_key, erased.status) == (None, None, None, "PERMANENT")
    waiting = await store.get_webhook_event(TENANT, matched_later.id)
    assert waiting is not None and waiting.from_phone == "5511987654399"  # not processed yet: kept for AskCall


async def test_retention_loop_purges_by_its_clock_until_cancelled(store: Store) -> None:
    request_id = await add_request(store, 1, days_old=10)
    # 10 days old today; the loop's clock says it is 200 days later.
    loop = asyncio.create_task(retention_loop(store, 180, clock=lambda: time.time() + 190 * DAY, interval=0.01))
    try:
        for _ in range(500):
            request = await store.get_request(TENANT, request_id)
            if request is not None and request.purged_at is not None:
                break
            await asyncio.sleep(0.01)
        assert request is not None and request.reason == ""
        assert not loop.done()  # it keeps running for the next round
    finally:
        loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop


async def test_retention_loop_off_with_zero_days_still_deletes_spent_call_links(store: Store) -> None:
    request_id = await add_request(store, 1, days_old=10_000)
    now = time.time()
    await store.create_call_link(TENANT, "used", request_id, "U1", now - 60, now + 540)
    assert await store.redeem_call_link("used", "session", now - 30, now + 3600)
    await store.create_call_link(TENANT, "unused", request_id, "U1", now - 60, now + 540)
    await store.create_call_link(TENANT, "expired", request_id, "U1", now - 900, now - 300)

    loop = asyncio.create_task(retention_loop(store, 0, interval=0.01))
    try:
        for _ in range(500):
            if await _links(store) == ["unused"]:
                break
            await asyncio.sleep(0.01)
        assert not loop.done()  # it keeps running: links expire all the time
    finally:
        loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop

    assert await _links(store) == ["unused"]
    assert await store.call_session("session", now) is not None  # not expired: the page still works
    request = await store.get_request(TENANT, request_id)
    assert request is not None and request.reason == "motivo 1"  # nothing purged


async def _links(store: Store) -> list[str]:
    return [row["token_hash"] for row in await store.export_rows("call_links", None, 100)]


async def test_purge_deletes_the_calls_links_of_purged_requests_and_keeps_their_calls(store: Store) -> None:
    request_id = await add_request(store, 1)
    call = await store.create_call(TENANT, request_id, "U2", time.time() - 190 * DAY)
    await store.advance_call(
        TENANT, call.id, ["started"], {"pilot_call_id": "call_1", "state": "ended", "end_reason": "missed"}
    )
    await store.create_call_link(TENANT, "old-link", request_id, "U2", time.time(), time.time() + 600)

    counts = await purge(store, time.time() - 180 * DAY)

    assert (counts.requests, counts.calls, counts.call_credentials) == (1, 1, 1)
    kept = await store.get_call(TENANT, call.id)
    assert kept is not None and (kept.pilot_call_id, kept.user_id, kept.end_reason) == (None, "U2", "missed")
    assert await _links(store) == []


@pytest.mark.parametrize(("text", "seconds"), [("180d", 180 * DAY), ("12h", 12 * HOUR), (" 1D ", DAY)])
def test_parse_age(text: str, seconds: float) -> None:
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["180", "0d", "-1d", "1w", "d"])
def test_parse_age_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_age(text)
