"""`askcall check`: is this install ready? One line per check, with the fix when it is not."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.admin.check_workspaces import check_credentials, check_installations
from bot.admin.database import SchemaMismatch, open_existing
from bot.admin.webhooks import register_hint
from bot.config import DEFAULT_NUMBER, ConfigError, DatabaseConfig, Settings, WhatsAppNumber, webhook_path
from bot.pilot_status.admin import PilotStatusAdmin, Webhook
from bot.pilot_status.errors import (
    AuthenticationError,
    FeatureNotSupportedError,
    NetworkError,
    PilotStatusError,
    TenantScopeError,
)
from bot.pilot_status.webhooks import PERMISSION_UPDATED
from bot.slack.app_token import AppTokenRefused, open_connection_url
from bot.slack.scopes import missing_scopes
from bot.store import StoreError

SECRETS = {
    "SLACK_SIGNING_SECRET": "copy Basic Information → App Credentials → Signing Secret of your Slack app",
    "PILOT_STATUS_WEBHOOK_SECRET": "copy the webhook's signing secret from the Pilot Status dashboard (Webhooks)",
}
BAD_TOKEN_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
REINSTALL = (
    "reinstall the Slack app from manifest.yml: at https://api.slack.com/apps open AskCall → App Manifest, "
    "paste manifest.yml and save, then Install App → Reinstall to Workspace"
)


@dataclass(frozen=True)
class Check:
    ok: bool
    message: str
    fix: str = ""

    @property
    def line(self) -> str:
        return f"✓ {self.message}" if self.ok else f"✗ {self.message} — fix: {self.fix}"


def passed(message: str) -> Check:
    return Check(True, message)


def failed(message: str, fix: str) -> Check:
    return Check(False, message, fix)


# --- configuration ---------------------------------------------------------------------------
def load_settings(env: Mapping[str, str]) -> tuple[Settings | None, list[Check]]:
    """Settings to check with, plus configuration problems. Missing signing secrets don't stop the
    other checks (they can't be verified remotely anyway); other configuration errors do."""
    try:
        settings = Settings.from_env(env)
    except ConfigError as error:
        try:
            relaxed = Settings.from_env({**env, "ASKCALL_INSECURE_DEV": "1"})
        except ConfigError:
            return None, [failed(str(error), "set it in the environment or in .env (see .env.example)")]
        missing = [name for name in SECRETS if not (env.get(name) or "").strip()]
        checks = [failed(f"{name} is not set", f"{SECRETS[name]} into {name}") for name in missing]
        return replace(relaxed, insecure_dev=False), checks
    if settings.insecure_dev:
        return settings, [
            failed(
                "ASKCALL_INSECURE_DEV is on: requests are accepted without checking their signatures",
                "remove ASKCALL_INSECURE_DEV (it is for local development only)",
            )
        ]
    return settings, [passed("Configuration is complete (tokens, keys and signing secrets are set)")]


# --- Slack -----------------------------------------------------------------------------------
async def check_slack(settings: Settings) -> list[Check]:
    client = AsyncWebClient(
        token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=10, retry_handlers=[]
    )
    try:
        response = await client.auth_test()
    except SlackApiError as error:
        return [_slack_refused(error)]
    except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError, ValueError) as error:
        return [_unreachable(settings, error)]
    who = f"bot @{response.get('user') or '?'} in workspace {response.get('team') or '?'}"
    checks = [passed(f"Slack bot token is valid ({who})")]
    header = _header(response.headers, "x-oauth-scopes")
    if header is None:
        checks.append(
            failed(
                "Slack did not say which scopes the token has",
                "put the Bot User OAuth Token (xoxb-…) in SLACK_BOT_TOKEN",
            )
        )
    elif missing := missing_scopes(header):
        checks.append(failed("The Slack app is missing scopes: " + ", ".join(missing), REINSTALL))
    else:
        checks.append(passed("The Slack app has every scope manifest.yml asks for"))
    return checks


async def check_workspaces(settings: Settings) -> list[Check]:
    """Multi-workspace mode: no bot token of its own; the app's OAuth credentials and the installed workspaces."""
    results = await asyncio.gather(check_credentials(settings), check_installations(settings))
    return [Check(ok, message, fix) for ok, message, fix in results]


async def check_app_token(settings: Settings) -> list[Check]:
    """With SLACK_APP_TOKEN (Socket Mode): Slack hands out a connection URL for it."""
    if not settings.slack_app_token:
        return []
    client = AsyncWebClient(base_url=settings.slack_api_url, timeout=10, retry_handlers=[])
    try:
        await open_connection_url(client, settings.slack_app_token)
    except AppTokenRefused as error:
        return [failed(str(error), error.fix)]
    except SlackApiError as error:
        return [_slack_refused(error, "apps.connections.open")]
    except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError, ValueError) as error:
        return [_unreachable(settings, error)]
    return [passed("Slack accepts the app-level token (SLACK_APP_TOKEN): Socket Mode can connect")]


