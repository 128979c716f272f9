"""Requests: creation (with the open-request check), guarded transitions, reads."""

from __future__ import annotations

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
from bot.store.postgres.connection import PostgresConnection, assignments, texts
from bot.store.postgres.effects import insert_deliveries, queue_effects, request_from
from bot.store.types import Effects, NewDelivery, NewRequest


class RequestQueries(PostgresConnection):
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
        async with self.transaction() as conn:
            if refuse_if_open:
                # Two replicas asking for the same customer at once: the second waits here until the
                # first commits, then sees its request. (Scoped to this transaction.)
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"{tenant}:{number_name}:{phone_key}"
                )
            if max_per_user_hour > 0:
                # The same for one rep's budget: concurrent commands on several replicas count in turn.
                # (Always taken after the customer's lock, so two transactions never wait on each other.)
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"budget:{tenant}:{user_id}"
                )
            if source_key:
                existing = await conn.fetchval(sql.REQUEST_BY_SOURCE_KEY.postgres, tenant, source_key)
                if existing is not None:
                    return int(existing), False
            if refuse_if_open:
                row = await conn.fetchrow(
                    sql.OPEN_REQUEST_FOR_CUSTOMER.postgres, tenant, number_name, phone_key, now - REQUEST_LIFETIME
                )
                if row is not None:
                    raise OpenRequestExists(request_from(row))
            if max_per_user_hour > 0:
                # The newest `max_per_user_hour` only: the check reads at most that many rows, however busy.
                counted = await conn.fetch(
                    sql.BUDGET_SPENT.postgres, tenant, user_id, now - BUDGET_WINDOW, max_per_user_hour
                )
                if len(counted) >= max_per_user_hour:  # the budget refills when the oldest of them leaves the hour
                    raise BudgetSpent(user_id, max_per_user_hour, float(counted[-1][0]) + BUDGET_WINDOW)
            request_id = await conn.fetchval(
                sql.INSERT_REQUEST.postgres,
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
                str(RequestState.NEW),
                now,
                request.thread_ts,
                number_name,
                str(request.phone_display),
            )
            if request_id is None:  # the same submission, committed by another replica meanwhile
                existing = await conn.fetchval(sql.REQUEST_BY_SOURCE_KEY.postgres, tenant, source_key)
                return int(existing), False
            # The parent message carries the request id (its buttons do), so it may be built here.
            first = parent if isinstance(parent, NewDelivery) else parent(int(request_id))
            await insert_deliveries(conn, tenant, int(request_id), [first], now)
            return int(request_id), True

    async def get_request(self, tenant: TenantId, request_id: int) -> Request | None:
        row = await self._fetchrow(sql.REQUEST.postgres, tenant, request_id)
        return request_from(row) if row else None

    async def requests_in_state(self, *states: RequestState) -> list[Request]:
        rows = await self._fetch("SELECT * FROM requests WHERE state = ANY($1::text[]) ORDER BY id", texts(states))
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
        columns = {
            "state": str(to_state),
            "updated_at": now,
            **_lease_after(to_state),
            **effects.request_update,
            **fields,
        }
        async with self.transaction() as conn:
            row = await conn.fetchrow(
                f"""UPDATE requests SET {assignments(columns, 4)}
                    WHERE id = $1 AND state = ANY($2::text[]) AND tenant_id = $3 RETURNING *""",
                request_id,
                texts(from_states),
                tenant,
                *columns.values(),
            )
            if row is None:
                return None
            await queue_effects(conn, tenant, request_id, effects, now)
            return request_from(row)

    async def update_request(self, tenant: TenantId, request_id: int, **fields: Any) -> None:
        columns = {**fields, "updated_at": time.time()}
        async with self.connection() as conn:
            await conn.execute(
                f"UPDATE requests SET {assignments(columns, 3)} WHERE id = $1 AND tenant_id = $2",
                request_id,
                tenant,
                *columns.values(),
            )

    async def claim_request(self, tenant: TenantId, request_id: int, state: RequestState, now: float) -> Request | None:
        row = await self._fetchrow(
            sql.CLAIM_REQUEST.postgres, self.owner, now + self.lease_seconds, tenant, request_id, str(state), now
        )
        return request_from(row) if row else None

    async def abandoned_requests(self, now: float) -> list[Request]:
        rows = await self._fetch(sql.ABANDONED_REQUESTS.postgres, now)
        return [request_from(r) for r in rows]

    async def open_request_for(self, tenant: TenantId, number_name: str, phone_key: str, now: float) -> Request | None:
        row = await self._fetchrow(
            sql.OPEN_REQUEST_FOR_CUSTOMER.postgres, tenant, number_name, phone_key, now - REQUEST_LIFETIME
        )
        return request_from(row) if row else None

    async def requests_by_user(self, tenant: TenantId, user_id: str, since: float) -> list[Request]:
        rows = await self._fetch(sql.REQUESTS_BY_USER.postgres, tenant, user_id, since)
        return [request_from(r) for r in rows]


def _lease_after(to_state: RequestState) -> dict[str, Any]:
    """A step's lease ends with the step: only READY → SENDING carries it on (the same send)."""
    return {} if to_state is RequestState.SENDING else {"lease_owner": None, "lease_until": None}
