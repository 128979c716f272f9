"""Who may change a workspace's AskCall settings, and what App Home's Settings section shows them.

Invariant: only a workspace's Slack admins and owners (`users.info` is_admin / is_owner, asked with that
workspace's own token) and the user who installed AskCall there are admins; anyone else is shown no Settings
section, and every settings action or submission asks `is_admin` again on the server (a forged one from a
non-admin changes nothing). When Slack can't say, the answer is no. Keys and secrets are never shown.
"""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain import TenantId
from bot.i18n import Translator
from bot.services.connect import ConnectService, webhook_url
from bot.slack.installations import Installations
from bot.slack.settings import NumberShown, settings_blocks
from bot.store import Store
from bot.tenant_config import TenantConfigs

log = logging.getLogger(__name__)


class SettingsService:
    def __init__(
        self,
        store: Store,
        client: AsyncWebClient,
        installations: Installations,
        configs: TenantConfigs,
        connect: ConnectService | None,
        public_url: str | None,
    ) -> None:
        self._store = store
        self._client = client
        self._installations = installations
        self._configs = configs
        self.connect = connect  # None: single-workspace mode (settings are the environment's, read-only)
        self._public_url = public_url

    async def is_admin(self, tenant: TenantId, user_id: str) -> bool:
        installed = await self._installations.for_tenant(tenant)
        if installed is None or not user_id:
            return False
        row = await self._store.slack_installation(tenant)
        if row is not None and row.installer_user_id == user_id:
            return True
        try:
            response = await self._client.users_info(token=installed.bot_token, user=user_id)
        except (SlackApiError, OSError) as error:
            log.warning("could not tell whether %s is an admin (%s); taken as not", user_id, type(error).__name__)
            return False
        user = response.get("user") or {}
        return bool(user.get("is_admin") or user.get("is_owner"))

    async def section(self, tenant: TenantId, user_id: str, tr: Translator) -> list[dict[str, object]]:
        """The Settings blocks for this user's App Home: none unless they are an admin."""
        if not await self.is_admin(tenant, user_id):
            return []
        if self.connect is None:
            numbers = await self._configs.numbers_of(tenant)
            shown = [NumberShown(n.name, None, n.webhook_secret is not None) for n in numbers]
            return settings_blocks(tr, shown, read_only=True)
        stored = await self._store.workspace_numbers(tenant)
        shown = [
            NumberShown(
                n.name,
                webhook_url(self._public_url, n.webhook_token) if self._public_url else None,
                n.webhook_secret is not None,
            )
            for n in stored
        ]
        return settings_blocks(tr, shown, read_only=False)

    async def webhook_url_of(self, tenant: TenantId, name: str) -> str | None:
        number = next((n for n in await self._store.workspace_numbers(tenant) if n.name == name), None)
        if number is None or not self._public_url:
            return None
        return webhook_url(self._public_url, number.webhook_token)
