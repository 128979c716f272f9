"""Each rep's language, from their Slack locale (`users.info`), cached in memory and in the store; and the
name Slack shows for them (from the same call), cached in memory only (AskCall stores no rep names).

Invariant: every cache and every stored preference is keyed by (tenant, user): the same user id in two workspaces
is two people. A rep whose Slack locale is neither language (or unknown) gets their own workspace's default
language (bot.tenant_config: in multi-workspace mode what its admins chose), read at every use, so a change in
Settings applies at once; the locale, not the language it gave, is what is cached."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain import TenantId
from bot.i18n import normalize_language
from bot.slack.installations import Installations
from bot.store import Store, StoreError
from bot.tenant_config import TenantConfigs

log = logging.getLogger(__name__)

LOCALE_TTL = 24 * 3600
# How long a first-time rep's command may wait for Slack to tell their locale (well inside Slack's 3 s).
FIRST_LOOKUP_WAIT = 0.5


class UserLanguages:
    def __init__(
        self,
        store: Store,
        client: AsyncWebClient,
        installations: Installations,
        default: str,
        clock: Callable[[], float] = time.time,
        configs: TenantConfigs | None = None,
    ) -> None:
        self._store = store
        self._client = client
        self._installations = installations
        self._default = default  # when there are no per-workspace settings (`configs` None)
        self._configs = configs
        self._clock = clock
        self._cache: dict[tuple[TenantId, str], tuple[str, float]] = {}  # (tenant, user) → (locale, fetched at)
        self._names: dict[tuple[TenantId, str], tuple[str, float]] = {}
        self._refreshing: set[tuple[TenantId, str]] = set()
        self._lookups: set[asyncio.Task[str]] = set()

    async def default_for(self, tenant: TenantId) -> str:
        """The workspace's default language (the environment's without per-workspace settings)."""
        if self._configs is None:
            return self._default
        try:
            return (await self._configs.config_of(tenant)).language
        except StoreError:  # the database is down: the environment's default, don't fail
            return self._default

    async def language_for(self, tenant: TenantId, user_id: str | None, wait: float = FIRST_LOOKUP_WAIT) -> str:
        """The rep's language. Known reps never wait; an unknown one waits at most `wait` seconds."""
        default = await self.default_for(tenant)
        if not user_id:
            return default
        key = (tenant, user_id)
        cached = self._cache.get(key)
        if cached is None:
            try:
                _, locale, fetched_at = await self._store.user_prefs(tenant, user_id)
            except StoreError:  # the database is down: answer in the default language, don't fail
                return default
            if locale and fetched_at:
                cached = (locale, fetched_at)
                self._cache[key] = cached
        if cached is not None:
            if self._clock() - cached[1] > LOCALE_TTL and key not in self._refreshing:
                self._lookup(tenant, user_id)
            return normalize_language(cached[0], default)
        try:
            # Shielded: if Slack is slow, this rep gets the default now and their locale next time.
            locale = await asyncio.wait_for(asyncio.shield(self._lookup(tenant, user_id)), wait)
        except TimeoutError:
            return default
        return normalize_language(locale, default)

    async def name_for(self, tenant: TenantId, user_id: str, wait: float = FIRST_LOOKUP_WAIT) -> str | None:
        """The name Slack shows for the user (display name, else full name); None when Slack doesn't say in time."""
        cached = self._names.get((tenant, user_id))
        if cached is not None and self._clock() - cached[1] <= LOCALE_TTL:
            return cached[0]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._lookup(tenant, user_id)), wait)
        cached = self._names.get((tenant, user_id))
        return cached[0] if cached is not None else None

    def _lookup(self, tenant: TenantId, user_id: str) -> asyncio.Task[str]:
        self._refreshing.add((tenant, user_id))
        task = asyncio.create_task(self._refresh(tenant, user_id), name=f"locale-{user_id}")
        self._lookups.add(task)
        task.add_done_callback(self._lookups.discard)
        return task

    async def _refresh(self, tenant: TenantId, user_id: str) -> str:
        """Ask Slack for the rep's locale (and name); the locale, "" when Slack doesn't say."""
        try:
            installed = await self._installations.for_tenant(tenant)
            if installed is None:  # uninstalled meanwhile: the default language, and nothing asked of Slack
                return ""
            response = await self._client.users_info(token=installed.bot_token, user=user_id, include_locale=True)
            user = response.get("user") or {}
            locale = str(user.get("locale") or "")
        except (TimeoutError, SlackApiError, OSError) as error:
            log.info("users.info failed for %s (%s); using the default language", user_id, type(error).__name__)
            return ""
        finally:
            self._refreshing.discard((tenant, user_id))
        now = self._clock()
        name = shown_name(user)
        if name:
            self._names[tenant, user_id] = (name, now)
        self._cache[tenant, user_id] = (locale, now)
        if locale:
            await self._store.set_locale(tenant, user_id, locale, now)
        return locale


def shown_name(user: dict[str, Any]) -> str:
    """The name Slack shows for a user: the display name they chose, else their full name, else the handle."""
    profile = user.get("profile") or {}
    for name in (profile.get("display_name"), profile.get("real_name"), user.get("real_name"), user.get("name")):
        if isinstance(name, str) and name.strip():
            return " ".join(name.split())[:80]
    return ""
