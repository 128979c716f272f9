"""Slack installations and OAuth states on PostgreSQL (see bot.store.installations for the invariant).

Replicas share the rows: a state is consumed by `DELETE … RETURNING`, which only one transaction can win.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import astuple

import asyncpg

from bot.domain import TenantId
from bot.store import sql
from bot.store.installations import SlackInstallation
from bot.store.postgres.connection import PostgresConnection, row_count

# LISTEN/NOTIFY channel: "this tenant's installation changed" (saved, reinstalled, uninstalled), sent in the
# transaction that changed it, so every replica forgets what it cached once the change is committed.
INSTALLATIONS_CHANNEL = "askcall_installations"
NOTIFY = f"SELECT pg_notify('{INSTALLATIONS_CHANNEL}', $1)"


class InstallationQueries(PostgresConnection):
    async def save_slack_installation(self, installation: SlackInstallation) -> None:
        values = list(astuple(installation))
        values[6] = int(installation.is_enterprise_install)
        async with self.transaction() as conn:
            await conn.execute(sql.SAVE_SLACK_INSTALLATION.postgres, *values)
            await conn.execute(NOTIFY, installation.tenant_id)

    async def slack_installation(self, tenant: TenantId) -> SlackInstallation | None:
        row = await self._fetchrow(sql.SLACK_INSTALLATION.postgres, tenant)
        return _installation(row) if row is not None else None

    async def served_slack_installation(self, tenant: TenantId) -> SlackInstallation | None:
        row = await self._fetchrow(sql.SERVED_SLACK_INSTALLATION.postgres, tenant)
        return _installation(row) if row is not None else None

    async def slack_installations(self) -> list[SlackInstallation]:
        return [_installation(row) for row in await self._fetch(sql.SLACK_INSTALLATIONS.postgres)]

    async def uninstall_slack(self, tenant: TenantId, now: float) -> bool:
        async with self.transaction() as conn:
            uninstalled = row_count(await conn.execute(sql.UNINSTALL_SLACK.postgres, now, tenant)) > 0
            if uninstalled:
                await conn.execute(NOTIFY, tenant)
        return uninstalled

    async def listen_installations(self, changed: Callable[[str | None], None]) -> None:
        await self._listen(INSTALLATIONS_CHANNEL, changed, lambda: changed(None))

    async def rotate_slack_secrets(self, rotate: Callable[[str, str], str]) -> int:
        changed = 0
        async with self.transaction() as conn:
            for row in await conn.fetch(sql.SLACK_SECRETS.postgres + " FOR UPDATE"):
                tenant_id, token, refresh = row["tenant_id"], row["bot_token"], row["bot_refresh_token"]
                new_token = rotate(token, tenant_id) if token is not None else None
                new_refresh = rotate(refresh, tenant_id) if refresh is not None else None
                if (new_token, new_refresh) != (token, refresh):
                    await conn.execute(sql.SET_SLACK_SECRETS.postgres, new_token, new_refresh, tenant_id)
                    changed += (new_token != token) + (new_refresh != refresh)
        return changed

    async def issue_oauth_state(self, state: str, expires_at: float) -> None:
        async with self.connection() as conn:
            await conn.execute(sql.ISSUE_OAUTH_STATE.postgres, state, expires_at)

    async def consume_oauth_state(self, state: str, now: float) -> bool:
        async with self.transaction() as conn:
            expires_at = await conn.fetchval(sql.CONSUME_OAUTH_STATE.postgres, state)
            await conn.execute(sql.FORGET_EXPIRED_OAUTH_STATES.postgres, now)
        return expires_at is not None and float(expires_at) > now


def _installation(row: asyncpg.Record) -> SlackInstallation:
    values = list(row.values())
    values[6] = bool(values[6])
    return SlackInstallation(*values)
