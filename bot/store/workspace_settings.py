"""Each workspace's settings as data (multi-workspace mode), one concern of the store.

Invariant: a workspace's settings and its WhatsApp numbers are found only by their tenant, except a number found by
its own unguessable webhook token (`number_by_webhook_token`), which hands back the tenant it belongs to. A
number's Pilot Status key and webhook secret arrive here already encrypted (bot.secrets) and are never decrypted by
the store. A number's name is unique in its workspace; its webhook token in the whole database. Every change
notifies the other replicas (`listen_workspace_settings`), which forget what they cached of that tenant.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from bot.domain import TenantId
from bot.store.connection import StoreConnection


@dataclass(frozen=True)
class WorkspaceSettings:
    """One workspace's own settings; None (or empty) means "AskCall's default"."""

    tenant_id: str
    language: str | None = None
    hourly_budget: int | None = None
    retention_days: int | None = None
    allowed_channels: tuple[str, ...] = ()
    allowed_users: tuple[str, ...] = ()
    allowed_usergroups: tuple[str, ...] = ()
    access_contact: str | None = None
    updated_at: float = 0.0


@dataclass(frozen=True)
class StoredNumber:
    """A workspace's WhatsApp number (its Pilot Status account): key and secret encrypted."""

    tenant_id: str
    name: str
    api_key: str  # encrypted
    webhook_token: str  # unguessable: names (tenant, number) in /webhooks/pilot-status/t/<token>
    webhook_secret: str | None = None  # encrypted; None until the admin pastes it (hint mode until then)
    webhook_id: str | None = None
    phone_e164: str | None = None  # the business number behind the key (never a customer's)
    channels: tuple[str, ...] = ()  # empty: the workspace's default number, serving every other channel
    created_at: float = 0.0
    updated_at: float = 0.0

    def __repr__(self) -> str:  # never the (even encrypted) key, secret or token
        return f"StoredNumber(tenant_id={self.tenant_id!r}, name={self.name!r}, webhook_id={self.webhook_id!r})"


class WorkspaceSettingsStore(StoreConnection):
    @abstractmethod
    async def workspace_settings(self, tenant: TenantId) -> WorkspaceSettings | None:
        """The tenant's settings; None when its admins never saved any."""

    @abstractmethod
    async def save_workspace_settings(self, settings: WorkspaceSettings) -> None:
        """Insert or replace the tenant's settings whole."""

    @abstractmethod
    async def workspace_numbers(self, tenant: TenantId) -> list[StoredNumber]:
        """The tenant's WhatsApp numbers, by name."""

    @abstractmethod
    async def save_workspace_number(self, number: StoredNumber) -> None:
        """Insert or replace the tenant's number of that name (`created_at` kept from the first save).
        Raises ValueError when its webhook token already names another number."""

    @abstractmethod
    async def delete_workspace_number(self, tenant: TenantId, name: str) -> bool:
        """Forget the tenant's number `name`; False when it had none."""

    @abstractmethod
    async def number_by_webhook_token(self, token: str) -> StoredNumber | None:
        """The number a webhook token names (with its tenant); None for an unknown token."""

    @abstractmethod
    async def rotate_number_secrets(self, rotate: Callable[[str, str], str]) -> int:
        """Re-encrypt every number's key and webhook secret in one transaction: `rotate(ciphertext, tenant_id)`
        gives the new ciphertext. Returns how many values changed. `rotate` is pure CPU work (no I/O)."""

    @abstractmethod
    async def listen_workspace_settings(self, changed: Callable[[str | None], None]) -> None:
        """Call `changed(tenant_id)` whenever another process changes a tenant's settings or numbers, and
        `changed(None)` when what was missed can't be known (a reconnection). Runs until cancelled. One process
        alone (SQLite) hears nothing: its own writes invalidate in memory."""


# Both backends store a list of Slack ids as one space-separated text (ids never hold a space).
def _ids(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def settings_args(settings: WorkspaceSettings) -> tuple[object, ...]:
    """The row of `settings`, in the columns' order (bot.store.sql._SETTINGS_COLUMNS)."""
    return (
        settings.tenant_id,
        settings.language,
        settings.hourly_budget,
        settings.retention_days,
        " ".join(settings.allowed_channels),
        " ".join(settings.allowed_users),
        " ".join(settings.allowed_usergroups),
        settings.access_contact,
        settings.updated_at,
    )


def settings_from(values: tuple[object, ...]) -> WorkspaceSettings:
    tenant, language, budget, retention, channels, users, groups, contact, updated_at = values
    return WorkspaceSettings(
        tenant_id=str(tenant),
        language=None if language is None else str(language),
        hourly_budget=None if budget is None else int(str(budget)),
        retention_days=None if retention is None else int(str(retention)),
        allowed_channels=_ids(str(channels)),
        allowed_users=_ids(str(users)),
        allowed_usergroups=_ids(str(groups)),
        access_contact=None if contact is None else str(contact),
        updated_at=float(str(updated_at)),
    )


def number_args(number: StoredNumber) -> tuple[object, ...]:
    """The row of `number`, in the columns' order (bot.store.sql._NUMBER_COLUMNS)."""
    return (
        number.tenant_id,
        number.name,
        number.api_key,
        number.webhook_token,
        number.webhook_secret,
        number.webhook_id,
        number.phone_e164,
        " ".join(number.channels),
        number.created_at,
        number.updated_at,
    )


def number_from(values: tuple[object, ...]) -> StoredNumber:
    tenant, name, key, token, secret, webhook_id, phone, channels, created_at, updated_at = values
    return StoredNumber(
        tenant_id=str(tenant),
        name=str(name),
        api_key=str(key),
        webhook_token=str(token),
        webhook_secret=None if secret is None else str(secret),
        webhook_id=None if webhook_id is None else str(webhook_id),
        phone_e164=None if phone is None else str(phone),
        channels=_ids(str(channels)),
        created_at=float(str(created_at)),
        updated_at=float(str(updated_at)),
    )
