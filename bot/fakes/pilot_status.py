"""A fake Pilot Status HTTP API served by aiohttp on loopback, plus webhook-sending helpers.

Emulates the parts AskCall uses: call-permission request/probe, calling settings and webhook
management, with scriptable failures (status/body/delay/dropped connection). It can also play
the customer: :meth:`FakePilotStatus.customer_answers` sends a signed
``call.permission_updated`` webhook to the app.

Calls (Meta numbers): ``POST /v1/calls`` takes the business's WebRTC offer, and the customer's
phone, played with aiortc by :mod:`bot.fakes.whatsapp_peer` (imported only when a call starts,
so ``askcall demo`` runs without the test extra), rings, then answers, rejects or never picks up
as :attr:`FakePilotStatus.call_behaviour` says; ``GET /v1/calls/{id}?includeSdp=1`` shows the
answer SDP once answered; ``GET /v1/calls`` lists them newest first;
``POST /v1/calls/{id}/terminate`` hangs up. Each step sends a flat, signed ``call.*`` webhook to
every active webhook subscribed to it (:meth:`FakePilotStatus.subscribe`).
Invariant: one task per call is the only sender of that call's webhooks, so they arrive in order
(``call.ringing`` → ``call.connected`` → ``call.ended``, or ``call.missed``), exactly one final
event per call, and ``call.ended`` carries ``duration`` only when the customer answered.
A web (EVO_GO) number (its key in :attr:`FakePilotStatus.web_keys`) gets ``400 FEATURE_NOT_SUPPORTED`` from the
Meta-only calls endpoints. What Pilot Status does with a WebRTC offer on a web number is not documented (web numbers
start calls without an SDP): :attr:`FakePilotStatus.web_calls` says, either refused (``400 FEATURE_NOT_SUPPORTED``,
the default) or accepted with the offer dropped (the call rings, ``sdpOffer``/``sdpAnswer`` stay null).

Realistic by default, with opt-outs for tests (constructor arguments): Meta's limits on permission requests (1 per
24 h, 2 per 7 days per customer: ``META_CALL_PERMISSION_REQUEST_LIMIT``) and the 24-hour customer-service window (a
customer who has not written in 24 h, :meth:`FakePilotStatus.customer_writes`, can't be sent one:
``FLOW_WINDOW_CLOSED``, the SDK's code). "The customer answers" is one operation
(:meth:`FakePilotStatus.customer_answers`): the probe changes and the signed webhook goes out. Every webhook that
gets no 2xx (or no answer within :attr:`FakePilotStatus.delivery_timeout`) is delivered again after the delays of
:attr:`FakePilotStatus.redelivery_delays` (the real schedule is not documented), the same bytes each time.
Where the vendor documents no behaviour the fake picks the strict one and says so below.

Accounts: like the real API, everything is scoped per API key (one number): webhooks and their signing secret,
permissions, permission requests and Meta's limits, 24-hour windows, calls, calling settings, the business number.
Each key has one :class:`PilotAccount` (the constructor's ``api_key`` the default one, whose state the fake's
single-account attributes are; :meth:`FakePilotStatus.add_account` adds more). Invariant: a request acts only on its
key's account (another account's webhook or call is a 404, as outside the key's scope), and an account's webhooks get
only its own customers' events, signed with its own secret. ``accepted_keys`` and ``web_keys`` are more keys of the
default account.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import hmac
import itertools
import json
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import aiohttp
from aiohttp import web

from bot.fakes.server import LoopbackServer

if TYPE_CHECKING:
    from bot.fakes.whatsapp_peer import WhatsAppPeer

__all__ = [
    "DAY",
    "REDELIVERY_DELAYS",
    "WEEK",
    "CallBehaviour",
    "FakeCall",
    "FakePilotStatus",
    "PSRequest",
    "PermissionRequestRecord",
    "PilotAccount",
    "WebCalls",
    "WebhookDelivery",
    "call_event",
    "iso_timestamp",
    "permission_event",
    "send_webhook",
    "sign_pilot_status",
]

DAY = 24 * 3600
WEEK = 7 * DAY
E164_RE = re.compile(r"^\+\d{8,15}$")
PERMISSION_STATUSES = {"NO_PERMISSION": "no_permission", "TEMPORARY": "temporary", "PERMANENT": "permanent"}
# Redeliveries of a webhook that got no 2xx: after these delays (seconds), then given up. Pilot Status documents
# that it retries, not how: this is the fake's choice (a test may shorten it).
REDELIVERY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0)
DELIVERY_TIMEOUT = 10.0  # an attempt unanswered this long counts as failed


class WebCalls(enum.StrEnum):
    """What a web (EVO_GO) number does with a start carrying a WebRTC offer (not documented)."""

    REFUSE = "refuse"  # 400 FEATURE_NOT_SUPPORTED
    ACCEPT = "accept"  # started, the offer dropped: media stays on Pilot Status's side, no answer SDP ever


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
    connection: int = 0  # the client's port: requests with the same one came over the same TCP connection


@dataclass
class PermissionRequestRecord:
    """A successful ``POST /v1/calls/permissions/request``."""

    to: str
    text: str | None
    message_id: str
    at: float  # fake.now() when accepted


@dataclass
class WebhookDelivery:
    """One attempt at delivering a webhook (``status`` 0: no answer, or the connection failed)."""

    url: str
    payload: dict[str, Any]
    status: int
    text: str
    attempt: int = 1  # 1 for the first delivery, 2 for the first redelivery, …

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class CallBehaviour:
    """How the fake customer handles a business-initiated call (set before the call starts).

    Times are real seconds. ``answer_after=None`` (or not below ``ring_timeout``) means the phone
    rings until ``ring_timeout`` and the call is missed.
    """

    ring_after: float = 0.05  # INITIATED -> RINGING (call.ringing)
    answer_after: float | None = 0.2  # seconds of ringing before the customer picks up
    reject: bool = False  # the customer declines (call.ended REJECTED) instead of picking up
    ring_timeout: float = 30.0  # unanswered this long -> call.missed
    hang_up_after: float | None = None  # the customer hangs up this long after picking up
    media_timeout: float = 10.0  # picked up but no WebRTC connection this long -> call.ended FAILED
    tone_hz: float = 440.0  # what the customer's phone plays


@dataclass
class FakeCall:
    """One business-initiated call as the fake knows it."""

    id: str
    external_id: str
    to: str  # customer, E.164 with '+'
    sdp_offer: str | None  # None on a web number: it keeps no offer
    behaviour: CallBehaviour
    biz_opaque: str | None
    created_at: float  # fake.now()
    status: str = "INITIATED"
    updated_at: float = 0.0
    sdp_answer: str | None = None
    connected_at: float | None = None  # when the customer picked up
    ended_at: float | None = None
    duration: int | None = None  # whole seconds, only when the customer picked up
    error_code: str | None = None
    error_message: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)  # call.* payloads sent, in order
    peer: WhatsAppPeer | None = None
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def end(self, status: str, at: float, *, error: tuple[str, str] | None = None) -> bool:
        """Move to the final ``status`` unless already ended; True when this call did it."""
        if self.ended_at is not None:
            return False
        self.status, self.ended_at, self.updated_at = status, at, at
        if self.connected_at is not None:
            self.duration = max(0, round(at - self.connected_at))
        if error is not None:
            self.error_code, self.error_message = error
        return True

    async def lasts(self, seconds: float | None) -> bool:
        """Wait ``seconds`` (None: for ever); False as soon as the call has ended (e.g. the business hung up)."""
        if self.ended_at is not None:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.hung_up.wait(), seconds)
        return self.ended_at is None

    def dto(self, business: str, *, include_sdp: bool) -> dict[str, Any]:
        """The SDK's ``CallDetails`` shape (phones as digits, no '+')."""
        body: dict[str, Any] = {
            "id": self.id,
            "externalCallId": self.external_id,
            "direction": "OUTBOUND",
            "status": self.status,
            "peerNumber": _digits(self.to),
            "fromNumber": business,
            "conversationId": None,
            "bizOpaqueCallbackData": self.biz_opaque,
            "startedAt": iso_timestamp(self.created_at),
            "connectedAt": _iso_or_none(self.connected_at),
            "endedAt": _iso_or_none(self.ended_at),
            "durationSeconds": self.duration,
            "errorCode": self.error_code,
            "errorMessage": self.error_message,
            "createdAt": iso_timestamp(self.created_at),
            "updatedAt": iso_timestamp(self.updated_at or self.created_at),
        }
        if include_sdp:
            body["sdpOffer"], body["sdpAnswer"] = self.sdp_offer, self.sdp_answer
        return body


