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

    async def stop_workspace(self, tenant: TenantId, now: float, *, disabled: bool = False) -> int:
        column, reason = ("disabled_at", "disabled") if disabled else ("uninstalled_at", "uninstalled")

        def stop(conn: sqlite3.Connection) -> int:
            conn.execute(sql.STOP_WORKSPACE[column].sqlite, (tenant, now))
            return conn.execute(sql.KILL_OPEN_DELIVERIES.sqlite, (reason, now, tenant)).rowcount

        return await self._write(stop)

    async def enable_workspace(self, tenant: TenantId) -> bool:
        return bool(await self._write(lambda conn: conn.execute(sql.ENABLE_WORKSPACE.sqlite, (tenant,)).rowcount))

    async def workspaces_left_before(self, before: float) -> list[TenantId]:
        return [TenantId(row[0]) for row in await self._fetchall(sql.WORKSPACES_LEFT_BEFORE.sqlite, (before,))]

    async def purge_workspace_batch(self, tenant: TenantId, limit: int) -> int:
        def purge(conn: sqlite3.Connection) -> int:
            for table in sql.PURGE_ORDER:
                deleted = conn.execute(sql.PURGE_TENANT_ROWS[table].sqlite, (tenant, limit)).rowcount
                if deleted:
                    return int(deleted)
            return 0

        return await self._write(purge)

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
