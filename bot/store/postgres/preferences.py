"""Per-user preferences (answers by DM, cached Slack locale), handled button clicks, status checks."""

from __future__ import annotations

import time

from bot.store import sql
from bot.store.postgres.connection import PostgresConnection


class PreferenceQueries(PostgresConnection):
    async def user_prefs(self, user_id: str) -> tuple[bool, str | None, float | None]:
        row = await self._fetchrow(sql.USER_PREFS.postgres, user_id)
        if row is None:
            return False, None, None
        return bool(row[0]), row[1], row[2]

    async def set_dm_answers(self, user_id: str, enabled: bool) -> None:
        async with self.transaction() as conn:
            await conn.execute(sql.SET_DM_ANSWERS.postgres, user_id, int(enabled), time.time())

    async def set_locale(self, user_id: str, locale: str, fetched_at: float) -> None:
        async with self.transaction() as conn:
            await conn.execute(sql.SET_LOCALE.postgres, user_id, locale, fetched_at)

    async def claim_action(self, action_key: str) -> bool:
        async with self.transaction() as conn:
            status = await conn.execute(
                """INSERT INTO handled_actions (action_key, created_at) VALUES ($1, $2)
                   ON CONFLICT (action_key) DO NOTHING""",
                action_key,
                time.time(),
            )
        return bool(status == "INSERT 0 1")

    async def claim_status_check(self, request_id: int, now: float, interval: float) -> tuple[bool, str | None]:
        async with self.transaction() as conn:
            # The row lock (taken by the upsert, or held by a racing claim) serialises the claims.
            await conn.execute(
                """INSERT INTO status_checks (request_id, checked_at) VALUES ($1, $2)
                   ON CONFLICT (request_id) DO NOTHING""",
                request_id,
                float("-inf"),
            )
            row = await conn.fetchrow(
                "SELECT checked_at, result FROM status_checks WHERE request_id = $1 FOR UPDATE", request_id
            )
            if row is None or now - float(row["checked_at"]) < interval:
                return False, row["result"] if row is not None else None
            await conn.execute("UPDATE status_checks SET checked_at = $2 WHERE request_id = $1", request_id, now)
            return True, row["result"]

    async def record_status_check(self, request_id: int, result: str) -> None:
        async with self.transaction() as conn:
            await conn.execute(sql.RECORD_STATUS_CHECK.postgres, result, request_id)