@dataclass
class _Script:
    status: int
    body: Any
    headers: dict[str, str] | None
    delay: float
    remaining: int
    drop: bool = False  # close the connection without handling the request
    lose_answer: bool = False  # handle it (the call is made), then close the connection instead of answering
    act_first: bool = False  # handle it (the message goes out), then answer the scripted status instead


_RECORD = web.RequestKey("ps_record", PSRequest)
_ACCOUNT: web.RequestKey[PilotAccount] = web.RequestKey("ps_account", "PilotAccount")


def _meta_only(request: web.Request, web_calls: WebCalls) -> bool:
    """Calls endpoints a web (EVO_GO) number refuses: permissions and settings (Meta-only, documented), and, as
    `web_calls` says, a start (web numbers take no SDP; what they do with one is not documented)."""
    if request.path.startswith(("/v1/calls/permissions", "/v1/calls/settings")):
        return True
    return request.method == "POST" and request.path == "/v1/calls" and web_calls is WebCalls.REFUSE


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


def call_event(
    event: str,
    call_id: str,
    status: str,
    *,
    customer: str,
    business: str = "5511888888888",
    external_call_id: str | None = None,
    timestamp: str | None = None,
    duration: int | None = None,
) -> dict[str, Any]:
    """A flat outbound ``call.*`` payload shaped like the SDK's ``call.ended`` fixture.

    ``from`` is the business and ``to`` the customer, both digits without '+'; ``duration`` is
    present only when given (the call was answered).
    """
    payload: dict[str, Any] = {
        "event": event,
        "callId": call_id,
        "externalCallId": external_call_id,
        "direction": "OUTBOUND",
        "status": status,
        "from": _digits(business),
        "to": _digits(customer),
        "timestamp": timestamp or iso_timestamp(),
    }
    if duration is not None:
        payload["duration"] = duration
    return payload


async def send_webhook(
    url: str,
    payload: dict[str, Any] | bytes,
    *,
    secret: str | None,
    signature: str | None = None,
    timeout: float = 30.0,  # noqa: ASYNC109
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
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
        session.post(url, data=body, headers=headers) as resp,
    ):
        return resp.status, await resp.text()


