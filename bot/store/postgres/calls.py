"""Calls from the browser: hashed single-use links, hashed page sessions, and the calls themselves.

Invariant: a link opens at most one session, across replicas (the guarded `UPDATE … WHERE used_at IS
NULL` and the session insert share one transaction), a call only moves forward (`advance_call`'s guard), and a
customer has at most one live call across replicas (the unique index `calls_one_live_per_customer`; `create_call`
names the live one).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import asyncpg

from bot.domain import Call, CallInProgress, CallState, Request, TenantId
from bot.store import sql
from bot.store.postgres.connection import PostgresConnection, row_count
from bot.store.postgres.effects import insert_deliveries, request_from
from bot.store.types import CallSession, NewDelivery, StoreError, call_fields


def _call(row: asyncpg.Record) -> Call:
    return Call(**dict(row))


def call_from(row: asyncpg.Record) -> Call:
    """A call from its row, for the other query modules."""
    return _call(row)


async def calls_of(conn: asyncpg.Connection, tenant: TenantId | None, request_ids: list[int]) -> dict[int, list[Call]]:
    """The calls of the tenant's requests among these, oldest first, by request id (None: any tenant's, for the
    operator's records)."""
    found: dict[int, list[Call]] = {}
    rows = await conn.fetch(
        """SELECT * FROM calls WHERE ($2::text IS NULL OR tenant_id = $2) AND request_id = ANY($1::bigint[])
           ORDER BY request_id, id""",
        request_ids,
        tenant,
    )
    for row in rows:
        call = _call(row)
        found.setdefault(call.request_id, []).append(call)
    return found


