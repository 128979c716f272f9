"""`askcall webhook register | list`: point the Pilot Status webhook at AskCall, idempotently."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bot.config import DEFAULT_PILOT_STATUS_BASE_URL, ConfigError
from bot.pilot_status.admin import ALL_EVENTS, PERMISSION_UPDATED, PilotStatusAdmin, Webhook
from bot.pilot_status.errors import AuthenticationError, NetworkError, PilotStatusError, TenantScopeError

WEBHOOK_PATH = "/webhooks/pilot-status"
DEFAULT_NAME = "AskCall"
SECRET_REMINDER = (
    "Pilot Status shows this webhook's signing secret only in its dashboard (Webhooks); no API returns it. "
    "Copy it into PILOT_STATUS_WEBHOOK_SECRET, or AskCall will reject every answer with 401."
)


def register_hint(url: str | None) -> str:
    return f"run askcall webhook register --url {url or 'https://<your-host>' + WEBHOOK_PATH}"


def admin_from_env(env: Mapping[str, str]) -> PilotStatusAdmin:
    """Only the key is needed here: the webhook secret usually doesn't exist yet when registering."""
    key = (env.get("PILOT_STATUS_API_KEY") or "").strip()
    if not key:
        raise ConfigError("PILOT_STATUS_API_KEY is not set: put the WhatsApp number's Pilot Status key (ps_…) in it")
    base_url = (env.get("PILOT_STATUS_BASE_URL") or "").strip() or DEFAULT_PILOT_STATUS_BASE_URL
    return PilotStatusAdmin(base_url=base_url.rstrip("/"), api_key=key)


def validate_url(url: str, *, allow_http: bool = False) -> str:
    """The URL as given, if Pilot Status can post to it; ValueError says what is wrong."""
    parts = urlsplit(url.strip())
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        raise ValueError(f"{url!r} must start with https:// (Pilot Status posts answers over HTTPS)")
    if not parts.hostname:
        raise ValueError(f"{url!r} has no host name")
    return url.strip()


@dataclass(frozen=True)
class Registration:
    webhook: Webhook
    created: bool
    duplicates: list[Webhook] = field(default_factory=list)  # other webhooks with the same URL


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


async def register(admin: PilotStatusAdmin, url: str, name: str | None = None) -> Registration:
    """Update the webhook that already posts to `url` (active, answers subscribed), or create one."""
    existing = [w for w in await admin.list_webhooks() if _same_url(w.url, url)]
    if not existing:
        webhook = await admin.create_webhook(url=url, name=name or DEFAULT_NAME, events=[PERMISSION_UPDATED])
        return Registration(webhook, created=True)
    first = existing[0]
    events = list(first.events)
    if ALL_EVENTS not in events and PERMISSION_UPDATED not in events:
        events.append(PERMISSION_UPDATED)  # PATCH replaces the list: keep what was there
    fields: dict[str, object] = {"events": events, "active": True}
    if name:
        fields["name"] = name
    webhook = await admin.update_webhook(first.id, **fields)
    return Registration(webhook, created=False, duplicates=existing[1:])


def describe(webhook: Webhook) -> str:
    state = "active" if webhook.active else "paused"
    events = ", ".join(webhook.events) or "no events"
    return f"{webhook.id}  {webhook.url}  {state}  events: {events}"


def registration_report(registration: Registration) -> list[str]:
    webhook = registration.webhook
    verb = "Created" if registration.created else "Updated"
    lines = [
        f"{verb} Pilot Status webhook {webhook.id}: {webhook.url}",
        f"  {'active' if webhook.active else 'paused'}; events: {', '.join(webhook.events) or 'none'}",
    ]
    if registration.duplicates:
        ids = ", ".join(w.id for w in registration.duplicates)
        lines.append(f"Note: {ids} also post to this URL; delete the extra ones in the Pilot Status dashboard.")
    lines.append(SECRET_REMINDER)
    return lines


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
