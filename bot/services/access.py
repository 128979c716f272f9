"""Who may use AskCall, and where: each workspace's allowed channels, users and user groups (empty = everyone).

Invariant: a rep is judged by their own workspace's settings (bot.tenant_config): in single-workspace mode
ASKCALL_ALLOWED_CHANNELS / _USERS / _USERGROUPS, in multi-workspace mode what the workspace's admins set.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain import TenantId
from bot.i18n import Translator
from bot.slack.installations import Installations
from bot.tenant_config import TenantConfig, TenantConfigs

log = logging.getLogger(__name__)

# User-group membership changes rarely; reading it on every click would hit Slack's rate limits.
USERGROUP_TTL = 300.0


@dataclass(frozen=True)
class Refusal:
    """Why a rep may not use AskCall here (a text for them); `channel` when the channel is the reason."""

    text: str
    channel: bool = False


class AccessPolicy:
    def __init__(
        self,
        configs: TenantConfigs,
        client: AsyncWebClient,
        installations: Installations,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._configs = configs
        self._client = client
        self._installations = installations
        self._clock = clock
        self._members: dict[tuple[TenantId, str], tuple[frozenset[str], float]] = {}  # by (tenant, group)

    async def refusal(self, tenant: TenantId, user_id: str, channel_id: str | None, tr: Translator) -> Refusal | None:
        """Why this rep may not use AskCall here, or None when they may.

        `channel_id` None means "not known yet" (a global shortcut): only the rep is checked.
        """
        config = await self._configs.config_of(tenant)
        if not config.numbers:  # nothing could be sent: say what unblocks it, whoever asks
            return Refusal(tr.t("access.no_account"))
        if not await self._user_allowed(tenant, config, user_id):
            return Refusal(tr.t("access.user") + " " + _whom_to_ask(config, tr))
        if channel_id is None:
            return None
        if config.allowed_channels and channel_id not in config.allowed_channels:
            return Refusal(tr.t("access.channel", channel=channel_id) + " " + _whom_to_ask(config, tr), channel=True)
        if config.number_for_channel(channel_id) is None:
            return Refusal(tr.t("access.no_number", channel=channel_id) + " " + _whom_to_ask(config, tr), channel=True)
        return None

    async def _user_allowed(self, tenant: TenantId, config: TenantConfig, user_id: str) -> bool:
        users, groups = config.allowed_users, config.allowed_usergroups
        if not users and not groups:
            return True
        if user_id in users:
            return True
        for group in groups:
            if user_id in await self._group_members(tenant, group):
                return True
        return False

    async def _group_members(self, tenant: TenantId, group: str) -> frozenset[str]:
        cached = self._members.get((tenant, group))
        if cached is not None and self._clock() - cached[1] < USERGROUP_TTL:
            return cached[0]
        installed = await self._installations.for_tenant(tenant)
        if installed is None:
            return frozenset()
        try:
            response = await self._client.usergroups_users_list(token=installed.bot_token, usergroup=group)
        except (SlackApiError, OSError) as error:
            log.warning("could not read user group %s (%s)", group, type(error).__name__)
            return cached[0] if cached else frozenset()
        members = frozenset(response.get("users") or [])
        self._members[tenant, group] = (members, self._clock())
        return members


def _whom_to_ask(config: TenantConfig, tr: Translator) -> str:
    contact = config.access_contact
    return tr.t("access.ask_contact", contact=contact) if contact else tr.t("access.ask_admin")
