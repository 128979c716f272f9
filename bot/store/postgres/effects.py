"""What a step does to its request (its `Effects`), inside the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Iterable

import asyncpg

from bot.domain import REQUEST_FIELDS, DeliveryState, Request, TenantId
from bot.store.postgres.connection import WORK_CHANNEL, assignments
from bot.store.types import Effects, NewDelivery


async def apply_effects(
    conn: asyncpg.Connection, tenant: TenantId, request_id: int, effects: Effects, now: float
) -> None:
    """The effects' request update, deliveries and reminders (only on the tenant's own request)."""
    if effects.request_update:
        columns = {**effects.request_update, "updated_at": now}
        await conn.execute(
            f"UPDATE requests SET {assignments(columns, 3)} WHERE id = $1 AND tenant_id = $2",
            request_id,
            tenant,
            *columns.values(),
        )
    await queue_effects(conn, tenant, request_id, effects, now)


async def queue_effects(
    conn: asyncpg.Connection, tenant: TenantId, request_id: int, effects: Effects, now: float
) -> None:
    """The effects' deliveries and reminders only (the caller's own update set the request's columns)."""
    await insert_deliveries(conn, tenant, request_id, effects.deliveries, now)
    if effects.reminders:
        await conn.executemany(
            """INSERT INTO reminders (tenant_id, request_id, kind, due_at)
               SELECT tenant_id, id, $3, $4 FROM requests WHERE id = $1 AND tenant_id = $2
               ON CONFLICT (request_id, kind, due_at) DO NOTHING""",
            [(request_id, tenant, str(r.kind), r.due_at) for r in effects.reminders],
        )
        await notify_work(conn)


async def insert_deliveries(
    conn: asyncpg.Connection, tenant: TenantId, request_id: int, deliveries: Iterable[NewDelivery], now: float
) -> None:
    """Queue deliveries for the tenant's request `request_id` (none when the request is not the tenant's)."""
    rows = [
        (request_id, tenant, d.dedup_key, d.kind, json.dumps(d.payload), str(DeliveryState.PENDING), now, now, now)
        for d in deliveries
    ]
    if rows:
        await conn.executemany(
            """INSERT INTO deliveries
               (tenant_id, dedup_key, request_id, kind, payload, state, next_attempt_at, created_at, updated_at)
               SELECT tenant_id, $3, id, $4, $5, $6, $7, $8, $9 FROM requests WHERE id = $1 AND tenant_id = $2
               ON CONFLICT (tenant_id, dedup_key) DO NOTHING""",
            rows,
        )
        await notify_work(conn)


async def notify_work(conn: asyncpg.Connection) -> None:
    """Tell every replica listening (`PostgresConnection.listen`) that work was stored; PostgreSQL
    delivers it when this transaction commits, and folds repeats within one transaction."""
    await conn.execute("SELECT pg_notify($1, '')", WORK_CHANNEL)


def request_from(row: asyncpg.Record) -> Request:
    return Request(**{key: value for key, value in row.items() if key in REQUEST_FIELDS})
