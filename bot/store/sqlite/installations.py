"""Slack installations and OAuth states on SQLite (see bot.store.installations for the invariant)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import astuple

from bot.domain import TenantId
from bot.store import sql
from bot.store.installations import SlackInstallation
from bot.store.sqlite.connection import SQLiteConnection

log = logging.getLogger(__name__)

# How often a server process looks for installation and workspace changes another process (the operator's
# `askcall workspaces` commands) made: what it cached is forgotten within this long of such a change.
INSTALLATIONS_POLL_SECONDS = 1.0
# What changes whenever an installation is saved, uninstalled or re-keyed, or a workspace recorded, stopped or
# enabled (a disabled_at or uninstalled_at that goes back to NULL changes its column's total).
_FINGERPRINT = """SELECT
    (SELECT COUNT(*) FROM workspaces), (SELECT TOTAL(disabled_at) FROM workspaces),
    (SELECT TOTAL(uninstalled_at) FROM workspaces), (SELECT TOTAL(installed_at) FROM workspaces),
    (SELECT COUNT(*) FROM slack_installations), (SELECT TOTAL(updated_at) FROM slack_installations),
    (SELECT TOTAL(uninstalled_at) FROM slack_installations)"""


class InstallationQueries(SQLiteConnection):
    async def save_slack_installation(self, installation: SlackInstallation) -> None:
        args = _row_args(installation)
        await self._write(lambda conn: conn.execute(sql.SAVE_SLACK_INSTALLATION.sqlite, args))

    async def slack_installation(self, tenant: TenantId) -> SlackInstallation | None:
        row = await self._fetchone(sql.SLACK_INSTALLATION.sqlite, (tenant,))
        return _installation(row) if row is not None else None

    async def served_slack_installation(self, tenant: TenantId) -> SlackInstallation | None:
        row = await self._fetchone(sql.SERVED_SLACK_INSTALLATION.sqlite, (tenant,))
        return _installation(row) if row is not None else None

    async def slack_installations(self) -> list[SlackInstallation]:
        return [_installation(row) for row in await self._fetchall(sql.SLACK_INSTALLATIONS.sqlite)]

    async def uninstall_slack(self, tenant: TenantId, now: float) -> bool:
        args = (now, tenant)
        return bool(await self._write(lambda conn: conn.execute(sql.UNINSTALL_SLACK.sqlite, args).rowcount))

    async def rotate_slack_secrets(self, rotate: Callable[[str, str], str]) -> int:
        def run(conn: sqlite3.Connection) -> int:
            changed = 0
            for tenant_id, token, refresh in conn.execute(sql.SLACK_SECRETS.sqlite).fetchall():
                new_token = rotate(token, tenant_id) if token is not None else None
                new_refresh = rotate(refresh, tenant_id) if refresh is not None else None
                if (new_token, new_refresh) != (token, refresh):
                    conn.execute(sql.SET_SLACK_SECRETS.sqlite, (new_token, new_refresh, tenant_id))
                    changed += (new_token != token) + (new_refresh != refresh)
            return changed

        return await self._write(run)

    async def listen_installations(self, changed: Callable[[str | None], None]) -> None:
        """One server process, but the operator's commands (`askcall workspaces disable | enable`) write from
        another: a cheap fingerprint of the installations and workspaces is read every
        `INSTALLATIONS_POLL_SECONDS`, and any change makes this process forget everything it cached."""
        last: tuple[object, ...] | None = None
        while True:
            try:
                row = await self._fetchone(_FINGERPRINT)
            except (sqlite3.Error, OSError) as error:
                log.debug("could not read the installations' fingerprint (%s); trying again", error)
            else:
                fingerprint = tuple(row) if row is not None else ()
                if last is not None and fingerprint != last:
                    changed(None)
                last = fingerprint
            await asyncio.sleep(INSTALLATIONS_POLL_SECONDS)

    async def issue_oauth_state(self, state: str, expires_at: float) -> None:
        await self._write(lambda conn: conn.execute(sql.ISSUE_OAUTH_STATE.sqlite, (state, expires_at)))

    async def consume_oauth_state(self, state: str, now: float) -> bool:
        def consume(conn: sqlite3.Connection) -> bool:
            row = conn.execute(sql.CONSUME_OAUTH_STATE.sqlite, (state,)).fetchone()
            conn.execute(sql.FORGET_EXPIRED_OAUTH_STATES.sqlite, (now,))
            return row is not None and float(row[0]) > now

        return await self._write(consume)


def _row_args(installation: SlackInstallation) -> tuple[object, ...]:
    values = list(astuple(installation))
    values[6] = int(installation.is_enterprise_install)
    return tuple(values)


def _installation(row: sqlite3.Row) -> SlackInstallation:
    values = list(row)
    values[6] = bool(values[6])
    return SlackInstallation(*values)
