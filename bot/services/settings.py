"""Who may change a workspace's AskCall settings, what App Home's Settings section shows them, and saving what
they change (which channels use which number; who may use AskCall, the default language, the per-rep hourly
budget, retention).

Invariant: only a workspace's Slack admins and owners (`users.info` is_admin / is_owner, asked with that
workspace's own token) and the user who installed AskCall there are admins; anyone else is shown no Settings
section, and every settings action or submission asks `is_admin` again on the server (a forged one from a
non-admin changes nothing). When Slack can't say, the answer is no (and that answer is not cached); Slack's answer
is cached per (tenant, user) for `ADMIN_CACHE_SECONDS` and only for the installation (token) that asked, so a
reinstall asks again. Settings are saved only in multi-workspace mode (`editable`), only whole and valid, only
under the tenant that submitted them, and the tenant's cached configuration is forgotten at once. Keys and secrets
are never shown.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import BARE_MENTION, DEFAULT_NUMBER, NUMBER_NAME
from bot.domain import TenantId
from bot.i18n import LANGUAGES, Translator
from bot.services.connect import ConnectService, webhook_url
from bot.slack.installations import Installations
from bot.slack.settings import (
    MAX_BUDGET,
    MAX_CONTACT,
    MAX_LISTED,
    MAX_RETENTION_DAYS,
    NumberShown,
    settings_blocks,
)
from bot.store import Store
from bot.store.workspace_settings import WorkspaceSettings
from bot.tenant_cache import TenantCache, split_subkey, subkey
from bot.tenant_config import TenantConfigs

log = logging.getLogger(__name__)

ADMIN_CACHE_SECONDS = 60.0
ADMIN_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Problem:
    """Why a submitted value was refused: a catalogue key and its values (shown under the field)."""

    key: str
    values: Mapping[str, object] = field(default_factory=dict)

    def text(self, tr: Translator) -> str:
        return tr.t(self.key, **self.values)


@dataclass(frozen=True)
class WorkspaceForm:
    """What the workspace settings modal submitted, as typed (validated by `save_workspace`)."""

    language: str
    budget: str
    retention: str
    channels: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    groups: str = ""
    contact: str = ""


class SettingsService:
    def __init__(
        self,
        store: Store,
        client: AsyncWebClient,
        installations: Installations,
        configs: TenantConfigs,
        connect: ConnectService | None,
        public_url: str | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._client = client
        self._installations = installations
        self._configs = configs
        self.connect = connect  # None: single-workspace mode (settings are the environment's, read-only)
        self._public_url = public_url
        self._clock = clock
        # (tenant, user) → (the bot token that asked, whether Slack says they are an admin).
        self._admins: TenantCache[tuple[str, bool]] = TenantCache(
            self._ask_slack, seconds=ADMIN_CACHE_SECONDS, size=ADMIN_CACHE_SIZE, clock=clock
        )

    @property
    def editable(self) -> bool:
        """Whether admins change settings here (multi-workspace mode), rather than the environment."""
        return self.connect is not None

    async def is_admin(self, tenant: TenantId, user_id: str) -> bool:
        installed = await self._installations.for_tenant(tenant)
        if installed is None or not user_id:
            return False
        row = await self._store.slack_installation(tenant)
        if row is not None and row.installer_user_id == user_id:
            return True
        key = subkey(tenant, user_id)
        try:
            token, admin = await self._admins.get(key)
            if token != installed.bot_token:  # reinstalled (or rotated) since: ask again with the new token
                self._admins.forget(key)
                token, admin = await self._admins.get(key)
        except (SlackApiError, OSError) as error:
            log.warning("could not tell whether %s is an admin (%s); taken as not", user_id, type(error).__name__)
            return False
        return admin

    async def _ask_slack(self, key: str) -> tuple[str, bool]:
        """Slack's answer (raises when Slack can't say: nothing is cached then)."""
        tenant, user_id = split_subkey(key)
        installed = await self._installations.for_tenant(TenantId(tenant))
        if installed is None:
            return "", False
        response = await self._client.users_info(token=installed.bot_token, user=user_id)
        user = response.get("user") or {}
        return installed.bot_token, bool(user.get("is_admin") or user.get("is_owner"))

    def forget_admins(self, tenant: TenantId | None) -> None:
        """Forget the cached admin answers of a tenant (None: of every tenant)."""
        self._admins.invalidate(tenant)

    async def section(self, tenant: TenantId, user_id: str, tr: Translator) -> list[dict[str, object]]:
        """The Settings blocks for this user's App Home: none unless they are an admin."""
        if not await self.is_admin(tenant, user_id):
            return []
        config = await self._configs.config_of(tenant)
        if not self.editable:
            shown = [
                NumberShown(n.name, None, n.webhook_secret is not None, tuple(sorted(n.channels)))
                for n in config.numbers
            ]
            return settings_blocks(tr, shown, config, read_only=True)
        return settings_blocks(tr, await self.numbers_shown(tenant), config, read_only=False)

    async def numbers_shown(self, tenant: TenantId) -> list[NumberShown]:
        return [
            NumberShown(
                n.name,
                webhook_url(self._public_url, n.webhook_token) if self._public_url else None,
                n.webhook_secret is not None,
                n.channels,
            )
            for n in await self._store.workspace_numbers(tenant)
        ]

    async def webhook_url_of(self, tenant: TenantId, name: str) -> str | None:
        number = next((n for n in await self._store.workspace_numbers(tenant) if n.name == name), None)
        if number is None or not self._public_url:
            return None
        return webhook_url(self._public_url, number.webhook_token)

    async def save_channels(self, tenant: TenantId, channels: Mapping[str, tuple[str, ...]]) -> dict[str, Problem]:
        """Set which channels use which of the tenant's numbers (`channels`: number name → channel ids; numbers
        not named keep theirs). A channel may use one number only. Returns the problems by number name (nothing
        saved), or {} once saved."""
        if not self.editable:
            return {name: Problem("settings.env_only") for name in channels}
        stored = {n.name: n for n in await self._store.workspace_numbers(tenant)}
        wanted = {name: ids for name, ids in channels.items() if name in stored}
        problems: dict[str, Problem] = {}
        seen: dict[str, str] = {}
        for name in sorted(stored, key=lambda n: (n != DEFAULT_NUMBER, n)):
            ids = wanted.get(name, stored[name].channels)
            bad = next((i for i in ids if not _slack_id(i, "CG")), None)
            if bad is not None or len(ids) > MAX_LISTED:
                problems[name] = Problem("settings.too_many", {"count": MAX_LISTED})
                continue
            for channel in ids:
                if channel in seen:
                    problems[name] = Problem("settings.channel_twice", {"channel": channel, "name": seen[channel]})
                    break
                seen[channel] = name
        if problems:
            return problems
        now = self._clock()
        for name, ids in wanted.items():
            if tuple(ids) != stored[name].channels:
                await self._store.save_workspace_number(replace(stored[name], channels=tuple(ids), updated_at=now))
        self._configs.invalidate(tenant)
        log.info("workspace %s set the channels of its WhatsApp numbers", tenant)
        return {}

    async def save_workspace(self, tenant: TenantId, form: WorkspaceForm) -> dict[str, Problem]:
        """Validate and save the tenant's settings whole. Returns the problems by field (nothing saved: language,
        budget, retention, channels, users, groups, contact), or {} once saved."""
        problems: dict[str, Problem] = {}
        if not self.editable:
            return {"language": Problem("settings.env_only")}
        language = form.language if form.language in LANGUAGES else None
        if language is None:
            problems["language"] = Problem("settings.bad_language")
        budget = _whole(form.budget, MAX_BUDGET)
        if budget is None:
            problems["budget"] = Problem("settings.bad_number", {"high": MAX_BUDGET})
        retention = _whole(form.retention, MAX_RETENTION_DAYS)
        if retention is None:
            problems["retention"] = Problem("settings.bad_number", {"high": MAX_RETENTION_DAYS})
        for name, ids, letters in (("channels", form.channels, "CG"), ("users", form.users, "UW")):
            if len(ids) > MAX_LISTED or not all(_slack_id(i, letters) for i in ids):
                problems[name] = Problem("settings.too_many", {"count": MAX_LISTED})
        groups = tuple(dict.fromkeys(g.strip() for g in form.groups.replace("\n", ",").split(",") if g.strip()))
        bad_group = next((g for g in groups if not _slack_id(g, "S")), None)
        if bad_group is not None:
            problems["groups"] = Problem("settings.bad_groups", {"value": bad_group[:40]})
        elif len(groups) > MAX_LISTED:
            problems["groups"] = Problem("settings.too_many", {"count": MAX_LISTED})
        contact = " ".join(form.contact.split())
        if len(contact) > MAX_CONTACT or BARE_MENTION.match(contact):
            problems["contact"] = Problem("settings.bad_contact")
        if problems or language is None or budget is None or retention is None:
            return problems
        settings = WorkspaceSettings(
            tenant_id=tenant,
            language=language,
            hourly_budget=budget,
            retention_days=retention,
            allowed_channels=tuple(dict.fromkeys(form.channels)),
            allowed_users=tuple(dict.fromkeys(form.users)),
            allowed_usergroups=groups,
            access_contact=contact or None,
            updated_at=self._clock(),
        )
        await self._store.save_workspace_settings(settings)
        self._configs.invalidate(tenant)
        log.info("workspace %s saved its settings", tenant)
        return {}


def valid_number_name(name: str) -> bool:
    return bool(NUMBER_NAME.match(name))


def _whole(text: str, high: int) -> int | None:
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        return None
    value = int(text)
    return value if value <= high else None


def _slack_id(value: str, letters: str) -> bool:
    return 1 < len(value) <= 30 and value[0] in letters and value.isascii() and value.isalnum() and value.isupper()
