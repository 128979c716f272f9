"""Per-user preferences (answers by DM, cached Slack locale), handled button clicks, status checks."""

from __future__ import annotations

import sqlite3
import time

from bot.store import sql
from bot.store.sqlite.connection import SQLiteConnection


class PreferenceQueries(SQLiteConnection):
    async def user_prefs(self, user_id: str) -> tuple[bool, str | None, float | None]:
        row = await self._fetchone(sql.USER_PREFS.sqlite, (user_id,))
        if row is None:
            return False, None, None
        return bool(row[0]), row[1], row[2]

    async def set_dm_answers(self, user_id: str, enabled: bool) -> None:
        args = (user_id, int(enabled), time.time())
        await self._write(lambda conn: conn.execute(sql.SET_DM_ANSWERS.sqlite, args))

    async def set_locale(self, user_id: str, locale: str, fetched_at: float) -> None:
        args = (user_id, locale, fetched_at)
        await self._write(lambda conn: conn.execute(sql.SET_LOCALE.sqlite, args))

    async def claim_action(self, action_key: str) -> bool:
        args = (action_key, time.time())
        rowcount = await self._write(
            lambda conn: (
                conn.execute(
                    "INSERT OR IGNORE INTO handled_actions (action_key, created_at) VALUES (?, ?)", args
                ).rowcount
            )
        )
        return rowcount == 1

    async def claim_status_check(self, request_id: int, now: float, interval: float) -> tuple[bool, str | None]:
        def claim(conn: sqlite3.Connection) -> tuple[bool, str | None]:
            row = conn.execute(
                "SELECT checked_at, result FROM status_checks WHERE request_id = ?", (request_id,)
            ).fetchone()
            if row is not None and now - float(row[0]) < interval:
                return False, row[1]
            conn.execute(
                """INSERT INTO status_checks (request_id, checked_at) VALUES (?, ?)
                   ON CONFLICT (request_id) DO UPDATE SET checked_at = excluded.checked_at""",
                (request_id, now),
            )
            return True, row[1] if row is not None else None

        return await self._write(claim)

    async def record_status_check(self, request_id: int, result: str) -> None:
        await self._write(lambda conn: conn.execute(sql.RECORD_STATUS_CHECK.sqlite, (result, request_id)))
