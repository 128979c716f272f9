"""What a step does to its request (its `Effects`), inside the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Iterable

import asyncpg

from bot.domain import REQUEST_FIELDS, DeliveryState, Request
from bot.store.postgres.connection import WORK_CHANNEL, assignments
from bot.store.types import Effects, NewDelivery


async def apply_effects(conn: asyncpg.Connection, request_id: int, effects: Effects, now: float) -> None:
    """The effects' request update, deliveries and reminders."""
    if effects.request_update:
        columns = {**effects.request_update, "updated_at": now}
        await conn.execute(
            f"UPDATE requests SET {assignments(columns, 2)} WHERE id = $1", request_id, *columns.values()
        )
    await queue_effects(conn, request_id, effects, now)


async def queue_effects(conn: asyncpg.Connection, request_id: int, effects: Effects, now: float) -> None:
    """The effects' deliveries and reminders only (the caller's own update set the request's columns)."""
    await insert_deliveries(conn, request_id, effects.deliveries, now)
    if effects.reminders:
        await conn.executemany(
            """INSERT INTO reminders (request_id, kind, due_at) VALUES ($1, $2, $3)
               ON CONFLICT (request_id, kind, due_at) DO NOTHING""",
            [(request_id, str(r.kind), r.due_at) for r in effects.reminders],
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
