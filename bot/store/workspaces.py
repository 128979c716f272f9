"""Workspaces: the tenants AskCall serves or served, and the adoption of rows made before tenancy.

Invariant: every row of a workspace's data carries its tenant; rows made before tenancy carry '' (the legacy
tenant) until `adopt_legacy_rows` gives them, in one transaction, to the one workspace this install served — and
never once another workspace was recorded, which would merge two companies' data.
"""

from __future__ import annotations

from abc import abstractmethod

from bot.domain import TenantId
from bot.store.connection import StoreConnection
from bot.store.types import Workspace


class WorkspaceStore(StoreConnection):
    @abstractmethod
    async def record_workspace(self, workspace: Workspace) -> None:
        """Record (or refresh: ids, name, URL; a reinstall clears `uninstalled_at`) the workspace of a tenant.
        `installed_at` is kept from the first time it was recorded."""

    @abstractmethod
    async def workspace(self, tenant: TenantId) -> Workspace | None: ...

    @abstractmethod
    async def workspaces(self) -> list[Workspace]:
        """Every workspace recorded, oldest install first (the operator's view; start-up)."""

    @abstractmethod
    async def adopt_legacy_rows(self, tenant: TenantId) -> int:
        """Give every row made before tenancy (tenant '') to `tenant`, in one transaction; how many moved.
        Idempotent (a second call finds nothing). Raises OtherWorkspaceRecorded when legacy rows remain and a
        workspace other than `tenant` was recorded: they might be that one's."""
