"""Per-workspace settings and WhatsApp numbers on PostgreSQL (see bot.store.workspace_settings for the invariant).

Every change notifies the other replicas in its own transaction, so they forget the tenant once it is committed.
"""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from bot.domain import TenantId
from bot.store import sql
from bot.store.postgres.connection import PostgresConnection, row_count
from bot.store.workspace_settings import (
    StoredNumber,
    WorkspaceSettings,
    number_args,
    number_from,
    settings_args,
    settings_from,
)

# LISTEN/NOTIFY channel: "this tenant's settings or numbers changed".
SETTINGS_CHANNEL = "askcall_workspace_settings"
NOTIFY = f"SELECT pg_notify('{SETTINGS_CHANNEL}', $1)"


class WorkspaceSettingsQueries(PostgresConnection):
    async def workspace_settings(self, tenant: TenantId) -> WorkspaceSettings | None:
        row = await self._fetchrow(sql.WORKSPACE_SETTINGS.postgres, tenant)
        return settings_from(tuple(row.values())) if row is not None else None

    async def save_workspace_settings(self, settings: WorkspaceSettings) -> None:
        async with self.transaction() as conn:
            await conn.execute(sql.SAVE_WORKSPACE_SETTINGS.postgres, *settings_args(settings))
            await conn.execute(NOTIFY, settings.tenant_id)

    async def workspace_numbers(self, tenant: TenantId) -> list[StoredNumber]:
        return [number_from(tuple(row.values())) for row in await self._fetch(sql.WORKSPACE_NUMBERS.postgres, tenant)]

    async def save_workspace_number(self, number: StoredNumber) -> None:
        async with self.transaction() as conn:
            try:
                await conn.execute(sql.SAVE_WORKSPACE_NUMBER.postgres, *number_args(number))
            except asyncpg.UniqueViolationError as error:
                raise ValueError("that webhook token already names another number") from error
            await conn.execute(NOTIFY, number.tenant_id)

    async def delete_workspace_number(self, tenant: TenantId, name: str) -> bool:
        async with self.transaction() as conn:
            deleted = row_count(await conn.execute(sql.DELETE_WORKSPACE_NUMBER.postgres, tenant, name)) > 0
            if deleted:
                await conn.execute(NOTIFY, tenant)
        return deleted

    async def number_by_webhook_token(self, token: str) -> StoredNumber | None:
        row = await self._fetchrow(sql.NUMBER_BY_WEBHOOK_TOKEN.postgres, token)
        return number_from(tuple(row.values())) if row is not None else None

    async def rotate_number_secrets(self, rotate: Callable[[str, str], str]) -> int:
        changed = 0
        async with self.transaction() as conn:
            for row in await conn.fetch(sql.NUMBER_SECRETS.postgres + " FOR UPDATE"):
                tenant_id, key, secret = row["tenant_id"], row["api_key"], row["webhook_secret"]
                new_key, new_secret = rotate(key, tenant_id), rotate(secret, tenant_id) if secret else secret
                if (new_key, new_secret) != (key, secret):
                    await conn.execute(sql.SET_NUMBER_SECRETS.postgres, new_key, new_secret, tenant_id, row["name"])
                    changed += (new_key != key) + (new_secret != secret)
            if changed:
                await conn.execute(NOTIFY, "")  # every replica forgets every tenant (the ciphertexts changed)
        return changed

    async def listen_workspace_settings(self, changed: Callable[[str | None], None]) -> None:
        await self._listen(SETTINGS_CHANNEL, changed, lambda: changed(None))
