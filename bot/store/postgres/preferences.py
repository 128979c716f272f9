"""Per-user preferences (answers by DM, cached Slack locale), handled button clicks, status checks."""

from __future__ import annotations

import time

from bot.domain import TenantId
from bot.store import sql
from bot.store.postgres.connection import PostgresConnection


class PreferenceQueries(PostgresConnection):
    async def user_prefs(self, tenant: TenantId, user_id: str) -> tuple[bool, str | None, float | None]:
        row = await self._fetchrow(sql.USER_PREFS.postgres, tenant, user_id)
        if row is None:
            return False, None, None
        return bool(row[0]), row[1], row[2]

    async def set_dm_answers(self, tenant: TenantId, user_id: str, enabled: bool) -> None:
        async with self.connection() as conn:
            await conn.execute(sql.SET_DM_ANSWERS.postgres, tenant, user_id, int(enabled), time.time())

    async def set_locale(self, tenant: TenantId, user_id: str, locale: str, fetched_at: float) -> None:
        async with self.connection() as conn:
            await conn.execute(sql.SET_LOCALE.postgres, tenant, user_id, locale, fetched_at)

    async def claim_action(self, tenant: TenantId, action_key: str) -> bool:
        async with self.connection() as conn:
            status = await conn.execute(
                """INSERT INTO handled_actions (tenant_id, action_key, created_at) VALUES ($1, $2, $3)
                   ON CONFLICT (tenant_id, action_key) DO NOTHING""",
                tenant,
                action_key,
                time.time(),
            )
        return bool(status == "INSERT 0 1")

    async def claim_status_check(
        self, tenant: TenantId, request_id: int, now: float, interval: float
    ) -> tuple[bool, str | None]:
        async with self.transaction() as conn:
            # The row lock (taken by the upsert, or held by a racing claim) serialises the claims. Only the
            # tenant's own request gets a row: another's is neither probed nor told about.
            await conn.execute(
                """INSERT INTO status_checks (tenant_id, request_id, checked_at)
                   SELECT tenant_id, id, $3 FROM requests WHERE id = $1 AND tenant_id = $2
                   ON CONFLICT (request_id) DO NOTHING""",
                request_id,
                tenant,
                float("-inf"),
            )
            row = await conn.fetchrow(
                "SELECT checked_at, result FROM status_checks WHERE request_id = $1 AND tenant_id = $2 FOR UPDATE",
                request_id,
                tenant,
            )
            if row is None:
                return False, None
            if now - float(row["checked_at"]) < interval:
                return False, row["result"]
            await conn.execute("UPDATE status_checks SET checked_at = $2 WHERE request_id = $1", request_id, now)
            return True, row["result"]

    async def record_status_check(self, tenant: TenantId, request_id: int, result: str) -> None:
        async with self.connection() as conn:
            await conn.execute(sql.RECORD_STATUS_CHECK.postgres, result, tenant, request_id)
