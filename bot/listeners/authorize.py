"""Bolt's authorize step: which installation (and so which tenant and bot token) a Slack request speaks for.

Invariant: a request is served only for the team or organisation Slack names in it, with that installation's
own token, and its tenant is put in the context under `TENANT` for every listener; a request from a workspace
AskCall isn't installed in gets Bolt's "not installed" answer and touches nothing. The installations are read
through the `Installations` port (in-process cache; no `auth.test` per request).
"""

from __future__ import annotations

from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.context.async_context import AsyncBoltContext

from bot.domain import TenantId
from bot.slack.installations import Installations

# The context key under which every listener finds the tenant of the request it serves.
TENANT = "askcall_tenant"


class InstalledAuthorize(AsyncAuthorize):
    def __init__(self, installations: Installations) -> None:
        super().__init__()
        self._installations = installations

    async def __call__(
        self,
        *,
        context: AsyncBoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult | None:
        installed = await self._installations.find(
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=bool(context.is_enterprise_install),
        )
        if installed is None:
            return None
        context[TENANT] = installed.tenant
        return AuthorizeResult(
            enterprise_id=installed.enterprise_id,
            team_id=team_id or installed.team_id,
            bot_token=installed.bot_token,
            bot_id=installed.bot_id,
            bot_user_id=installed.bot_user_id,
            user_id=user_id,
        )


def tenant_of(context: AsyncBoltContext) -> TenantId:
    """The tenant `InstalledAuthorize` found for this request (always there once a listener runs)."""
    tenant = context.get(TENANT)
    if not tenant:
        raise LookupError("no tenant in this request's context: was it authorized?")
    return TenantId(tenant)
