"""Webhook events: stored once (group commit), matched to the request they answer, settled once."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import asyncpg

from bot.domain import (
    CLOCK_SKEW,
    CORRELATABLE_STATES,
    DEFAULT_NUMBER,
    REQUEST_LIFETIME,
    EventResult,
    Request,
    TenantId,
)
from bot.store import sql
from bot.store.postgres.connection import WORK_CHANNEL, PostgresConnection, texts
from bot.store.postgres.effects import guarded_effects, request_from
from bot.store.types import NO_EFFECTS, AnswerTarget, Effects, NewEvent, RecordedEvent, WebhookEvent

# One batch of webhook deliveries in one statement: insert what is new (by dedup key), settling at
# once each answer that no request can own (as `answer_target_row` would find none) and each event
# stored with a result already (e.g. ignored; with the request it belongs to, if given), and give back,
# in input order, the new row's id or the id already stored under that key.
_INSERT_BATCH = """
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                         $8::text[], $9::float8[], $10::text[], $11::float8[], $12::text[], $18::bigint[],
                         $19::text[])
        WITH ORDINALITY AS t(dedup_key, event, status, from_phone, to_phone, phone_key, event_ts, body,
                             received_at, number_name, answered_at, result, request_id, tenant_id, ord)
),
decided AS (
    SELECT i.*, (i.result IS NULL AND i.answered_at IS NOT NULL AND (COALESCE(i.phone_key, '') = '' OR NOT EXISTS (
        SELECT 1 FROM requests r
        WHERE r.tenant_id = i.tenant_id AND r.number_name = i.number_name AND r.phone_key = i.phone_key
          AND r.state = ANY($13::text[])
          AND r.created_at BETWEEN i.answered_at - $14::float8 AND i.answered_at + $15::float8
    ))) AS unmatched
    FROM input i
),
inserted AS (
    INSERT INTO webhook_events (tenant_id, dedup_key, event, status, from_phone, to_phone, phone_key, event_ts, body,
                                received_at, number_name, processed_at, result, request_id)
    SELECT d.tenant_id, d.dedup_key, d.event, d.status, d.from_phone, d.to_phone, d.phone_key, d.event_ts, d.body,
           d.received_at, d.number_name,
           CASE WHEN d.unmatched OR d.result IS NOT NULL THEN $16::float8 END,
           COALESCE(d.result, CASE WHEN d.unmatched THEN $17::text END),
           CASE WHEN d.result IS NOT NULL THEN (
               SELECT r.id FROM requests r WHERE r.id = d.request_id AND r.tenant_id = d.tenant_id) END
    FROM decided d ORDER BY d.ord
    ON CONFLICT (tenant_id, dedup_key) DO NOTHING
    RETURNING id, tenant_id, dedup_key, result IS NOT DISTINCT FROM $17::text AS unmatched
)
SELECT i.dedup_key, i.tenant_id, n.id AS new_id, n.unmatched, w.id AS old_id
FROM input i
LEFT JOIN inserted n ON n.tenant_id = i.tenant_id AND n.dedup_key = i.dedup_key
LEFT JOIN webhook_events w ON n.id IS NULL AND w.tenant_id = i.tenant_id AND w.dedup_key = i.dedup_key
ORDER BY i.ord"""
_IDS_BY_KEY = """SELECT k.tenant_id, k.dedup_key, w.id
    FROM unnest($1::text[], $2::text[]) AS k(tenant_id, dedup_key)
    JOIN webhook_events w ON w.tenant_id = k.tenant_id AND w.dedup_key = k.dedup_key"""


def _event_values(item: NewEvent) -> tuple[Any, ...]:
    return (
        item.dedup_key,
        item.event,
        item.status,
        item.from_phone,
        item.to_phone,
        item.phone_key,
        item.event_ts,
        item.body,
        item.received_at,
        item.number_name,
        item.answered_at,
        str(item.result) if item.result is not None else None,
    )


async def answer_target_row(
    conn: asyncpg.Connection, tenant: TenantId, phone_key: str, answered_at: float, number_name: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        sql.ANSWER_TARGET.postgres,
        tenant,
        number_name,
        phone_key,
        answered_at - REQUEST_LIFETIME,
        answered_at + CLOCK_SKEW,
    )


def _request_and_dm(row: asyncpg.Record | None) -> tuple[Request | None, bool]:
    if row is None:
        return None, False
    return request_from(row), bool(row["dm_answers"])


async def _settle_unmatched(conn: asyncpg.Connection, event_id: int, now: float) -> None:
    await conn.execute(sql.SETTLE_UNMATCHED.postgres, now, event_id)


async def _next_unprocessed(conn: asyncpg.Connection, event: WebhookEvent) -> int | None:
    """Read in a statement of its own, after the settling's commit: a replica's answer stored meanwhile is then seen
    either here or by its own `open_answer` (which this statement's settling no longer blocks). In the settling's
    statement it could be seen by neither, and wait for the sweep."""
    if not event.phone_key:
        return None
    value = await conn.fetchval(
        sql.NEXT_UNPROCESSED.postgres, event.tenant, event.number_name, event.phone_key, event.id
    )
    return int(value) if value is not None else None


async def _settle(
    conn: asyncpg.Connection,
    tenant: TenantId,
    event_id: int,
    result: EventResult,
    request_id: int | None,
    effects: Effects,
) -> bool:
    now = time.time()
    # The event's settling and its effects in one statement (one round trip, no BEGIN/COMMIT): the effects apply
    # only when this call settled the event, and the work it stored is announced only then.
    args: list[Any] = [now, str(result), request_id, tenant, event_id]
    items, stored = ("", "")
    if request_id is not None:
        items, stored = guarded_effects(effects, args, request=3, tenant=4, now=1)
    notify = ""
    if stored:
        args += [WORK_CHANNEL, stored]
        notify = f", CASE WHEN EXISTS (SELECT 1 FROM guard) THEN pg_notify(${len(args) - 1}, ${len(args)}) END"
    query = f"""WITH guard AS ({sql.SETTLE_EVENT.postgres} RETURNING id){items}
        SELECT EXISTS (SELECT 1 FROM guard) AS settled{notify}"""
    return bool(await conn.fetchval(query, *args))


class EventQueries(PostgresConnection):
    async def _insert_events(self, items: list[NewEvent]) -> list[RecordedEvent]:
        # The whole batch is one statement: one round trip, committed on its own. A key that comes
        # twice in the batch is sent once; its later copies are redeliveries of the first.
        index: dict[tuple[str, str], int] = {}
        unique: list[NewEvent] = []
        for item in items:
            if (item.tenant, item.dedup_key) not in index:
                index[item.tenant, item.dedup_key] = len(unique)
                unique.append(item)
        columns = zip(*(_event_values(item) for item in unique), strict=True)
        async with self.connection() as conn:
            rows = await conn.fetch(
                _INSERT_BATCH,
                *(list(column) for column in columns),
                texts(CORRELATABLE_STATES),
                REQUEST_LIFETIME,
                CLOCK_SKEW,
                time.time(),
                str(EventResult.UNMATCHED),
                [item.request_id for item in unique],
                [item.tenant for item in unique],
            )
            late = [
                (row["tenant_id"], row["dedup_key"]) for row in rows if row["new_id"] is None and row["old_id"] is None
            ]
            # A key stored by another transaction after this statement's snapshot: read it again.
            found: dict[tuple[str, str], int] = {}
            if late:
                again = await conn.fetch(_IDS_BY_KEY, [t for t, _ in late], [k for _, k in late])
                found = {(row["tenant_id"], row["dedup_key"]): int(row["id"]) for row in again}
        stored = [
            RecordedEvent(int(row["new_id"]), is_new=True, unmatched=bool(row["unmatched"]))
            if row["new_id"] is not None
            else RecordedEvent(int(row["old_id"] or found.get((row["tenant_id"], row["dedup_key"])) or 0), is_new=False)
            for row in rows
        ]
        results, seen = [], set()
        for item in items:
            key = (item.tenant, item.dedup_key)
            recorded = stored[index[key]]
            results.append(recorded if key not in seen else RecordedEvent(recorded.id, is_new=False))
            seen.add(key)
        return results

    async def get_webhook_event(self, tenant: TenantId, event_id: int) -> WebhookEvent | None:
        row = await self._fetchrow(sql.WEBHOOK_EVENT.postgres, tenant, event_id)
        return WebhookEvent(**dict(row)) if row else None

    async def unprocessed_webhook_events(self) -> list[tuple[int, TenantId, str]]:
        rows = await self._fetch(sql.UNPROCESSED_EVENTS.postgres)
        return [(int(r[0]), TenantId(r[1]), str(r[2])) for r in rows]

    async def abandoned_webhook_events(self, now: float) -> list[tuple[int, TenantId, str]]:
        rows = await self._fetch(sql.ABANDONED_EVENTS.postgres, now)
        return [(int(r[0]), TenantId(r[1]), str(r[2])) for r in rows]

    async def answer_target(
        self, tenant: TenantId, phone_key: str, answered_at: float, number_name: str = DEFAULT_NUMBER
    ) -> tuple[Request | None, bool]:
        async with self.connection() as conn:
            return _request_and_dm(await answer_target_row(conn, tenant, phone_key, answered_at, number_name))

    async def open_answer(
        self, tenant: TenantId, event_id: int, answered_at: Callable[[str | None], float]
    ) -> AnswerTarget | None:
        now = time.time()
        # One round trip leases the event (or says why not); the target's read and an unmatched event's settling
        # follow on the same connection, each committed on its own: a crash in between leaves a lease that runs out.
        async with self.connection() as conn:
            row = await conn.fetchrow(
                sql.OPEN_EVENT.postgres, self.owner, now + self.lease_seconds, tenant, event_id, now
            )
            if row is None:
                return None
            event = WebhookEvent(**dict(row))
            target = None
            if event.phone_key:
                target = await answer_target_row(
                    conn, tenant, event.phone_key, answered_at(event.event_ts), event.number_name
                )
            if target is not None:
                request, dm = _request_and_dm(target)
                return AnswerTarget(event, request, dm)
            await _settle_unmatched(conn, event_id, now)
            return AnswerTarget(event, None, False, await _next_unprocessed(conn, event))

    async def settle_webhook_event(
        self,
        tenant: TenantId,
        event_id: int,
        result: EventResult,
        *,
        request_id: int | None = None,
        effects: Effects = NO_EFFECTS,
    ) -> bool:
        async with self.connection() as conn:
            return await _settle(conn, tenant, event_id, result, request_id, effects)

    async def settle_answer(
        self,
        event: WebhookEvent,
        result: EventResult,
        *,
        request_id: int | None = None,
        effects: Effects = NO_EFFECTS,
    ) -> tuple[bool, int | None]:
        # One connection from the pool for both statements (each committed on its own).
        async with self.connection() as conn:
            settled = await _settle(conn, event.tenant, event.id, result, request_id, effects)
            return settled, await _next_unprocessed(conn, event)
