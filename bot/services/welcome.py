"""The installer's welcome DM (multi-workspace mode): right after Add to Slack, AskCall writes to whoever installed
it, in the workspace's language, what AskCall does and where to connect Pilot Status (App Home → Settings).

Invariant: the DM is stored in the outbox (a delivery of no request, its tenant's) before the install's success page
answers, and delivered from there like every Slack message AskCall sends: exactly once, across replicas and
restarts. Its delivery key is `WELCOME_KEY`, unique within the tenant, so a workspace is welcomed once, ever: a
reinstall (within the uninstall grace period, history intact) finds the key taken and sends nothing, since the
installer already had the DM and the workspace's settings are still there. Once a workspace is purged (grace over,
or `askcall workspaces purge`), its next install is a new start and is welcomed again. A stopped (uninstalled or
disabled) workspace is never welcomed. The team name is escaped for mrkdwn.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bot.domain import DeliveryKind, TenantId
from bot.i18n import Translator
from bot.slack.messages import escape_mrkdwn
from bot.store import NewDelivery, Store
from bot.tenant_config import TenantConfigs

log = logging.getLogger(__name__)

# The welcome DM's delivery key: one per tenant, ever (until the workspace is purged).
WELCOME_KEY = "welcome"


def app_home_link(team_id: str | None, app_id: str | None) -> str | None:
    """Slack's deep link to AskCall's App Home tab in the workspace (None when an id is unknown, as in an org-wide
    install, whose App Home is opened from each workspace)."""
    if not team_id or not app_id:
        return None
    return f"slack://app?team={team_id}&id={app_id}&tab=home"


def welcome_message(language: str, team: str, home_link: str | None) -> dict[str, Any]:
    """The DM's `text` (notifications) and `blocks`, in `language`; `team` is escaped here."""
    t = Translator(language).t
    team = escape_mrkdwn(team)
    tab = t("welcome.home")
    home = f"<{home_link}|*{tab}*>" if home_link else f"*{tab}*"
    settings, connect = t("settings.header"), t("settings.connect_button")
    return {
        "text": t("welcome.text", team=team, settings=settings, home=tab),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": t("welcome.title", team=team)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": t("welcome.what")}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": t("welcome.next", home=home, settings=settings, connect=connect)},
            },
        ],
    }


class WelcomeService:
    def __init__(self, store: Store, configs: TenantConfigs, wake_notifier: Callable[[], None]) -> None:
        self._store = store
        self._configs = configs
        self._wake_notifier = wake_notifier

    async def welcome(
        self, tenant: TenantId, installer: str, *, team: str, team_id: str | None, app_id: str | None
    ) -> bool:
        """Queue the welcome DM to `installer` (a user id); False when the workspace was welcomed before (or is
        stopped). Raises what the store raises: the install then ends on its failure page, and a retry queues it."""
        language = (await self._configs.config_of(tenant)).language
        message = welcome_message(language, team, app_home_link(team_id, app_id))
        delivery = NewDelivery(WELCOME_KEY, DeliveryKind.DIRECT, {"channel": installer, **message})
        added = await self._store.add_workspace_delivery(tenant, delivery)
        if added:
            log.info("workspace %s: the installer's welcome DM is queued", tenant)
            self._wake_notifier()
        else:
            log.info("workspace %s was welcomed before (a reinstall): no second welcome DM", tenant)
        return added
