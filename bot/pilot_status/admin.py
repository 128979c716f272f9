"""Pilot Status calls used by the `askcall` admin commands and by connecting a number from Slack: calling settings
and webhook management.

Invariant of `register`: after it, the number has an active webhook posting to the URL that sends exactly the
events AskCall handles (`HANDLED_EVENTS`): a new one is created with that list, and an existing one is repaired with
one PATCH carrying the whole list (Pilot Status replaces the list, it never merges). One that needs nothing is left
alone.

Kept apart from :class:`bot.pilot_status.client.PilotStatusClient` (the request path) but maps
errors the same way, so callers branch on the same exception types. No retries: an admin sees
the failure at once and can run the command again (every command here is safe to repeat).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import httpx

from bot import __version__
from bot.pilot_status.client import _json_or_none, _retry_after
from bot.pilot_status.errors import NetworkError, UnexpectedResponseError, error_from_response
from bot.pilot_status.http import never_sent, new_http_client
from bot.pilot_status.webhooks import ALL_EVENTS, HANDLED_EVENTS

DEFAULT_NAME = "AskCall"


@dataclass(frozen=True)
class CallingSettings:
    """`GET /v1/calls/settings`: Meta's `calling` object for the key's number."""

    status: str
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.status == "ENABLED"


@dataclass(frozen=True)
class Webhook:
    id: str
    url: str
    name: str
    active: bool
    events: tuple[str, ...]

    @classmethod
    def from_json(cls, body: Any) -> Webhook:
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            raise UnexpectedResponseError("webhook object without an id", code="UNEXPECTED_RESPONSE")
        events = body.get("events")
        return cls(
            id=body["id"],
            url=str(body.get("url") or ""),
            name=str(body.get("name") or ""),
            active=bool(body.get("active")),
            events=tuple(str(e) for e in events) if isinstance(events, list) else (),
        )

    @property
    def missing_events(self) -> tuple[str, ...]:
        """The events AskCall handles that this webhook does not send (none when it is subscribed to `*`)."""
        if ALL_EVENTS in self.events:
            return ()
        return tuple(event for event in HANDLED_EVENTS if event not in self.events)


class PilotStatusAdmin:
    def __init__(
        self, *, base_url: str, api_key: str, timeout: float = 15.0, http: httpx.AsyncClient | None = None
    ) -> None:
        self._owns_http = http is None
        self._http = http or new_http_client(
            base_url=base_url, api_key=api_key, timeout=timeout, user_agent=f"askcall-admin/{__version__}"
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def get_calling_settings(self) -> CallingSettings:
        body = await self._call("GET", "/v1/calls/settings")
        calling = body.get("calling") if isinstance(body, dict) else None
        if not isinstance(calling, dict):
            raise UnexpectedResponseError("calling settings missing", code="UNEXPECTED_RESPONSE")
        return CallingSettings(status=str(calling.get("status") or "").upper(), raw=calling)

    async def list_webhooks(self) -> list[Webhook]:
        body = await self._call("GET", "/v1/webhooks")
        if isinstance(body, dict):  # tolerate an envelope around the documented flat array
            body = body.get("webhooks", body.get("data"))
        if not isinstance(body, list):
            raise UnexpectedResponseError("webhook list missing", code="UNEXPECTED_RESPONSE")
        return [Webhook.from_json(item) for item in body if isinstance(item, dict)]

    async def create_webhook(self, *, url: str, name: str, events: list[str]) -> Webhook:
        body = await self._call("POST", "/v1/webhooks", json={"url": url, "name": name, "events": events})
        return Webhook.from_json(body)

    async def update_webhook(self, webhook_id: str, **fields: Any) -> Webhook:
        """`PATCH /v1/webhooks/{id}` with any of `name`, `url`, `active`, `events` (events replace the list)."""
        body = await self._call("PATCH", f"/v1/webhooks/{webhook_id}", json=fields)
        return Webhook.from_json(body)

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            if never_sent(exc):
                raise NetworkError(f"could not reach Pilot Status ({type(exc).__name__})", code="NETWORK") from exc
            raise NetworkError(f"no answer from Pilot Status ({type(exc).__name__})", code="TIMEOUT") from exc
        body = _json_or_none(response.content)
        if response.is_success:
            if body is None:
                raise UnexpectedResponseError("response was not JSON", status=response.status_code)
            return body
        raise error_from_response(response.status_code, body, _retry_after(response.headers.get("retry-after")))


@dataclass(frozen=True)
class Registration:
    webhook: Webhook
    created: bool
    added: tuple[str, ...] = ()  # events the webhook did not send before
    removed: tuple[str, ...] = ()  # events (or `*`) it sent that AskCall doesn't handle
    turned_on: bool = False
    renamed: bool = False
    duplicates: list[Webhook] = field(default_factory=list)  # other webhooks with the same URL

    @property
    def changed(self) -> bool:
        return self.created or bool(self.added or self.removed or self.turned_on or self.renamed)


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


async def register(admin: PilotStatusAdmin, url: str, name: str | None = None) -> Registration:
    """Repair the webhook that already posts to `url` (active, exactly the handled events), or create one."""
    existing = [w for w in await admin.list_webhooks() if _same_url(w.url, url)]
    if not existing:
        webhook = await admin.create_webhook(url=url, name=name or DEFAULT_NAME, events=list(HANDLED_EVENTS))
        return Registration(webhook, created=True, added=HANDLED_EVENTS)
    first = existing[0]
    fields: dict[str, object] = {}
    # `*` sends the handled events too, and every other one (AskCall stores those only to ignore them).
    added = () if ALL_EVENTS in first.events else tuple(e for e in HANDLED_EVENTS if e not in first.events)
    removed = tuple(event for event in first.events if event not in HANDLED_EVENTS)
    if added or removed:
        fields["events"] = list(HANDLED_EVENTS)  # the whole list: PATCH replaces it
    if not first.active:
        fields["active"] = True
    if name and name != first.name:
        fields["name"] = name
    webhook = await admin.update_webhook(first.id, **fields) if fields else first
    return Registration(
        webhook,
        created=False,
        added=added,
        removed=removed,
        turned_on="active" in fields,
        renamed="name" in fields,
        duplicates=existing[1:],
    )
