"""Deliveries: Slack calls queued per request, claimed in order, marked done, retried or given up."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable

from bot.domain import DeliveryState, TenantId
from bot.store import sql
from bot.store.deliveries import in_turns
from bot.store.sqlite.connection import SQLiteConnection, marks
from bot.store.sqlite.effects import insert_deliveries
from bot.store.types import DELIVERY_FIELDS, Delivery, MetricsSnapshot, NewDelivery

PENDING, INFLIGHT, DONE, DEAD = (
    DeliveryState.PENDING.value,
    DeliveryState.INFLIGHT.value,
    DeliveryState.DONE.value,
    DeliveryState.DEAD.value,
)

# A delivery may go only when no earlier delivery of the same request is still open.
# A delivery of no request heads a queue of its own.
_HEAD_OF_QUEUE = f"""(d.request_id IS NULL OR d.id = (SELECT MIN(e.id) FROM deliveries e
                      WHERE e.request_id = d.request_id AND e.state IN ('{PENDING}', '{INFLIGHT}')))"""


_NEXT_DELIVERY_TIME = (
    f"SELECT MIN(d.next_attempt_at) FROM deliveries d WHERE d.state = '{PENDING}' AND {_HEAD_OF_QUEUE}"
)
# The due pending deliveries (each the head of its request's queue) ranked by their tenant's turn (1 for each tenant's
# earliest, 2 for its next, …): ordered by it, a claim shares out the outbox fairly (one writer at a time here, so
# the window function needs no row locks; PostgreSQL caps each tenant's share instead).
_DUE = f"""SELECT ranked.* FROM (
        SELECT d.*, ROW_NUMBER() OVER (PARTITION BY d.tenant_id ORDER BY d.next_attempt_at, d.id) AS turn
        FROM deliveries d WHERE d.state = '{PENDING}' AND d.next_attempt_at <= ?1 AND {_HEAD_OF_QUEUE}) ranked
    ORDER BY ranked.turn, ranked.next_attempt_at, ranked.id LIMIT ?2"""
_DUE_FOR_REQUEST = f"""SELECT d.* FROM deliveries d
    WHERE d.request_id = ? AND d.state = '{PENDING}' AND d.next_attempt_at <= ? AND {_HEAD_OF_QUEUE}"""
_TAKE = f"UPDATE deliveries SET state = '{INFLIGHT}', updated_at = ?, lease_owner = ?, lease_until = ? WHERE id"
_TAKE_ONE = f"{_TAKE} = ?"
_CLAIM_ABANDONED = f"""UPDATE deliveries SET lease_owner = ?, lease_until = ? WHERE id IN (
        SELECT id FROM deliveries WHERE state = '{INFLIGHT}'
          AND (lease_owner IS NULL OR lease_until < ?) ORDER BY id LIMIT ?)
    RETURNING *"""


def _delivery(row: sqlite3.Row) -> Delivery:
    data = dict(row)
    data["payload"] = json.loads(data["payload"])
    return Delivery(**{key: value for key, value in data.items() if key in DELIVERY_FIELDS})


def _next_delivery_time(conn: sqlite3.Connection) -> float | None:
    row = conn.execute(_NEXT_DELIVERY_TIME).fetchone()
    return float(row[0]) if row and row[0] is not None else None


def _mark_delivery(
    conn: sqlite3.Connection,
    tenant: TenantId,
    delivery_id: int,
    state: DeliveryState,
    *,
    result_ts: str | None = None,
    last_error: str | None = None,
    next_attempt_at: float | None = None,
    count_attempt: bool = False,
) -> None:
    conn.execute(
        sql.MARK_DELIVERY.sqlite,
        (state, time.time(), result_ts, last_error, next_attempt_at, 1 if count_attempt else 0, delivery_id, tenant),
    )


class DeliveryQueries(SQLiteConnection):
    async def add_deliveries(self, tenant: TenantId, request_id: int, deliveries: Iterable[NewDelivery]) -> None:
        pending, now = list(deliveries), time.time()
        await self._write(lambda conn: insert_deliveries(conn, tenant, request_id, pending, now))

    async def add_workspace_delivery(self, tenant: TenantId, delivery: NewDelivery) -> bool:
        now = time.time()
        args = (delivery.dedup_key, delivery.kind, json.dumps(delivery.payload), PENDING, now, tenant)
        return bool(await self._write(lambda conn: conn.execute(sql.ADD_WORKSPACE_DELIVERY.sqlite, args).rowcount))

    async def claim_due(self, now: float, limit: int = 50) -> tuple[list[Delivery], float | None]:
        def claim(conn: sqlite3.Connection) -> tuple[list[sqlite3.Row], float | None]:
            rows = conn.execute(_DUE, (now, limit)).fetchall()
            if rows:
                ids = [row["id"] for row in rows]
                conn.execute(f"{_TAKE} IN ({marks(ids)})", (now, self.owner, now + self.lease_seconds, *ids))
            return rows, _next_delivery_time(conn)

        rows, next_at = await self._write(claim)
        return in_turns(_delivery(r) for r in rows), next_at

    async def next_delivery_time(self) -> float | None:
        return await self._in_db_thread(_next_delivery_time)

    async def inflight_deliveries(self) -> list[Delivery]:
        rows = await self._fetchall(sql.INFLIGHT_DELIVERIES.sqlite)
        return [_delivery(r) for r in rows]

    async def claim_abandoned_deliveries(self, now: float, limit: int = 50) -> list[Delivery]:
        rows = await self._write(
            lambda conn: conn.execute(_CLAIM_ABANDONED, (self.owner, now + self.lease_seconds, now, limit)).fetchall()
        )
        return sorted((_delivery(r) for r in rows), key=lambda d: d.id)

    async def delivery_for(self, tenant: TenantId, request_id: int, kind: str) -> Delivery | None:
        row = await self._fetchone(sql.DELIVERY_FOR.sqlite, (tenant, request_id, kind))
        return _delivery(row) if row else None

    async def get_delivery(self, tenant: TenantId, delivery_id: int) -> Delivery | None:
        row = await self._fetchone(sql.DELIVERY.sqlite, (tenant, delivery_id))
        return _delivery(row) if row else None

    async def complete_delivery(
        self, delivery: Delivery, result_ts: str | None, now: float, *, claim_next: bool = True
    ) -> tuple[Delivery | None, bool]:
        """A request's messages go out one after the other (reply, then status update); handing the
        next one straight to the same worker saves a claim round trip and a pass of the loop."""

        def complete(conn: sqlite3.Connection) -> tuple[sqlite3.Row | None, bool]:
            _mark_delivery(
                conn, delivery.tenant, delivery.id, DeliveryState.DONE, result_ts=result_ts, count_attempt=True
            )
            if not claim_next:
                return None, False
            row = conn.execute(_DUE_FOR_REQUEST, (delivery.request_id, now)).fetchone()
            if row is not None:
                conn.execute(_TAKE_ONE, (now, self.owner, now + self.lease_seconds, row["id"]))
                return row, False
            pending = conn.execute(sql.REQUEST_HAS_PENDING.sqlite, (delivery.request_id,)).fetchone()
            return None, pending is None

        row, drained = await self._write(complete)
        return (_delivery(row) if row is not None else None), drained

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
        await self._write(
            lambda conn: _mark_delivery(
                conn,
                tenant,
                delivery_id,
                state,
                result_ts=result_ts,
                last_error=last_error,
                next_attempt_at=next_attempt_at,
                count_attempt=count_attempt,
            )
        )

    async def pending_delivery_count(self) -> int:
        row = await self._fetchone(sql.OPEN_DELIVERY_COUNT.sqlite)
        return int(row[0]) if row else 0

    async def posted_ts(self, tenant: TenantId, dedup_key: str) -> str | None:
        row = await self._fetchone(sql.POSTED_TS.sqlite, (tenant, dedup_key))
        return str(row[0]) if row and row[0] else None

    async def posted_for(self, tenant: TenantId, request_id: int, ts: str) -> bool:
        row = await self._fetchone(sql.POSTED_FOR.sqlite, (tenant, request_id, ts))
        return row is not None

    async def metrics_snapshot(self) -> MetricsSnapshot:
        return await self._read_only(_metrics_snapshot)


def _metrics_snapshot(conn: sqlite3.Connection) -> MetricsSnapshot:
    return MetricsSnapshot.from_rows([conn.execute(query.sqlite).fetchall() for query in sql.METRICS_QUERIES])
