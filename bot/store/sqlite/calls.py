"""Calls from the browser: hashed single-use links, hashed page sessions, and the calls themselves.

Invariant: a link opens at most one session (the guarded `UPDATE … WHERE used_at IS NULL` and the
session insert share one transaction), a call only moves forward (`advance_call`'s guard), and a customer has
at most one live call (the unique index `calls_one_live_per_customer`; `create_call` names the live one).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Mapping
from typing import Any

from bot.domain import Call, CallInProgress, CallState, Request, TenantId
from bot.store import sql
from bot.store.sqlite.connection import SQLiteConnection, marks
from bot.store.sqlite.effects import insert_deliveries, request_from
from bot.store.types import CallSession, NewDelivery, call_fields


def _call(row: sqlite3.Row) -> Call:
    return Call(**{key: row[key] for key in row.keys()})  # noqa: SIM118  (sqlite3.Row is not a Mapping)


def call_from(row: sqlite3.Row) -> Call:
    """A call from its row, for the other query modules."""
    return _call(row)


def calls_of(conn: sqlite3.Connection, tenant: TenantId | None, request_ids: list[int]) -> dict[int, list[Call]]:
    """The calls of the tenant's requests among these, oldest first, by request id (None: any tenant's, for the
    operator's records)."""
    found: dict[int, list[Call]] = {}
    for start in range(0, len(request_ids), 500):  # well under SQLite's bound on parameters
        chunk = request_ids[start : start + 500]
        rows = conn.execute(
            f"""SELECT * FROM calls WHERE (?1 IS NULL OR tenant_id = ?1) AND request_id IN ({marks(chunk)})
                ORDER BY request_id, id""",
            (tenant, *chunk),
        )
        for row in rows:
            call = _call(row)
            found.setdefault(call.request_id, []).append(call)
    return found


