"""`askcall webhook register | list`: point a number's Pilot Status webhook at AskCall, idempotently.

Invariant: after `register` (bot.pilot_status.admin, shared with connecting a number from Slack), the number has
an active webhook posting to the URL that sends exactly the events AskCall handles
(`bot.pilot_status.webhooks.HANDLED_EVENTS`); a webhook that needs nothing is left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from bot.config import DEFAULT_NUMBER, DEFAULT_PILOT_STATUS_BASE_URL, ConfigError, numbers_from_config, webhook_path
from bot.pilot_status.admin import PilotStatusAdmin, Registration, Webhook
from bot.pilot_status.errors import AuthenticationError, NetworkError, PilotStatusError, TenantScopeError
from bot.pilot_status.webhooks import ALL_EVENTS

WEBHOOK_PATH = webhook_path(DEFAULT_NUMBER)
SECRET_REMINDER = (
    "Pilot Status shows this webhook's signing secret only in its dashboard (Webhooks); no API returns it. "
    "Copy it into PILOT_STATUS_WEBHOOK_SECRET, or AskCall will reject every answer with 401."
)


def register_command(url: str | None, number: str = DEFAULT_NUMBER) -> str:
    """The `askcall webhook register` command line for `url`, exactly as it must be typed (http:// needs
    --allow-http; a number of ASKCALL_CONFIG needs --number)."""
    url = url or "https://<your-host>" + webhook_path(number)
    options = " --allow-http" if url.startswith("http://") else ""
    options += f" --number {number}" if number != DEFAULT_NUMBER else ""
    return f"askcall webhook register --url {url}{options}"


def register_hint(url: str | None, number: str = DEFAULT_NUMBER) -> str:
    return "run " + register_command(url, number)


def admin_from_env(env: Mapping[str, str], number: str = DEFAULT_NUMBER) -> PilotStatusAdmin:
    """Only the number's key is needed here: the webhook secret usually doesn't exist yet when registering.
    The default number's key is PILOT_STATUS_API_KEY; another number's is the variable ASKCALL_CONFIG names."""
    base_url = (env.get("PILOT_STATUS_BASE_URL") or "").strip() or DEFAULT_PILOT_STATUS_BASE_URL
    if number == DEFAULT_NUMBER:
        key = (env.get("PILOT_STATUS_API_KEY") or "").strip()
        if not key:
            raise ConfigError(
                "PILOT_STATUS_API_KEY is not set: put the WhatsApp number's Pilot Status key (ps_…) in it"
            )
    else:
        numbers = {n.name: n for n in numbers_from_config(env, need_secrets=False)}
        if number not in numbers:
            known = ", ".join(sorted(numbers)) or "none"
            raise ConfigError(
                f"--number {number}: ASKCALL_CONFIG declares no number of that name (numbers declared: {known})"
            )
        key = numbers[number].api_key
    return PilotStatusAdmin(base_url=base_url.rstrip("/"), api_key=key)


def validate_url(url: str, *, allow_http: bool = False) -> str:
    """The URL as given, if Pilot Status can post to it; ValueError says what is wrong."""
    parts = urlsplit(url.strip())
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        hint = " (or add --allow-http for a local test)" if parts.scheme == "http" else ""
        raise ValueError(f"{url!r} must start with https:// (Pilot Status posts answers over HTTPS){hint}")
    if not parts.hostname:
        raise ValueError(f"{url!r} has no host name")
    return url.strip()


def describe(webhook: Webhook) -> str:
    state = "active" if webhook.active else "paused"
    events = ", ".join(webhook.events) or "no events"
    return f"{webhook.id}  {webhook.url}  {state}  events: {events}"


def registration_report(registration: Registration) -> list[str]:
    webhook = registration.webhook
    if not registration.changed:
        lines = [
            f"Pilot Status webhook {webhook.id} already posts every event AskCall handles to {webhook.url}: "
            "nothing to change.",
            f"  active; events: {', '.join(webhook.events)}",
        ]
    else:
        verb = "Created" if registration.created else "Updated"
        lines = [
            f"{verb} Pilot Status webhook {webhook.id}: {webhook.url}",
            f"  {'active' if webhook.active else 'paused'}; events: {', '.join(webhook.events) or 'none'}",
        ]
        if not registration.created:
            lines += _changes(registration)
    if registration.duplicates:
        ids = ", ".join(w.id for w in registration.duplicates)
        lines.append(f"Note: {ids} also post to this URL; delete the extra ones in the Pilot Status dashboard.")
    lines.append(SECRET_REMINDER)
    return lines


def _changes(registration: Registration) -> list[str]:
    changes = []
    if registration.added:
        changes.append(f"  added {', '.join(registration.added)}")
    if ALL_EVENTS in registration.removed:
        changes.append(f"  now sends only the events AskCall handles instead of every event ({ALL_EVENTS})")
    elif registration.removed:
        changes.append(f"  removed {', '.join(registration.removed)} (AskCall doesn't handle them)")
    if registration.turned_on:
        changes.append("  turned back on (it was paused)")
    return changes


def explain_error(error: PilotStatusError) -> str:
    """One sentence an admin can act on."""
    if isinstance(error, AuthenticationError):
        return (
            "Pilot Status rejected PILOT_STATUS_API_KEY (401): the key is wrong or was revoked. "
            "Regenerate it in the dashboard (API keys)."
        )
    if isinstance(error, TenantScopeError):
        return "PILOT_STATUS_API_KEY is an account key: use the WhatsApp number's own key (dashboard → API keys)."
    if isinstance(error, NetworkError):
        return f"Could not reach Pilot Status ({error.message}). Check the connection and PILOT_STATUS_BASE_URL."
    detail = f": {error.message}" if error.message and error.message != f"HTTP {error.status}" else ""
    return f"Pilot Status answered {error.label}{detail}"
