"""Webhook events: stored once (group commit), matched to the request they answer, settled once."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from bot.domain import CLOCK_SKEW, DEFAULT_NUMBER, REQUEST_LIFETIME, EventResult, Request, TenantId
from bot.store import sql
from bot.store.sqlite.connection import SQLiteConnection
from bot.store.sqlite.effects import apply_effects, request_from
from bot.store.types import NO_EFFECTS, AnswerTarget, Effects, NewEvent, RecordedEvent, WebhookEvent


def answer_target_row(
    conn: sqlite3.Connection, tenant: TenantId, phone_key: str, answered_at: float, number_name: str
) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        sql.ANSWER_TARGET.sqlite,
        (tenant, number_name, phone_key, answered_at - REQUEST_LIFETIME, answered_at + CLOCK_SKEW),
    ).fetchone()
    return row


def _request_and_dm(row: sqlite3.Row | None) -> tuple[Request | None, bool]:
    if row is None:
        return None, False
    return request_from(row), bool(row["dm_answers"])


def _settle_unmatched(conn: sqlite3.Connection, event_id: int, now: float) -> None:
    conn.execute(sql.SETTLE_UNMATCHED.sqlite, (now, event_id))


def _next_unprocessed(conn: sqlite3.Connection, event: WebhookEvent) -> int | None:
    if not event.phone_key:
        return None
    row = conn.execute(
        sql.NEXT_UNPROCESSED.sqlite, (event.tenant, event.number_name, event.phone_key, event.id)
    ).fetchone()
    return int(row[0]) if row else None


def _settle(
    conn: sqlite3.Connection,
    tenant: TenantId,
    event_id: int,
    result: EventResult,
    request_id: int | None,
    effects: Effects,
    now: float,
) -> bool:
    cursor = conn.execute(sql.SETTLE_EVENT.sqlite, (now, result, request_id, tenant, event_id))
    if cursor.rowcount != 1:
        return False
    if request_id is not None:
        apply_effects(conn, tenant, request_id, effects, now)
    return True


class EventQueries(SQLiteConnection):
    async def _insert_events(self, items: list[NewEvent]) -> list[RecordedEvent]:
        def insert(conn: sqlite3.Connection) -> list[RecordedEvent]:
            now = time.time()
            results: list[RecordedEvent] = []
            for item in items:
                inserted = conn.execute(
                    """INSERT INTO webhook_events (tenant_id, dedup_key, event, status, from_phone, to_phone,
                           phone_key, event_ts, body, received_at, number_name)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT (tenant_id, dedup_key) DO NOTHING RETURNING id""",
                    (
                        item.tenant,
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
                    ),
                ).fetchone()
                if inserted is None:
                    existing = conn.execute(
                        "SELECT id FROM webhook_events WHERE tenant_id = ? AND dedup_key = ?",
                        (item.tenant, item.dedup_key),
                    ).fetchone()
                    results.append(RecordedEvent(int(existing[0]) if existing else 0, is_new=False))
                    continue
                event_id = int(inserted[0])
                if item.result is not None:  # stored already settled (an event AskCall can't use)
                    conn.execute(
                        """UPDATE webhook_events SET processed_at = ?, result = ?,
                               request_id = (SELECT id FROM requests WHERE id = ? AND tenant_id = ?)
                           WHERE id = ?""",
                        (now, item.result, item.request_id, item.tenant, event_id),
                    )
                    results.append(RecordedEvent(event_id, is_new=True))
                    continue
                unmatched = item.answered_at is not None and (
                    not item.phone_key
                    or answer_target_row(conn, item.tenant, item.phone_key, item.answered_at, item.number_name) is None
                )
                if unmatched:
                    _settle_unmatched(conn, event_id, now)
                results.append(RecordedEvent(event_id, is_new=True, unmatched=unmatched))
            return results

        return await self._write(insert)

    async def get_webhook_event(self, tenant: TenantId, event_id: int) -> WebhookEvent | None:
        row = await self._fetchone(sql.WEBHOOK_EVENT.sqlite, (tenant, event_id))
        return WebhookEvent(**dict(row)) if row else None

    async def unprocessed_webhook_events(self) -> list[tuple[int, TenantId, str]]:
        rows = await self._fetchall(sql.UNPROCESSED_EVENTS.sqlite)
        return [(int(r[0]), TenantId(r[1]), str(r[2])) for r in rows]

    async def abandoned_webhook_events(self, now: float) -> list[tuple[int, TenantId, str]]:
        rows = await self._fetchall(sql.ABANDONED_EVENTS.sqlite, (now,))
        return [(int(r[0]), TenantId(r[1]), str(r[2])) for r in rows]

    async def answer_target(
        self, tenant: TenantId, phone_key: str, answered_at: float, number_name: str = DEFAULT_NUMBER
    ) -> tuple[Request | None, bool]:
        row = await self._in_db_thread(
            lambda conn: answer_target_row(conn, tenant, phone_key, answered_at, number_name)
        )
        return _request_and_dm(row)

    async def open_answer(
        self, tenant: TenantId, event_id: int, answered_at: Callable[[str | None], float]
    ) -> AnswerTarget | None:
        now = time.time()

        def open_(conn: sqlite3.Connection) -> AnswerTarget | None:
            row = conn.execute(
                sql.OPEN_EVENT.sqlite, (self.owner, now + self.lease_seconds, tenant, event_id, now)
            ).fetchone()
            if row is None:
                return None
            event = WebhookEvent(**dict(row))
            target = None
            if event.phone_key:
                target = answer_target_row(
                    conn, tenant, event.phone_key, answered_at(event.event_ts), event.number_name
                )
            if target is not None:
                request, dm = _request_and_dm(target)
                return AnswerTarget(event, request, dm)
            _settle_unmatched(conn, event_id, now)
            return AnswerTarget(event, None, False, _next_unprocessed(conn, event))

        return await self._write(open_)

    async def settle_webhook_event(
        self,
        tenant: TenantId,
        event_id: int,
        result: EventResult,
        *,
        request_id: int | None = None,
        effects: Effects = NO_EFFECTS,
    ) -> bool:
        now = time.time()
        return await self._write(lambda conn: _settle(conn, tenant, event_id, result, request_id, effects, now))

    async def settle_answer(
        self,
        event: WebhookEvent,
        result: EventResult,
        *,
        request_id: int | None = None,
        effects: Effects = NO_EFFECTS,
    ) -> tuple[bool, int | None]:
        now = time.time()

        def settle(conn: sqlite3.Connection) -> tuple[bool, int | None]:
            # One hop: the writes are serialised, so an answer stored after this transaction finds this one settled.
            settled = _settle(conn, event.tenant, event.id, result, request_id, effects, now)
            return settled, _next_unprocessed(conn, event)

        return await self._write(settle)
