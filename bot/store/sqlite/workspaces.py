"""Workspaces: the tenants recorded, and the adoption of legacy rows (one transaction)."""

from __future__ import annotations

import sqlite3
import time

from bot.domain import TenantId
from bot.store import sql
from bot.store.sqlite.connection import SQLiteConnection
from bot.store.types import OtherWorkspaceRecorded, Workspace


class WorkspaceQueries(SQLiteConnection):
    async def record_workspace(self, workspace: Workspace) -> None:
        args = (
            workspace.tenant,
            workspace.team_id,
            workspace.enterprise_id,
            int(workspace.is_enterprise_install),
            workspace.name,
            workspace.url,
            workspace.installed_at or time.time(),
        )
        await self._write(lambda conn: conn.execute(sql.RECORD_WORKSPACE.sqlite, args))

    async def workspace(self, tenant: TenantId) -> Workspace | None:
        row = await self._fetchone(sql.WORKSPACE.sqlite, (tenant,))
        return Workspace.from_row(tuple(row)) if row else None

    async def workspaces(self) -> list[Workspace]:
        return [Workspace.from_row(tuple(row)) for row in await self._fetchall(sql.WORKSPACES.sqlite)]

    async def adopt_legacy_rows(self, tenant: TenantId) -> int:
        if not tenant:
            raise ValueError("the legacy tenant can't adopt its own rows")

        def adopt(conn: sqlite3.Connection) -> int:
            moved = 0
            others = int(conn.execute(sql.OTHER_WORKSPACES.sqlite, (tenant,)).fetchone()[0])
            for table in sql.TENANT_TABLES:
                moved += conn.execute(sql.ADOPT_LEGACY_ROWS[table].sqlite, (tenant,)).rowcount
            if moved and others:
                raise OtherWorkspaceRecorded(moved, tenant)
            return moved

        return await self._write(adopt)
