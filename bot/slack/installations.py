"""Who AskCall is installed for, and with which bot token: the port every tenant-scoped Slack call goes through.

Invariant: a token is only ever looked up by the tenant a row or a request belongs to, and an installation is
found only for the exact team or organisation Slack names, so one workspace's token never speaks for another.
Two implementations: one installation recorded from the environment (single-workspace mode: `SLACK_BOT_TOKEN`,
team from `auth.test`), and the installations stored by Bolt's OAuth flow (multi-workspace mode), read
through a per-process cache that uninstall, revocation and reinstall invalidate on every replica.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.domain import TenantId


@dataclass(frozen=True)
class Installed:
    """One live installation, as authorize and the outbox need it (never logged: it holds a token)."""

    tenant: TenantId
    team_id: str | None
    enterprise_id: str | None
    is_enterprise_install: bool
    bot_token: str
    bot_user_id: str | None
    bot_id: str | None

    def __repr__(self) -> str:  # the token never reaches a log line through a repr
        return f"Installed(tenant={self.tenant!r}, team_id={self.team_id!r}, enterprise_id={self.enterprise_id!r})"


class Installations(Protocol):
    async def find(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool
    ) -> Installed | None:
        """The installation serving this team (or organisation), or None when AskCall isn't installed there."""
        ...

    async def for_tenant(self, tenant: TenantId) -> Installed | None:
        """The installation of a tenant whose rows AskCall is working on (outbox, reminders), or None."""
        ...

    def invalidate(self, tenant: TenantId) -> None:
        """Forget what this process cached about a tenant (uninstall, revocation, reinstall)."""
        ...
