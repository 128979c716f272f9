"""What an outcome does to its request, inside the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import asyncpg

from bot.domain import REQUEST_FIELDS, DeliveryState, Request
from bot.store.postgres.connection import WORK_CHANNEL, assignments
from bot.store.types import NewDelivery, NewReminder


async def apply_effects(
    conn: asyncpg.Connection,
    request_id: int,
    request_update: dict[str, Any] | None,
    deliveries: Iterable[NewDelivery],
    reminders: Iterable[NewReminder],
    now: float,
) -> None:
    if request_update:
        columns = {**request_update, "updated_at": now}
        await conn.execute(
            f"UPDATE requests SET {assignments(columns, 2)} WHERE id = $1", request_id, *columns.values()
        )
    await insert_deliveries(conn, request_id, deliveries, now)
    reminders = list(reminders)
    if reminders:
        await conn.executemany(
            """INSERT INTO reminders (request_id, kind, due_at) VALUES ($1, $2, $3)
               ON CONFLICT (request_id, kind, due_at) DO NOTHING""",
            [(request_id, str(r.kind), r.due_at) for r in reminders],
        )
        await notify_work(conn)


async def insert_deliveries(
    conn: asyncpg.Connection, request_id: int, deliveries: Iterable[NewDelivery], now: float
) -> None:
    rows = [
        (d.dedup_key, request_id, d.kind, json.dumps(d.payload), str(DeliveryState.PENDING), now, now, now)
        for d in deliveries
    ]
    if rows:
        await conn.executemany(
            """INSERT INTO deliveries
               (dedup_key, request_id, kind, payload, state, next_attempt_at, created_at, updated_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
               ON CONFLICT (dedup_key) DO NOTHING""",
            rows,
        )
        await notify_work(conn)


async def notify_work(conn: asyncpg.Connection) -> None:
    """Tell every replica listening (`PostgresConnection.listen`) that work was stored; PostgreSQL
    delivers it when this transaction commits, and folds repeats within one transaction."""
    await conn.execute("SELECT pg_notify($1, '')", WORK_CHANNEL)


def request_from(row: asyncpg.Record) -> Request:
    return Request(**{key: value for key, value in row.items() if key in REQUEST_FIELDS})
