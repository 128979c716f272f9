"""Async Pilot Status client for the calls-permission and calls endpoints (httpx on the aiohttp transport)."""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from time import time
from typing import Any
from urllib.parse import quote

import httpx

from bot import __version__
from bot.config import RetryPolicy
from bot.pilot_status.errors import (
    FeatureNotSupportedError,
    NetworkError,
    PilotStatusError,
    RateLimitError,
    ServerError,
    UnconfirmedError,
    UnexpectedResponseError,
    error_from_response,
)
from bot.pilot_status.fair import FairLimiter
from bot.pilot_status.http import never_sent, new_http_client

log = logging.getLogger(__name__)

USER_AGENT = f"askcall/{__version__}"

Sleep = Callable[[float], Awaitable[None]]
# The paths without an id in them: each client joins them to its base URL once (`PilotStatusClient._urls`).
FIXED_PATHS = ("/v1/calls/permissions/request", "/v1/calls/permissions", "/v1/calls", "/v1/calls/settings")
# Concurrent calls per number; Meta itself allows 5 permission lookups per second.
MAX_CONCURRENCY = 32
# Of those, the calls endpoints (start, read, list, terminate) get their own lane of this many, on top: however
# many calls are being read, permission requests and probes never queue behind them.
CALL_LANE = 8


@dataclass(frozen=True)
class ActionLimit:
    time_period: str
    max_allowed: int
    current_usage: int


@dataclass(frozen=True)
class PermissionAction:
    name: str
    can_perform: bool
    limits: list[ActionLimit] = field(default_factory=list)
    limit_expiration_time: int | None = None


@dataclass(frozen=True)
class CallPermission:
    """`GET /v1/calls/permissions?to=`: the customer's permission and what may be done now."""

    status: str  # no_permission | temporary | permanent
    expiration_time: int | None
    actions: dict[str, PermissionAction]

    @classmethod
    def from_json(cls, body: Any) -> CallPermission:
        if not isinstance(body, dict) or not isinstance(body.get("permission"), dict):
            raise UnexpectedResponseError("permission object missing", code="UNEXPECTED_RESPONSE")
        permission = body["permission"]
        actions = {}
        for raw in body.get("actions") or []:
            if not isinstance(raw, dict) or "action_name" not in raw:
                continue
            limits = [
                ActionLimit(str(x.get("time_period")), int(x.get("max_allowed", 0)), int(x.get("current_usage", 0)))
                for x in raw.get("limits") or []
                if isinstance(x, dict)
            ]
            expiry = raw.get("limit_expiration_time")
            actions[raw["action_name"]] = PermissionAction(
                name=raw["action_name"],
                can_perform=bool(raw.get("can_perform_action")),
                limits=limits,
                limit_expiration_time=int(expiry) if isinstance(expiry, int | float) else None,
            )
        expiration = permission.get("expiration_time")
        return cls(
            status=str(permission.get("status", "no_permission")).lower(),
            expiration_time=int(expiration) if isinstance(expiration, int | float) else None,
            actions=actions,
        )


@dataclass(frozen=True)
class CallDetails:
    """A call as `GET /v1/calls/{id}` (and, without SDPs, `GET /v1/calls`) describes it: its status
    (INITIATED, RINGING, ACCEPTED, …), whom it rings, and, asked for, the answer SDP."""

    id: str
    status: str
    sdp_answer: str | None = None
    duration: int | None = None
    direction: str = ""
    peer_digits: str = ""  # the customer's number, digits only (Pilot Status writes it without '+')
    created_at: float | None = None
    opaque: str | None = None  # bizOpaqueCallbackData, as sent with POST /v1/calls
    external_id: str | None = None  # the provider's call id (Meta's wacid)
    # With includeSdp: the offer Pilot Status kept (null on web numbers, which take no SDP); `sdp_known` says
    # whether the answer said anything about it.
    sdp_offer: str | None = None
    sdp_known: bool = False

    @classmethod
    def from_json(cls, body: Any) -> CallDetails:
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            raise UnexpectedResponseError("call object missing", code="UNEXPECTED_RESPONSE")
        answer, duration, opaque = body.get("sdpAnswer"), body.get("durationSeconds"), body.get("bizOpaqueCallbackData")
        offer, external = body.get("sdpOffer"), body.get("externalCallId")
        return cls(
            id=body["id"],
            status=str(body.get("status") or "").upper(),
            external_id=external if isinstance(external, str) and external else None,
            sdp_offer=offer if isinstance(offer, str) and offer else None,
            sdp_known="sdpOffer" in body,
            sdp_answer=answer if isinstance(answer, str) and answer else None,
            duration=int(duration) if isinstance(duration, int | float) else None,
            direction=str(body.get("direction") or "").upper(),
            peer_digits="".join(ch for ch in str(body.get("peerNumber") or "") if ch.isdigit()),
            created_at=_epoch(body.get("createdAt")),
            opaque=opaque if isinstance(opaque, str) else None,
        )


