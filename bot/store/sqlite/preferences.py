"""Per-user preferences (answers by DM, cached Slack locale), handled button clicks, status checks."""

from __future__ import annotations

import sqlite3
import time

from bot.domain import TenantId
from bot.store import sql
from bot.store.sqlite.connection import SQLiteConnection


class PreferenceQueries(SQLiteConnection):
    async def user_prefs(self, tenant: TenantId, user_id: str) -> tuple[bool, str | None, float | None]:
        row = await self._fetchone(sql.USER_PREFS.sqlite, (tenant, user_id))
        if row is None:
            return False, None, None
        return bool(row[0]), row[1], row[2]

    async def set_dm_answers(self, tenant: TenantId, user_id: str, enabled: bool) -> None:
        args = (tenant, user_id, int(enabled), time.time())
        await self._write(lambda conn: conn.execute(sql.SET_DM_ANSWERS.sqlite, args))

    async def set_locale(self, tenant: TenantId, user_id: str, locale: str, fetched_at: float) -> None:
        args = (tenant, user_id, locale, fetched_at)
        await self._write(lambda conn: conn.execute(sql.SET_LOCALE.sqlite, args))

    async def claim_action(self, tenant: TenantId, action_key: str) -> bool:
        args = (tenant, action_key, time.time())
        rowcount = await self._write(
            lambda conn: (
                conn.execute(
                    "INSERT OR IGNORE INTO handled_actions (tenant_id, action_key, created_at) VALUES (?, ?, ?)", args
                ).rowcount
            )
        )
        return rowcount == 1

    async def claim_status_check(
        self, tenant: TenantId, request_id: int, now: float, interval: float
    ) -> tuple[bool, str | None]:
        def claim(conn: sqlite3.Connection) -> tuple[bool, str | None]:
            if conn.execute("SELECT 1 FROM requests WHERE id = ? AND tenant_id = ?", (request_id, tenant)).fetchone():
                row = conn.execute(
                    "SELECT checked_at, result FROM status_checks WHERE request_id = ?", (request_id,)
                ).fetchone()
            else:
                return False, None  # not the tenant's request: nothing to probe, nothing to tell
            if row is not None and now - float(row[0]) < interval:
                return False, row[1]
            conn.execute(
                """INSERT INTO status_checks (tenant_id, request_id, checked_at) VALUES (?, ?, ?)
                   ON CONFLICT (request_id) DO UPDATE SET checked_at = excluded.checked_at""",
                (tenant, request_id, now),
            )
            return True, row[1] if row is not None else None

        return await self._write(claim)

    async def record_status_check(self, tenant: TenantId, request_id: int, result: str) -> None:
        await self._write(lambda conn: conn.execute(sql.RECORD_STATUS_CHECK.sqlite, (result, tenant, request_id)))