def _client_port(request: web.Request) -> int:
    peer = request.transport.get_extra_info("peername") if request.transport is not None else None
    return int(peer[1]) if isinstance(peer, tuple) and len(peer) >= 2 else 0


def _digits(phone: str) -> str:
    return phone.strip().removeprefix("+")


def _iso_or_none(epoch: float | None) -> str | None:
    return None if epoch is None else iso_timestamp(epoch)


def _error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, "code": code, **extra}, status=status)


def _offer_problem(sdp: str) -> str | None:
    """Why ``sdp`` is not an offer Meta takes, or None.

    Meta asks the business side to be the DTLS client (``a=setup:active``); what Pilot Status
    answers to another value is not documented, so the fake refuses it outright.
    """
    lines = sdp.replace("\r\n", "\n").split("\n")
    if lines[0].strip() != "v=0" or not any(line.startswith("m=audio ") for line in lines):
        return "`sdp` must be an SDP offer (v=0) with an audio section"
    setups = {line.strip() for line in lines if line.startswith("a=setup:")}
    if setups != {"a=setup:active"}:
        return "`sdp` must say a=setup:active (the business side is the DTLS client)"
    return None


# ---------------------------------------------------------------------- the fake server
def _default_attribute(name: str) -> property:
    """An attribute of the fake that is its default account's (read and set)."""

    def get(fake: FakePilotStatus) -> Any:
        return getattr(fake.default, name)

    def set_(fake: FakePilotStatus, value: Any) -> None:
        setattr(fake.default, name, value)

    return property(get, set_, doc=f"The default account's ``{name}``.")


class PilotAccount:
    """One Pilot Status account (one number-scoped API key): everything the real API scopes per key.

    Its webhooks and their signing secret, its customers' permissions and permission requests (and Meta's limits on
    them), their 24-hour windows, its calls, its calling settings and its business number. A request made with this
    account's key sees and changes only these; a customer of this number answers only to this account's webhooks,
    signed with this account's secret. Created by :meth:`FakePilotStatus.add_account` (the fake's constructor makes
    the default one, whose key is ``api_key``).
    """

    def __init__(self, fake: FakePilotStatus, api_key: str, business_number: str, webhook_secret: str) -> None:
        self._fake = fake
        self.api_key = api_key
        self.business_number = business_number
        self.webhook_secret = webhook_secret
        self.tenant_id = f"tenant_fake_{business_number}"
        self.calling_settings: dict[str, Any] = json.loads(json.dumps(DEFAULT_CALLING_SETTINGS))
        self.last_message_at: dict[str, float] = {}  # customer (E.164) -> when they last wrote to the business
        self.permission_requests: list[PermissionRequestRecord] = []
        self.permissions: dict[str, dict[str, Any]] = {}
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.deliveries: list[WebhookDelivery] = []  # this account's webhooks' delivery attempts
        self.call_behaviour = CallBehaviour()  # applies to calls started from now on
        self.calls: dict[str, FakeCall] = {}

    def now(self) -> float:
        return self._fake.now()

    @property
    def requests(self) -> list[PSRequest]:
        """The requests made with this account's key (the default account: with any key it answers to)."""
        return [r for r in self._fake.requests if self._fake.account_for(r.headers.get("x-api-key")) is self]

    def requests_to(self, method: str, path: str) -> list[PSRequest]:
        return [r for r in self.requests if r.method == method.upper() and r.path == path]

    def script(self, method: str, path: str, **kwargs: Any) -> None:
        """:meth:`FakePilotStatus.script` for requests made with this account's key only."""
        self._fake.script(method, path, key=self.api_key, **kwargs)

    def set_permission(self, e164: str, status: str, expiration_time: int | None = None) -> None:
        """Set the permission state of a customer (``status`` in either case)."""
        normalized = PERMISSION_STATUSES.get(status.upper(), status.lower())
        if normalized not in PERMISSION_STATUSES.values():
            raise ValueError(f"unknown permission status {status!r}")
        state: dict[str, Any] = {"status": normalized}
        if expiration_time is not None:
            state["expiration_time"] = int(expiration_time)
        self.permissions["+" + _digits(e164)] = state

    def customer_writes(self, e164: str, at: float | None = None) -> None:
        """The customer writes to the business (at ``at``, default now): their 24-hour window opens."""
        self.last_message_at["+" + _digits(e164)] = self.now() if at is None else at

    def window_open(self, e164: str) -> bool:
        """Whether the customer wrote within the last 24 h (per ``now()``): a permission request may be sent."""
        wrote = self.last_message_at.get("+" + _digits(e164))
        return wrote is not None and self.now() - wrote < DAY

    def request_times(self, e164: str) -> list[float]:
        """When the customer was sent a permission request, oldest first (the one scan of the requests: a subclass
        may index them)."""
        return sorted(r.at for r in self.permission_requests if r.to == "+" + _digits(e164))

    def permission_usage(self, e164: str) -> tuple[int, int]:
        """Permission requests for the customer in the last 24 h and 7 days (per ``now()``)."""
        now, times = self.now(), self.request_times(e164)
        return sum(1 for t in times if now - t < DAY), sum(1 for t in times if now - t < WEEK)

    def limit_expiration(self, e164: str) -> int | None:
        """When the exhausted request limit(s) free up again (Unix seconds), else None."""
        now, times = self.now(), self.request_times(e164)
        day = [t for t in times if now - t < DAY]
        week = [t for t in times if now - t < WEEK]
        candidates: list[float] = []
        if len(day) >= 1:  # 1 per 24 h: free once the newest one is older than 24 h
            candidates.append(day[-1] + DAY)
        if len(week) >= 2:  # 2 per 7 days: free once the second newest is older than 7 days
            candidates.append(week[-2] + WEEK)
        return int(max(candidates)) if candidates else None

    def current_permission(self, e164: str) -> dict[str, Any]:
        state = dict(self.permissions.get(e164, {"status": "no_permission"}))
        expires = state.get("expiration_time")
        if state["status"] == "temporary" and expires is not None and expires <= self.now():
            return {"status": "no_permission"}
        return state

    def new_webhook(self, url: str, events: list[str], name: str | None = None) -> dict[str, Any]:
        """Register a webhook of this account (the fake's ids are unique across accounts)."""
        stamp = iso_timestamp(self.now())
        webhook = {
            "id": self._fake.next_webhook_id(),
            "tenantId": self.tenant_id,
            "name": name or urlparse(url).hostname or url,
            "url": url,
            "environment": "LIVE",
            "active": True,
            "events": list(events),
            "createdAt": stamp,
            "updatedAt": stamp,
        }
        self.webhooks[webhook["id"]] = webhook
        return webhook

    def subscribe(self, url: str, events: list[str] | None = None) -> dict[str, Any]:
        """Register a webhook as ``POST /v1/webhooks`` would (default: every event)."""
        return self.new_webhook(url, ["*"] if events is None else list(events))

    def subscribers(self, event: str) -> list[str]:
        return [
            hook["url"]
            for hook in self.webhooks.values()
            if hook["active"] and ("*" in hook["events"] or event in hook["events"])
        ]

    def find_call(self, call_id: str) -> FakeCall | None:
        """One of this account's calls by its Pilot Status id or its provider (``wacid``) id."""
        found = self.calls.get(call_id)
        return found or next((c for c in self.calls.values() if c.external_id == call_id), None)

    async def customer_answers(
        self,
        webhook_url: str | None,
        customer: str,
        status: str,
        *,
        timestamp: str | None = None,
        expiration_time: int | None = None,
        secret: str | None = None,
    ) -> tuple[int, str]:
        """A customer of this number answers the permission request, as one operation: the probe (with this key)
        says so from now on (a TEMPORARY grant for 7 days, unless ``expiration_time``), and the
        ``call.permission_updated`` signed with this account's secret goes to ``webhook_url`` (None: every webhook
        of this account subscribed to it), redelivered until it gets a 2xx. Returns the first attempt's
        (status, text) (of the first subscriber)."""
        upper = status.upper()
        if upper not in PERMISSION_STATUSES:
            raise ValueError(f"unknown permission status {status!r}")
        digits = _digits(customer)
        if upper == "TEMPORARY" and expiration_time is None:
            expiration_time = int(self.now()) + WEEK
        self.set_permission(digits, upper, expiration_time if upper == "TEMPORARY" else None)
        payload = permission_event(
            digits, upper, business=self.business_number, timestamp=timestamp or iso_timestamp(self.now())
        )
        urls = [webhook_url] if webhook_url is not None else self.subscribers("call.permission_updated")
        results = [await self._fake.deliver(url, payload, secret, account=self) for url in urls]
        return results[0] if results else (0, "no webhook subscribed")


