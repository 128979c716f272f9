"""Requests: creation (with the open-request check), guarded transitions, reads."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any

from bot.domain import (
    BUDGET_WINDOW,
    OPEN_STATES,
    REQUEST_LIFETIME,
    BudgetSpent,
    DeliveryState,
    OpenRequestExists,
    Request,
    RequestState,
)
from bot.phones import customer_key
from bot.store.sqlite.connection import SQLiteConnection, marks
from bot.store.sqlite.effects import insert_deliveries, queue_effects, request_from
from bot.store.types import Effects, NewDelivery, NewRequest

_OPEN_FOR_CUSTOMER = f"""SELECT * FROM requests
    WHERE number_name = ? AND phone_key = ? AND state IN ({marks(OPEN_STATES)}) AND created_at >= ?
    ORDER BY created_at DESC, id DESC LIMIT 1"""


class RequestQueries(SQLiteConnection):
    async def create_request(
        self,
        request: NewRequest,
        parent: NewDelivery | Callable[[int], NewDelivery],
        *,
        refuse_if_open: bool = False,
        max_per_user_hour: int = 0,
    ) -> tuple[int, bool]:
        now = time.time()
        source_key = request.source_key or None  # "" means no key; stored as NULL so it never collides
        phone_key = customer_key(request.phone_e164)
        number_name, user_id = request.number_name, request.user_id

        def create(conn: sqlite3.Connection) -> tuple[int, bool]:
            if source_key:
                row = conn.execute("SELECT id FROM requests WHERE source_key = ?", (source_key,)).fetchone()
                if row:
                    return int(row[0]), False
            if refuse_if_open:
                row = conn.execute(
                    _OPEN_FOR_CUSTOMER, (number_name, phone_key, *OPEN_STATES, now - REQUEST_LIFETIME)
                ).fetchone()
                if row:
                    raise OpenRequestExists(request_from(row))
            if max_per_user_hour > 0:
                # One writer at a time (BEGIN IMMEDIATE): nothing can slip in between count and insert.
                # The newest `max_per_user_hour` only: the check reads at most that many rows, however busy.
                counted = conn.execute(
                    """SELECT created_at FROM requests WHERE user_id = ? AND created_at > ?
                       ORDER BY created_at DESC LIMIT ?""",
                    (user_id, now - BUDGET_WINDOW, max_per_user_hour),
                ).fetchall()
                if len(counted) >= max_per_user_hour:  # the budget refills when the oldest of them leaves the hour
                    raise BudgetSpent(user_id, max_per_user_hour, float(counted[-1][0]) + BUDGET_WINDOW)
            cursor = conn.execute(
                """INSERT INTO requests (source_key, team_id, channel_id, user_id, phone_e164, phone_key,
                       reason, lang, response_url, state, created_at, updated_at, thread_ts, number_name,
                       phone_display)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    source_key,
                    request.team_id,
                    request.channel_id,
                    user_id,
                    request.phone_e164,
                    phone_key,
                    request.reason,
                    request.lang,
                    request.response_url,
                    RequestState.NEW,
                    now,
                    now,
                    request.thread_ts,
                    number_name,
                    request.phone_display,
                ),
            )
            request_id = int(cursor.lastrowid or 0)
            # The parent message carries the request id (its buttons do), so it may be built here.
            first = parent if isinstance(parent, NewDelivery) else parent(request_id)
            insert_deliveries(conn, request_id, [first], now)
            return request_id, True

        return await self._write(create)

    async def get_request(self, request_id: int) -> Request | None:
        row = await self._fetchone("SELECT * FROM requests WHERE id = ?", (request_id,))
        return request_from(row) if row else None

    async def requests_in_state(self, *states: RequestState) -> list[Request]:
        rows = await self._fetchall(f"SELECT * FROM requests WHERE state IN ({marks(states)}) ORDER BY id", states)
        return [request_from(r) for r in rows]

    async def _move(
        self,
        request_id: int,
        from_states: tuple[RequestState, ...],
        to_state: RequestState,
        effects: Effects,
        fields: dict[str, Any],
    ) -> Request | None:
        now = time.time()
        columns: dict[str, Any] = {"state": to_state, "updated_at": now, **_lease_after(to_state)}
        columns.update(effects.request_update, **fields)
        assignments = ", ".join(f"{name} = ?" for name in columns)

        def move(conn: sqlite3.Connection) -> Request | None:
            row = conn.execute(
                f"UPDATE requests SET {assignments} WHERE id = ? AND state IN ({marks(from_states)}) RETURNING *",
                (*columns.values(), request_id, *from_states),
            ).fetchone()
            if row is None:
                return None
            queue_effects(conn, request_id, effects, now)
            return request_from(row)

        return await self._write(move)

    async def update_request(self, request_id: int, **fields: Any) -> None:
        columns = {**fields, "updated_at": time.time()}
        assignments = ", ".join(f"{name} = ?" for name in columns)
        await self._write(
            lambda conn: conn.execute(
                f"UPDATE requests SET {assignments} WHERE id = ?", (*columns.values(), request_id)
            )
        )

    async def claim_request(self, request_id: int, state: RequestState, now: float) -> Request | None:
        row = await self._write(
            lambda conn: conn.execute(
                """UPDATE requests SET lease_owner = ?, lease_until = ?
                   WHERE id = ? AND state = ? AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?)
                   RETURNING *""",
                (self.owner, now + self.lease_seconds, request_id, state, self.owner, now),
            ).fetchone()
        )
        return request_from(row) if row else None

    async def abandoned_requests(self, now: float) -> list[Request]:
        rows = await self._fetchall(
            f"""SELECT * FROM requests r
                WHERE (
                    (r.state IN (?, ?) AND (r.lease_owner IS NULL OR r.lease_until < ?))
                    OR (r.state = ? AND EXISTS (
                        SELECT 1 FROM deliveries d WHERE d.request_id = r.id AND d.state = '{DeliveryState.DONE}'
                          AND d.id = (SELECT MIN(f.id) FROM deliveries f WHERE f.request_id = r.id))))
                ORDER BY r.id LIMIT 200""",
            (RequestState.READY, RequestState.SENDING, now, RequestState.NEW),
        )
        return [request_from(r) for r in rows]

    async def open_request_for(self, number_name: str, phone_key: str, now: float) -> Request | None:
        row = await self._fetchone(_OPEN_FOR_CUSTOMER, (number_name, phone_key, *OPEN_STATES, now - REQUEST_LIFETIME))
        return request_from(row) if row else None

    async def requests_by_user(self, user_id: str, since: float) -> list[Request]:
        rows = await self._fetchall(
            "SELECT * FROM requests WHERE user_id = ? AND created_at >= ? ORDER BY created_at DESC, id DESC",
            (user_id, since),
        )
        return [request_from(r) for r in rows]


def _lease_after(to_state: RequestState) -> dict[str, Any]:
    """A step's lease ends with the step: only READY → SENDING carries it on (the same send)."""
    return {} if to_state is RequestState.SENDING else {"lease_owner": None, "lease_until": None}
