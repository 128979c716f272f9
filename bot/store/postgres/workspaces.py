"""Workspaces: the tenants recorded, and the adoption of legacy rows (one transaction)."""

from __future__ import annotations

import time

from bot.domain import TenantId
from bot.store import sql
from bot.store.postgres.connection import PostgresConnection, row_count
from bot.store.postgres.installations import NOTIFY
from bot.store.types import OtherWorkspaceRecorded, Workspace


class WorkspaceQueries(PostgresConnection):
    async def record_workspace(self, workspace: Workspace) -> None:
        async with self.connection() as conn:
            await conn.execute(
                sql.RECORD_WORKSPACE.postgres,
                workspace.tenant,
                workspace.team_id,
                workspace.enterprise_id,
                int(workspace.is_enterprise_install),
                workspace.name,
                workspace.url,
                workspace.installed_at or time.time(),
            )

    async def workspace(self, tenant: TenantId) -> Workspace | None:
        row = await self._fetchrow(sql.WORKSPACE.postgres, tenant)
        return Workspace.from_row(tuple(row)) if row else None

    async def workspaces(self) -> list[Workspace]:
        return [Workspace.from_row(tuple(row)) for row in await self._fetch(sql.WORKSPACES.postgres)]

    async def stop_workspace(self, tenant: TenantId, now: float, *, disabled: bool = False) -> int:
        column, reason = ("disabled_at", "disabled") if disabled else ("uninstalled_at", "uninstalled")
        async with self.transaction() as conn:
            await conn.execute(sql.STOP_WORKSPACE[column].postgres, tenant, now)
            killed = row_count(await conn.execute(sql.KILL_OPEN_DELIVERIES.postgres, reason, now, tenant))
            await conn.execute(NOTIFY, tenant)  # every replica's installation cache forgets it (disable)
        return killed

    async def enable_workspace(self, tenant: TenantId) -> bool:
        async with self.transaction() as conn:
            enabled = row_count(await conn.execute(sql.ENABLE_WORKSPACE.postgres, tenant)) > 0
            await conn.execute(NOTIFY, tenant)
        return enabled

    async def workspaces_left_before(self, before: float) -> list[TenantId]:
        return [TenantId(row[0]) for row in await self._fetch(sql.WORKSPACES_LEFT_BEFORE.postgres, before)]

    async def purge_workspace_batch(self, tenant: TenantId, limit: int) -> int:
        async with self.transaction() as conn:
            for table in sql.PURGE_ORDER:
                deleted = row_count(await conn.execute(sql.PURGE_TENANT_ROWS[table].postgres, tenant, limit))
                if deleted:
                    return deleted
            return 0

    async def adopt_legacy_rows(self, tenant: TenantId) -> int:
        if not tenant:
            raise ValueError("the legacy tenant can't adopt its own rows")
        async with self.transaction() as conn:
            # One adoption at a time across replicas (they all start up the same way).
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('askcall:adopt-legacy-rows', 0))")
            others = int(await conn.fetchval(sql.OTHER_WORKSPACES.postgres, tenant))
            moved = 0
            for table in sql.TENANT_TABLES:
                moved += row_count(await conn.execute(sql.ADOPT_LEGACY_ROWS[table].postgres, tenant))
            if moved and others:
                raise OtherWorkspaceRecorded(moved, tenant)
            return moved
