"""One Pilot Status client per (tenant, WhatsApp number): each number has its own number-scoped key, and each
workspace its own numbers.

Invariant: a tenant only ever gets a client for a number its own account configures (`PilotStatusAccounts`); a
number of another workspace, or one that doesn't exist, is a LookupError, never a client with another's key. In
single-workspace mode the numbers configured in the environment serve the one tenant; in multi-workspace mode each
workspace's connected numbers serve it (both through bot.tenant_config). A number whose key changed (reconnected)
gets a new client with the new key. Every client of the pool verifies TLS with one context, its certificates
loaded once (loading them per client cost ~40 ms of the event loop on each workspace's first command).
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from typing import Protocol

from bot.config import Settings, WhatsAppNumber
from bot.domain import TenantId
from bot.pilot_status.client import PilotStatusClient
from bot.pilot_status.http import tls_context


class PilotStatusAccounts(Protocol):
    async def numbers_of(self, tenant: TenantId) -> Sequence[WhatsAppNumber]:
        """The WhatsApp numbers (with their keys) the tenant's Pilot Status account configures."""
        ...


class PilotStatusPool:
    def __init__(self, settings: Settings, accounts: PilotStatusAccounts) -> None:
        self._settings = settings
        self._accounts = accounts
        self._clients: dict[tuple[TenantId, str], tuple[str, PilotStatusClient]] = {}
        self._retired: list[PilotStatusClient] = []
        self._tls: ssl.SSLContext | None = None  # made with the first client

    async def get(self, tenant: TenantId, number_name: str) -> PilotStatusClient:
        """The client for the tenant's number `number_name`; LookupError when the tenant has no such number."""
        for number in await self._accounts.numbers_of(tenant):
            if number.name == number_name:
                cached = self._clients.get((tenant, number_name))
                if cached is not None and cached[0] == number.api_key:
                    return cached[1]
                if cached is not None:  # reconnected with another key; calls in flight finish on the old one
                    self._retired.append(cached[1])
                if self._tls is None:
                    self._tls = tls_context()
                client = PilotStatusClient(
                    base_url=self._settings.pilot_status_base_url,
                    api_key=number.api_key,
                    retry=self._settings.pilot_status_retry,
                    timeout=self._settings.pilot_status_timeout,
                    tls=self._tls,
                )
                self._clients[tenant, number_name] = (number.api_key, client)
                return client
        raise LookupError(f"workspace {tenant} has no WhatsApp number named {number_name!r}")

    async def aclose(self) -> None:
        for _, client in self._clients.values():
            await client.aclose()
        for client in self._retired:
            await client.aclose()
