"""Single-workspace mode: the one installation AskCall serves, from `SLACK_BOT_TOKEN` and one `auth.test`.

Invariant: AskCall serves exactly the workspace (or organisation, for an org-wide install) the env token belongs
to. At start-up `auth.test` names it; it is recorded in `workspaces`, and the rows made before tenancy (tenant '')
are adopted by it, in one transaction, unless another workspace was recorded first. Requests naming any other team
or organisation find no installation (Bolt's "not installed" answer; nothing is stored), and a token is handed out
only for the env tenant. Once Slack says the app was uninstalled or its bot token revoked (`stop`), no token is handed
out at all in this process (its late messages die "uninstalled") and `problem` says why, until a restart with a new
token (whose `auth.test` records the workspace again, which resumes it).
"""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain import TenantId, tenant_key
from bot.slack.installations import Installed
from bot.store import Store, Workspace

log = logging.getLogger(__name__)


class WorkspaceUnknown(Exception):
    """AskCall can't tell which workspace the env token serves: it must not start (the message says why)."""


class EnvInstallations:
    """The `Installations` port for one workspace, from the environment."""

    def __init__(self, installed: Installed, url: str | None = None) -> None:
        self.installed = installed
        self.url = url
        # Why the env token stopped working (Slack said so): /readyz and the log say it; None while it works.
        self.problem: str | None = None

    def stop(self, problem: str) -> None:
        """Slack says the app was uninstalled or its bot token revoked: serve nothing more, and say why."""
        self.problem = problem

    @property
    def tenant(self) -> TenantId:
        return self.installed.tenant

    @classmethod
    async def start(cls, client: AsyncWebClient, token: str, store: Store) -> EnvInstallations:
        """Ask Slack (`auth.test`) which workspace the token serves, record it and adopt the legacy rows. When
        Slack can't be reached, the one workspace recorded before serves; with none, WorkspaceUnknown."""
        try:
            response = await client.auth_test(token=token)
        except SlackApiError as error:
            code = str(error.response.get("error") or "error") if error.response is not None else "error"
            return await cls._recorded(store, token, f"Slack refused the bot token's auth.test ({code})")
        except (OSError, TimeoutError) as error:
            return await cls._recorded(store, token, f"Slack's auth.test could not be reached ({type(error).__name__})")
        org_wide = bool(response.get("is_enterprise_install"))
        team_id, enterprise_id = response.get("team_id") or None, response.get("enterprise_id") or None
        try:
            tenant = tenant_key(enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=org_wide)
        except ValueError as error:
            raise WorkspaceUnknown(f"Slack's auth.test named no workspace for the bot token ({error})") from error
        url = str(response.get("url") or "") or None
        installed = Installed(
            tenant=tenant,
            team_id=team_id,
            enterprise_id=enterprise_id,
            is_enterprise_install=org_wide,
            bot_token=token,
            bot_user_id=response.get("user_id") or None,
            bot_id=response.get("bot_id") or None,
        )
        await store.record_workspace(
            Workspace(tenant, team_id, enterprise_id, org_wide, name=response.get("team") or None, url=url)
        )
        moved = await store.adopt_legacy_rows(tenant)
        if moved:
            log.info("workspace %s adopted %d rows made before tenancy", tenant, moved)
        return cls(installed, url)

    @classmethod
    async def _recorded(cls, store: Store, token: str, why: str) -> EnvInstallations:
        recorded = [w for w in await store.workspaces() if w.uninstalled_at is None]
        if len(recorded) != 1:
            raise WorkspaceUnknown(
                f"{why}, and the database records {len(recorded) or 'no'} workspace(s) to fall back on: AskCall "
                "can't tell which workspace SLACK_BOT_TOKEN serves; start it again once Slack answers"
            )
        (workspace,) = recorded
        log.warning("%s; serving the workspace recorded before (%s)", why, workspace.tenant)
        installed = Installed(
            tenant=workspace.tenant,
            team_id=workspace.team_id,
            enterprise_id=workspace.enterprise_id,
            is_enterprise_install=workspace.is_enterprise_install,
            bot_token=token,
            bot_user_id=None,
            bot_id=None,
        )
        return cls(installed, workspace.url)

    async def find(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool
    ) -> Installed | None:
        mine = self.installed
        if self.problem is not None:
            return None
        if mine.is_enterprise_install:
            return mine if enterprise_id and enterprise_id == mine.enterprise_id else None
        return mine if team_id and team_id == mine.team_id else None

    async def for_tenant(self, tenant: TenantId) -> Installed | None:
        return self.installed if tenant == self.installed.tenant and self.problem is None else None

    def invalidate(self, tenant: TenantId) -> None:
        """Nothing cached beyond the one installation the environment defines."""
