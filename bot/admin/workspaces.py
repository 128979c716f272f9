"""`askcall workspaces list | show | disable | enable | purge | rotate-key | new-key`: the operator's view of
multi-workspace mode.

Invariant: no token, key or secret is ever printed, even encrypted: a token shows only as whether it is there.
`list` and `show` only read (the database opened read-only). `rotate-key` re-encrypts every stored Slack token under
the first key of ASKCALL_ENCRYPTION_KEY in one transaction: all or nothing, and running it again changes nothing
more; a value no key decrypts stops it, naming the installation, with nothing changed.
`disable` stops a workspace's work as an uninstall does (its open Slack messages die "disabled", nothing more goes to
Slack or Pilot Status for it) but keeps its tokens; `enable` resumes it. `purge` deletes every row of a workspace
now, in batches; it asks first (unless --yes) and refuses a workspace still installed and enabled (unless --force).
No customer's phone number is ever printed.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.admin.commands import existing_database, yes_to
from bot.admin.database import open_existing
from bot.config import ConfigError
from bot.domain import TenantId
from bot.secrets import BadEncryptionKey, Secrets, Undecryptable, new_key
from bot.services.retention import purge_workspace
from bot.store import Workspace
from bot.store.installations import SlackInstallation

Env = Mapping[str, str]

# When running AskCall servers act on `disable` / `enable` (bot.store: PostgreSQL notifies them in the same
# transaction; on SQLite each server looks for such changes every second, INSTALLATIONS_POLL_SECONDS).
SEEN_BY_SERVERS = {
    "PostgreSQL": "Running AskCall servers see this at once.",
    "SQLite": "A running AskCall server sees this within a few seconds (it looks for changes every second).",
}


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
    for name, handler, summary in (
        ("disable", _disable, "stop a workspace's work (as an uninstall does), keeping its tokens"),
        ("enable", _enable, "resume a disabled workspace"),
    ):
        action = actions.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".")
        action.add_argument("team", metavar="TEAM", help="the workspace (its team id, or enterprise id)")
        action.set_defaults(handler=handler)
    purge = actions.add_parser(
        "purge",
        help="delete every row of a workspace now",
        description="Delete the workspace's requests, consent records, calls, messages and installation now (LGPD), "
        "instead of ASKCALL_UNINSTALL_GRACE_DAYS after its uninstall. Asks first.",
    )
    purge.add_argument("team", metavar="TEAM", help="the workspace (its team id, or enterprise id)")
    purge.add_argument("--yes", action="store_true", help="don't ask for confirmation")
    purge.add_argument("--force", action="store_true", help="purge a workspace that is still installed and enabled")
    purge.set_defaults(handler=_purge)
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


def _state(row: SlackInstallation, workspace: Workspace | None) -> str:
    if not row.live:
        return f"uninstalled {_when(row.uninstalled_at)}"
    if workspace is not None and workspace.disabled_at is not None:
        return f"installed, disabled {_when(workspace.disabled_at)}"
    return "installed"


def list_lines(rows: list[SlackInstallation], workspaces: Mapping[str, Workspace] | None = None) -> list[str]:
    if not rows:
        return ["No workspace has installed AskCall yet."]
    known = workspaces or {}
    return [
        f"{row.tenant_id}  {row.team_name or row.enterprise_name or '-'}  {_state(row, known.get(row.tenant_id))}  "
        f"since {_when(row.installed_at)}"
        for row in rows
    ]


def show_lines(row: SlackInstallation, workspace: Workspace | None = None) -> list[str]:
    rotation = f"expires {_when(row.bot_token_expires_at)}" if row.bot_refresh_token else "off"
    return [
        f"workspace: {row.tenant_id}",
        f"team: {row.team_id or '-'} ({row.team_name or '-'})",
        f"enterprise: {row.enterprise_id or '-'}" + (" (org-wide install)" if row.is_enterprise_install else ""),
        f"state: {_state(row, workspace)}",
        f"installed: {_when(row.installed_at)} by {row.installer_user_id or '-'}",
        f"updated: {_when(row.updated_at)}",
        f"app: {row.app_id or '-'}, bot user {row.bot_user_id or '-'}",
        f"bot token: {'stored (encrypted)' if row.bot_token else 'none'}; token rotation: {rotation}",
        f"scopes: {row.bot_scopes or '-'}",
    ]


def _list(args: argparse.Namespace, env: Env) -> int:
    rows, workspaces = asyncio.run(_read(env))
    print("\n".join(list_lines(rows, workspaces)))
    return 0


def _show(args: argparse.Namespace, env: Env) -> int:
    rows, workspaces = asyncio.run(_read(env))
    row = next((row for row in rows if row.tenant_id == args.team), None)
    if row is None:
        print(f"askcall: AskCall was never installed in {args.team}")
        return 1
    print("\n".join(show_lines(row, workspaces.get(row.tenant_id))))
    return 0


async def _read(env: Env) -> tuple[list[SlackInstallation], dict[str, Workspace]]:
    store = await open_existing(existing_database(env))
    try:
        return await store.slack_installations(), {w.tenant: w for w in await store.workspaces()}
    finally:
        await store.close()


def _disable(args: argparse.Namespace, env: Env) -> int:
    return asyncio.run(_set_enabled(env, TenantId(args.team), enabled=False))


def _enable(args: argparse.Namespace, env: Env) -> int:
    return asyncio.run(_set_enabled(env, TenantId(args.team), enabled=True))


async def _set_enabled(env: Env, tenant: TenantId, *, enabled: bool) -> int:
    store = await open_existing(existing_database(env), writable=True)
    try:
        if await store.workspace(tenant) is None:
            print(f"askcall: AskCall has no workspace {tenant}")
            return 1
        if enabled:
            done = await store.enable_workspace(tenant)
            print(f"Workspace {tenant} enabled." if done else f"Workspace {tenant} was not disabled.")
        else:
            killed = await store.stop_workspace(tenant, time.time(), disabled=True)
            print(f"Workspace {tenant} disabled; {killed} pending Slack message(s) dropped. `enable` resumes it.")
        print(SEEN_BY_SERVERS.get(store.backend, ""))
        return 0
    finally:
        await store.close()


def _purge(args: argparse.Namespace, env: Env) -> int:
    return asyncio.run(_purge_workspace(env, TenantId(args.team), yes=args.yes, force=args.force))


async def _purge_workspace(env: Env, tenant: TenantId, *, yes: bool, force: bool) -> int:
    store = await open_existing(existing_database(env), writable=True)
    try:
        workspace = await store.workspace(tenant)
        if workspace is None:
            print(f"askcall: AskCall has no workspace {tenant}")
            return 1
        if not workspace.stopped and not force:
            print(
                f"askcall: {tenant} is installed and enabled: nothing purged. Disable it first "
                f"(askcall workspaces disable {tenant}), or purge with --force."
            )
            return 1
        question = f"Delete every row of workspace {tenant} ({workspace.name or '-'}) now? This can't be undone [y/N] "
        if not yes and not yes_to(question, default=False):
            print("Nothing purged.")
            return 1
        rows = await purge_workspace(store, tenant)
        print(f"Purged workspace {tenant}: {rows} row(s) deleted.")
        return 0
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
