"""PilotStatusClient against the loopback Pilot Status fake (bot/pilot_status/client.py)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.config import RetryPolicy
from bot.fakes.pilot_status import DAY, FakePilotStatus
from bot.pilot_status.client import CallPermission, PilotStatusClient
from bot.pilot_status.errors import (
    AuthenticationError,
    BadRequestError,
    FeatureNotSupportedError,
    NetworkError,
    OutsideWindowError,
    RateLimitError,
    RequestLimitError,
    TenantScopeError,
    UnconfirmedError,
    UnexpectedResponseError,
)

POLICY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, max_retry_after=5)
REQUEST = "/v1/calls/permissions/request"
PROBE = "/v1/calls/permissions"
CUSTOMER = "+5511987654321"
NOW = 1_800_000_000.0


class RecordingSleep:
    """Stands in for asyncio.sleep: records each delay and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


def make_client(
    base_url: str, sleep: RecordingSleep, *, api_key: str = "ps_test", timeout: float = 5.0
) -> PilotStatusClient:
    return PilotStatusClient(base_url=base_url, api_key=api_key, retry=POLICY, timeout=timeout, sleep=sleep)


@pytest.fixture
async def client(pilot: FakePilotStatus, sleep: RecordingSleep) -> AsyncIterator[PilotStatusClient]:
    ps = make_client(pilot.base_url, sleep, api_key=pilot.api_key)
    try:
        yield ps
    finally:
        await ps.aclose()


def unused_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- POST /v1/calls/permissions/request --------------------------------------------------------
async def test_request_permission_returns_message_id_and_sends_key_and_body(
    client: PilotStatusClient, pilot: FakePilotStatus
) -> None:
    message_id = await client.request_permission(CUSTOMER, "Podemos te ligar?")

    assert message_id == "wamid.FAKE1"
    [sent] = pilot.requests_to("POST", REQUEST)
    assert sent.headers["x-api-key"] == "ps_test"
    assert sent.json == {"to": CUSTOMER, "text": "Podemos te ligar?"}
    assert "authorization" not in sent.headers
    assert [(r.to, r.text) for r in pilot.permission_requests] == [(CUSTOMER, "Podemos te ligar?")]


async def test_request_permission_without_text_sends_only_to(client: PilotStatusClient, pilot: FakePilotStatus) -> None:
    await client.request_permission(CUSTOMER, None)

    assert pilot.requests_to("POST", REQUEST)[0].json == {"to": CUSTOMER}


async def test_accepted_request_without_message_id_is_not_resent(
    client: PilotStatusClient, pilot: FakePilotStatus, sleep: RecordingSleep
) -> None:
    pilot.script("POST", REQUEST, status=200, body={"ok": True})

    assert await client.request_permission(CUSTOMER, "oi") == ""
    assert len(pilot.requests_to("POST", REQUEST)) == 1
    assert sleep.delays == []


async def test_wrong_api_key_is_authentication_error(pilot: FakePilotStatus, sleep: RecordingSleep) -> None:
    ps = make_client(pilot.base_url, sleep, api_key="ps_wrong")
    try:
        with pytest.raises(AuthenticationError) as info:
            await ps.request_permission(CUSTOMER, "oi")
    finally:
        await ps.aclose()

    assert info.value.status == 401
    assert len(pilot.requests_to("POST", REQUEST)) == 1
    assert sleep.delays == []


async def test_tenant_key_is_tenant_scope_error(client: PilotStatusClient, pilot: FakePilotStatus) -> None:
    pilot.tenant_key = True

    with pytest.raises(TenantScopeError) as info:
        await client.request_permission(CUSTOMER, "oi")

    assert info.value.status == 403
    assert info.value.code == "TENANT_SCOPE_NOT_ALLOWED"
    assert len(pilot.requests_to("POST", REQUEST)) == 1


async def test_request_limit_is_request_limit_error_and_not_retried(
    client: PilotStatusClient, pilot: FakePilotStatus, sleep: RecordingSleep
) -> None:
    pilot.enforce_limits = True
    await client.request_permission(CUSTOMER, "primeiro")

    with pytest.raises(RequestLimitError) as info:
        await client.request_permission(CUSTOMER, "segundo")

    assert info.value.status == 400
    assert info.value.code == "META_CALL_PERMISSION_REQUEST_LIMIT"
    assert len(pilot.requests_to("POST", REQUEST)) == 2
    assert len(pilot.permission_requests) == 1
    assert sleep.delays == []