class CallQueries(SQLiteConnection):
    async def create_call_link(
        self, tenant: TenantId, token_hash: str, request_id: int, user_id: str, created_at: float, expires_at: float
    ) -> None:
        args = (tenant, token_hash, user_id, created_at, expires_at, request_id)
        await self._write(lambda conn: conn.execute(sql.INSERT_CALL_LINK.sqlite, args))

    async def redeem_call_link(
        self, token_hash: str, session_hash: str, now: float, session_expires_at: float
    ) -> CallSession | None:
        def redeem(conn: sqlite3.Connection) -> CallSession | None:
            row = conn.execute(sql.REDEEM_CALL_LINK.sqlite, (now, token_hash)).fetchone()
            if row is None:
                return None
            session_id = conn.execute(
                sql.INSERT_CALL_SESSION.sqlite, (row[2], session_hash, row[0], row[1], now, session_expires_at)
            ).fetchone()[0]
            return CallSession(int(row[0]), str(row[1]), session_expires_at, int(session_id), str(row[2]))

        return await self._write(redeem)

    async def call_session(self, session_hash: str, now: float) -> CallSession | None:
        row = await self._fetchone(sql.CALL_SESSION.sqlite, (session_hash, now))
        return CallSession(int(row[0]), str(row[1]), float(row[2]), int(row[3]), str(row[4])) if row else None

    async def create_call(
        self, tenant: TenantId, request_id: int, user_id: str, started_at: float, session_id: int | None = None
    ) -> Call:
        def insert(conn: sqlite3.Connection) -> Call | CallInProgress:
            try:
                inserted = conn.execute(
                    sql.INSERT_CALL.sqlite, (tenant, user_id, started_at, session_id, request_id)
                ).fetchone()
            except sqlite3.IntegrityError:  # the customer's live call (one writer: it is still there)
                request = conn.execute(sql.REQUEST.sqlite, (tenant, request_id)).fetchone()
                live = conn.execute(
                    sql.LIVE_CALL_TO.sqlite, (tenant, request["number_name"], request["phone_key"])
                ).fetchone()
                return CallInProgress(_call(live))
            if inserted is None:
                raise LookupError(f"no request {request_id}")
            call_id = inserted[0]
            return _call(conn.execute(sql.SET_CALL_DELIVERY_KEY.sqlite, (f"call{call_id}", call_id)).fetchone())

        made = await self._write(insert)
        if isinstance(made, CallInProgress):
            raise made
        return made

    async def live_call_to(self, tenant: TenantId, number_name: str, phone_key: str) -> Call | None:
        row = await self._fetchone(sql.LIVE_CALL_TO.sqlite, (tenant, number_name, phone_key))
        return _call(row) if row else None

    async def session_call(self, tenant: TenantId, session_id: int) -> Call | None:
        row = await self._fetchone(sql.SESSION_CALL.sqlite, (tenant, session_id))
        return _call(row) if row else None

    async def call_by_external_id(self, tenant: TenantId, external_call_id: str) -> Call | None:
        row = await self._fetchone(sql.CALL_BY_EXTERNAL_ID.sqlite, (tenant, external_call_id))
        return _call(row) if row else None

    async def calls_by_ids(self, call_ids: Iterable[int]) -> dict[int, Call]:
        ids = list(dict.fromkeys(call_ids))[:500]  # well under SQLite's bound on parameters
        if not ids:
            return {}
        rows = await self._fetchall(f"SELECT * FROM calls WHERE id IN ({marks(ids)})", ids)
        return {call.id: call for call in map(_call, rows)}

    async def calls_by_pilot_ids(self, tenant: TenantId, pilot_call_ids: Iterable[str]) -> dict[str, Call]:
        ids = list(dict.fromkeys(pilot_call_ids))[:500]
        if not ids:
            return {}
        rows = await self._fetchall(
            f"SELECT * FROM calls WHERE tenant_id = ? AND pilot_call_id IN ({marks(ids)})", (tenant, *ids)
        )
        return {call.pilot_call_id: call for call in map(_call, rows) if call.pilot_call_id}

    async def get_call(self, tenant: TenantId, call_id: int) -> Call | None:
        row = await self._fetchone(sql.CALL.sqlite, (tenant, call_id))
        return _call(row) if row else None

    async def call_by_pilot_id(self, tenant: TenantId, pilot_call_id: str) -> Call | None:
        row = await self._fetchone(sql.CALL_BY_PILOT_ID.sqlite, (tenant, pilot_call_id))
        return _call(row) if row else None

    async def last_call(self, tenant: TenantId, request_id: int) -> Call | None:
        row = await self._fetchone(sql.LAST_CALL.sqlite, (tenant, request_id))
        return _call(row) if row else None

    async def calls_for_requests(self, tenant: TenantId, request_ids: Iterable[int]) -> dict[int, list[Call]]:
        ids = list(dict.fromkeys(request_ids))
        if not ids:
            return {}
        return await self._in_db_thread(lambda conn: calls_of(conn, tenant, ids))

    async def requests_called_by(self, tenant: TenantId, user_id: str, since: float, limit: int = 50) -> list[Request]:
        rows = await self._fetchall(sql.CALLED_BY.sqlite, (tenant, user_id, since, limit))
        return [request_from(row) for row in rows]

    async def delete_spent_call_credentials(self, now: float, limit: int = 500) -> int:
        def delete(conn: sqlite3.Connection) -> int:
            links = conn.execute(sql.DELETE_SPENT_CALL_LINKS.sqlite, (now, limit))
            sessions = conn.execute(sql.DELETE_EXPIRED_CALL_SESSIONS.sqlite, (now, limit))
            return links.rowcount + sessions.rowcount

        return await self._write(delete)

    async def advance_call(
        self,
        tenant: TenantId,
        call_id: int,
        from_states: Iterable[CallState],
        fields: Mapping[str, Any],
        deliveries: Iterable[NewDelivery] = (),
        *,
        last_call: str | None = None,
        unassigned: bool = False,
    ) -> Call | None:
        changes, states, pending = call_fields(fields), list(from_states), list(deliveries)
        guard = " AND pilot_call_id IS NULL" if unassigned else ""

        def advance(conn: sqlite3.Connection) -> Call | None:
            now = time.time()
            assignments = ", ".join(f"{name} = ?" for name in changes)
            row = conn.execute(
                f"""UPDATE calls SET {assignments}, updated_at = ?
                    WHERE id = ? AND tenant_id = ? AND state IN ({marks(states)}){guard} RETURNING *""",
                (*changes.values(), now, call_id, tenant, *states),
            ).fetchone()
            if row is None:
                return None
            call = _call(row)
            insert_deliveries(conn, tenant, call.request_id, pending, now)
            if last_call is not None:
                conn.execute(sql.SET_LAST_CALL.sqlite, (last_call, call.request_id))
            return call

        return await self._write(advance)

    async def unsettled_calls(self, started_before: float, quiet_before: float, limit: int = 100) -> list[Call]:
        rows = await self._fetchall(sql.UNSETTLED_CALLS.sqlite, (started_before, quiet_before, limit))
        return [_call(row) for row in rows]

    async def unconfirmed_call_to(self, tenant: TenantId, phone_key: str, since: float) -> Call | None:
        row = await self._fetchone(sql.UNCONFIRMED_CALL_TO.sqlite, (tenant, phone_key, since))
        return _call(row) if row else None
