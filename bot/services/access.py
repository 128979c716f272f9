"""Who may use AskCall, and where: ASKCALL_ALLOWED_CHANNELS / _USERS / _USERGROUPS (empty = everyone)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.domain import TenantId
from bot.i18n import Translator
from bot.slack.installations import Installations

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
        settings: Settings,
        client: AsyncWebClient,
        installations: Installations,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._client = client
        self._installations = installations
        self._clock = clock
        self._members: dict[tuple[TenantId, str], tuple[frozenset[str], float]] = {}  # by (tenant, group)

    async def refusal(self, tenant: TenantId, user_id: str, channel_id: str | None, tr: Translator) -> Refusal | None:
        """Why this rep may not use AskCall here, or None when they may.

        `channel_id` None means "not known yet" (a global shortcut): only the rep is checked.
        """
        settings = self._settings
        if not await self._user_allowed(tenant, user_id):
            return Refusal(tr.t("access.user") + " " + self._whom_to_ask(tr))
        if channel_id is None:
            return None
        if settings.allowed_channels and channel_id not in settings.allowed_channels:
            return Refusal(tr.t("access.channel", channel=channel_id) + " " + self._whom_to_ask(tr), channel=True)
        if settings.number_for_channel(channel_id) is None:
            return Refusal(tr.t("access.no_number", channel=channel_id) + " " + self._whom_to_ask(tr), channel=True)
        return None

    def _whom_to_ask(self, tr: Translator) -> str:
        contact = self._settings.access_contact
        return tr.t("access.ask_contact", contact=contact) if contact else tr.t("access.ask_admin")

    async def _user_allowed(self, tenant: TenantId, user_id: str) -> bool:
        users, groups = self._settings.allowed_users, self._settings.allowed_usergroups
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