async def test_outside_window_code_is_outside_window_error(client: PilotStatusClient, pilot: FakePilotStatus) -> None:
    pilot.script(
        "POST",
        REQUEST,
        status=400,
        body={"error": "24h conversation window closed. Use an approved template", "code": "META_OUTSIDE_24H_WINDOW"},
    )

    with pytest.raises(OutsideWindowError) as info:
        await client.request_permission(CUSTOMER, "oi")

    assert info.value.code == "META_OUTSIDE_24H_WINDOW"
    assert info.value.message == "24h conversation window closed. Use an approved template"
    assert len(pilot.requests_to("POST", REQUEST)) == 1


async def test_unsupported_provider_is_feature_not_supported(client: PilotStatusClient, pilot: FakePilotStatus) -> None:
    pilot.provider_supported = False

    with pytest.raises(FeatureNotSupportedError) as info:
        await client.request_permission(CUSTOMER, "oi")

    assert info.value.code == "FEATURE_NOT_SUPPORTED"
    assert len(pilot.requests_to("POST", REQUEST)) == 1


async def test_other_400_is_bad_request_with_its_code(
    client: PilotStatusClient, pilot: FakePilotStatus, sleep: RecordingSleep
) -> None:
    # The fake validates `to` like Pilot Status does: E.164 with `+`.
    with pytest.raises(BadRequestError) as info:
        await client.request_permission("5511987654321", "oi")

    assert type(info.value) is BadRequestError
    assert info.value.status == 400
    assert info.value.code == "VALIDATION_ERROR"
    assert info.value.label == "HTTP 400 VALIDATION_ERROR"
    assert len(pilot.requests_to("POST", REQUEST)) == 1
    assert sleep.delays == []


@pytest.mark.parametrize(
    ("status", "code"),
    [(502, None), (503, "UPSTREAM_TIMEOUT"), (503, "UPSTREAM_ERROR"), (504, None), (500, "INTERNAL")],
)
async def test_a_5xx_to_the_permission_request_is_unconfirmed_and_never_resent(
    client: PilotStatusClient, pilot: FakePilotStatus, sleep: RecordingSleep, status: int, code: str | None
) -> None:
    """Nothing says a 5xx comes before Meta sent the message (a gateway's 502/504, Pilot Status's UPSTREAM_TIMEOUT
    after it called Meta): like a timeout, it is unconfirmed, and the POST is never sent again (as the SDK)."""
    pilot.script("POST", REQUEST, status=status, body={"error": "down", "code": code} if code else None, times=5)

    with pytest.raises(UnconfirmedError) as info:
        await client.request_permission(CUSTOMER, "oi")

    assert (info.value.status, info.value.code) == (status, code)
    assert len(pilot.requests_to("POST", REQUEST)) == 1
    assert sleep.delays == []


async def test_flow_window_closed_is_the_24_hour_window_error(
    client: PilotStatusClient, pilot: FakePilotStatus
) -> None:
    """FLOW_WINDOW_CLOSED is the official SDK's code for the closed customer-service window."""
    pilot.script("POST", REQUEST, status=400, body={"error": "window closed", "code": "FLOW_WINDOW_CLOSED"})

    with pytest.raises(OutsideWindowError) as info:
        await client.request_permission(CUSTOMER, "oi")

    assert info.value.code == "FLOW_WINDOW_CLOSED"
    assert len(pilot.requests_to("POST", REQUEST)) == 1


async def test_429_with_retry_after_is_retried_after_that_delay(
    client: PilotStatusClient, pilot: FakePilotStatus, sleep: RecordingSleep
) -> None:
    pilot.script(
        "POST", REQUEST, status=429, body={"error": "slow down", "code": "RATE_LIMITED"}, headers={"Retry-After": "1"}
    )

    assert await client.request_permission(CUSTOMER, "oi") == "wamid.FAKE1"

    assert [r.status for r in pilot.requests_to("POST", REQUEST)] == [429, 200]
    assert sleep.delays == [1.0]


