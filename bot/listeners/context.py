"""What listeners need from the rest of the app, passed in explicitly (no globals); shared by every listener.

Slack is called only with Bolt's client for the request being handled (`context.client`), which authorize gave the
token of that request's own workspace: there is no shared client with a token here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk.web.async_client import AsyncWebClient

from bot.config import DEFAULT_NUMBER, Settings
from bot.domain import TenantId
from bot.i18n import Translator
from bot.services.access import AccessPolicy
from bot.services.calls import CallService
from bot.services.home import HomeService
from bot.services.requests import RequestService
from bot.services.settings import SettingsService
from bot.services.status import StatusService
from bot.services.validation import Problem
from bot.slack.languages import UserLanguages
from bot.slack.messages import escape_mrkdwn, request_modal
from bot.tasks import Tasks
from bot.tenant_config import TenantConfigs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ListenerContext:
    settings: Settings
    requests: RequestService
    status: StatusService
    access: AccessPolicy
    home: HomeService
    languages: UserLanguages
    tasks: Tasks
    calls: CallService
    configs: TenantConfigs
    admin: SettingsService  # App Home's Settings: who is an admin, what the section shows

    async def number_name(self, tenant: TenantId, channel_id: str | None) -> str:
        """The WhatsApp number serving a channel in the tenant's workspace (the access check already refused
        unserved ones)."""
        number = (await self.configs.config_of(tenant)).number_for_channel(channel_id)
        return number.name if number else DEFAULT_NUMBER

    async def translator(self, tenant: TenantId, user_id: str | None) -> Translator:
        return Translator(await self.languages.language_for(tenant, user_id))

    def open_modal(
        self,
        client: AsyncWebClient,
        trigger_id: str,
        tr: Translator,
        metadata: dict[str, object],
        *,
        phone: str = "",
        pick_channel: bool = False,
    ) -> None:
        """Open the request form after the ack (the trigger id stays valid for 3 s), with `client`: Bolt's client
        for this request, authorized with its own workspace's token."""
        view = request_modal(tr, private_metadata=metadata, phone=phone, pick_channel=pick_channel)
        self.tasks.spawn(client.views_open(trigger_id=trigger_id, view=view), name="open-modal")


def problem_text(tr: Translator, problem: Problem) -> str:
    values = {k: escape_mrkdwn(str(v)) for k, v in problem.values.items()}
    return tr.t(problem.message_key, **values)
