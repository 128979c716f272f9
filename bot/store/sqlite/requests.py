"""Requests: creation (with the open-request check), guarded transitions, reads."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any

from bot.domain import (
    BUDGET_WINDOW,
    REQUEST_LIFETIME,
    BudgetSpent,
    OpenRequestExists,
    Request,
    RequestState,
    TenantId,
)
from bot.phones import customer_key
from bot.store import sql
from bot.store.sqlite.connection import SQLiteConnection, marks
from bot.store.sqlite.effects import insert_deliveries, queue_effects, request_from
from bot.store.types import Effects, NewDelivery, NewRequest


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
        number_name, user_id, tenant = request.number_name, request.user_id, request.tenant

        def create(conn: sqlite3.Connection) -> tuple[int, bool]:
            if source_key:
                row = conn.execute(sql.REQUEST_BY_SOURCE_KEY.sqlite, (tenant, source_key)).fetchone()
                if row:
                    return int(row[0]), False
            if refuse_if_open:
                row = conn.execute(
                    sql.OPEN_REQUEST_FOR_CUSTOMER.sqlite, (tenant, number_name, phone_key, now - REQUEST_LIFETIME)
                ).fetchone()
                if row:
                    raise OpenRequestExists(request_from(row))
            if max_per_user_hour > 0:
                # One writer at a time (BEGIN IMMEDIATE): nothing can slip in between count and insert.
                # The newest `max_per_user_hour` only: the check reads at most that many rows, however busy.
                counted = conn.execute(
                    sql.BUDGET_SPENT.sqlite, (tenant, user_id, now - BUDGET_WINDOW, max_per_user_hour)
                ).fetchall()
                if len(counted) >= max_per_user_hour:  # the budget refills when the oldest of them leaves the hour
                    raise BudgetSpent(user_id, max_per_user_hour, float(counted[-1][0]) + BUDGET_WINDOW)
            inserted = conn.execute(
                sql.INSERT_REQUEST.sqlite,
                (
                    tenant,
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
                    request.thread_ts,
                    number_name,
                    request.phone_display,
                ),
            ).fetchone()
            if inserted is None:  # the same source key (never here: it was read above under the write lock)
                return int(conn.execute(sql.REQUEST_BY_SOURCE_KEY.sqlite, (tenant, source_key)).fetchone()[0]), False
            request_id = int(inserted[0])
            # The parent message carries the request id (its buttons do), so it may be built here.
            first = parent if isinstance(parent, NewDelivery) else parent(request_id)
            insert_deliveries(conn, tenant, request_id, [first], now)
            return request_id, True

        return await self._write(create)

    async def get_request(self, tenant: TenantId, request_id: int) -> Request | None:
        row = await self._fetchone(sql.REQUEST.sqlite, (tenant, request_id))
        return request_from(row) if row else None

    async def requests_in_state(self, *states: RequestState) -> list[Request]:
        rows = await self._fetchall(f"SELECT * FROM requests WHERE state IN ({marks(states)}) ORDER BY id", states)
        return [request_from(r) for r in rows]

    async def _move(
        self,
        tenant: TenantId,
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
                f"""UPDATE requests SET {assignments}
                    WHERE id = ? AND tenant_id = ? AND state IN ({marks(from_states)}) RETURNING *""",
                (*columns.values(), request_id, tenant, *from_states),
            ).fetchone()
            if row is None:
                return None
            queue_effects(conn, tenant, request_id, effects, now)
            return request_from(row)

        return await self._write(move)

    async def update_request(self, tenant: TenantId, request_id: int, **fields: Any) -> None:
        columns = {**fields, "updated_at": time.time()}
        assignments = ", ".join(f"{name} = ?" for name in columns)
        await self._write(
            lambda conn: conn.execute(
                f"UPDATE requests SET {assignments} WHERE id = ? AND tenant_id = ?",
                (*columns.values(), request_id, tenant),
            )
        )

    async def claim_request(self, tenant: TenantId, request_id: int, state: RequestState, now: float) -> Request | None:
        args = (self.owner, now + self.lease_seconds, tenant, request_id, state, now)
        row = await self._write(lambda conn: conn.execute(sql.CLAIM_REQUEST.sqlite, args).fetchone())
        return request_from(row) if row else None

    async def abandoned_requests(self, now: float) -> list[Request]:
        rows = await self._fetchall(sql.ABANDONED_REQUESTS.sqlite, (now,))
        return [request_from(r) for r in rows]

    async def open_request_for(self, tenant: TenantId, number_name: str, phone_key: str, now: float) -> Request | None:
        row = await self._fetchone(
            sql.OPEN_REQUEST_FOR_CUSTOMER.sqlite, (tenant, number_name, phone_key, now - REQUEST_LIFETIME)
        )
        return request_from(row) if row else None

    async def requests_by_user(self, tenant: TenantId, user_id: str, since: float) -> list[Request]:
        rows = await self._fetchall(sql.REQUESTS_BY_USER.sqlite, (tenant, user_id, since))
        return [request_from(r) for r in rows]


def _lease_after(to_state: RequestState) -> dict[str, Any]:
    """A step's lease ends with the step: only READY → SENDING carries it on (the same send)."""
    return {} if to_state is RequestState.SENDING else {"lease_owner": None, "lease_until": None}
