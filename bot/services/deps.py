"""What the request, answer and status services share, built once by the app factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.domain import TenantId
from bot.leases import HeldWork
from bot.pilot_status.pool import PilotStatusPool
from bot.slack.links import WorkspaceLinks
from bot.store import Store


@dataclass(frozen=True)
class ServiceDeps:
    store: Store
    pilots: PilotStatusPool
    workspace: WorkspaceLinks
    # New deliveries or reminders were stored: their loops should look now rather than at their next tick.
    wake_notifier: Callable[[], None]
    wake_reminders: Callable[[], None]
    clock: Callable[[], float]
    held: HeldWork


class Service:
    def __init__(self, deps: ServiceDeps) -> None:
        self._store = deps.store
        self._pilots = deps.pilots
        self._workspace = deps.workspace
        self._wake_notifier = deps.wake_notifier
        self._wake_reminders = deps.wake_reminders
        self._clock = deps.clock
        self._held = deps.held

    async def _stopped(self, tenant: TenantId) -> bool:
        """Whether the tenant's workspace left (uninstalled, revoked) or was disabled: no work is done for it, and
        nothing is sent to Pilot Status on its behalf. A tenant never recorded (single-workspace mode before its
        first start) works."""
        workspace = await self._store.workspace(tenant)
        return workspace is not None and workspace.stopped