@dataclass(frozen=True)
class StartedCall:
    """`POST /v1/calls` accepted: Pilot Status's call id and the provider's (Meta's wacid), when it said."""

    id: str
    external_id: str | None = None


def _epoch(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class PilotStatusClient:
    """Calls Pilot Status with a number-scoped key.

    POST /v1/calls/permissions/request is retried only when Pilot Status certainly did not accept
    it (connection never made, or 429): a permission request spends the customer's quota, so a
    request whose fate is unknown (read timeout, or any 5xx: nothing says a 5xx comes before the
    message went out) is reported as `UnconfirmedError`, never resent. The SDK never resends a POST.
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        retry: RetryPolicy,
        timeout: float = 30.0,
        http: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
        max_concurrency: int = MAX_CONCURRENCY,
        tls: ssl.SSLContext | None = None,
        fair: FairLimiter | None = None,
        party: Hashable = None,
    ) -> None:
        """`http`: a client shared with other numbers' (`shared_http_client`), which this one never closes; None
        makes one of its own. `fair`: the deployment-wide cap this client's requests also take a slot of, as
        `party` (with its lane: a workspace's browser calls are a party apart from its permission requests)."""
        self._owns_http = http is None
        self._http = http or new_http_client(
            base_url=base_url,
            api_key=None,
            timeout=timeout,
            user_agent=USER_AGENT,
            max_connections=max_concurrency + CALL_LANE,
            tls=tls,
        )
        # The key goes with each request, so clients of every number and workspace can share one connection pool.
        # Built once, as are the fixed paths' URLs: httpx would otherwise parse the headers and join the path to its
        # base URL on every request (about a third of building one, measured).
        self._headers = httpx.Headers({"x-api-key": api_key})
        self._urls = _joined(self._http.base_url, FIXED_PATHS)
        # Callers queue here rather than inside the connection pool, so a slow Pilot Status holds at
        # most `max_concurrency` requests in flight and the rest wait without a timeout ticking. Browser
        # calls' requests queue in a lane of their own: they never starve permission requests.
        self._slots = asyncio.Semaphore(max_concurrency)
        self._call_slots = asyncio.Semaphore(CALL_LANE)
        self._fair = fair
        self._party = party
        self._retry = retry
        self._sleep = sleep

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def request_permission(self, to: str, text: str | None) -> str:
        """Send the WhatsApp call-permission request; returns the message id (wamid)."""
        body: dict[str, str] = {"to": to}
        if text:
            body["text"] = text
        data = await self._call("POST", "/v1/calls/permissions/request", json=body, idempotent=False, unsure_5xx=True)
        message_id = data.get("messageId") if isinstance(data, dict) else None
        if not isinstance(message_id, str):
            # Accepted (2xx) but the id is missing: still accepted, so it must not be resent.
            log.warning("Pilot Status accepted a permission request without a messageId")
            return ""
        return message_id

    async def get_permission(self, to: str) -> CallPermission:
        data = await self._call("GET", "/v1/calls/permissions", params={"to": to}, idempotent=True)
        return CallPermission.from_json(data)

    async def start_call(self, to: str, sdp: str, opaque: str | None = None) -> StartedCall:
        """Start a business-initiated call with the browser's offer; returns Pilot Status's call id.
        `opaque` (bizOpaqueCallbackData) marks the call as ours, so a start whose answer was lost can be found.

        Never resent once it may have reached Pilot Status: a second POST would ring the customer twice.
        Only a request that certainly never left (connection refused) is tried again. A 5xx is
        `UnconfirmedError` like a lost answer: nothing says Pilot Status answers 5xx only before it
        asked Meta to ring, so the caller looks for the call (by `opaque`) instead of calling it failed.
        """
        body = {"to": to, "sdp": sdp} | ({"bizOpaqueCallbackData": opaque} if opaque else {})
        data = await self._call("POST", "/v1/calls", json=body, idempotent=False, resend=False, unsure_5xx=True)
        call_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(call_id, str) or not call_id:
            raise UnexpectedResponseError("Pilot Status started a call without an id", code="UNEXPECTED_RESPONSE")
        external = data.get("externalCallId")
        return StartedCall(call_id, external if isinstance(external, str) and external else None)

    async def get_call(self, call_id: str, *, include_sdp: bool = False) -> CallDetails:
        params = {"includeSdp": "1"} if include_sdp else None
        data = await self._call("GET", f"/v1/calls/{quote(call_id, safe='')}", params=params, idempotent=True)
        return CallDetails.from_json(data)

    async def is_meta_number(self) -> bool:
        """Whether the key's number is a Meta Cloud API one: `GET /v1/calls/settings` is Meta-only (documented), so a
        web (EVO_GO) number answers it 400 FEATURE_NOT_SUPPORTED. Raises PilotStatusError when it can't tell."""
        try:
            await self._call("GET", "/v1/calls/settings", idempotent=True)
        except FeatureNotSupportedError:
            return False
        return True

    async def list_calls(self, limit: int = 25) -> list[CallDetails]:
        """The newest calls of the number, newest first (no SDPs)."""
        data = await self._call("GET", "/v1/calls", params={"limit": str(limit)}, idempotent=True)
        calls = data.get("calls") if isinstance(data, dict) else None
        if not isinstance(calls, list):
            raise UnexpectedResponseError("call list missing", code="UNEXPECTED_RESPONSE")
        return [CallDetails.from_json(c) for c in calls if isinstance(c, dict) and isinstance(c.get("id"), str)]

    async def terminate_call(self, call_id: str) -> None:
        """Hang up. Terminating twice is harmless (the call simply stays ended), so it may be retried. Sent with
        no body and no content-type, as the SDK does; any 2xx is success, whatever its body (even none)."""
        await self._call("POST", f"/v1/calls/{quote(call_id, safe='')}/terminate", idempotent=True, any_body=True)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        resend: bool = True,
        unsure_5xx: bool = False,
        any_body: bool = False,
        **kwargs: Any,
    ) -> Any:
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._once(method, path, idempotent=idempotent, any_body=any_body, **kwargs)
            except PilotStatusError as error:
                error.attempts = attempt
                if unsure_5xx and isinstance(error, ServerError):
                    # May have been acted on before it failed: unconfirmed, never resent.
                    raise UnconfirmedError(
                        error.message, status=error.status, code=error.code, retry_after=error.retry_after
                    ) from error
                delay = self._retry_delay(error, attempt) if resend or isinstance(error, NetworkError) else None
                if delay is None:
                    raise
                log.warning(
                    "Pilot Status %s %s failed (%s); retry %d/%d in %.1fs",
                    method,
                    path,
                    error.label,
                    attempt,
                    self._retry.attempts - 1,
                    delay,
                )
                await self._sleep(delay)

    def _retry_delay(self, error: PilotStatusError, attempt: int) -> float | None:
        if not error.retryable or attempt >= self._retry.attempts:
            return None
        if isinstance(error, RateLimitError) and error.retry_after is not None:
            if error.retry_after > self._retry.max_retry_after:
                return None
            return error.retry_after
        # Full jitter keeps many AskCall requests from retrying in lockstep.
        return self._retry.delay(attempt) * (0.5 + random.random() / 2)

    async def _once(self, method: str, path: str, *, idempotent: bool, any_body: bool, **kwargs: Any) -> Any:
        try:
            async with self._slot(path):
                url = self._urls.get(path, path)
                response = await self._http.request(method, url, headers=self._headers, **kwargs)
        except httpx.TransportError as exc:
            if never_sent(exc):
                raise NetworkError(f"could not reach Pilot Status ({type(exc).__name__})", code="NETWORK") from exc
            # Sent (maybe fully) but no answer: only safe to repeat for idempotent calls.
            error_type = NetworkError if idempotent else UnconfirmedError
            raise error_type(f"no answer from Pilot Status ({type(exc).__name__})", code="TIMEOUT") from exc
        body = _json_or_none(response)
        if response.is_success:
            if body is None and idempotent and not any_body:
                raise UnexpectedResponseError("response was not JSON", status=response.status_code)
            # A 2xx to a non-idempotent call means it was accepted, readable body or not: never report it
            # as failed (the caller would tell the rep "not sent" while the customer got the request).
            return body
        raise error_from_response(response.status_code, body, _retry_after(response))

    @asynccontextmanager
    async def _slot(self, path: str) -> AsyncIterator[None]:
        """A slot of the request's lane for this number, then one of the deployment's (the lane first, so a number
        never queues at the deployment's cap more requests than its lane lets through)."""
        calls = path.startswith("/v1/calls") and not path.startswith("/v1/calls/permissions")
        async with self._call_slots if calls else self._slots:
            if self._fair is None:
                yield
                return
            async with self._fair.slot((self._party, calls)):
                yield


def _joined(base: httpx.URL, paths: tuple[str, ...]) -> dict[str, httpx.URL]:
    """Each path as the absolute URL httpx makes of it on a client with this base URL (the base's path, which httpx
    ends with "/", then the path's): none when the base has no host, so httpx joins them as ever."""
    if base.is_relative_url:
        return {}
    return {path: base.copy_with(raw_path=base.raw_path + path.lstrip("/").encode("ascii")) for path in paths}


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time(), 0.0)
    except (TypeError, ValueError):
        return None
