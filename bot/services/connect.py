"""Connecting a workspace's Pilot Status account from Slack (multi-workspace mode): the number's key checked with
Pilot Status, its webhook registered at its own URL, the number stored; later the webhook's signing secret, pasted
by an admin (Pilot Status never returns it).

Invariant: nothing is stored for a key Pilot Status refuses, for a number that can't call (calling is Meta-only and
must be enabled), or when the webhook can't be registered. A key and a secret are stored only encrypted
(bot.secrets), with an unguessable webhook token that names (tenant, number) in `/webhooks/pilot-status/t/<token>`;
a reconnect keeps the token (the webhook keeps its URL) and the pasted secret, unless Pilot Status made a new
webhook (whose secret is new). Every change is forgotten from the per-tenant cache at once. No key, secret or token
is ever logged.

One webhook per (tenant, number), however the connect form is submitted: connects of the same (tenant, number) run
one at a time across replicas (`Store.serialized`), and a number's first token is derived from the encryption key,
the tenant and the name (`Secrets.derive`), so an attempt that died after Pilot Status created the webhook (an answer
lost, a 5xx after the fact, a crash before the commit) left it at the very URL the next attempt registers: that one
finds it in `GET /v1/webhooks` and adopts it (`register`) instead of creating another. The later of two simultaneous
submissions finds the number stored and the webhook in place, and gets the same answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.config import DEFAULT_NUMBER, NUMBER_NAME
from bot.domain import TenantId
from bot.pilot_status.admin import PilotStatusAdmin, register
from bot.pilot_status.errors import (
    AuthenticationError,
    FeatureNotSupportedError,
    NetworkError,
    PilotStatusError,
    TenantScopeError,
)
from bot.secrets import Secrets
from bot.store import Store
from bot.store.workspace_settings import StoredNumber
from bot.tenant_config import TenantConfigs

log = logging.getLogger(__name__)

# Where a number's webhooks arrive in multi-workspace mode (the token names the tenant and the number).
TOKEN_PATH = "/webhooks/pilot-status/t/"
# Pilot Status keys are short printable tokens (ps_…); anything longer or with spaces is not one.
MAX_KEY_LENGTH = 200
MAX_SECRET_LENGTH = 500


@dataclass(frozen=True)
class Refused:
    """Why nothing was connected: a catalogue key (bot.i18n) the admin is shown next to the field."""

    reason: str


@dataclass(frozen=True)
class Connected:
    number: StoredNumber
    webhook_url: str
    created: bool  # a new webhook: its signing secret must be pasted from the dashboard


def webhook_url(public_url: str, token: str) -> str:
    return public_url.rstrip("/") + TOKEN_PATH + token


def well_formed(value: str, limit: int) -> bool:
    return 0 < len(value) <= limit and value.isascii() and value.isprintable() and " " not in value


class ConnectService:
    def __init__(
        self,
        store: Store,
        configs: TenantConfigs,
        secrets: Secrets,
        *,
        base_url: str,
        public_url: str | None,
        timeout: float = 15.0,
        clock: Callable[[], float] = time.time,
        serial_wait: float | None = None,
    ) -> None:
        self._store = store
        self._configs = configs
        self._secrets = secrets
        self._base_url = base_url
        self._public_url = public_url
        self._timeout = timeout
        self._clock = clock
        # How long a submission waits for another one of the same number to finish: that one asks Pilot Status
        # at most 4 times (settings, list, create or patch), each within `timeout`.
        self._serial_wait = serial_wait if serial_wait is not None else 4 * timeout + 5.0

    async def connect(
        self, tenant: TenantId, api_key: str, *, name: str = DEFAULT_NUMBER, channels: tuple[str, ...] = ()
    ) -> Connected | Refused:
        """Check the key, register the number's webhook, store the number; or say why not (nothing stored)."""
        api_key = api_key.strip()
        if not well_formed(api_key, MAX_KEY_LENGTH):
            return Refused("connect.key_malformed")
        if not NUMBER_NAME.match(name):
            return Refused("settings.name_malformed")
        if not self._public_url:
            return Refused("connect.no_public_url")
        async with self._store.serialized(f"connect {tenant} {name}", self._serial_wait) as alone:
            if not alone:
                log.info("workspace %s: WhatsApp number %r is being connected by another submission", tenant, name)
                return Refused("connect.in_progress")
            return await self._connect_alone(tenant, api_key, name, channels, self._public_url)

    async def _connect_alone(
        self, tenant: TenantId, api_key: str, name: str, channels: tuple[str, ...], public_url: str
    ) -> Connected | Refused:
        existing = next((n for n in await self._store.workspace_numbers(tenant) if n.name == name), None)
        token = existing.webhook_token if existing is not None else self._secrets.derive("webhook-token", tenant, name)
        url = webhook_url(public_url, token)
        async with PilotStatusAdmin(base_url=self._base_url, api_key=api_key, timeout=self._timeout) as admin:
            try:
                calling = await admin.get_calling_settings()
            except PilotStatusError as error:
                return Refused(_refusal(error))
            if not calling.enabled:
                return Refused("connect.calling_disabled")
            try:
                registration = await register(admin, url)
            except PilotStatusError as error:
                log.warning("workspace %s: registering the webhook failed (%s)", tenant, error.label)
                return Refused("connect.webhook_failed")
        now = self._clock()
        same_webhook = existing is not None and existing.webhook_id == registration.webhook.id
        number = StoredNumber(
            tenant_id=tenant,
            name=name,
            api_key=self._secrets.encrypt(api_key),
            webhook_token=token,
            webhook_secret=existing.webhook_secret if same_webhook and existing is not None else None,
            webhook_id=registration.webhook.id,
            phone_e164=None,
            channels=channels if existing is None or channels else existing.channels,
            created_at=now,
            updated_at=now,
        )
        await self._store.save_workspace_number(number)
        self._configs.invalidate(tenant)
        log.info("workspace %s connected WhatsApp number %r (webhook %s)", tenant, name, registration.webhook.id)
        return Connected(number, url, created=registration.created or not same_webhook)

    async def set_secret(self, tenant: TenantId, secret: str, *, name: str = DEFAULT_NUMBER) -> Refused | None:
        """Store the webhook's signing secret (from the Pilot Status dashboard): signatures are checked from now
        on, and hint mode ends. Refused when the secret is malformed or the number isn't connected."""
        secret = secret.strip()
        if not well_formed(secret, MAX_SECRET_LENGTH):
            return Refused("connect.secret_malformed")
        existing = next((n for n in await self._store.workspace_numbers(tenant) if n.name == name), None)
        if existing is None:
            return Refused("connect.not_connected")
        stored = replace(existing, webhook_secret=self._secrets.encrypt(secret), updated_at=self._clock())
        await self._store.save_workspace_number(stored)
        self._configs.invalidate(tenant)
        log.info("workspace %s set the webhook secret of WhatsApp number %r", tenant, name)
        return None


def _refusal(error: PilotStatusError) -> str:
    if isinstance(error, AuthenticationError):
        return "connect.key_refused"
    if isinstance(error, TenantScopeError):
        return "connect.key_tenant"
    if isinstance(error, FeatureNotSupportedError):
        return "connect.not_meta"
    if isinstance(error, NetworkError):
        return "connect.unreachable"
    return "connect.error"
