"""One Pilot Status client per (tenant, WhatsApp number): each number has its own number-scoped key, and each
workspace its own numbers.

Invariant: a tenant only ever gets a client for a number its own account configures (`PilotStatusAccounts`); a
number of another workspace, or one that doesn't exist, is a LookupError, never a client with another's key. In
single-workspace mode the numbers configured in the environment serve the one tenant (`EnvAccounts`); the
per-workspace accounts of multi-workspace mode plug in through the same port.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.config import Settings, WhatsAppNumber
from bot.domain import TenantId
from bot.pilot_status.client import PilotStatusClient


class PilotStatusAccounts(Protocol):
    def numbers_of(self, tenant: TenantId) -> Sequence[WhatsAppNumber]:
        """The WhatsApp numbers (with their keys) the tenant's Pilot Status account configures."""
        ...


class EnvAccounts:
    """Single-workspace mode: the environment's numbers serve the env tenant, and no other (none at all with
    many workspaces: `tenant` None)."""

    def __init__(self, settings: Settings, tenant: TenantId | None) -> None:
        self._numbers = tuple(settings.numbers)
        self._tenant = tenant

    def numbers_of(self, tenant: TenantId) -> Sequence[WhatsAppNumber]:
        return self._numbers if self._tenant is not None and tenant == self._tenant else ()


class PilotStatusPool:
    def __init__(self, settings: Settings, accounts: PilotStatusAccounts) -> None:
        self._settings = settings
        self._accounts = accounts
        self._clients: dict[tuple[TenantId, str], PilotStatusClient] = {}

    def get(self, tenant: TenantId, number_name: str) -> PilotStatusClient:
        """The client for the tenant's number `number_name`; LookupError when the tenant has no such number."""
        client = self._clients.get((tenant, number_name))
        if client is not None:
            return client
        for number in self._accounts.numbers_of(tenant):
            if number.name == number_name:
                client = PilotStatusClient(
                    base_url=self._settings.pilot_status_base_url,
                    api_key=number.api_key,
                    retry=self._settings.pilot_status_retry,
                    timeout=self._settings.pilot_status_timeout,
                )
                self._clients[tenant, number_name] = client
                return client
        raise LookupError(f"workspace {tenant} has no WhatsApp number named {number_name!r}")

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
