"""`askcall check` in multi-workspace mode: the Slack app's OAuth credentials and the stored installations.

Invariant: it changes nothing (the database is opened read-only, and the credentials are proven with a code Slack
never issued, which can install nothing) and prints no token or key: an installation whose token no key of
ASKCALL_ENCRYPTION_KEY decrypts is named by its workspace id only.
"""

from __future__ import annotations

import asyncio
import os

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.admin.database import open_existing
from bot.config import Settings
from bot.secrets import Undecryptable
from bot.store import StoreError

# What oauth.v2.access answers when the client id or secret is not the app's.
BAD_CREDENTIALS = {"invalid_client_id", "bad_client_secret", "invalid_client"}
CREDENTIALS_FIX = "copy Client ID and Client Secret from your Slack app's Basic Information → App Credentials"


async def check_credentials(settings: Settings) -> tuple[bool, str, str]:
    """(ok, message, fix): Slack takes SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (a made-up code is refused as a code,
    not as a client)."""
    client = AsyncWebClient(base_url=settings.slack_api_url, timeout=10, retry_handlers=[])
    try:
        await client.oauth_v2_access(
            client_id=settings.slack_client_id or "",
            client_secret=settings.slack_client_secret or "",
            code="askcall-check-not-a-code",
        )
    except SlackApiError as error:
        code = str(error.response.get("error") or error.response.status_code)
        if code in BAD_CREDENTIALS:
            return False, f"Slack refused SLACK_CLIENT_ID / SLACK_CLIENT_SECRET ({code})", CREDENTIALS_FIX
        return True, "Slack accepts the app's client id and secret (Add to Slack can complete)", ""
    except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError, ValueError) as error:
        return (
            False,
            f"Could not reach Slack at {settings.slack_api_url} ({type(error).__name__})",
            ("check this machine's internet connection (and SLACK_API_URL if you set it)"),
        )
    return False, "Slack installed something with a made-up code", "check SLACK_API_URL points at Slack"


async def check_installations(settings: Settings) -> tuple[bool, str, str]:
    """(ok, message, fix): how many workspaces are installed, and that the key decrypts every stored token."""
    database = settings.database
    if database.sqlite_path is not None and not await asyncio.to_thread(os.path.isfile, database.sqlite_path):
        return True, "No workspace has installed AskCall yet (no database yet)", ""
    try:
        store = await open_existing(database)
    except StoreError:
        return True, "Installed workspaces not checked (see the database check)", ""
    try:
        rows = await store.slack_installations()
    finally:
        await store.close()
    secrets = settings.secrets()
    unreadable = []
    for row in rows:
        for value in (row.bot_token, row.bot_refresh_token):
            try:
                secrets.decrypt_optional(value, what=row.tenant_id)
            except Undecryptable:
                unreadable.append(row.tenant_id)
                break
    live = sum(1 for row in rows if row.live)
    if unreadable:
        return (
            False,
            "ASKCALL_ENCRYPTION_KEY decrypts no key of the tokens of " + ", ".join(sorted(unreadable)),
            "put back the key they were encrypted with, after the current one, in ASKCALL_ENCRYPTION_KEY",
        )
    return True, f"{live} workspace(s) installed, {len(rows) - live} uninstalled; every stored token decrypts", ""
