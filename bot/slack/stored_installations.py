"""Multi-workspace mode's installations: slack-sdk's installation and OAuth state stores on AskCall's own store, and
`StoredInstallations`, the `Installations` port that Bolt's authorize step reads on every request.

Invariant: a token is encrypted (bot.secrets) before it reaches the store and decrypted only here; an installation is
found by its exact tenant (`tenant_key`), never by a neighbour. An uninstall or revocation stops the workspace's work
(`stop_workspace`) before its tokens go; a disabled workspace is answered as not installed. Every save, uninstall or
revocation invalidates this process's cache at once and, through the store (PostgreSQL NOTIFY in the same
transaction), every other replica's; a cached entry lives `CACHE_SECONDS` at most anyway, and a load that raced an
invalidation is not cached. A stored token no key decrypts is logged as such, naming the tenant, and the workspace is
treated as not installed (one error per load, never a crash loop). A bot token that expires within the rotation
window is rotated (slack-sdk's `AsyncTokenRotator`) by one replica at a time, saved, and the cache invalidated
everywhere.
"""

from __future__ import annotations

import logging
import secrets as random
import time
from collections.abc import Callable
from typing import Protocol

from slack_sdk.errors import SlackTokenRotationError
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator

from bot.domain import TenantId, tenant_key
from bot.secrets import Secrets, Undecryptable
from bot.slack.installations import Installed
from bot.store import Store, Workspace
from bot.store.installations import OAUTH_STATE_SECONDS, SlackInstallation
from bot.tenant_cache import TenantCache

log = logging.getLogger(__name__)

# How long this process trusts what it read about an installation, and how many tenants it remembers.
CACHE_SECONDS = 30.0
CACHE_SIZE = 10_000
# A bot token expiring within this many minutes is rotated before it is used (Bolt's default).
ROTATION_MINUTES = 120


def _scopes(value: str | list[str] | None) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else ",".join(value)


class InstalledHook(Protocol):
    """What runs once an install through the OAuth flow is saved, before Bolt's success page (the welcome DM)."""

    async def __call__(
        self, tenant: TenantId, installer: str, *, team: str, team_id: str | None, app_id: str | None
    ) -> object: ...


