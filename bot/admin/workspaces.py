"""`askcall workspaces list | show TEAM | rotate-key | new-key`: the operator's view of multi-workspace mode.

Invariant: no token, key or secret is ever printed, even encrypted: a token shows only as whether it is there.
`list` and `show` only read (the database opened read-only). `rotate-key` re-encrypts every stored Slack token under
the first key of ASKCALL_ENCRYPTION_KEY in one transaction: all or nothing, and running it again changes nothing
more; a value no key decrypts stops it, naming the installation, with nothing changed.
(`disable` and `purge` come with the per-workspace data of the tenancy work.)
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.admin.commands import existing_database
from bot.admin.database import open_existing
from bot.config import ConfigError
from bot.secrets import BadEncryptionKey, Secrets, Undecryptable, new_key
from bot.store.installations import SlackInstallation

Env = Mapping[str, str]


def add_workspace_commands(commands: Any) -> None:
    """Add `workspaces` to the `askcall` parser's subparsers."""
    workspaces = commands.add_parser(
        "workspaces",
        help="the Slack workspaces AskCall is installed in (multi-workspace mode)",
        description="List and show the workspaces that installed AskCall with Add to Slack, and rotate the key "
        "their tokens are encrypted under. No token is ever printed.",
    )
    actions = workspaces.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    actions.add_parser(
        "list", help="one line per workspace", description="One line per installation: tenant, name, state, since."
    ).set_defaults(handler=_list)
    show = actions.add_parser("show", help="one workspace's installation", description="Everything but its tokens.")
    show.add_argument("team", metavar="TEAM", help="the team id (T…), or the enterprise id (E…) of an org-wide install")
    show.set_defaults(handler=_show)
    actions.add_parser(
        "rotate-key",
        help="re-encrypt every stored token under the first key of ASKCALL_ENCRYPTION_KEY",
        description="Put the new key first in ASKCALL_ENCRYPTION_KEY (comma separated, the old one after it), run "
        "this, then drop the old key. One transaction; safe to run again.",
    ).set_defaults(handler=_rotate_key)
    actions.add_parser(
        "new-key", help="print a new encryption key", description="A fresh Fernet key for ASKCALL_ENCRYPTION_KEY."
    ).set_defaults(handler=_new_key)


def _new_key(args: argparse.Namespace, env: Env) -> int:
    print(new_key())
    return 0


def _when(moment: float | None) -> str:
    return "-" if moment is None else datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _state(row: SlackInstallation) -> str:
    return "installed" if row.live else f"uninstalled {_when(row.uninstalled_at)}"


def list_lines(rows: list[SlackInstallation]) -> list[str]:
    if not rows:
        return ["No workspace has installed AskCall yet."]
    return [
        f"{row.tenant_id}  {row.team_name or row.enterprise_name or '-'}  {_state(row)}  "
        f"since {_when(row.installed_at)}"
        for row in rows
    ]


def show_lines(row: SlackInstallation) -> list[str]:
    rotation = f"expires {_when(row.bot_token_expires_at)}" if row.bot_refresh_token else "off"
    return [
        f"workspace: {row.tenant_id}",
        f"team: {row.team_id or '-'} ({row.team_name or '-'})",
        f"enterprise: {row.enterprise_id or '-'}" + (" (org-wide install)" if row.is_enterprise_install else ""),
        f"state: {_state(row)}",
        f"installed: {_when(row.installed_at)} by {row.installer_user_id or '-'}",
        f"updated: {_when(row.updated_at)}",
        f"app: {row.app_id or '-'}, bot user {row.bot_user_id or '-'}",
        f"bot token: {'stored (encrypted)' if row.bot_token else 'none'}; token rotation: {rotation}",
        f"scopes: {row.bot_scopes or '-'}",
    ]


def _list(args: argparse.Namespace, env: Env) -> int:
    rows = asyncio.run(_read(env, None))
    assert isinstance(rows, list)
    print("\n".join(list_lines(rows)))
    return 0


def _show(args: argparse.Namespace, env: Env) -> int:
    row = asyncio.run(_read(env, args.team))
    if row is None:
        print(f"askcall: AskCall was never installed in {args.team}")
        return 1
    assert isinstance(row, SlackInstallation)
    print("\n".join(show_lines(row)))
    return 0


async def _read(env: Env, tenant: str | None) -> list[SlackInstallation] | SlackInstallation | None:
    store = await open_existing(existing_database(env))
    try:
        return await store.slack_installations() if tenant is None else await store.slack_installation(tenant)
    finally:
        await store.close()


def secrets_from(env: Env) -> Secrets:
    keys = (env.get("ASKCALL_ENCRYPTION_KEY") or "").strip()
    if not keys:
        raise ConfigError("ASKCALL_ENCRYPTION_KEY is not set: rotate-key re-encrypts under its first key")
    try:
        return Secrets(keys)
    except BadEncryptionKey as error:
        raise ConfigError(f"ASKCALL_ENCRYPTION_KEY: {error}") from error


def _rotate_key(args: argparse.Namespace, env: Env) -> int:
    secrets = secrets_from(env)
    try:
        changed = asyncio.run(rotate_key(env, secrets))
    except Undecryptable as error:
        print(f"askcall: nothing re-encrypted: {error}")
        return 1
    print(f"Re-encrypted {changed} stored token(s) and key(s) under the first key of ASKCALL_ENCRYPTION_KEY.")
    return 0


async def rotate_key(env: Env, secrets: Secrets) -> int:
    def rotate(value: str, tenant: str) -> str:
        if secrets.is_current(value):
            return value  # already under the first key: idempotent
        return secrets.rotate(value, what=f"the Slack installation of {tenant}")

    def rotate_number(value: str, tenant: str) -> str:
        if secrets.is_current(value):
            return value
        return secrets.rotate(value, what=f"a WhatsApp number of workspace {tenant}")

    store = await open_existing(existing_database(env), writable=True)
    try:
        # The Slack tokens, then the Pilot Status keys and secrets: each in one transaction, each safe to run again.
        return await store.rotate_slack_secrets(rotate) + await store.rotate_number_secrets(rotate_number)
    finally:
        await store.close()
