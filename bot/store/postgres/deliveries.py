"""Deliveries: Slack calls queued per request, claimed in order, marked done, retried or given up.

Claims lock the rows they take (`FOR UPDATE SKIP LOCKED`): replicas claiming at the same moment
never take the same delivery, and none waits for another. A claim caps each tenant's share at limit ÷ tenants due
(row locks can't be taken under a window function), each tenant's rows skipping those another claim holds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

import asyncpg

from bot.domain import DeliveryState, TenantId
from bot.store import sql
from bot.store.deliveries import in_turns
from bot.store.postgres.connection import DELIVERIES_STORED, PostgresConnection
from bot.store.postgres.effects import insert_deliveries, notify_work
from bot.store.types import DELIVERY_FIELDS, Delivery, MetricsSnapshot, NewDelivery

PENDING, INFLIGHT, DONE, DEAD = (s.value for s in DeliveryState)

# A delivery may go only when no earlier delivery of the same request is still open (one of no request heads a
# queue of its own: NULL equals nothing).
_HEAD_OF_QUEUE = f"""NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.request_id = d.request_id AND e.id < d.id
                                 AND e.state IN ('{PENDING}', '{INFLIGHT}'))"""


_NEXT_DELIVERY_TIME = (
    f"SELECT MIN(d.next_attempt_at) FROM deliveries d WHERE d.state = '{PENDING}' AND {_HEAD_OF_QUEUE}"
)
_CLAIM_DUE = f"""UPDATE deliveries SET state = '{INFLIGHT}', updated_at = $1, lease_owner = $3, lease_until = $4
    WHERE id IN (
        SELECT picked.id FROM (
            SELECT e.tenant_id, MIN(e.next_attempt_at) AS first_due, COUNT(*) OVER () AS tenants
            FROM deliveries e WHERE e.state = '{PENDING}' AND e.next_attempt_at <= $1
            GROUP BY e.tenant_id) due
        CROSS JOIN LATERAL (
            SELECT d.id FROM deliveries d
            WHERE d.tenant_id = due.tenant_id AND d.state = '{PENDING}' AND d.next_attempt_at <= $1
              AND {_HEAD_OF_QUEUE}
            ORDER BY d.next_attempt_at, d.id
            LIMIT CEIL($2::bigint * 1.0 / due.tenants)
            FOR UPDATE SKIP LOCKED) picked
        ORDER BY due.first_due, due.tenant_id
        LIMIT $2)
    RETURNING *"""
# A claim and when the next delivery falls due after it, in one statement (one round trip, no BEGIN/COMMIT): the
# snapshot still shows the rows just claimed as pending, so the next due time leaves them out by id (as they block
# the rows behind them, the head-of-queue test still holds those back).
_CLAIM_DUE_AND_NEXT = f"""WITH claimed AS ({_CLAIM_DUE})
    SELECT claimed.*, next.next_at FROM (
        SELECT MIN(d.next_attempt_at) AS next_at FROM deliveries d
        WHERE d.state = '{PENDING}' AND {_HEAD_OF_QUEUE} AND d.id NOT IN (SELECT id FROM claimed)) AS next
    LEFT JOIN claimed ON TRUE"""
# Record a post done and hand its request's next message to the same worker, in one statement (one round trip, no
# BEGIN/COMMIT). Every part of a statement sees the snapshot taken before it, where the delivery just completed is
# still in flight: the claim's head-of-queue test and the pending check leave it out by id, but only when `done`
# really marked it (a row another process took over stays in the way, as it would after a separate UPDATE).
_COMPLETE_AND_CLAIM_NEXT = f"""WITH done AS (
        UPDATE deliveries SET state = '{DONE}', updated_at = $1, lease_owner = NULL, lease_until = NULL,
            result_ts = COALESCE($2, result_ts), attempts = attempts + 1
        WHERE id = $3 AND tenant_id = $4
        RETURNING id),
    claimed AS (
        UPDATE deliveries SET state = '{INFLIGHT}', updated_at = $6, lease_owner = $7, lease_until = $8
        WHERE id = (
            SELECT d.id FROM deliveries d
            WHERE d.request_id = $5 AND d.id <> $3 AND d.state = '{PENDING}' AND d.next_attempt_at <= $6
              AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.request_id = d.request_id AND e.id < d.id
                              AND e.state IN ('{PENDING}', '{INFLIGHT}') AND e.id NOT IN (SELECT id FROM done))
            FOR UPDATE SKIP LOCKED)
        RETURNING *)
    SELECT claimed.*, claimed.id IS NULL AND NOT EXISTS (
            SELECT 1 FROM deliveries p WHERE p.request_id = $5 AND p.state = '{PENDING}'
              AND p.id NOT IN (SELECT id FROM done)) AS drained
    FROM (SELECT 1) AS one LEFT JOIN claimed ON TRUE"""
_CLAIM_ABANDONED = f"""UPDATE deliveries SET lease_owner = $1, lease_until = $2 WHERE id IN (
        SELECT id FROM deliveries WHERE state = '{INFLIGHT}'
          AND (lease_owner IS NULL OR lease_until < $3) ORDER BY id LIMIT $4
        FOR UPDATE SKIP LOCKED)
    RETURNING *"""


def _delivery(row: asyncpg.Record) -> Delivery:
    data = dict(row)
    data["payload"] = json.loads(data["payload"])
    return Delivery(**{key: value for key, value in data.items() if key in DELIVERY_FIELDS})


async def _next_delivery_time(conn: asyncpg.Connection) -> float | None:
    value = await conn.fetchval(_NEXT_DELIVERY_TIME)
    return float(value) if value is not None else None


async def _mark_delivery(
    conn: asyncpg.Connection,
    tenant: TenantId,
    delivery_id: int,
    state: DeliveryState,
    *,
    result_ts: str | None = None,
    last_error: str | None = None,
    next_attempt_at: float | None = None,
    count_attempt: bool = False,
) -> None:
    await conn.execute(
        sql.MARK_DELIVERY.postgres,
        str(state),
        time.time(),
        result_ts,
        last_error,
        next_attempt_at,
        1 if count_attempt else 0,
        delivery_id,
        tenant,
    )


class DeliveryQueries(PostgresConnection):
    async def add_deliveries(self, tenant: TenantId, request_id: int, deliveries: Iterable[NewDelivery]) -> None:
        pending, now = list(deliveries), time.time()
        async with self.transaction() as conn:
            await insert_deliveries(conn, tenant, request_id, pending, now)

    async def add_workspace_delivery(self, tenant: TenantId, delivery: NewDelivery) -> bool:
        args = (delivery.dedup_key, str(delivery.kind), json.dumps(delivery.payload), PENDING, time.time(), tenant)
        async with self.transaction() as conn:
            added = await conn.execute(sql.ADD_WORKSPACE_DELIVERY.postgres, *args)
            if added == "INSERT 0 0":
                return False
            await notify_work(conn, DELIVERIES_STORED)
            return True

    async def claim_due(self, now: float, limit: int = 50) -> tuple[list[Delivery], float | None]:
        rows = await self._fetch(_CLAIM_DUE_AND_NEXT, now, limit, self.owner, now + self.lease_seconds)
        next_at = rows[0]["next_at"] if rows else None
        claimed = (_delivery(r) for r in rows if r["id"] is not None)
        return in_turns(claimed), float(next_at) if next_at is not None else None

    async def next_delivery_time(self) -> float | None:
        async with self.connection() as conn:
            return await _next_delivery_time(conn)

    async def inflight_deliveries(self) -> list[Delivery]:
        rows = await self._fetch(sql.INFLIGHT_DELIVERIES.postgres)
        return [_delivery(r) for r in rows]

    async def claim_abandoned_deliveries(self, now: float, limit: int = 50) -> list[Delivery]:
        rows = await self._fetch(
            _CLAIM_ABANDONED,
            self.owner,
            now + self.lease_seconds,
            now,
            limit,
        )
        return sorted((_delivery(r) for r in rows), key=lambda d: d.id)

    async def delivery_for(self, tenant: TenantId, request_id: int, kind: str) -> Delivery | None:
        row = await self._fetchrow(sql.DELIVERY_FOR.postgres, tenant, request_id, kind)
        return _delivery(row) if row else None

    async def get_delivery(self, tenant: TenantId, delivery_id: int) -> Delivery | None:
        row = await self._fetchrow(sql.DELIVERY.postgres, tenant, delivery_id)
        return _delivery(row) if row else None

    async def complete_delivery(
        self, delivery: Delivery, result_ts: str | None, now: float, *, claim_next: bool = True
    ) -> tuple[Delivery | None, bool]:
        if not claim_next:
            await self.mark_delivery(
                delivery.tenant, delivery.id, DeliveryState.DONE, result_ts=result_ts, count_attempt=True
            )
            return None, False
        row = await self._fetchrow(
            _COMPLETE_AND_CLAIM_NEXT,
            time.time(),
            result_ts,
            delivery.id,
            delivery.tenant,
            delivery.request_id,
            now,
            self.owner,
            now + self.lease_seconds,
        )
        if row is None or row["id"] is None:
            return None, bool(row and row["drained"])
        return _delivery(row), False

    async def mark_delivery(
        self,
        tenant: TenantId,
        delivery_id: int,
        state: DeliveryState,
        *,
        result_ts: str | None = None,
        last_error: str | None = None,
        next_attempt_at: float | None = None,
        count_attempt: bool = False,
    ) -> None:
        async with self.connection() as conn:
            await _mark_delivery(
                conn,
                tenant,
                delivery_id,
                state,
                result_ts=result_ts,
                last_error=last_error,
                next_attempt_at=next_attempt_at,
                count_attempt=count_attempt,
            )

    async def pending_delivery_count(self) -> int:
        return int(await self._fetchval(sql.OPEN_DELIVERY_COUNT.postgres))

    async def posted_ts(self, tenant: TenantId, dedup_key: str) -> str | None:
        row = await self._fetchrow(sql.POSTED_TS.postgres, tenant, dedup_key)
        return str(row[0]) if row and row[0] else None

    async def posted_for(self, tenant: TenantId, request_id: int, ts: str) -> bool:
        row = await self._fetchrow(sql.POSTED_FOR.postgres, tenant, request_id, ts)
        return row is not None

    async def metrics_snapshot(self) -> MetricsSnapshot:
        async with self.connection() as conn:  # a pooled connection: never one a request is using
            return MetricsSnapshot.from_rows([list(await conn.fetch(query.postgres)) for query in sql.METRICS_QUERIES])