class SlackInstallationStore(AsyncInstallationStore):
    """slack-sdk's installation store on AskCall's store: bot installations only (AskCall asks for no user token).

    `changed(tenant)` runs after every write, so the `StoredInstallations` cache forgets the tenant at once;
    `installed` (set by the app) after an install through the OAuth flow, which names its installer, is saved."""

    def __init__(
        self,
        store: Store,
        secrets: Secrets,
        changed: Callable[[TenantId], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._secrets = secrets
        self._changed = changed
        self._clock = clock
        self.installed: InstalledHook | None = None

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        tenant = await self._save(installation.to_bot(), installer_user_id=installation.user_id, token_type="bot")
        if self.installed is not None and installation.user_id:
            # Stored before Bolt answers with the success page; a failure here ends on the failure page instead
            # (the installation is saved, and installing again finishes the job).
            await self.installed(
                tenant,
                installation.user_id,
                team=installation.team_name or installation.enterprise_name or "",
                team_id=installation.team_id,
                app_id=installation.app_id,
            )

    async def async_save_bot(self, bot: Bot) -> None:
        tenant = tenant_key(
            enterprise_id=bot.enterprise_id, team_id=bot.team_id, is_enterprise_install=bool(bot.is_enterprise_install)
        )
        current = await self._store.slack_installation(tenant)
        await self._save(
            bot,
            installer_user_id=current.installer_user_id if current else None,
            token_type=current.token_type if current else "bot",
            enterprise_url=current.enterprise_url if current else None,
        )

    async def _save(
        self, bot: Bot, *, installer_user_id: str | None, token_type: str | None, enterprise_url: str | None = None
    ) -> TenantId:
        tenant = tenant_key(
            enterprise_id=bot.enterprise_id, team_id=bot.team_id, is_enterprise_install=bool(bot.is_enterprise_install)
        )
        now = self._clock()
        await self._store.save_slack_installation(
            SlackInstallation(
                tenant_id=tenant,
                enterprise_id=bot.enterprise_id,
                enterprise_name=bot.enterprise_name,
                enterprise_url=enterprise_url,
                team_id=bot.team_id,
                team_name=bot.team_name,
                is_enterprise_install=bool(bot.is_enterprise_install),
                app_id=bot.app_id,
                bot_token=self._secrets.encrypt(bot.bot_token),
                bot_id=bot.bot_id,
                bot_user_id=bot.bot_user_id,
                bot_scopes=_scopes(bot.bot_scopes),
                bot_refresh_token=self._secrets.encrypt_optional(bot.bot_refresh_token),
                bot_token_expires_at=float(bot.bot_token_expires_at) if bot.bot_token_expires_at else None,
                installer_user_id=installer_user_id,
                token_type=token_type,
                installed_at=now,
                updated_at=now,
            )
        )
        # The registry of workspaces (what their rows belong to) knows it too; a reinstall clears its uninstall.
        await self._store.record_workspace(
            Workspace(
                tenant,
                bot.team_id,
                bot.enterprise_id,
                bool(bot.is_enterprise_install),
                name=bot.team_name or bot.enterprise_name,
                installed_at=now,
            )
        )
        self._changed(tenant)
        log.info("Slack installation saved for %s", tenant)
        return tenant

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        row = await self._live(enterprise_id, team_id, bool(is_enterprise_install))
        return self.bot(row) if row is not None else None

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        row = await self._live(enterprise_id, team_id, bool(is_enterprise_install))
        if row is None or (user_id is not None and user_id != row.installer_user_id):
            return None  # AskCall keeps no user tokens: only the installer's record is known
        return Installation(
            app_id=row.app_id,
            enterprise_id=row.enterprise_id,
            enterprise_name=row.enterprise_name,
            enterprise_url=row.enterprise_url,
            team_id=row.team_id,
            team_name=row.team_name,
            bot_token=self._decrypt(row.bot_token, row),
            bot_id=row.bot_id,
            bot_user_id=row.bot_user_id,
            bot_scopes=row.bot_scopes,
            bot_refresh_token=self._decrypt(row.bot_refresh_token, row),
            bot_token_expires_at=int(row.bot_token_expires_at) if row.bot_token_expires_at else None,
            user_id=row.installer_user_id or "",
            is_enterprise_install=row.is_enterprise_install,
            token_type=row.token_type,
            installed_at=row.installed_at,
        )

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self._uninstall(enterprise_id, team_id)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        if user_id is None:  # a user's own token (tokens_revoked for a user): AskCall holds none
            await self._uninstall(enterprise_id, team_id)

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self._uninstall(enterprise_id, team_id)

    async def _uninstall(self, enterprise_id: str | None, team_id: str | None) -> None:
        row = await self._installed_row(enterprise_id, team_id)
        if row is None:
            return
        now = self._clock()
        # Its work stops first (every replica: the claims skip a stopped tenant; its open deliveries die), then its
        # tokens go. Both are idempotent: Slack retries the event, and a retry finishes what a crash cut short.
        killed = await self._store.stop_workspace(TenantId(row.tenant_id), now)
        if killed:
            log.info("%d pending Slack message(s) of %s dropped: uninstalled", killed, row.tenant_id)
        if await self._store.uninstall_slack(row.tenant_id, now):
            log.info("Slack installation of %s removed (uninstalled or revoked): tokens deleted", row.tenant_id)
        self._changed(TenantId(row.tenant_id))

    async def _installed_row(self, enterprise_id: str | None, team_id: str | None) -> SlackInstallation | None:
        """The installation an uninstall or revocation event names: the workspace's own, else its organisation's
        org-wide one (Slack names both ids in an event from a workspace of an organisation)."""
        if team_id:
            row = await self._store.slack_installation(team_id)
            if row is not None:
                return row
        if enterprise_id:
            row = await self._store.slack_installation(enterprise_id)
            if row is not None and row.is_enterprise_install:
                return row
        return None

    async def _live(
        self, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool
    ) -> SlackInstallation | None:
        try:
            tenant = tenant_key(
                enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install
            )
        except ValueError:
            return None
        row = await self._store.slack_installation(tenant)
        return row if row is not None and row.live else None

    def bot(self, row: SlackInstallation) -> Bot:
        """The stored installation as slack-sdk's `Bot`, tokens decrypted (raises Undecryptable)."""
        return Bot(
            app_id=row.app_id,
            enterprise_id=row.enterprise_id,
            enterprise_name=row.enterprise_name,
            team_id=row.team_id,
            team_name=row.team_name,
            bot_token=self._decrypt(row.bot_token, row) or "",
            bot_id=row.bot_id or "",
            bot_user_id=row.bot_user_id or "",
            bot_scopes=row.bot_scopes,
            bot_refresh_token=self._decrypt(row.bot_refresh_token, row),
            bot_token_expires_at=int(row.bot_token_expires_at) if row.bot_token_expires_at else None,
            is_enterprise_install=row.is_enterprise_install,
            installed_at=row.installed_at,
        )

    def _decrypt(self, value: str | None, row: SlackInstallation) -> str | None:
        return self._secrets.decrypt_optional(value, what=f"the Slack installation of {row.tenant_id}")


class SlackOAuthStateStore(AsyncOAuthStateStore):
    """OAuth states in AskCall's store: issued by any replica, consumed once by any, within 10 minutes."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: object, **kwargs: object) -> str:
        state = random.token_urlsafe(32)
        await self._store.issue_oauth_state(state, self._clock() + OAUTH_STATE_SECONDS)
        return state

    async def async_consume(self, state: str) -> bool:
        if not state or len(state) > 200:
            return False
        return await self._store.consume_oauth_state(state, self._clock())


class StoredInstallations:
    """The `Installations` port in multi-workspace mode: the store, through a small per-process cache."""

    def __init__(
        self,
        store: Store,
        secrets: Secrets,
        rotator: AsyncTokenRotator | None = None,
        *,
        clock: Callable[[], float] = time.time,
        cache_seconds: float = CACHE_SECONDS,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        self._store = store
        self._clock = clock
        self._rotator = rotator
        self._cache = TenantCache(
            lambda tenant: self._load(TenantId(tenant)), seconds=cache_seconds, size=cache_size, clock=clock
        )
        self.sdk_store = SlackInstallationStore(store, secrets, self.invalidate, clock)
        self.state_store = SlackOAuthStateStore(store, clock)

    async def find(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool
    ) -> Installed | None:
        try:
            tenant = tenant_key(
                enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install
            )
        except ValueError:
            return None
        return await self.for_tenant(tenant)

    async def for_tenant(self, tenant: TenantId) -> Installed | None:
        return await self._cache.get(tenant)

    def invalidate(self, tenant: TenantId | None) -> None:
        """Forget a tenant (None: everything), in this process."""
        self._cache.invalidate(tenant)

    async def listen(self) -> None:
        """Forget what other replicas changed, as they change it (until cancelled)."""
        await self._store.listen_installations(lambda tenant: self.invalidate(TenantId(tenant) if tenant else None))

    async def _load(self, tenant: TenantId) -> Installed | None:
        # One round trip: a disabled workspace (`askcall workspaces disable`) is answered as not installed, its tokens
        # kept for `enable`.
        row = await self._store.served_slack_installation(tenant)
        if row is None:
            return None
        try:
            bot = self.sdk_store.bot(row)
        except Undecryptable as error:
            log.error("%s; AskCall answers that workspace as not installed until then", error)
            return None
        if bot.bot_refresh_token and self._rotator is not None:
            bot = await self._rotated(row, bot)
            if bot is None:
                return None
        return Installed(
            tenant=tenant,
            team_id=row.team_id,
            enterprise_id=row.enterprise_id,
            is_enterprise_install=row.is_enterprise_install,
            bot_token=bot.bot_token,
            bot_user_id=row.bot_user_id,
            bot_id=row.bot_id,
        )

    async def _rotated(self, row: SlackInstallation, bot: Bot) -> Bot | None:
        """`bot` with a fresh token if it expires within the rotation window (one replica rotates at a time; the
        others keep the current token, still valid). None when it expired and could not be rotated."""
        assert self._rotator is not None
        expires_at = bot.bot_token_expires_at or 0
        if expires_at > self._clock() + ROTATION_MINUTES * 60:
            return bot
        async with self._store.exclusive(f"slack-token-rotation:{row.tenant_id}") as mine:
            if not mine:
                return bot if expires_at > self._clock() else None
            try:
                rotated = await self._rotator.perform_bot_token_rotation(
                    bot=bot, minutes_before_expiration=ROTATION_MINUTES
                )
            except SlackTokenRotationError as error:
                log.warning("could not rotate the Slack token of %s (%s)", row.tenant_id, error.api_error)
                return bot if expires_at > self._clock() else None
            if rotated is None:
                return bot
            await self.sdk_store.async_save_bot(rotated)
            log.info("rotated the Slack token of %s", row.tenant_id)
            return rotated