def _unreachable(settings: Settings, error: BaseException) -> Check:
    return failed(
        f"Could not reach Slack at {settings.slack_api_url} ({type(error).__name__})",
        "check this machine's internet connection (and SLACK_API_URL if you set it)",
    )


def _slack_refused(error: SlackApiError, method: str = "auth.test") -> Check:
    data = error.response.data
    code = str((data.get("error") if isinstance(data, dict) else None) or f"HTTP {error.response.status_code}")
    if code in BAD_TOKEN_ERRORS and method == "auth.test":
        return failed(
            f"Slack rejected SLACK_BOT_TOKEN ({code})",
            "copy the Bot User OAuth Token (xoxb-…) from your Slack app's OAuth & Permissions page into "
            "SLACK_BOT_TOKEN (install the app first if it is not installed)",
        )
    return failed(f"Slack answered {method} with an error ({code})", "try again in a few minutes")


def _header(headers: Any, name: str) -> str | None:
    for key, value in dict(headers or {}).items():
        if str(key).lower() == name:
            return str(value)
    return None


# --- Pilot Status ----------------------------------------------------------------------------
KEY_OK = "Pilot Status API key is valid and belongs to a WhatsApp number"


async def check_pilot_status(admin: PilotStatusAdmin, base_url: str) -> list[Check]:
    """Key valid, number-scoped, and the number can use calling (GET /v1/calls/settings)."""
    try:
        calling = await admin.get_calling_settings()
    except FeatureNotSupportedError:
        return [
            passed(KEY_OK),
            failed(
                "The WhatsApp number cannot use calling: it is not a Meta Cloud API number (FEATURE_NOT_SUPPORTED)",
                "connect a number through the Meta Cloud API (WhatsApp Business Platform) in Pilot Status and put "
                "that number's key in PILOT_STATUS_API_KEY",
            ),
        ]
    except PilotStatusError as error:
        return [_pilot_status_refused(error, base_url)]
    if calling.enabled:
        return [passed(KEY_OK), passed("Calling is enabled on the WhatsApp number")]
    return [
        passed(KEY_OK),
        failed(
            f"Calling is {calling.status or 'not enabled'} on the WhatsApp number",
            "enable calling for the number in the Pilot Status dashboard (Meta allows it only for numbers "
            "with a messaging limit of at least 2,000 conversations a day)",
        ),
    ]


def _pilot_status_refused(error: PilotStatusError, base_url: str) -> Check:
    if isinstance(error, AuthenticationError):
        return failed(
            "Pilot Status rejected PILOT_STATUS_API_KEY (401): the key is wrong or was revoked",
            "regenerate the number's key in the Pilot Status dashboard (API keys) and put it in PILOT_STATUS_API_KEY",
        )
    if isinstance(error, TenantScopeError):
        return failed(
            "PILOT_STATUS_API_KEY is an account key, but calls need the WhatsApp number's own key "
            "(403 TENANT_SCOPE_NOT_ALLOWED)",
            "copy the key of the number AskCall sends from (dashboard → API keys) into PILOT_STATUS_API_KEY",
        )
    if isinstance(error, NetworkError):
        return failed(
            f"Could not reach Pilot Status at {base_url} ({error.message})",
            "check this machine's internet connection (and PILOT_STATUS_BASE_URL if you set it)",
        )
    return failed(
        f"Pilot Status answered {error.label} when asked for the calling settings",
        "try again in a few minutes; if it goes on, contact Pilot Status support with this code",
    )


async def check_webhook(admin: PilotStatusAdmin, public_url: str | None, number: str = DEFAULT_NUMBER) -> Check:
    try:
        webhooks = await admin.list_webhooks()
    except PilotStatusError as error:
        return failed(
            f"Could not list the Pilot Status webhooks ({error.label})",
            "fix the Pilot Status API key or connection first (see above), then run askcall check again",
        )
    return evaluate_webhooks(webhooks, public_url, number)


def evaluate_webhooks(webhooks: Sequence[Webhook], public_url: str | None, number: str = DEFAULT_NUMBER) -> Check:
    """A webhook of the number that points at this AskCall, is active and sends every event AskCall handles.

    Without ASKCALL_PUBLIC_URL, any webhook posting to the number's path (…/webhooks/pilot-status) counts; with
    it, only one posting to exactly that address, and one posting to the path on another host is named."""
    path = webhook_path(number)
    target = f"{public_url.rstrip('/')}{path}" if public_url else None
    candidates = [w for w in webhooks if _points_here(w.url, target, path)]
    for webhook in candidates:
        if webhook.active and not webhook.missing_events:
            return passed(f"Pilot Status webhook {webhook.id} sends every event AskCall handles to {webhook.url}")
    if not candidates:
        elsewhere = [w for w in webhooks if _points_here(w.url, None, path)]
        if target and elsewhere:
            urls = ", ".join(f"{w.id} to {w.url}" for w in elsewhere)
            return failed(
                f"No Pilot Status webhook points at {target}: AskCall's webhook posts elsewhere ({urls})",
                register_hint(target, number) + " (it creates one for this address; then delete the old one in "
                "the Pilot Status dashboard if nothing listens there any more)",
            )
        where = target or f"…{path}"
        others = f" ({len(webhooks)} other webhook(s) exist)" if webhooks else ""
        return failed(f"No Pilot Status webhook points at {where}{others}", register_hint(target, number))
    webhook = min(candidates, key=lambda w: (not w.active, len(w.missing_events)))
    if not webhook.active:
        return failed(
            f"The Pilot Status webhook {webhook.id} ({webhook.url}) is paused",
            register_hint(webhook.url, number) + " (it turns the webhook back on)",
        )
    events = ", ".join(webhook.events) or "none"
    return failed(
        f"The Pilot Status webhook {webhook.id} ({webhook.url}) does not send {', '.join(webhook.missing_events)} "
        f"(events: {events}){_consequence(webhook.missing_events)}",
        register_hint(webhook.url, number) + " (it subscribes the webhook to every event AskCall handles)",
    )


