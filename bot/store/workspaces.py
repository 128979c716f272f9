"""Workspaces: the tenants AskCall serves or served, and the adoption of rows made before tenancy.

Invariant: every row of a workspace's data carries its tenant; rows made before tenancy carry '' (the legacy
tenant) until `adopt_legacy_rows` gives them, in one transaction, to the one workspace this install served — and
never once another workspace was recorded, which would merge two companies' data.

Leaving: a workspace that uninstalled AskCall, revoked its tokens or was disabled by the operator is *stopped*:
`stop_workspace` stamps it and kills its open deliveries (last error = the reason) in one transaction, and every
statement that claims work across tenants (reminders, call sweeps, resends, webhook events) skips a stopped tenant,
so every replica stops at once with no cache. A reinstall (`record_workspace`) or `enable_workspace` resumes it with
its history. `purge_workspace_batch` deletes a tenant's rows, table by table, in bounded batches.
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
    async def stop_workspace(self, tenant: TenantId, now: float, *, disabled: bool = False) -> int:
        """Stop the tenant's work: stamp `uninstalled_at` (or `disabled_at`) at `now` unless already stamped, and
        mark its pending and in-flight deliveries dead with last error "uninstalled" (or "disabled"); how many
        died. Records the workspace if it was never recorded. Idempotent (Slack retries events)."""

    @abstractmethod
    async def enable_workspace(self, tenant: TenantId) -> bool:
        """Clear `disabled_at` (`askcall workspaces enable`); False when it was not disabled."""

    @abstractmethod
    async def workspaces_left_before(self, before: float) -> list[TenantId]:
        """Tenants uninstalled before `before` (and not reinstalled): their grace period is over."""

    @abstractmethod
    async def purge_workspace_batch(self, tenant: TenantId, limit: int) -> int:
        """Delete up to `limit` rows of the tenant from one table of its data (workspace registry and
        installation last); how many were deleted, 0 once none is left."""

    @abstractmethod
    async def adopt_legacy_rows(self, tenant: TenantId) -> int:
        """Give every row made before tenancy (tenant '') to `tenant`, in one transaction; how many moved.
        Idempotent (a second call finds nothing). Raises OtherWorkspaceRecorded when legacy rows remain and a
        workspace other than `tenant` was recorded: they might be that one's."""