async def test_429_with_retry_after_too_long_is_not_retried(
    client: PilotStatusClient, pilot: FakePilotStatus, sleep: RecordingSleep
) -> None:
    pilot.script(
        "POST", REQUEST, status=429, body={"error": "slow down", "code": "RATE_LIMITED"}, headers={"Retry-After": "60"}
    )

    with pytest.raises(RateLimitError) as info:
        await client.request_permission(CUSTOMER, "oi")

    assert info.value.retry_after == 60.0
    assert len(pilot.requests_to("POST", REQUEST)) == 1
    assert sleep.delays == []


async def test_post_timeout_is_unconfirmed_and_never_retried(pilot: FakePilotStatus, sleep: RecordingSleep) -> None:
    pilot.script("POST", REQUEST, status=200, delay=1.0)
    ps = make_client(pilot.base_url, sleep, timeout=0.3)
    try:
        with pytest.raises(UnconfirmedError) as info:
            await ps.request_permission(CUSTOMER, "oi")
    finally:
        await ps.aclose()

    assert info.value.code == "TIMEOUT"
    assert len(pilot.requests_to("POST", REQUEST)) == 1
    assert sleep.delays == []


async def test_dropped_connection_on_post_is_unconfirmed_and_never_retried(
    client: PilotStatusClient, pilot: FakePilotStatus, sleep: RecordingSleep
) -> None:
    pilot.drop_connection_next("POST", REQUEST)

    with pytest.raises(UnconfirmedError):
        await client.request_permission(CUSTOMER, "oi")

    assert len(pilot.requests_to("POST", REQUEST)) == 1
    assert pilot.permission_requests == []
    assert sleep.delays == []


async def test_dropped_reused_connection_on_post_is_unconfirmed_and_never_retried(
    client: PilotStatusClient, pilot: FakePilotStatus, sleep: RecordingSleep
) -> None:
    # On a kept-alive connection the HTTP stack itself may repeat a request once when the server
    # hangs up; it must do so only for idempotent methods, never for the quota-spending POST.
    await client.get_permission(CUSTOMER)
    pilot.drop_connection_next("POST", REQUEST)

    with pytest.raises(UnconfirmedError):
        await client.request_permission(CUSTOMER, "oi")

    assert len(pilot.requests_to("POST", REQUEST)) == 1
    assert sleep.delays == []


async def test_connection_refused_on_post_is_network_error_after_retries(sleep: RecordingSleep) -> None:
    ps = make_client(f"http://127.0.0.1:{unused_port()}", sleep)
    try:
        with pytest.raises(NetworkError) as info:
            await ps.request_permission(CUSTOMER, "oi")
    finally:
        await ps.aclose()

    assert info.value.code == "NETWORK"
    assert len(sleep.delays) == POLICY.attempts - 1


async def test_connection_refused_on_get_is_network_error_after_retries(sleep: RecordingSleep) -> None:
    ps = make_client(f"http://127.0.0.1:{unused_port()}", sleep)
    try:
        with pytest.raises(NetworkError):
            await ps.get_permission(CUSTOMER)
    finally:
        await ps.aclose()

    assert len(sleep.delays) == POLICY.attempts - 1


# --- GET /v1/calls/permissions -----------------------------------------------------------------
async def test_get_permission_parses_status_and_expiry(client: PilotStatusClient, pilot: FakePilotStatus) -> None:
    pilot.now = lambda: NOW
    pilot.set_permission(CUSTOMER, "TEMPORARY", expiration_time=int(NOW) + 3600)

    permission = await client.get_permission(CUSTOMER)

    assert isinstance(permission, CallPermission)
    assert permission.status == "temporary"
    assert permission.expiration_time == int(NOW) + 3600
    request_action = permission.actions["send_call_permission_request"]
    assert request_action.can_perform is True
    assert request_action.limit_expiration_time is None
    assert [(x.time_period, x.max_allowed, x.current_usage) for x in request_action.limits] == [
        ("PT24H", 1, 0),
        ("P7D", 2, 0),
    ]
    assert permission.actions["start_call"].can_perform is True
    [sent] = pilot.requests_to("GET", PROBE)
    assert sent.query == {"to": CUSTOMER}
    assert sent.headers["x-api-key"] == "ps_test"


