"""What a step does to its request (its `Effects`), inside the caller's transaction (on the database thread)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

from bot.domain import REQUEST_FIELDS, DeliveryState, Request
from bot.store.types import Effects, NewDelivery


def apply_effects(conn: sqlite3.Connection, request_id: int, effects: Effects, now: float) -> None:
    """The effects' request update, deliveries and reminders."""
    if effects.request_update:
        columns = {**effects.request_update, "updated_at": now}
        assignments = ", ".join(f"{name} = ?" for name in columns)
        conn.execute(f"UPDATE requests SET {assignments} WHERE id = ?", (*columns.values(), request_id))
    queue_effects(conn, request_id, effects, now)


def queue_effects(conn: sqlite3.Connection, request_id: int, effects: Effects, now: float) -> None:
    """The effects' deliveries and reminders only (the caller's own update set the request's columns)."""
    insert_deliveries(conn, request_id, effects.deliveries, now)
    for r in effects.reminders:
        conn.execute(
            "INSERT OR IGNORE INTO reminders (request_id, kind, due_at) VALUES (?, ?, ?)",
            (request_id, r.kind, r.due_at),
        )


def insert_deliveries(conn: sqlite3.Connection, request_id: int, deliveries: Iterable[NewDelivery], now: float) -> None:
    conn.executemany(
        """INSERT OR IGNORE INTO deliveries
           (dedup_key, request_id, kind, payload, state, next_attempt_at, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            (d.dedup_key, request_id, d.kind, json.dumps(d.payload), DeliveryState.PENDING, now, now, now)
            for d in deliveries
        ],
    )


def request_from(row: sqlite3.Row) -> Request:
    return Request(**{key: row[key] for key in row.keys() if key in REQUEST_FIELDS})  # noqa: SIM118 (a Row iterates values)
