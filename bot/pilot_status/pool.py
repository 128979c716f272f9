"""One Pilot Status client per (tenant, WhatsApp number): each number has its own number-scoped key, and each
workspace its own numbers.

Invariant: a tenant only ever gets a client for a number its own account configures (`PilotStatusAccounts`); a
number of another workspace, or one that doesn't exist, is a LookupError, never a client with another's key. In
single-workspace mode the numbers configured in the environment serve the one tenant; in multi-workspace mode each
workspace's connected numbers serve it (both through bot.tenant_config). A number whose key changed (reconnected)
gets a new client with the new key. Every client of the pool sends through one aiohttp session (one connection pool,
one TLS context whose certificates are loaded once), each request with its number's key; the
pool alone closes it, once, in `aclose` (a client made here, retired or not, never does). Every client's requests
also take a slot of one deployment-wide cap (`ASKCALL_PILOT_STATUS_MAX_IN_FLIGHT`), shared fairly between
workspaces (bot.pilot_status.fair): a thousand workspaces' sends never open a thousand connections at once, and a
workspace whose Pilot Status hangs holds at most half the slots.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import aiohttp

from bot.config import Settings, WhatsAppNumber
from bot.domain import TenantId
from bot.pilot_status.client import USER_AGENT, PilotStatusClient
from bot.pilot_status.fair import FairLimiter
from bot.pilot_status.http import new_session, tls_context


class PilotStatusAccounts(Protocol):
    async def numbers_of(self, tenant: TenantId) -> Sequence[WhatsAppNumber]:
        """The WhatsApp numbers (with their keys) the tenant's Pilot Status account configures."""
        ...


class PilotStatusPool:
    def __init__(self, settings: Settings, accounts: PilotStatusAccounts) -> None:
        self._settings = settings
        self._accounts = accounts
        self._clients: dict[tuple[TenantId, str], tuple[str, PilotStatusClient]] = {}
        self._fair = FairLimiter(settings.pilot_status_max_in_flight)
        self._http: aiohttp.ClientSession | None = None  # made with the first client (on the running loop)

    async def get(self, tenant: TenantId, number_name: str) -> PilotStatusClient:
        """The client for the tenant's number `number_name`; LookupError when the tenant has no such number."""
        for number in await self._accounts.numbers_of(tenant):
            if number.name == number_name:
                cached = self._clients.get((tenant, number_name))
                if cached is not None and cached[0] == number.api_key:
                    return cached[1]
                # A reconnected number's old client is dropped: calls in flight finish on it, through the shared
                # HTTP client, which it never closes.
                client = PilotStatusClient(
                    base_url=self._settings.pilot_status_base_url,
                    api_key=number.api_key,
                    retry=self._settings.pilot_status_retry,
                    http=self._shared_http(),
                    fair=self._fair,
                    party=tenant,
                )
                self._clients[tenant, number_name] = (number.api_key, client)
                return client
        raise LookupError(f"workspace {tenant} has no WhatsApp number named {number_name!r}")

    def _shared_http(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = new_session(
                base_url=self._settings.pilot_status_base_url,
                timeout=self._settings.pilot_status_timeout,
                user_agent=USER_AGENT,
                max_connections=self._settings.pilot_status_max_in_flight,  # no more are ever in flight
                tls=tls_context(),
            )
        return self._http

    async def aclose(self) -> None:
        """Close the HTTP client every client of the pool shares (its connections), once."""
        http, self._http = self._http, None
        self._clients.clear()
        if http is not None:
            await http.close()