class CallQueries(PostgresConnection):
    async def create_call_link(
        self, tenant: TenantId, token_hash: str, request_id: int, user_id: str, created_at: float, expires_at: float
    ) -> None:
        async with self.connection() as conn:
            await conn.execute(
                sql.INSERT_CALL_LINK.postgres, tenant, token_hash, user_id, created_at, expires_at, request_id
            )

    async def redeem_call_link(
        self, token_hash: str, session_hash: str, now: float, session_expires_at: float
    ) -> CallSession | None:
        async with self.transaction() as conn:
            row = await conn.fetchrow(sql.REDEEM_CALL_LINK.postgres, now, token_hash)
            if row is None:
                return None
            session_id = await conn.fetchval(
                sql.INSERT_CALL_SESSION.postgres, row[2], session_hash, row[0], row[1], now, session_expires_at
            )
            return CallSession(int(row[0]), str(row[1]), session_expires_at, int(session_id), str(row[2]))

    async def call_session(self, session_hash: str, now: float) -> CallSession | None:
        row = await self._fetchrow(sql.CALL_SESSION.postgres, session_hash, now)
        return CallSession(int(row[0]), str(row[1]), float(row[2]), int(row[3]), str(row[4])) if row else None

    async def create_call(
        self, tenant: TenantId, request_id: int, user_id: str, started_at: float, session_id: int | None = None
    ) -> Call:
        for _ in range(3):  # the live call may end between the refused insert and reading it: then try again
            async with self.transaction() as conn:
                try:
                    async with conn.transaction():  # a savepoint: the refused insert leaves the rest usable
                        call_id = await conn.fetchval(
                            sql.INSERT_CALL.postgres, tenant, user_id, started_at, session_id, request_id
                        )
                except asyncpg.UniqueViolationError:
                    request = await conn.fetchrow(sql.REQUEST.postgres, tenant, request_id)
                    live = await conn.fetchrow(
                        sql.LIVE_CALL_TO.postgres, tenant, request["number_name"], request["phone_key"]
                    )
                    if live is None:
                        continue
                    raise CallInProgress(_call(live)) from None
                if call_id is None:
                    raise LookupError(f"no request {request_id}")
                row = await conn.fetchrow(sql.SET_CALL_DELIVERY_KEY.postgres, f"call{call_id}", call_id)
            return _call(row)
        raise CallInProgress(await self._live_call_of(tenant, request_id))

    async def _live_call_of(self, tenant: TenantId, request_id: int) -> Call:
        async with self.connection() as conn:
            request = await conn.fetchrow(sql.REQUEST.postgres, tenant, request_id)
            live = await conn.fetchrow(sql.LIVE_CALL_TO.postgres, tenant, request["number_name"], request["phone_key"])
        if live is None:
            raise StoreError("the customer's live call kept changing; try again")
        return _call(live)

    async def live_call_to(self, tenant: TenantId, number_name: str, phone_key: str) -> Call | None:
        row = await self._fetchrow(sql.LIVE_CALL_TO.postgres, tenant, number_name, phone_key)
        return _call(row) if row else None

    async def session_call(self, tenant: TenantId, session_id: int) -> Call | None:
        row = await self._fetchrow(sql.SESSION_CALL.postgres, tenant, session_id)
        return _call(row) if row else None

    async def call_by_external_id(self, tenant: TenantId, external_call_id: str) -> Call | None:
        row = await self._fetchrow(sql.CALL_BY_EXTERNAL_ID.postgres, tenant, external_call_id)
        return _call(row) if row else None

    async def calls_by_ids(self, call_ids: Iterable[int]) -> dict[int, Call]:
        ids = list(dict.fromkeys(call_ids))
        if not ids:
            return {}
        rows = await self._fetch("SELECT * FROM calls WHERE id = ANY($1::bigint[])", ids)
        return {call.id: call for call in map(_call, rows)}

    async def calls_by_pilot_ids(self, tenant: TenantId, pilot_call_ids: Iterable[str]) -> dict[str, Call]:
        ids = list(dict.fromkeys(pilot_call_ids))
        if not ids:
            return {}
        rows = await self._fetch(
            "SELECT * FROM calls WHERE tenant_id = $1 AND pilot_call_id = ANY($2::text[])", tenant, ids
        )
        return {call.pilot_call_id: call for call in map(_call, rows) if call.pilot_call_id}

    async def get_call(self, tenant: TenantId, call_id: int) -> Call | None:
        row = await self._fetchrow(sql.CALL.postgres, tenant, call_id)
        return _call(row) if row else None

    async def call_by_pilot_id(self, tenant: TenantId, pilot_call_id: str) -> Call | None:
        row = await self._fetchrow(sql.CALL_BY_PILOT_ID.postgres, tenant, pilot_call_id)
        return _call(row) if row else None

    async def last_call(self, tenant: TenantId, request_id: int) -> Call | None:
        row = await self._fetchrow(sql.LAST_CALL.postgres, tenant, request_id)
        return _call(row) if row else None

    async def calls_for_requests(self, tenant: TenantId, request_ids: Iterable[int]) -> dict[int, list[Call]]:
        ids = list(dict.fromkeys(request_ids))
        if not ids:
            return {}
        async with self.connection() as conn:
            return await calls_of(conn, tenant, ids)

    async def requests_called_by(self, tenant: TenantId, user_id: str, since: float, limit: int = 50) -> list[Request]:
        rows = await self._fetch(sql.CALLED_BY.postgres, tenant, user_id, since, limit)
        return [request_from(row) for row in rows]

    async def delete_spent_call_credentials(self, now: float, limit: int = 500) -> int:
        async with self.transaction() as conn:
            links = row_count(await conn.execute(sql.DELETE_SPENT_CALL_LINKS.postgres, now, limit))
            sessions = row_count(await conn.execute(sql.DELETE_EXPIRED_CALL_SESSIONS.postgres, now, limit))
        return links + sessions

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
        changes, states = call_fields(fields), list(from_states)
        now = time.time()
        assignments = ", ".join(f"{name} = ${n}" for n, name in enumerate(changes, start=5))
        guard = " AND pilot_call_id IS NULL" if unassigned else ""
        async with self.transaction() as conn:
            row = await conn.fetchrow(
                f"""UPDATE calls SET {assignments}, updated_at = $1
                    WHERE id = $2 AND state = ANY($3::text[]) AND tenant_id = $4{guard} RETURNING *""",
                now,
                call_id,
                states,
                tenant,
                *changes.values(),
            )
            if row is None:
                return None
            call = _call(row)
            await insert_deliveries(conn, tenant, call.request_id, deliveries, now)
            if last_call is not None:
                await conn.execute(sql.SET_LAST_CALL.postgres, last_call, call.request_id)
        return call

    async def unsettled_calls(self, started_before: float, quiet_before: float, limit: int = 100) -> list[Call]:
        rows = await self._fetch(sql.UNSETTLED_CALLS.postgres, started_before, quiet_before, limit)
        return [_call(row) for row in rows]

    async def unconfirmed_call_to(self, tenant: TenantId, phone_key: str, since: float) -> Call | None:
        row = await self._fetchrow(sql.UNCONFIRMED_CALL_TO.postgres, tenant, phone_key, since)
        return _call(row) if row else None
