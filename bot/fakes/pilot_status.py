"""A fake Pilot Status HTTP API served by aiohttp on loopback, plus webhook-sending helpers.

Emulates the parts AskCall uses: call-permission request/probe, calling settings and webhook
management, with scriptable failures (status/body/delay/dropped connection). It can also play
the customer: :meth:`FakePilotStatus.customer_answers` sends a signed
``call.permission_updated`` webhook to the app.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import aiohttp
from aiohttp import web

from bot.fakes.server import LoopbackServer

__all__ = [
    "DAY",
    "WEEK",
    "FakePilotStatus",
    "PSRequest",
    "PermissionRequestRecord",
    "WebhookDelivery",
    "iso_timestamp",
    "permission_event",
    "send_webhook",
    "sign_pilot_status",
]

DAY = 24 * 3600
WEEK = 7 * DAY
E164_RE = re.compile(r"^\+\d{8,15}$")
PERMISSION_STATUSES = {"NO_PERMISSION": "no_permission", "TEMPORARY": "temporary", "PERMANENT": "permanent"}
DEFAULT_CALLING_SETTINGS: dict[str, Any] = {
    "status": "ENABLED",
    "call_icon_visibility": "DEFAULT",
    "callback_permission_status": "ENABLED",
    "call_hours": {"status": "DISABLED"},
}


@dataclass
class PSRequest:
    """One HTTP request received by :class:`FakePilotStatus`."""

    method: str
    path: str
    query: dict[str, str]
    json: Any  # parsed JSON body, or None
    headers: dict[str, str]  # names lower-cased
    at: float  # time.monotonic() when the request arrived
    status: int | None = None  # HTTP status answered (None: pending or connection dropped)


@dataclass
class PermissionRequestRecord:
    """A successful ``POST /v1/calls/permissions/request``."""

    to: str
    text: str | None
    message_id: str
    at: float  # fake.now() when accepted


@dataclass
class WebhookDelivery:
    """A webhook sent by :meth:`FakePilotStatus.customer_answers`."""

    url: str
    payload: dict[str, Any]
    status: int
    text: str


@dataclass
class _Script:
    status: int
    body: Any
    headers: dict[str, str] | None
    delay: float
    remaining: int
    drop: bool = False


_RECORD = web.RequestKey("ps_record", PSRequest)


# ---------------------------------------------------------------------- webhook helpers
def sign_pilot_status(body: bytes, secret: str) -> str:
    """``x-pilot-status-signature`` value: lowercase hex HMAC-SHA256 of the raw body."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def iso_timestamp(epoch: float | None = None) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``, e.g. ``2026-07-03T15:00:00.000Z``."""
    moment = datetime.fromtimestamp(time.time() if epoch is None else epoch, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def permission_event(
    customer: str,
    status: str,
    *,
    business: str = "5511888888888",
    timestamp: str | None = None,
) -> dict[str, Any]:
    """A flat ``call.permission_updated`` payload shaped like the SDK fixture (values verbatim)."""
    return {
        "event": "call.permission_updated",
        "callId": None,
        "direction": None,
        "status": status,
        "from": customer,
        "to": business,
        "timestamp": timestamp or iso_timestamp(),
    }


async def send_webhook(
    url: str,
    payload: dict[str, Any] | bytes,
    *,
    secret: str | None,
    signature: str | None = None,
) -> tuple[int, str]:
    """POST ``payload`` as JSON to ``url``; returns ``(status, response text)``.

    The ``x-pilot-status-signature`` header is ``signature`` when given, else computed from
    ``secret``; with both None no signature header is sent.
    """
    body = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["x-pilot-status-signature"] = signature
    elif secret is not None:
        headers["x-pilot-status-signature"] = sign_pilot_status(body, secret)
    timeout = aiohttp.ClientTimeout(total=30)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(url, data=body, headers=headers) as resp,
    ):
        return resp.status, await resp.text()


def _digits(phone: str) -> str:
    return phone.strip().removeprefix("+")


def _error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, "code": code, **extra}, status=status)


