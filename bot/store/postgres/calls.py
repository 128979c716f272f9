"""Calls from the browser: hashed single-use links, hashed page sessions, and the calls themselves.

Invariant: a link opens at most one session, across replicas (the guarded `UPDATE … WHERE used_at IS
NULL` and the session insert share one transaction), and a call only moves forward (`advance_call`'s guard).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import asyncpg

from bot.domain import CANCELLED, LIVE_CALL_STATES, Call, CallState, Request
from bot.store.postgres.connection import PostgresConnection
from bot.store.postgres.effects import insert_deliveries, request_from
from bot.store.types import CallSession, NewDelivery, call_fields

# Teammates' requests created since $1 on which user $2 called, most recently called first (requests_by_created, then
# calls_by_request: bounded by the window's requests, whatever the size of the calls table).
_CALLED_BY = """SELECT r.* FROM requests r
    JOIN (SELECT request_id, MAX(started_at) AS last_started FROM calls
          WHERE user_id = $2 AND started_at >= $1 GROUP BY request_id) c ON c.request_id = r.id
    WHERE r.created_at >= $1 AND r.user_id != $2
    ORDER BY c.last_started DESC, r.id DESC
    LIMIT $3"""


def _call(row: asyncpg.Record) -> Call:
    return Call(**dict(row))


def call_from(row: asyncpg.Record) -> Call:
    """A call from its row, for the other query modules."""
    return _call(row)


async def calls_of(conn: asyncpg.Connection, request_ids: list[int]) -> dict[int, list[Call]]:
    """The calls of these requests, oldest first, by request id."""
    found: dict[int, list[Call]] = {}
    rows = await conn.fetch(
        "SELECT * FROM calls WHERE request_id = ANY($1::bigint[]) ORDER BY request_id, id", request_ids
    )
    for row in rows:
        call = _call(row)
        found.setdefault(call.request_id, []).append(call)
    return found


class CallQueries(PostgresConnection):
    async def create_call_link(
        self, token_hash: str, request_id: int, user_id: str, created_at: float, expires_at: float
    ) -> None:
        async with self.transaction() as conn:
            await conn.execute(
                """INSERT INTO call_links (token_hash, request_id, user_id, created_at, expires_at)
                   VALUES ($1, $2, $3, $4, $5)""",
                token_hash,
                request_id,
                user_id,
                created_at,
                expires_at,
            )

    async def redeem_call_link(
        self, token_hash: str, session_hash: str, now: float, session_expires_at: float
    ) -> CallSession | None:
        async with self.transaction() as conn:
            row = await conn.fetchrow(
                """UPDATE call_links SET used_at = $1
                   WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1
                   RETURNING request_id, user_id""",
                now,
                token_hash,
            )
            if row is None:
                return None
            await conn.execute(
                """INSERT INTO call_sessions (session_hash, request_id, user_id, created_at, expires_at)
                   VALUES ($1, $2, $3, $4, $5)""",
                session_hash,
                row[0],
                row[1],
                now,
                session_expires_at,
            )
            return CallSession(int(row[0]), str(row[1]), session_expires_at)

    async def call_session(self, session_hash: str, now: float) -> CallSession | None:
        row = await self._fetchrow(
            "SELECT request_id, user_id, expires_at FROM call_sessions WHERE session_hash = $1 AND expires_at > $2",
            session_hash,
            now,
        )
        return CallSession(int(row[0]), str(row[1]), float(row[2])) if row else None

    async def create_call(self, request_id: int, user_id: str, started_at: float) -> Call:
        async with self.transaction() as conn:
            call_id = await conn.fetchval(
                """INSERT INTO calls (request_id, user_id, state, started_at, delivery_key, updated_at)
                   VALUES ($1, $2, 'started', $3, '', $3) RETURNING id""",
                request_id,
                user_id,
                started_at,
            )
            row = await conn.fetchrow(
                "UPDATE calls SET delivery_key = $1 WHERE id = $2 RETURNING *", f"call{call_id}", call_id
            )
        return _call(row)

    async def get_call(self, call_id: int) -> Call | None:
        row = await self._fetchrow("SELECT * FROM calls WHERE id = $1", call_id)
        return _call(row) if row else None

    async def call_by_pilot_id(self, pilot_call_id: str) -> Call | None:
        row = await self._fetchrow("SELECT * FROM calls WHERE pilot_call_id = $1", pilot_call_id)
        return _call(row) if row else None

    async def last_call(self, request_id: int) -> Call | None:
        row = await self._fetchrow("SELECT * FROM calls WHERE request_id = $1 ORDER BY id DESC LIMIT 1", request_id)
        return _call(row) if row else None

    async def calls_for_requests(self, request_ids: Iterable[int]) -> dict[int, list[Call]]:
        ids = list(dict.fromkeys(request_ids))
        if not ids:
            return {}
        async with self.connection() as conn:
            return await calls_of(conn, ids)

    async def requests_called_by(self, user_id: str, since: float, limit: int = 50) -> list[Request]:
        rows = await self._fetch(_CALLED_BY, since, user_id, limit)
        return [request_from(row) for row in rows]

    async def delete_spent_call_credentials(self, now: float, limit: int = 500) -> int:
        async with self.transaction() as conn:
            links = await conn.fetchval(
                """WITH gone AS (
                       DELETE FROM call_links WHERE id IN (
                           SELECT id FROM call_links WHERE used_at IS NOT NULL OR expires_at <= $1 LIMIT $2)
                       RETURNING 1)
                   SELECT COUNT(*) FROM gone""",
                now,
                limit,
            )
            sessions = await conn.fetchval(
                """WITH gone AS (
                       DELETE FROM call_sessions WHERE id IN (
                           SELECT id FROM call_sessions WHERE expires_at <= $1 LIMIT $2)
                       RETURNING 1)
                   SELECT COUNT(*) FROM gone""",
                now,
                limit,
            )
        return int(links) + int(sessions)

    async def advance_call(
        self,
        call_id: int,
        from_states: Iterable[CallState],
        fields: Mapping[str, Any],
        deliveries: Iterable[NewDelivery] = (),
        *,
        last_call: str | None = None,
        unassigned: bool = False,
    ) -> Call | None:
        changes, states = call_fields(fields), list(from_states)
        now = time.time()
        assignments = ", ".join(f"{name} = ${n}" for n, name in enumerate(changes, start=4))
        guard = " AND pilot_call_id IS NULL" if unassigned else ""
        async with self.transaction() as conn:
            row = await conn.fetchrow(
                f"""UPDATE calls SET {assignments}, updated_at = $1
                    WHERE id = $2 AND state = ANY($3::text[]){guard} RETURNING *""",
                now,
                call_id,
                states,
                *changes.values(),
            )
            if row is None:
                return None
            call = _call(row)
            await insert_deliveries(conn, call.request_id, deliveries, now)
            if last_call is not None:
                await conn.execute("UPDATE requests SET last_call = $1 WHERE id = $2", last_call, call.request_id)
        return call

    async def unsettled_calls(self, started_before: float, quiet_before: float, limit: int = 100) -> list[Call]:
        rows = await self._fetch(
            """SELECT * FROM calls WHERE state = ANY($1::text[])
               AND ((pilot_call_id IS NULL AND started_at < $2) OR (pilot_call_id IS NOT NULL AND updated_at < $3))
               ORDER BY updated_at LIMIT $4""",
            list(LIVE_CALL_STATES),
            started_before,
            quiet_before,
            limit,
        )
        return [_call(row) for row in rows]

    async def unconfirmed_call_to(self, phone_key: str, since: float) -> Call | None:
        row = await self._fetchrow(
            """SELECT calls.* FROM calls JOIN requests ON requests.id = calls.request_id
               WHERE requests.phone_key = $1 AND calls.started_at >= $2 AND calls.pilot_call_id IS NULL
               AND (calls.state = $3 OR (calls.state = $4 AND calls.end_reason = $5))
               ORDER BY calls.started_at, calls.id LIMIT 1""",
            phone_key,
            since,
            CallState.STARTED,
            CallState.FAILED,
            CANCELLED,
        )
        return _call(row) if row else None
