"""Calls from the browser: hashed single-use links, hashed page sessions, and the calls themselves.

Invariant: a link opens at most one session (the guarded `UPDATE … WHERE used_at IS NULL` and the
session insert share one transaction), and a call only moves forward (`advance_call`'s guard).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Mapping
from typing import Any

from bot.domain import CANCELLED, LIVE_CALL_STATES, Call, CallState, Request
from bot.store.sqlite.connection import SQLiteConnection, marks
from bot.store.sqlite.effects import insert_deliveries, request_from
from bot.store.types import CallSession, NewDelivery, call_fields

# Teammates' requests created since ? on which user ? called, most recently called first (requests_by_created, then
# calls_by_request: bounded by the window's requests, whatever the size of the calls table).
_CALLED_BY = """SELECT r.* FROM requests r
    JOIN (SELECT request_id, MAX(started_at) AS last_started FROM calls
          WHERE user_id = ? AND started_at >= ? GROUP BY request_id) c ON c.request_id = r.id
    WHERE r.created_at >= ? AND r.user_id != ?
    ORDER BY c.last_started DESC, r.id DESC
    LIMIT ?"""


def _call(row: sqlite3.Row) -> Call:
    return Call(**{key: row[key] for key in row.keys()})  # noqa: SIM118  (sqlite3.Row is not a Mapping)


def call_from(row: sqlite3.Row) -> Call:
    """A call from its row, for the other query modules."""
    return _call(row)


def calls_of(conn: sqlite3.Connection, request_ids: list[int]) -> dict[int, list[Call]]:
    """The calls of these requests, oldest first, by request id."""
    found: dict[int, list[Call]] = {}
    for start in range(0, len(request_ids), 500):  # well under SQLite's bound on parameters
        chunk = request_ids[start : start + 500]
        rows = conn.execute(f"SELECT * FROM calls WHERE request_id IN ({marks(chunk)}) ORDER BY request_id, id", chunk)
        for row in rows:
            call = _call(row)
            found.setdefault(call.request_id, []).append(call)
    return found


class CallQueries(SQLiteConnection):
    async def create_call_link(
        self, token_hash: str, request_id: int, user_id: str, created_at: float, expires_at: float
    ) -> None:
        args = (token_hash, request_id, user_id, created_at, expires_at)
        await self._write(
            lambda conn: conn.execute(
                """INSERT INTO call_links (token_hash, request_id, user_id, created_at, expires_at)
                   VALUES (?, ?, ?, ?, ?)""",
                args,
            )
        )

    async def redeem_call_link(
        self, token_hash: str, session_hash: str, now: float, session_expires_at: float
    ) -> CallSession | None:
        def redeem(conn: sqlite3.Connection) -> CallSession | None:
            row = conn.execute(
                """UPDATE call_links SET used_at = ?
                   WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?
                   RETURNING request_id, user_id""",
                (now, token_hash, now),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                """INSERT INTO call_sessions (session_hash, request_id, user_id, created_at, expires_at)
                   VALUES (?, ?, ?, ?, ?)""",
                (session_hash, row[0], row[1], now, session_expires_at),
            )
            return CallSession(int(row[0]), str(row[1]), session_expires_at)

        return await self._write(redeem)

    async def call_session(self, session_hash: str, now: float) -> CallSession | None:
        row = await self._fetchone(
            "SELECT request_id, user_id, expires_at FROM call_sessions WHERE session_hash = ? AND expires_at > ?",
            (session_hash, now),
        )
        return CallSession(int(row[0]), str(row[1]), float(row[2])) if row else None

    async def create_call(self, request_id: int, user_id: str, started_at: float) -> Call:
        def insert(conn: sqlite3.Connection) -> Call:
            call_id = conn.execute(
                """INSERT INTO calls (request_id, user_id, state, started_at, delivery_key, updated_at)
                   VALUES (?, ?, 'started', ?, '', ?)""",
                (request_id, user_id, started_at, started_at),
            ).lastrowid
            conn.execute("UPDATE calls SET delivery_key = ? WHERE id = ?", (f"call{call_id}", call_id))
            return _call(conn.execute("SELECT * FROM calls WHERE id = ?", (call_id,)).fetchone())

        return await self._write(insert)

    async def get_call(self, call_id: int) -> Call | None:
        row = await self._fetchone("SELECT * FROM calls WHERE id = ?", (call_id,))
        return _call(row) if row else None

    async def call_by_pilot_id(self, pilot_call_id: str) -> Call | None:
        row = await self._fetchone("SELECT * FROM calls WHERE pilot_call_id = ?", (pilot_call_id,))
        return _call(row) if row else None

    async def last_call(self, request_id: int) -> Call | None:
        row = await self._fetchone("SELECT * FROM calls WHERE request_id = ? ORDER BY id DESC LIMIT 1", (request_id,))
        return _call(row) if row else None

    async def calls_for_requests(self, request_ids: Iterable[int]) -> dict[int, list[Call]]:
        ids = list(dict.fromkeys(request_ids))
        if not ids:
            return {}
        return await self._in_db_thread(lambda conn: calls_of(conn, ids))

    async def requests_called_by(self, user_id: str, since: float, limit: int = 50) -> list[Request]:
        rows = await self._fetchall(_CALLED_BY, (user_id, since, since, user_id, limit))
        return [request_from(row) for row in rows]

    async def delete_spent_call_credentials(self, now: float, limit: int = 500) -> int:
        def delete(conn: sqlite3.Connection) -> int:
            links = conn.execute(
                """DELETE FROM call_links WHERE id IN (
                       SELECT id FROM call_links WHERE used_at IS NOT NULL OR expires_at <= ? LIMIT ?)""",
                (now, limit),
            )
            sessions = conn.execute(
                "DELETE FROM call_sessions WHERE id IN (SELECT id FROM call_sessions WHERE expires_at <= ? LIMIT ?)",
                (now, limit),
            )
            return links.rowcount + sessions.rowcount

        return await self._write(delete)

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
        changes, states, pending = call_fields(fields), list(from_states), list(deliveries)
        guard = " AND pilot_call_id IS NULL" if unassigned else ""

        def advance(conn: sqlite3.Connection) -> Call | None:
            now = time.time()
            assignments = ", ".join(f"{name} = ?" for name in changes)
            row = conn.execute(
                f"""UPDATE calls SET {assignments}, updated_at = ?
                    WHERE id = ? AND state IN ({marks(states)}){guard} RETURNING *""",
                (*changes.values(), now, call_id, *states),
            ).fetchone()
            if row is None:
                return None
            call = _call(row)
            insert_deliveries(conn, call.request_id, pending, now)
            if last_call is not None:
                conn.execute("UPDATE requests SET last_call = ? WHERE id = ?", (last_call, call.request_id))
            return call

        return await self._write(advance)

    async def unsettled_calls(self, started_before: float, quiet_before: float, limit: int = 100) -> list[Call]:
        rows = await self._fetchall(
            f"""SELECT * FROM calls WHERE state IN ({marks(LIVE_CALL_STATES)})
                AND ((pilot_call_id IS NULL AND started_at < ?) OR (pilot_call_id IS NOT NULL AND updated_at < ?))
                ORDER BY updated_at LIMIT ?""",
            (*LIVE_CALL_STATES, started_before, quiet_before, limit),
        )
        return [_call(row) for row in rows]

    async def unconfirmed_call_to(self, phone_key: str, since: float) -> Call | None:
        row = await self._fetchone(
            """SELECT calls.* FROM calls JOIN requests ON requests.id = calls.request_id
               WHERE requests.phone_key = ? AND calls.started_at >= ? AND calls.pilot_call_id IS NULL
               AND (calls.state = ? OR (calls.state = ? AND calls.end_reason = ?))
               ORDER BY calls.started_at, calls.id LIMIT 1""",
            (phone_key, since, CallState.STARTED, CallState.FAILED, CANCELLED),
        )
        return _call(row) if row else None