# ---------------------------------------------------------------------- the fake server
class FakePilotStatus(LoopbackServer):
    """In-process fake of the Pilot Status API endpoints AskCall uses."""

    def __init__(
        self,
        api_key: str = "ps_test",
        business_number: str = "5511888888888",
        webhook_secret: str = "whsec_test",
    ) -> None:
        self.api_key = api_key
        # More keys this fake answers to (other WhatsApp numbers of the same tenant sharing one fake).
        self.accepted_keys: set[str] = set()
        self.business_number = business_number
        self.webhook_secret = webhook_secret
        self.now: Callable[[], float] = time.time

        self.tenant_key = False
        self.enforce_limits = False
        self.provider_supported = True
        self.calling_settings: dict[str, Any] = json.loads(json.dumps(DEFAULT_CALLING_SETTINGS))

        self.requests: list[PSRequest] = []
        self.permission_requests: list[PermissionRequestRecord] = []
        self.permissions: dict[str, dict[str, Any]] = {}
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.deliveries: list[WebhookDelivery] = []

        self._scripts: dict[tuple[str, str], deque[_Script]] = {}
        self._message_counter = itertools.count(1)
        self._webhook_counter = itertools.count(1)

        super().__init__(self._build_app())

    # ------------------------------------------------------------------ lifecycle
    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_post("/v1/calls/permissions/request", self._permission_request)
        r.add_get("/v1/calls/permissions", self._permission_probe)
        r.add_get("/v1/calls/settings", self._get_settings)
        r.add_put("/v1/calls/settings", self._put_settings)
        r.add_get("/v1/webhooks", self._list_webhooks)
        r.add_post("/v1/webhooks", self._create_webhook)
        r.add_get("/v1/webhooks/{id}", self._get_webhook)
        r.add_patch("/v1/webhooks/{id}", self._patch_webhook)
        r.add_delete("/v1/webhooks/{id}", self._delete_webhook)
        r.add_route("*", "/{tail:.*}", self._not_found)
        return app

    # ------------------------------------------------------------------ scripting
    def script(
        self,
        method: str,
        path: str,
        *,
        status: int = 200,
        body: Any = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        times: int = 1,
    ) -> None:
        """Queue a canned answer for the next ``times`` ``method path`` requests.

        ``body``: dict/list -> JSON, str/bytes -> sent as is. ``body=None`` with status 200
        means "sleep ``delay`` then run the default behaviour"; ``body=None`` with another
        status answers that status with an empty body. Auth is not checked for scripted answers.
        """
        self._scripts.setdefault((method.upper(), path), deque()).append(
            _Script(status=status, body=body, headers=headers, delay=delay, remaining=times)
        )

    def clear_scripts(self) -> None:
        """Forget every scripted answer: the service is healthy again."""
        self._scripts.clear()

    def drop_connection_next(self, method: str, path: str, times: int = 1) -> None:
        """Close the connection without answering the next ``times`` matching requests."""
        self._scripts.setdefault((method.upper(), path), deque()).append(
            _Script(status=0, body=None, headers=None, delay=0.0, remaining=times, drop=True)
        )

    def _take_script(self, method: str, path: str) -> _Script | None:
        queue = self._scripts.get((method, path))
        if not queue:
            return None
        script = queue[0]
        script.remaining -= 1
        if script.remaining <= 0:
            queue.popleft()
        return script

    # ------------------------------------------------------------------ state helpers
    def requests_to(self, method: str, path: str) -> list[PSRequest]:
        return [r for r in self.requests if r.method == method.upper() and r.path == path]

    def set_permission(self, e164: str, status: str, expiration_time: int | None = None) -> None:
        """Set the permission state of a customer (``status`` in either case)."""
        normalized = PERMISSION_STATUSES.get(status.upper(), status.lower())
        if normalized not in PERMISSION_STATUSES.values():
            raise ValueError(f"unknown permission status {status!r}")
        state: dict[str, Any] = {"status": normalized}
        if expiration_time is not None:
            state["expiration_time"] = int(expiration_time)
        self.permissions["+" + _digits(e164)] = state

    def permission_usage(self, e164: str) -> tuple[int, int]:
        """Permission requests for the customer in the last 24 h and 7 days (per ``now()``)."""
        now = self.now()
        times = [r.at for r in self.permission_requests if r.to == "+" + _digits(e164)]
        return sum(1 for t in times if now - t < DAY), sum(1 for t in times if now - t < WEEK)

    def _limit_expiration(self, e164: str) -> int | None:
        """When the exhausted request limit(s) free up again (Unix seconds), else None."""
        now = self.now()
        times = sorted(r.at for r in self.permission_requests if r.to == "+" + _digits(e164))
        day = [t for t in times if now - t < DAY]
        week = [t for t in times if now - t < WEEK]
        candidates: list[float] = []
        if len(day) >= 1:  # 1 per 24 h: free once the newest one is older than 24 h
            candidates.append(day[-1] + DAY)
        if len(week) >= 2:  # 2 per 7 days: free once the second newest is older than 7 days
            candidates.append(week[-2] + WEEK)
        return int(max(candidates)) if candidates else None

    def _current_permission(self, e164: str) -> dict[str, Any]:
        state = dict(self.permissions.get(e164, {"status": "no_permission"}))
        expires = state.get("expiration_time")
        if state["status"] == "temporary" and expires is not None and expires <= self.now():
            return {"status": "no_permission"}
        return state

    # ------------------------------------------------------------------ customer emulation
    async def customer_answers(
        self,
        webhook_url: str,
        customer: str,
        status: str,
        *,
        timestamp: str | None = None,
    ) -> tuple[int, str]:
        """The customer answers the permission request: update state, send the signed webhook."""
        upper = status.upper()
        if upper not in PERMISSION_STATUSES:
            raise ValueError(f"unknown permission status {status!r}")
        digits = _digits(customer)
        expiration = int(self.now()) + WEEK if upper == "TEMPORARY" else None
        self.set_permission(digits, upper, expiration)
        payload = permission_event(
            digits, upper, business=self.business_number, timestamp=timestamp or iso_timestamp(self.now())
        )
        result = await send_webhook(webhook_url, payload, secret=self.webhook_secret)
        self.deliveries.append(WebhookDelivery(webhook_url, payload, result[0], result[1]))
        return result

    # ------------------------------------------------------------------ middleware
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        body: Any = None
        raw = await request.read() if request.can_read_body else b""
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        record = PSRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            json=body,
            headers={k.lower(): v for k, v in request.headers.items()},
            at=time.monotonic(),
        )
        self.requests.append(record)
        request[_RECORD] = record

        script = self._take_script(request.method, request.path)
        if script is not None:
            if script.drop:
                if request.transport is not None:
                    request.transport.abort()
                raise asyncio.CancelledError  # nothing to answer on a dead connection
            if script.delay > 0:
                await asyncio.sleep(script.delay)
            if script.body is not None or script.status != 200:
                response = self._scripted_response(script)
                record.status = response.status
                return response

        response = await self._default(request, handler)
        record.status = response.status
        return response

    @staticmethod
    def _scripted_response(script: _Script) -> web.Response:
        if isinstance(script.body, (dict, list)):
            return web.json_response(script.body, status=script.status, headers=script.headers)
        if isinstance(script.body, bytes):
            return web.Response(body=script.body, status=script.status, headers=script.headers)
        text = "" if script.body is None else str(script.body)
        return web.Response(text=text, status=script.status, headers=script.headers)

    async def _default(self, request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        key = request.headers.get("x-api-key")
        if key != self.api_key and key not in self.accepted_keys:
            return _error(401, "UNAUTHORIZED", "Unauthorized")
        if request.path.startswith("/v1/calls"):
            if self.tenant_key:
                return _error(403, "TENANT_SCOPE_NOT_ALLOWED", "This endpoint requires a number-scoped API key")
            if not self.provider_supported:
                return _error(400, "FEATURE_NOT_SUPPORTED", "Calling is only supported for Meta Cloud API numbers.")
        result: web.StreamResponse = await handler(request)
        return result

    # ------------------------------------------------------------------ handlers
    @staticmethod
    def _json_body(request: web.Request) -> dict[str, Any] | None:
        record = request[_RECORD]
        return record.json if isinstance(record.json, dict) else None

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        return _error(404, "NOT_FOUND", f"Route {request.method} {request.path} not found")

    async def _permission_request(self, request: web.Request) -> web.StreamResponse:
        body = self._json_body(request)
        if body is None:
            return _error(400, "VALIDATION_ERROR", "Body must be a JSON object")
        to, text = body.get("to"), body.get("text")
        if not isinstance(to, str) or not E164_RE.match(to):
            return _error(400, "VALIDATION_ERROR", "`to` must be an E.164 phone number, e.g. +5511999999999")
        if text is not None and not isinstance(text, str):
            return _error(400, "VALIDATION_ERROR", "`text` must be a string")
        if self.enforce_limits:
            day, week = self.permission_usage(to)
            if day >= 1 or week >= 2:
                return _error(400, "META_CALL_PERMISSION_REQUEST_LIMIT", "Meta limits apply")
        message_id = f"wamid.FAKE{next(self._message_counter)}"
        self.permission_requests.append(PermissionRequestRecord(to, text, message_id, self.now()))
        return web.json_response({"messageId": message_id})

    async def _permission_probe(self, request: web.Request) -> web.StreamResponse:
        to = request.query.get("to", "")
        if not E164_RE.match(to):
            return _error(400, "VALIDATION_ERROR", "`to` must be an E.164 phone number, e.g. +5511999999999")
        permission = self._current_permission(to)
        day, week = self.permission_usage(to)
        request_action: dict[str, Any] = {
            "action_name": "send_call_permission_request",
            "can_perform_action": day < 1 and week < 2,
            "limits": [
                {"time_period": "PT24H", "max_allowed": 1, "current_usage": day},
                {"time_period": "P7D", "max_allowed": 2, "current_usage": week},
            ],
        }
        limit_expiration = self._limit_expiration(to)
        if not request_action["can_perform_action"] and limit_expiration is not None:
            request_action["limit_expiration_time"] = limit_expiration
        start_call = {
            "action_name": "start_call",
            "can_perform_action": permission["status"] in ("temporary", "permanent"),
            "limits": [{"time_period": "PT24H", "max_allowed": 10, "current_usage": 0}],
        }
        return web.json_response({"permission": permission, "actions": [request_action, start_call]})

    async def _get_settings(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"calling": self.calling_settings})

    async def _put_settings(self, request: web.Request) -> web.StreamResponse:
        body = self._json_body(request)
        allowed = {"status", "call_icon_visibility", "callback_permission_status", "call_hours", "voicemail"}
        if body is None or not set(body) <= allowed:
            return _error(400, "VALIDATION_ERROR", f"Allowed keys: {sorted(allowed)}")
        self.calling_settings.update(body)
        return web.json_response({"success": True})

    async def _list_webhooks(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(list(self.webhooks.values()))

    async def _create_webhook(self, request: web.Request) -> web.StreamResponse:
        body = self._json_body(request)
        if body is None or not isinstance(body.get("url"), str) or not body["url"]:
            return _error(400, "VALIDATION_ERROR", "`url` is required")
        events = body.get("events", [])
        if not isinstance(events, list):
            return _error(400, "VALIDATION_ERROR", "`events` must be an array")
        stamp = iso_timestamp(self.now())
        webhook = {
            "id": f"wh_{next(self._webhook_counter)}",
            "tenantId": "tenant_fake",
            "name": body.get("name") or urlparse(body["url"]).hostname or body["url"],
            "url": body["url"],
            "environment": "LIVE",
            "active": True,
            "events": events,
            "createdAt": stamp,
            "updatedAt": stamp,
        }
        self.webhooks[webhook["id"]] = webhook
        return web.json_response(webhook, status=201)

    def _webhook_or_404(self, request: web.Request) -> dict[str, Any] | web.Response:
        webhook = self.webhooks.get(request.match_info["id"])
        if webhook is None:
            return _error(404, "WEBHOOK_NOT_FOUND", "Webhook not found")
        return webhook

    async def _get_webhook(self, request: web.Request) -> web.StreamResponse:
        found = self._webhook_or_404(request)
        return found if isinstance(found, web.Response) else web.json_response(found)

    async def _patch_webhook(self, request: web.Request) -> web.StreamResponse:
        found = self._webhook_or_404(request)
        if isinstance(found, web.Response):
            return found
        body = self._json_body(request)
        if body is None:
            return _error(400, "VALIDATION_ERROR", "Body must be a JSON object")
        for key in ("name", "url", "active", "events"):
            if key in body:
                found[key] = body[key]
        found["updatedAt"] = iso_timestamp(self.now())
        return web.json_response(found)

    async def _delete_webhook(self, request: web.Request) -> web.StreamResponse:
        found = self._webhook_or_404(request)
        if isinstance(found, web.Response):
            return found
        del self.webhooks[found["id"]]
        return web.json_response({"success": True})
