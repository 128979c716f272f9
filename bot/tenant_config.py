"""Each workspace's effective settings: one port (`TenantConfigs`) the services ask, per tenant.

Invariant: a tenant is only ever served its own settings and its own WhatsApp numbers. In single-workspace mode
(`EnvConfigs`) the environment's values serve the env tenant, as they always did; any other tenant gets the
defaults and no number. In multi-workspace mode (`StoredConfigs`) a tenant's stored settings override the
environment's defaults, and its numbers are the ones its admins connected (key and secret decrypted here, never
logged); they are cached per process, and forgotten on every change — this process's own (`invalidate`) and
other replicas' (`listen`, through the store's notifications) — and after `CACHE_SECONDS` at most anyway.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.config import DEFAULT_NUMBER, Settings, WhatsAppNumber
from bot.domain import TenantId
from bot.secrets import Secrets, Undecryptable
from bot.store import Store
from bot.store.workspace_settings import StoredNumber, WorkspaceSettings
from bot.tenant_cache import TenantCache

log = logging.getLogger(__name__)

CACHE_SECONDS = 30.0
CACHE_SIZE = 10_000


@dataclass(frozen=True)
class TenantConfig:
    """What one workspace is configured with."""

    language: str
    max_per_rep_per_hour: int
    retention_days: int
    allowed_channels: frozenset[str]
    allowed_users: frozenset[str]
    allowed_usergroups: frozenset[str]
    access_contact: str
    numbers: tuple[WhatsAppNumber, ...]

    def __repr__(self) -> str:  # never the numbers' keys or secrets
        return f"TenantConfig(language={self.language!r}, numbers={[n.name for n in self.numbers]!r})"

    def number_for_channel(self, channel_id: str | None) -> WhatsAppNumber | None:
        """The number serving a channel: the one listing it, else the default number (if any)."""
        for number in self.numbers:
            if channel_id is not None and channel_id in number.channels:
                return number
        return next((n for n in self.numbers if n.name == DEFAULT_NUMBER), None)


def env_config(settings: Settings, *, with_numbers: bool) -> TenantConfig:
    """The environment's settings (its numbers only for the tenant they serve)."""
    return TenantConfig(
        language=settings.language,
        max_per_rep_per_hour=settings.max_requests_per_rep_per_hour,
        retention_days=settings.retention_days,
        allowed_channels=settings.allowed_channels,
        allowed_users=settings.allowed_users,
        allowed_usergroups=settings.allowed_usergroups,
        access_contact=settings.access_contact,
        numbers=tuple(settings.numbers) if with_numbers else (),
    )


class TenantConfigs:
    """The port: a tenant's effective settings. Its numbers are what `PilotStatusAccounts` serves."""

    async def config_of(self, tenant: TenantId) -> TenantConfig:
        raise NotImplementedError

    async def numbers_of(self, tenant: TenantId) -> tuple[WhatsAppNumber, ...]:
        return (await self.config_of(tenant)).numbers

    def invalidate(self, tenant: TenantId | None) -> None:
        """Forget what is cached of a tenant (None: of every tenant), in this process."""

    async def listen(self) -> None:
        """Forget what other replicas change, as they change it (until cancelled)."""


class EnvConfigs(TenantConfigs):
    """Single-workspace mode: the environment serves the env tenant (`tenant` None: no tenant has numbers)."""

    def __init__(self, settings: Settings, tenant: TenantId | None) -> None:
        self._tenant = tenant
        self._own = env_config(settings, with_numbers=True)
        self._others = env_config(settings, with_numbers=False)

    async def config_of(self, tenant: TenantId) -> TenantConfig:
        return self._own if self._tenant is not None and tenant == self._tenant else self._others


class StoredConfigs(TenantConfigs):
    """Multi-workspace mode: each tenant's stored settings over the environment's defaults, and its numbers."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        secrets: Secrets,
        *,
        clock: Callable[[], float] = time.time,
        cache_seconds: float = CACHE_SECONDS,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        # The environment's language, budget and retention are every workspace's defaults; its access lists name
        # one workspace's channels and people, so they are no other's: everyone may use AskCall until an admin says.
        self._defaults = replace(
            env_config(settings, with_numbers=False),
            allowed_channels=frozenset(),
            allowed_users=frozenset(),
            allowed_usergroups=frozenset(),
            access_contact="",
        )
        self._store = store
        self._secrets = secrets
        self._cache = TenantCache(
            lambda tenant: self._load(TenantId(tenant)), seconds=cache_seconds, size=cache_size, clock=clock
        )

    async def config_of(self, tenant: TenantId) -> TenantConfig:
        return await self._cache.get(tenant)

    def invalidate(self, tenant: TenantId | None) -> None:
        self._cache.invalidate(tenant)

    async def listen(self) -> None:
        await self._store.listen_workspace_settings(
            lambda tenant: self.invalidate(TenantId(tenant) if tenant else None)
        )

    async def _load(self, tenant: TenantId) -> TenantConfig:
        stored = await self._store.workspace_settings(tenant)
        numbers = tuple(n for n in map(self._number, await self._store.workspace_numbers(tenant)) if n is not None)
        return overlay(self._defaults, stored, numbers)

    def _number(self, stored: StoredNumber) -> WhatsAppNumber | None:
        what = f"WhatsApp number {stored.name!r} of workspace {stored.tenant_id}"
        try:
            key = self._secrets.decrypt(stored.api_key, what=what)
            secret = self._secrets.decrypt_optional(stored.webhook_secret, what=what)
        except Undecryptable as error:
            log.error("%s; AskCall can't send from that number until then", error)
            return None
        return WhatsAppNumber(stored.name, key, secret, frozenset(stored.channels))


def overlay(
    defaults: TenantConfig, stored: WorkspaceSettings | None, numbers: tuple[WhatsAppNumber, ...]
) -> TenantConfig:
    """A workspace's stored settings over the defaults (an unset value keeps the default)."""
    if stored is None:
        return replace(defaults, numbers=numbers)
    return TenantConfig(
        language=stored.language or defaults.language,
        max_per_rep_per_hour=(defaults.max_per_rep_per_hour if stored.hourly_budget is None else stored.hourly_budget),
        retention_days=defaults.retention_days if stored.retention_days is None else stored.retention_days,
        allowed_channels=frozenset(stored.allowed_channels),
        allowed_users=frozenset(stored.allowed_users),
        allowed_usergroups=frozenset(stored.allowed_usergroups),
        access_contact=stored.access_contact or "",
        numbers=numbers,
    )
