"""Per-workspace settings and WhatsApp numbers on SQLite (see bot.store.workspace_settings for the invariant)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable

from bot.domain import TenantId
from bot.store import sql
from bot.store.sqlite.connection import SQLiteConnection
from bot.store.workspace_settings import (
    StoredNumber,
    WorkspaceSettings,
    number_args,
    number_from,
    settings_args,
    settings_from,
)


class WorkspaceSettingsQueries(SQLiteConnection):
    async def workspace_settings(self, tenant: TenantId) -> WorkspaceSettings | None:
        row = await self._fetchone(sql.WORKSPACE_SETTINGS.sqlite, (tenant,))
        return settings_from(tuple(row)) if row is not None else None

    async def save_workspace_settings(self, settings: WorkspaceSettings) -> None:
        args = settings_args(settings)
        await self._write(lambda conn: conn.execute(sql.SAVE_WORKSPACE_SETTINGS.sqlite, args))

    async def workspace_numbers(self, tenant: TenantId) -> list[StoredNumber]:
        return [number_from(tuple(row)) for row in await self._fetchall(sql.WORKSPACE_NUMBERS.sqlite, (tenant,))]

    async def save_workspace_number(self, number: StoredNumber) -> None:
        args = number_args(number)

        def save(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(sql.SAVE_WORKSPACE_NUMBER.sqlite, args)
            except sqlite3.IntegrityError as error:
                raise ValueError("that webhook token already names another number") from error

        await self._write(save)

    async def delete_workspace_number(self, tenant: TenantId, name: str) -> bool:
        args = (tenant, name)
        return bool(await self._write(lambda conn: conn.execute(sql.DELETE_WORKSPACE_NUMBER.sqlite, args).rowcount))

    async def number_by_webhook_token(self, token: str) -> StoredNumber | None:
        row = await self._fetchone(sql.NUMBER_BY_WEBHOOK_TOKEN.sqlite, (token,))
        return number_from(tuple(row)) if row is not None else None

    async def rotate_number_secrets(self, rotate: Callable[[str, str], str]) -> int:
        def run(conn: sqlite3.Connection) -> int:
            changed = 0
            for tenant_id, name, key, secret in conn.execute(sql.NUMBER_SECRETS.sqlite).fetchall():
                new_key, new_secret = rotate(key, tenant_id), rotate(secret, tenant_id) if secret else secret
                if (new_key, new_secret) != (key, secret):
                    conn.execute(sql.SET_NUMBER_SECRETS.sqlite, (new_key, new_secret, tenant_id, name))
                    changed += (new_key != key) + (new_secret != secret)
            return changed

        return await self._write(run)

    async def listen_workspace_settings(self, changed: Callable[[str | None], None]) -> None:
        await asyncio.Event().wait()  # one process: nobody else writes
