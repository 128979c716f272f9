"""What a step does to its request (its `Effects`), inside the caller's transaction (on the database thread)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

from bot.domain import REQUEST_FIELDS, DeliveryState, Request, TenantId
from bot.store.types import Effects, NewDelivery


def apply_effects(conn: sqlite3.Connection, tenant: TenantId, request_id: int, effects: Effects, now: float) -> None:
    """The effects' request update, deliveries and reminders (only on the tenant's own request)."""
    if effects.request_update:
        columns = {**effects.request_update, "updated_at": now}
        assignments = ", ".join(f"{name} = ?" for name in columns)
        conn.execute(
            f"UPDATE requests SET {assignments} WHERE id = ? AND tenant_id = ?", (*columns.values(), request_id, tenant)
        )
    queue_effects(conn, tenant, request_id, effects, now)


def queue_effects(conn: sqlite3.Connection, tenant: TenantId, request_id: int, effects: Effects, now: float) -> None:
    """The effects' deliveries and reminders only (the caller's own update set the request's columns)."""
    insert_deliveries(conn, tenant, request_id, effects.deliveries, now)
    for r in effects.reminders:
        conn.execute(
            """INSERT OR IGNORE INTO reminders (tenant_id, request_id, kind, due_at)
               SELECT tenant_id, id, ?, ? FROM requests WHERE id = ? AND tenant_id = ?""",
            (r.kind, r.due_at, request_id, tenant),
        )


def insert_deliveries(
    conn: sqlite3.Connection, tenant: TenantId, request_id: int, deliveries: Iterable[NewDelivery], now: float
) -> None:
    """Queue deliveries for the tenant's request `request_id` (none when the request is not the tenant's)."""
    conn.executemany(
        """INSERT OR IGNORE INTO deliveries
           (tenant_id, dedup_key, request_id, kind, payload, state, next_attempt_at, created_at, updated_at)
           SELECT tenant_id, ?, id, ?, ?, ?, ?, ?, ? FROM requests WHERE id = ? AND tenant_id = ?""",
        [
            (d.dedup_key, d.kind, json.dumps(d.payload), DeliveryState.PENDING, now, now, now, request_id, tenant)
            for d in deliveries
        ],
    )


def request_from(row: sqlite3.Row) -> Request:
    return Request(**{key: row[key] for key in row.keys() if key in REQUEST_FIELDS})  # noqa: SIM118 (a Row iterates values)
