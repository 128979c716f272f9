"""What a step does to its request (its `Effects`), inside the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import asyncpg

from bot.domain import REQUEST_FIELDS, DeliveryState, Request, TenantId
from bot.store.postgres.connection import DELIVERIES_STORED, REMINDERS_STORED, WORK_CHANNEL, assignments
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
        await notify_work(conn, REMINDERS_STORED)


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
        await notify_work(conn, DELIVERIES_STORED)


async def notify_work(conn: asyncpg.Connection, stored: str) -> None:
    """Tell every replica listening (`PostgresConnection.listen`) that work was stored (`stored`: which, as
    `work_stored` says); PostgreSQL delivers it when this transaction commits, and folds repeats within one
    transaction."""
    await conn.execute("SELECT pg_notify($1, $2)", WORK_CHANNEL, stored)


def work_stored(deliveries: bool, reminders: bool) -> str:
    """A WORK_CHANNEL payload: what was stored ("" when nothing was: no notification is due)."""
    return " ".join(what for what, stored in ((DELIVERIES_STORED, deliveries), (REMINDERS_STORED, reminders)) if stored)


def guarded_effects(effects: Effects, args: list[Any], *, request: int, tenant: int, now: int) -> tuple[str, str]:
    """`WITH` items that apply `effects` to request `$request` of tenant `$tenant` in the same statement as a first
    item named `guard`, and only when that one returned a row: one round trip, atomic without BEGIN and COMMIT. Their
    parameters are appended to `args`. Returns the items (each starting with a comma) and what work they store (the
    WORK_CHANNEL payload the statement should notify, as `notify_work` would; "" for none).

    The items see the snapshot taken before `guard` ran, like `guard` itself: they only read the request's
    `tenant_id` and `id`, which no step changes."""
    items: list[str] = []

    def param(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    owned = f"JOIN requests r ON r.id = ${request} AND r.tenant_id = ${tenant} WHERE EXISTS (SELECT 1 FROM guard)"
    if effects.request_update:
        sets = ", ".join(f"{name} = {param(value)}" for name, value in effects.request_update.items())
        items.append(
            f""", updated AS (UPDATE requests SET {sets}, updated_at = ${now}
                WHERE id = ${request} AND tenant_id = ${tenant} AND EXISTS (SELECT 1 FROM guard) RETURNING id)"""
        )
    if effects.deliveries:
        keys, kinds, payloads = (
            param(list(column))
            for column in zip(
                *((d.dedup_key, str(d.kind), json.dumps(d.payload)) for d in effects.deliveries), strict=True
            )
        )
        items.append(
            f""", queued AS (INSERT INTO deliveries
                (tenant_id, dedup_key, request_id, kind, payload, state, next_attempt_at, created_at, updated_at)
                SELECT r.tenant_id, q.dedup_key, r.id, q.kind, q.payload, '{DeliveryState.PENDING}',
                       ${now}, ${now}, ${now}
                FROM unnest({keys}::text[], {kinds}::text[], {payloads}::text[]) WITH ORDINALITY
                    AS q(dedup_key, kind, payload, ord)
                {owned}
                ORDER BY q.ord
                ON CONFLICT (tenant_id, dedup_key) DO NOTHING RETURNING id)"""
        )
    if effects.reminders:
        kinds, dues = param([str(r.kind) for r in effects.reminders]), param([r.due_at for r in effects.reminders])
        items.append(
            f""", reminded AS (INSERT INTO reminders (tenant_id, request_id, kind, due_at)
                SELECT r.tenant_id, r.id, m.kind, m.due_at
                FROM unnest({kinds}::text[], {dues}::float8[]) AS m(kind, due_at)
                {owned}
                ON CONFLICT (request_id, kind, due_at) DO NOTHING RETURNING id)"""
        )
    return "".join(items), work_stored(bool(effects.deliveries), bool(effects.reminders))


def request_from(row: asyncpg.Record) -> Request:
    return Request(**{key: value for key, value in row.items() if key in REQUEST_FIELDS})