def _consequence(missing: Sequence[str]) -> str:
    """What a rep sees when these events never arrive."""
    if PERMISSION_UPDATED in missing:
        return ": customers' answers never reach Slack"
    return ": Call now never rings (the call page waits forever)"


def _points_here(url: str, target: str | None, path: str) -> bool:
    url = url.rstrip("/")
    return url == target if target else url.endswith(path)


# --- database ----------------------------------------------------------------------------------
async def check_database(database: DatabaseConfig) -> Check:
    """The database is there, at this AskCall's schema, and takes writes, all found out without changing it:
    never created or migrated (a mistyped path is a failure, not a new database), the write probe rolled back.
    The line names the backend and its server version; a password never appears in it."""
    if database.sqlite_path is not None:
        where = database.sqlite_path
        fix = "check ASKCALL_DB_PATH, and that its folder exists and is writable by the user running AskCall"
        if await asyncio.to_thread(os.path.isdir, where):
            return failed(f"The database path {where} is a folder", "point ASKCALL_DB_PATH at the database file in it")
        if not await asyncio.to_thread(os.path.isfile, where):
            return failed(
                f"There is no AskCall database at {where}",
                "if ASKCALL_DB_PATH is right, run askcall db migrate (or start askcall serve) to create it; "
                "otherwise fix ASKCALL_DB_PATH",
            )
    else:
        where = database.redacted()
        fix = "check ASKCALL_DATABASE_URL (host, port, database, user, password) and that PostgreSQL is running"
    try:
        # SQLite's write probe has a connection of its own; PostgreSQL's uses the pool, which must then take
        # writes (connecting changes nothing).
        store = await open_existing(database, writable=database.sqlite_path is None)
    except SchemaMismatch as error:
        if error.version == 0:
            return failed(
                f"The database at {where} holds no AskCall tables yet",
                "run askcall db migrate (or start askcall serve) to create them",
            )
        return failed(
            f"The database at {where} is at schema version {error.version}, this AskCall's is {error.known}",
            "run askcall db migrate (it offers a backup first)"
            if error.version < error.known
            else "use the AskCall version that migrated it (an older one refuses it)",
        )
    except StoreError as error:
        return failed(f"The database at {where} cannot be used ({error.__cause__ or error})", fix)
    try:
        await store.probe_write(commit=False)
        server = f"{store.backend} {await store.server_version()}"
    except StoreError as error:
        return failed(f"The database at {where} cannot be used ({error.__cause__ or error})", fix)
    finally:
        await store.close()
    return passed(
        f"Database {where} ({server}) is writable and up to date (schema version {store.latest_schema_version})"
    )


# --- all together ------------------------------------------------------------------------------
async def check_number(settings: Settings, number: WhatsAppNumber) -> tuple[list[Check], Check]:
    """The number's key and calling, and its webhook; lines of a number of ASKCALL_CONFIG name it."""
    async with PilotStatusAdmin(base_url=settings.pilot_status_base_url, api_key=number.api_key) as admin:
        pilot, webhook = await asyncio.gather(
            check_pilot_status(admin, settings.pilot_status_base_url),
            check_webhook(admin, settings.public_url, number.name),
        )
    if number.name == DEFAULT_NUMBER:
        return pilot, webhook
    return [_for_number(check, number.name) for check in pilot], _for_number(webhook, number.name)


def _for_number(check: Check, name: str) -> Check:
    return replace(check, message=f"Number {name}: {check.message}")


async def run_checks(env: Mapping[str, str]) -> list[Check]:
    settings, checks = load_settings(env)
    if settings is None:
        return checks
    slack, app_token, database, *numbers = await asyncio.gather(
        check_workspaces(settings) if settings.multi_workspace else check_slack(settings),
        check_app_token(settings),
        check_database(settings.database),
        *(check_number(settings, number) for number in settings.numbers),
    )
    pilot = [check for number_checks, _ in numbers for check in number_checks]
    webhooks = [webhook for _, webhook in numbers]
    return [*checks, *slack, *app_token, *pilot, database, *webhooks]