class FakePilotStatus(LoopbackServer):
    """In-process fake of the Pilot Status API endpoints AskCall uses."""

    account_type: type[PilotAccount] = PilotAccount  # what the default account and added ones are

    def __init__(
        self,
        api_key: str = "ps_test",
        business_number: str = "5511888888888",
        webhook_secret: str = "whsec_test",
        *,
        limits: bool = True,
        window: bool = True,
        web_calls: WebCalls = WebCalls.REFUSE,
        redelivery_delays: tuple[float, ...] = REDELIVERY_DELAYS,
    ) -> None:
        self.now: Callable[[], float] = time.time
        self.requests: list[PSRequest] = []
        # Requests being answered now, and the most there ever were at once.
        self.in_flight = 0
        self.most_in_flight = 0
        self.deliveries: list[WebhookDelivery] = []  # every account's
        self._message_counter = itertools.count(1)
        self._webhook_counter = itertools.count(1)
        self._call_counter = itertools.count(1)
        # The account of `api_key`; the attributes below (business_number, webhooks, calls, …) are its.
        self.default = self.account_type(self, api_key, business_number, webhook_secret)
        self.default.tenant_id = "tenant_fake"
        # More keys the default account answers to (other WhatsApp numbers of the same tenant sharing one world).
        self.accepted_keys: set[str] = set()
        self._accounts: dict[str, PilotAccount] = {}  # added accounts, by key

        self.tenant_key = False
        # Meta's limits on permission requests, and the 24-hour window (opt-outs for tests that test neither).
        self.enforce_limits = limits
        self.enforce_window = window
        self.provider_supported = True
        # Keys of web (EVO_GO) numbers: their media stays on Pilot Status's side, so they take no WebRTC offer.
        self.web_keys: set[str] = set()
        self.web_calls = web_calls
        self.redelivery_delays = redelivery_delays
        self.delivery_timeout = DELIVERY_TIMEOUT
        self._redeliveries: set[asyncio.Task[None]] = set()

        self._scripts: dict[tuple[str, str, str | None], deque[_Script]] = {}

        super().__init__(self._build_app())

    # ------------------------------------------------------------------ lifecycle
    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_post("/v1/calls/permissions/request", self._permission_request)
        r.add_get("/v1/calls/permissions", self._permission_probe)
        r.add_get("/v1/calls/settings", self._get_settings)
        r.add_put("/v1/calls/settings", self._put_settings)
        r.add_post("/v1/calls", self._start_call)
        r.add_get("/v1/calls", self._list_calls)
        r.add_get("/v1/calls/{id}", self._get_call)
        r.add_post("/v1/calls/{id}/terminate", self._terminate_call)
        r.add_get("/v1/webhooks", self._list_webhooks)
        r.add_post("/v1/webhooks", self._create_webhook)
        r.add_get("/v1/webhooks/{id}", self._get_webhook)
        r.add_patch("/v1/webhooks/{id}", self._patch_webhook)
        r.add_delete("/v1/webhooks/{id}", self._delete_webhook)
        r.add_route("*", "/{tail:.*}", self._not_found)
        return app

    async def stop(self) -> None:
        """Hang up every call still running and give up redeliveries (no more webhooks), then stop serving."""
        calls = [call for account in self.accounts for call in account.calls.values()]
        tasks = [call.task for call in calls if call.task is not None and not call.task.done()]
        tasks += [task for task in self._redeliveries if not task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await super().stop()

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
        key: str | None = None,
    ) -> None:
        """Queue a canned answer for the next ``times`` ``method path`` requests (with ``key``: only requests made
        with that API key, before any script for every key).

        ``body``: dict/list -> JSON, str/bytes -> sent as is. ``body=None`` with status 200
        means "sleep ``delay`` then run the default behaviour"; ``body=None`` with another
        status answers that status with an empty body. Auth is not checked for scripted answers.
        """
        self._queue(method, path, key).append(
            _Script(status=status, body=body, headers=headers, delay=delay, remaining=times)
        )

    def clear_scripts(self) -> None:
        """Forget every scripted answer: the service is healthy again."""
        self._scripts.clear()

    def _queue(self, method: str, path: str, key: str | None) -> deque[_Script]:
        return self._scripts.setdefault((method.upper(), path, key), deque())

    def drop_connection_next(self, method: str, path: str, times: int = 1, *, key: str | None = None) -> None:
        """Close the connection without answering the next ``times`` matching requests."""
        self._queue(method, path, key).append(
            _Script(status=0, body=None, headers=None, delay=0.0, remaining=times, drop=True)
        )

    def lose_answer_next(self, method: str, path: str, times: int = 1, *, key: str | None = None) -> None:
        """Handle the next ``times`` matching requests (a POST /v1/calls does ring), then close the connection
        without answering: the client can't know whether it happened."""
        self._queue(method, path, key).append(
            _Script(status=0, body=None, headers=None, delay=0.0, remaining=times, lose_answer=True)
        )

    def act_then_fail_next(
        self, method: str, path: str, *, status: int = 503, body: Any = None, times: int = 1, key: str | None = None
    ) -> None:
        """Handle the next ``times`` matching requests (a permission request does go out to the customer), then
        answer ``status`` (with ``body``) instead of the result: a gateway's 502/504, or an ``UPSTREAM_TIMEOUT``
        that came after Meta sent the message."""
        self._queue(method, path, key).append(
            _Script(status=status, body=body, headers=None, delay=0.0, remaining=times, act_first=True)
        )

    def _take_script(self, method: str, path: str, key: str | None) -> _Script | None:
        """The next script for this key's requests, else for any key's."""
        queue = self._scripts.get((method, path, key)) if key is not None else None
        if not queue:
            queue = self._scripts.get((method, path, None))
        if not queue:
            return None
        script = queue[0]
        script.remaining -= 1
        if script.remaining <= 0:
            queue.popleft()
        return script

    # ------------------------------------------------------------------ accounts
    def add_account(
        self, api_key: str, business_number: str, webhook_secret: str, *, tenant_id: str | None = None
    ) -> PilotAccount:
        """Another Pilot Status account (number) on this fake, answering to ``api_key`` only: its own webhooks,
        secret, permissions, limits and calls, invisible to every other key."""
        if self.account_for(api_key) is not None:
            raise ValueError("that key already has an account on this fake")
        account = self.account_type(self, api_key, business_number, webhook_secret)
        if tenant_id is not None:
            account.tenant_id = tenant_id
        self._accounts[api_key] = account
        return account

    def account_for(self, key: str | None) -> PilotAccount | None:
        """The account a key acts on, or None (the fake answers 401)."""
        if key is None:
            return None
        if key in self._accounts:
            return self._accounts[key]
        if key == self.default.api_key or key in self.accepted_keys:
            return self.default
        return None

    @property
    def accounts(self) -> list[PilotAccount]:
        """The default account, then the added ones."""
        return [self.default, *self._accounts.values()]

    def next_webhook_id(self) -> str:
        return f"wh_{next(self._webhook_counter)}"

    # The default account's state, as attributes of the fake (the single-account API).
    api_key = _default_attribute("api_key")
    business_number = _default_attribute("business_number")
    webhook_secret = _default_attribute("webhook_secret")
    calling_settings = _default_attribute("calling_settings")
    last_message_at = _default_attribute("last_message_at")
    permission_requests = _default_attribute("permission_requests")
    permissions = _default_attribute("permissions")
    webhooks = _default_attribute("webhooks")
    call_behaviour = _default_attribute("call_behaviour")
    calls = _default_attribute("calls")

    # ------------------------------------------------------------------ state helpers (the default account's)
    def requests_to(self, method: str, path: str) -> list[PSRequest]:
        """Requests to ``method path`` with any key."""
        return [r for r in self.requests if r.method == method.upper() and r.path == path]

    # Each of these is the default account's method (see :class:`PilotAccount`).
    @property
    def set_permission(self) -> Callable[..., None]:
        return self.default.set_permission

    @property
    def customer_writes(self) -> Callable[..., None]:
        return self.default.customer_writes

    @property
    def window_open(self) -> Callable[[str], bool]:
        return self.default.window_open

    @property
    def permission_usage(self) -> Callable[[str], tuple[int, int]]:
        return self.default.permission_usage

    @property
    def subscribe(self) -> Callable[..., dict[str, Any]]:
        return self.default.subscribe

    @property
    def find_call(self) -> Callable[[str], FakeCall | None]:
        return self.default.find_call

    @property
    def customer_answers(self) -> Callable[..., Awaitable[tuple[int, str]]]:
        return self.default.customer_answers

    # ------------------------------------------------------------------ middleware
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await self._record_and_answer(request, handler)
        finally:
            self.in_flight -= 1

    async def _record_and_answer(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
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
            connection=_client_port(request),
        )
        self.requests.append(record)
        request[_RECORD] = record

        script = self._take_script(request.method, request.path, request.headers.get("x-api-key"))
        if script is not None:
            if script.lose_answer:
                record.status = (await self._default(request, handler)).status
                if request.transport is not None:
                    request.transport.abort()
                raise asyncio.CancelledError  # the answer is lost with the connection
            if script.drop:
                if request.transport is not None:
                    request.transport.abort()
                raise asyncio.CancelledError  # nothing to answer on a dead connection
            if script.act_first:
                await self._default(request, handler)  # it happened; the caller is told otherwise
                response = self._scripted_response(script)
                record.status = response.status
                return response
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
        account = self.account_for(key)
        if account is None:
            return _error(401, "UNAUTHORIZED", "Unauthorized")
        request[_ACCOUNT] = account
        if request.path.startswith("/v1/calls"):
            if self.tenant_key:
                return _error(403, "TENANT_SCOPE_NOT_ALLOWED", "This endpoint requires a number-scoped API key")
            if not self.provider_supported:
                return _error(400, "FEATURE_NOT_SUPPORTED", "Calling is only supported for Meta Cloud API numbers.")
            if key in self.web_keys and _meta_only(request, self.web_calls):
                return _error(
                    400, "FEATURE_NOT_SUPPORTED", "This endpoint is only supported for Meta Cloud API numbers."
                )
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
        account = request[_ACCOUNT]
        if self.enforce_window and not account.window_open(to):
            # Which HTTP status and code Pilot Status answers here is not documented: the SDK's code, and 400.
            return _error(400, "FLOW_WINDOW_CLOSED", "The customer has not written in the last 24 hours")
        if self.enforce_limits:
            day, week = account.permission_usage(to)
            if day >= 1 or week >= 2:
                return _error(400, "META_CALL_PERMISSION_REQUEST_LIMIT", "Meta limits apply")
        message_id = f"wamid.FAKE{next(self._message_counter)}"
        account.permission_requests.append(PermissionRequestRecord(to, text, message_id, self.now()))
        return web.json_response({"messageId": message_id})

    async def _permission_probe(self, request: web.Request) -> web.StreamResponse:
        to = request.query.get("to", "")
        if not E164_RE.match(to):
            return _error(400, "VALIDATION_ERROR", "`to` must be an E.164 phone number, e.g. +5511999999999")
        account = request[_ACCOUNT]
        permission = account.current_permission(to)
        day, week = account.permission_usage(to)
        request_action: dict[str, Any] = {
            "action_name": "send_call_permission_request",
            "can_perform_action": day < 1 and week < 2,
            "limits": [
                {"time_period": "PT24H", "max_allowed": 1, "current_usage": day},
                {"time_period": "P7D", "max_allowed": 2, "current_usage": week},
            ],
        }
        limit_expiration = account.limit_expiration(to)
        if not request_action["can_perform_action"] and limit_expiration is not None:
            request_action["limit_expiration_time"] = limit_expiration
        start_call = {
            "action_name": "start_call",
            "can_perform_action": permission["status"] in ("temporary", "permanent"),
            "limits": [{"time_period": "PT24H", "max_allowed": 10, "current_usage": 0}],
        }
        return web.json_response({"permission": permission, "actions": [request_action, start_call]})

    async def _start_call(self, request: web.Request) -> web.StreamResponse:
        body = self._json_body(request)
        if body is None:
            return _error(400, "VALIDATION_ERROR", "Body must be a JSON object")
        to, sdp, opaque = body.get("to"), body.get("sdp"), body.get("bizOpaqueCallbackData")
        if not isinstance(to, str) or not E164_RE.match(to):
            return _error(400, "VALIDATION_ERROR", "`to` must be an E.164 phone number, e.g. +5511999999999")
        if opaque is not None and not isinstance(opaque, str):
            return _error(400, "VALIDATION_ERROR", "`bizOpaqueCallbackData` must be a string")
        account = request[_ACCOUNT]
        if request.headers.get("x-api-key") in self.web_keys:  # web_calls is ACCEPT: the middleware refused others
            return self._started(account, FakeCall(**self._new_call(account, to, None, opaque)))
        if not isinstance(sdp, str) or not sdp.strip():
            return _error(400, "VALIDATION_ERROR", "`sdp` (the WebRTC offer) is required on Meta numbers")
        if body.get("sdpType", "offer") != "offer":
            return _error(400, "VALIDATION_ERROR", '`sdpType` must be "offer"')
        problem = _offer_problem(sdp)
        if problem is not None:
            return _error(400, "VALIDATION_ERROR", problem)
        if account.current_permission(to)["status"] not in ("temporary", "permanent"):
            return _error(
                400, "META_CALL_PERMISSION_REQUIRED", "(#138006) The user has not granted permission to be called"
            )
        try:
            import bot.fakes.whatsapp_peer  # noqa: F401  (the customer's phone needs aiortc)
        except ImportError:
            return _error(503, "FAKE_NEEDS_AIORTC", "The fake's calls need aiortc: pip install -e '.[test]'")
        return self._started(account, FakeCall(**self._new_call(account, to, sdp, opaque)))

    def _new_call(self, account: PilotAccount, to: str, sdp: str | None, opaque: str | None) -> dict[str, Any]:
        number, now = next(self._call_counter), self.now()
        return {
            "id": f"call_FAKE{number}",
            "external_id": f"wacid.FAKE{number}",
            "to": to,
            "sdp_offer": sdp,
            "behaviour": account.call_behaviour,
            "biz_opaque": opaque,
            "created_at": now,
            "updated_at": now,
        }

    def _started(self, account: PilotAccount, call: FakeCall) -> web.Response:
        account.calls[call.id] = call
        call.task = asyncio.ensure_future(self._run_call(account, call))
        return web.json_response({"id": call.id, "externalCallId": call.external_id, "status": call.status})

    async def _list_calls(self, request: web.Request) -> web.StreamResponse:
        raw_limit, before = request.query.get("limit", "25"), request.query.get("before")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
            return _error(400, "VALIDATION_ERROR", "`limit` must be an integer from 1 to 100")
        cutoff: float | None = None
        if before is not None:
            try:
                cutoff = datetime.fromisoformat(before.replace("Z", "+00:00")).timestamp()
            except ValueError:
                return _error(400, "VALIDATION_ERROR", "`before` must be an ISO-8601 date-time")
        account = request[_ACCOUNT]
        newest_first = sorted(account.calls.values(), key=lambda c: (c.created_at, int(c.id.removeprefix("call_FAKE"))))
        newest_first.reverse()
        # The cursor compares at the millisecond precision of the `createdAt` it comes from.
        listed = [c for c in newest_first if cutoff is None or round(c.created_at, 3) < round(cutoff, 3)]
        return web.json_response(
            {"calls": [c.dto(account.business_number, include_sdp=False) for c in listed[: int(raw_limit)]]}
        )

    def _call_or_404(self, request: web.Request) -> FakeCall | web.Response:
        # "Call not found" has no documented code: the fake picks CALL_NOT_FOUND.
        call = request[_ACCOUNT].find_call(request.match_info["id"])  # another account's call: not found
        return _error(404, "CALL_NOT_FOUND", "Call not found") if call is None else call

    async def _get_call(self, request: web.Request) -> web.StreamResponse:
        found = self._call_or_404(request)
        if isinstance(found, web.Response):
            return found
        include_sdp = request.query.get("includeSdp", "").lower() in ("1", "true")
        return web.json_response(found.dto(request[_ACCOUNT].business_number, include_sdp=include_sdp))

    async def _terminate_call(self, request: web.Request) -> web.StreamResponse:
        found = self._call_or_404(request)
        if isinstance(found, web.Response):
            return found
        # Terminating an ended call is not documented: the fake refuses it, so callers learn to expect it.
        if not found.end("COMPLETED", self.now()):
            return _error(409, "CALL_ALREADY_ENDED", f"The call has already ended ({found.status})")
        found.hung_up.set()
        return web.json_response({"success": True, "id": found.id, "status": found.status})

    # ------------------------------------------------------------------ the customer's phone
    async def _run_call(self, account: PilotAccount, call: FakeCall) -> None:
        """The call's life, from ringing to its one final webhook; the peer is closed whatever happens."""
        try:
            final = await self._ring_and_talk(account, call)
            await self._emit(account, call, final)
        finally:
            if call.peer is not None:
                await call.peer.close()

    async def _ring_and_talk(self, account: PilotAccount, call: FakeCall) -> str:
        """Play the customer until the call ends; return the final event (``call.ended`` or ``call.missed``)."""
        behaviour = call.behaviour
        if not await call.lasts(behaviour.ring_after):
            return "call.ended"
        call.status, call.updated_at = "RINGING", self.now()
        await self._emit(account, call, "call.ringing")
        answer_after = behaviour.answer_after
        if answer_after is None or answer_after >= behaviour.ring_timeout:
            if await call.lasts(behaviour.ring_timeout):
                call.end("MISSED", self.now())
                return "call.missed"
            return "call.ended"
        if not await call.lasts(answer_after):
            return "call.ended"
        if behaviour.reject:
            call.end("REJECTED", self.now())
            return "call.ended"
        return await self._talk(account, call)

    async def _talk(self, account: PilotAccount, call: FakeCall) -> str:
        if call.sdp_offer is None:  # a web number: the media is Pilot Status's, nobody gets an answer SDP
            now = self.now()
            call.status, call.connected_at, call.updated_at = "ACCEPTED", now, now
            await self._emit(account, call, "call.connected")
            if await call.lasts(call.behaviour.hang_up_after):
                call.end("COMPLETED", self.now())
            return "call.ended"
        from bot.fakes.whatsapp_peer import WhatsAppPeer

        call.peer = peer = WhatsAppPeer(call.behaviour.tone_hz)
        try:
            answer = await peer.answer(call.sdp_offer)
        except Exception as exc:  # aiortc refuses the offer: the call fails like a real one would
            call.end("FAILED", self.now(), error=("SDP_REJECTED", f"The offer could not be answered: {exc}"))
            return "call.ended"
        if call.ended_at is not None:
            return "call.ended"
        now = self.now()
        call.sdp_answer, call.status, call.connected_at, call.updated_at = answer, "ACCEPTED", now, now
        await self._emit(account, call, "call.connected")
        media = asyncio.ensure_future(peer.wait_connected(call.behaviour.media_timeout))
        hung_up = asyncio.ensure_future(call.hung_up.wait())
        await asyncio.wait([media, hung_up], return_when=asyncio.FIRST_COMPLETED)
        media.cancel()
        hung_up.cancel()
        if call.ended_at is not None:
            return "call.ended"
        if not media.result():  # still running, so the wait ended with the media outcome
            call.end("FAILED", self.now(), error=("MEDIA_TIMEOUT", "No WebRTC connection with the customer"))
            return "call.ended"
        hang_up_after = call.behaviour.hang_up_after
        if await call.lasts(hang_up_after):
            call.end("COMPLETED", self.now())  # the customer hung up
        return "call.ended"

    async def _emit(self, account: PilotAccount, call: FakeCall, event: str) -> None:
        """Send one ``call.*`` webhook to every subscriber (a failed delivery is recorded, and redelivered later)."""
        payload = call_event(
            event,
            call.id,
            call.status,
            customer=call.to,
            business=account.business_number,
            external_call_id=call.external_id,
            timestamp=iso_timestamp(self.now()),
            duration=call.duration if event == "call.ended" else None,
        )
        call.events.append(payload)
        for url in account.subscribers(event):
            await self.deliver(url, payload, account=account)

    async def deliver(
        self, url: str, payload: dict[str, Any], secret: str | None = None, *, account: PilotAccount | None = None
    ) -> tuple[int, str]:
        """Deliver a webhook of ``account`` (default: the default one) signed with its secret (or ``secret``) as
        Pilot Status does: this first attempt now (its status and text returned); without a 2xx, again after each of
        :attr:`redelivery_delays`, in the background, the same bytes each time."""
        account = self.default if account is None else account
        body = json.dumps(payload, separators=(",", ":")).encode()
        secret = account.webhook_secret if secret is None else secret
        status, text = await self._attempt(account, url, payload, body, secret, 1)
        if not 200 <= status < 300 and self.redelivery_delays:
            task = asyncio.ensure_future(self._redeliver(account, url, payload, body, secret))
            self._redeliveries.add(task)
            task.add_done_callback(self._redeliveries.discard)
        return status, text

    async def _attempt(
        self, account: PilotAccount, url: str, payload: dict[str, Any], body: bytes, secret: str, attempt: int
    ) -> tuple[int, str]:
        try:
            status, text = await send_webhook(url, body, secret=secret, timeout=self.delivery_timeout)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            status, text = 0, repr(exc)
        delivery = WebhookDelivery(url, payload, status, text, attempt)
        self.deliveries.append(delivery)
        account.deliveries.append(delivery)
        return status, text

    async def _redeliver(
        self, account: PilotAccount, url: str, payload: dict[str, Any], body: bytes, secret: str
    ) -> None:
        for attempt, delay in enumerate(self.redelivery_delays, start=2):
            await asyncio.sleep(delay)
            status, _ = await self._attempt(account, url, payload, body, secret, attempt)
            if 200 <= status < 300:
                return

    async def redeliveries_done(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Wait until no webhook is waiting to be delivered again (each got a 2xx, or was given up)."""
        async with asyncio.timeout(timeout):
            while self._redeliveries:
                await asyncio.gather(*list(self._redeliveries), return_exceptions=True)

    async def _get_settings(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"calling": request[_ACCOUNT].calling_settings})

    async def _put_settings(self, request: web.Request) -> web.StreamResponse:
        body = self._json_body(request)
        allowed = {"status", "call_icon_visibility", "callback_permission_status", "call_hours", "voicemail"}
        if body is None or not set(body) <= allowed:
            return _error(400, "VALIDATION_ERROR", f"Allowed keys: {sorted(allowed)}")
        request[_ACCOUNT].calling_settings.update(body)
        return web.json_response({"success": True})

    async def _list_webhooks(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(list(request[_ACCOUNT].webhooks.values()))

    async def _create_webhook(self, request: web.Request) -> web.StreamResponse:
        body = self._json_body(request)
        if body is None or not isinstance(body.get("url"), str) or not body["url"]:
            return _error(400, "VALIDATION_ERROR", "`url` is required")
        events = body.get("events", [])
        if not isinstance(events, list):
            return _error(400, "VALIDATION_ERROR", "`events` must be an array")
        webhook = request[_ACCOUNT].new_webhook(body["url"], events, body.get("name"))
        return web.json_response(webhook, status=201)

    def _webhook_or_404(self, request: web.Request) -> dict[str, Any] | web.Response:
        webhook = request[_ACCOUNT].webhooks.get(request.match_info["id"])  # another account's: not found
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
        del request[_ACCOUNT].webhooks[found["id"]]
        return web.json_response({"success": True})
