"""Requests: creation (with the open-request check), guarded transitions, reads."""

from __future__ import annotations

import json
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
    TenantId,
)
from bot.phones import customer_key
from bot.store import sql
from bot.store.postgres.connection import DELIVERIES_STORED, WORK_CHANNEL, PostgresConnection, assignments, texts
from bot.store.postgres.effects import queue_effects, request_from
from bot.store.types import Effects, NewDelivery, NewRequest

# The customer's lock, and with a budget the rep's after it (a select list is evaluated left to right), then the new
# request's id: the parent message carries it (its buttons do), so it is drawn before the insert. A refused request
# leaves a gap in the ids, as a rolled-back one always did.
_LOCKS = {
    0: "SELECT nextval(pg_get_serial_sequence('requests', 'id'))",
    1: "SELECT pg_advisory_xact_lock(hashtextextended($1, 0)), nextval(pg_get_serial_sequence('requests', 'id'))",
    2: "SELECT pg_advisory_xact_lock(hashtextextended($1, 0)), pg_advisory_xact_lock(hashtextextended($2, 0)),"
    " nextval(pg_get_serial_sequence('requests', 'id'))",
}
# Once the locks are held (the statement above: this one's snapshot must be taken after the wait), in one round trip:
# everything a new request is checked against (the request a retried submission made already, by source key; the
# customer's open request, when it refuses one; the rep's newest requests in the budget window, at most the budget:
# how many, and the oldest) and, when none of these refuses it, the request, its parent message queued and the
# wake-up of every replica's notifier (sent at commit). No request row from a passing check (a replica committed the
# same source key meanwhile): no delivery, no wake-up.
_CHECK_AND_INSERT = """
    WITH checks AS (
        SELECT existing.id AS existing, opened.id AS open_id, spent.n AS spent, spent.oldest
        FROM (SELECT 1) one
        LEFT JOIN LATERAL (SELECT id FROM requests WHERE tenant_id = $2 AND source_key = $3) existing ON true
        LEFT JOIN LATERAL (
            SELECT id FROM requests
            WHERE $23 AND tenant_id = $2 AND number_name = $15 AND phone_key = $8 AND state = ANY($25::text[])
              AND created_at >= $24
            ORDER BY created_at DESC, id DESC LIMIT 1
        ) opened ON true
        CROSS JOIN LATERAL (
            SELECT count(*) AS n, min(created_at) AS oldest FROM (
                SELECT created_at FROM requests WHERE tenant_id = $2 AND user_id = $6 AND created_at > $26
                ORDER BY created_at DESC LIMIT $27
            ) newest
        ) spent
    ), request AS (
        INSERT INTO requests (id, tenant_id, source_key, team_id, channel_id, user_id, phone_e164, phone_key, reason,
            lang, response_url, state, created_at, updated_at, thread_ts, number_name, phone_display)
        SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, $15, $16 FROM checks
        WHERE checks.existing IS NULL AND checks.open_id IS NULL AND ($27 = 0 OR checks.spent < $27)
        ON CONFLICT (tenant_id, source_key) DO NOTHING RETURNING id, tenant_id
    ), parent AS (
        INSERT INTO deliveries
            (tenant_id, dedup_key, request_id, kind, payload, state, next_attempt_at, created_at, updated_at)
        SELECT tenant_id, $17, id, $18, $19, $20, $13, $13, $13 FROM request
        ON CONFLICT (tenant_id, dedup_key) DO NOTHING
    )
    SELECT checks.*, (SELECT id FROM request) AS inserted,
           (SELECT pg_notify($21, $22) FROM request) AS notified
    FROM checks
"""


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
        budget = max(max_per_user_hour, 0)
        async with self.transaction() as conn:
            # Two replicas asking for the same customer at once: the second waits here until the first commits,
            # then sees its request. The same for one rep's budget, always after the customer's lock (left to
            # right), so two transactions never wait on each other. (Scoped to this transaction.)
            locks = [f"{tenant}:{number_name}:{phone_key}"] if refuse_if_open else []
            if budget:
                locks.append(f"budget:{tenant}:{user_id}")
            request_id = int(await conn.fetchval(_LOCKS[len(locks)], *locks, column=len(locks)))
            first = parent if isinstance(parent, NewDelivery) else parent(request_id)
            row = await conn.fetchrow(
                _CHECK_AND_INSERT,
                request_id,
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
                first.dedup_key,
                first.kind,
                json.dumps(first.payload),
                str(DeliveryState.PENDING),
                WORK_CHANNEL,
                DELIVERIES_STORED,
                refuse_if_open,
                now - REQUEST_LIFETIME,
                texts(OPEN_STATES),
                now - BUDGET_WINDOW,
                budget,
            )
            if row["existing"] is not None:
                return int(row["existing"]), False
            if row["open_id"] is not None:
                open_row = await conn.fetchrow(sql.REQUEST.postgres, tenant, row["open_id"])
                raise OpenRequestExists(request_from(open_row))
            if budget and row["spent"] >= budget:  # the budget refills when the oldest of them leaves the hour
                raise BudgetSpent(user_id, budget, float(row["oldest"]) + BUDGET_WINDOW)
            if row["inserted"] is None:  # the same submission, committed by another replica meanwhile
                existing = await conn.fetchval(sql.REQUEST_BY_SOURCE_KEY.postgres, tenant, source_key)
                return int(existing), False
            return request_id, True

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
        update = f"""UPDATE requests SET {assignments(columns, 4)}
                     WHERE id = $1 AND state = ANY($2::text[]) AND tenant_id = $3 RETURNING *"""
        args = (request_id, texts(from_states), tenant, *columns.values())
        if not effects.deliveries and not effects.reminders:
            # One statement (most steps: NEW → READY, READY → SENDING, SENDING → WAITING): atomic on its own,
            # without BEGIN and COMMIT, two round trips fewer.
            row = await self._fetchrow(update, *args)
            return request_from(row) if row is not None else None
        async with self.transaction() as conn:
            row = await conn.fetchrow(update, *args)
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