async def test_get_permission_reports_exhausted_limit_and_when_it_frees(
    client: PilotStatusClient, pilot: FakePilotStatus
) -> None:
    pilot.now = lambda: NOW
    await client.request_permission(CUSTOMER, "oi")

    permission = await client.get_permission(CUSTOMER)

    assert permission.status == "no_permission"
    assert permission.expiration_time is None
    action = permission.actions["send_call_permission_request"]
    assert action.can_perform is False
    assert action.limit_expiration_time == int(NOW + DAY)
    assert [(x.time_period, x.current_usage) for x in action.limits] == [("PT24H", 1), ("P7D", 1)]
    assert permission.actions["start_call"].can_perform is False


async def test_get_permission_parses_meta_shape(client: PilotStatusClient, pilot: FakePilotStatus) -> None:
    pilot.script(
        "GET",
        PROBE,
        status=200,
        body={
            "permission": {"status": "PERMANENT"},
            "actions": [
                {
                    "action_name": "send_call_permission_request",
                    "can_perform_action": False,
                    "limits": [{"time_period": "P7D", "max_allowed": 2, "current_usage": 2}],
                    "limit_expiration_time": 1768550400,
                },
                {"no_action_name": True},
            ],
        },
    )

    permission = await client.get_permission(CUSTOMER)

    assert permission.status == "permanent"
    assert permission.expiration_time is None
    assert set(permission.actions) == {"send_call_permission_request"}
    action = permission.actions["send_call_permission_request"]
    assert action.limit_expiration_time == 1768550400
    assert action.limits[0].max_allowed == 2
    assert action.limits[0].current_usage == 2


async def test_get_permission_without_permission_object_is_unexpected(
    client: PilotStatusClient, pilot: FakePilotStatus
) -> None:
    pilot.script("GET", PROBE, status=200, body={"actions": []})

    with pytest.raises(UnexpectedResponseError):
        await client.get_permission(CUSTOMER)


async def test_get_permission_retried_on_503(
    client: PilotStatusClient, pilot: FakePilotStatus, sleep: RecordingSleep
) -> None:
    pilot.script("GET", PROBE, status=503)

    permission = await client.get_permission(CUSTOMER)

    assert permission.status == "no_permission"
    assert [r.status for r in pilot.requests_to("GET", PROBE)] == [503, 200]
    assert len(sleep.delays) == 1


async def test_get_dropped_connection_is_retried(
    client: PilotStatusClient, pilot: FakePilotStatus, sleep: RecordingSleep
) -> None:
    # A GET changes nothing, so an unanswered one is safe to repeat (unlike the POST).
    pilot.drop_connection_next("GET", PROBE)

    permission = await client.get_permission(CUSTOMER)

    assert permission.status == "no_permission"
    assert len(pilot.requests_to("GET", PROBE)) == 2
    # Repeated by our retry loop (after a pause) or, on a kept-alive connection, by aiohttp at once.
    assert len(sleep.delays) <= 1


async def test_a_base_url_with_a_path_keeps_it_for_every_endpoint(sleep: RecordingSleep) -> None:
    """Behind a proxy at a path: each request goes to that path + the endpoint's, with the key, fixed paths (built once
    per client) and paths with an id alike."""
    seen: list[tuple[str, str, str | None]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, str(request.url), request.headers.get("x-api-key")))
        if request.url.path.endswith("/permissions"):
            return httpx.Response(200, json={"permission": {"status": "permanent"}, "actions": []})
        if request.url.path.endswith("/request"):
            return httpx.Response(200, json={"messageId": "wamid.1"})
        return httpx.Response(200, json={"id": "call 1", "status": "RINGING"})

    http = httpx.AsyncClient(base_url="http://pilot.test/proxy", transport=httpx.MockTransport(answer))
    ps = PilotStatusClient(base_url="http://unused.test", api_key="ps_test", retry=POLICY, http=http, sleep=sleep)
    try:
        assert (await ps.get_permission(CUSTOMER)).status == "permanent"
        assert await ps.request_permission(CUSTOMER, None) == "wamid.1"
        assert (await ps.get_call("call 1")).status == "RINGING"
    finally:
        await http.aclose()

    assert seen == [
        ("GET", "http://pilot.test/proxy/v1/calls/permissions?to=%2B5511987654321", "ps_test"),
        ("POST", "http://pilot.test/proxy/v1/calls/permissions/request", "ps_test"),
        ("GET", "http://pilot.test/proxy/v1/calls/call%201", "ps_test"),
    ]
