"""PilotStatusClient's calls methods (start, get, terminate) against the fake Pilot Status and its aiortc customer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.config import RetryPolicy
from bot.fakes.pilot_status import CallBehaviour, FakePilotStatus
from bot.pilot_status.client import CALL_LANE, PilotStatusClient, StartedCall
from bot.pilot_status.errors import (
    CallPermissionRequiredError,
    FeatureNotSupportedError,
    RateLimitError,
    UnconfirmedError,
)
from tests.calls.helpers import AiortcCaller, wait_until

CUSTOMER = "+5511999999999"
POLICY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, max_retry_after=5)


async def _no_sleep(_: float) -> None:
    return None


@pytest.fixture
async def client(pilot: FakePilotStatus) -> AsyncIterator[PilotStatusClient]:
    pilot.set_permission(CUSTOMER, "PERMANENT")
    ps = PilotStatusClient(base_url=pilot.base_url, api_key=pilot.api_key, retry=POLICY, timeout=2.0, sleep=_no_sleep)
    try:
        yield ps
    finally:
        await ps.aclose()


@pytest.fixture
async def offer() -> AsyncIterator[str]:
    caller = AiortcCaller()
    try:
        yield await caller.offer()
    finally:
        await caller.close()


async def test_start_get_and_terminate_a_call(pilot: FakePilotStatus, client: PilotStatusClient, offer: str) -> None:
    pilot.call_behaviour = CallBehaviour(answer_after=None, ring_timeout=30)
    started = await client.start_call(CUSTOMER, offer)
    assert started == StartedCall("call_FAKE1", "wacid.FAKE1")
    call_id = started.id
    assert pilot.requests_to("POST", "/v1/calls")[0].json == {"to": CUSTOMER, "sdp": offer}
    await wait_until(lambda: pilot.calls[call_id].status == "RINGING", what="ringing")
    details = await client.get_call(call_id, include_sdp=True)
    assert (details.id, details.status, details.sdp_answer) == (call_id, "RINGING", None)
    await client.terminate_call(call_id)
    assert (await client.get_call(call_id)).status == "COMPLETED"
    # Hang-up as the SDK sends it: a bare POST, no body and no content type.
    (terminate,) = pilot.requests_to("POST", f"/v1/calls/{call_id}/terminate")
    assert "content-type" not in terminate.headers and terminate.json is None
    assert terminate.headers.get("content-length", "0") == "0"


@pytest.mark.parametrize("body", [b"", b"not json", None])
async def test_a_2xx_to_terminate_is_success_whatever_its_body(
    pilot: FakePilotStatus, client: PilotStatusClient, body: bytes | None
) -> None:
    pilot.script("POST", "/v1/calls/call_X/terminate", status=204 if body is None else 200, body=body)
    await client.terminate_call("call_X")  # no exception: the call is hung up
    assert len(pilot.requests_to("POST", "/v1/calls/call_X/terminate")) == 1


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, "META_CALL_PERMISSION_REQUIRED", CallPermissionRequiredError),
        (400, "FEATURE_NOT_SUPPORTED", FeatureNotSupportedError),
        (429, "RATE_LIMITED", RateLimitError),
        # Nothing says a 5xx comes before Pilot Status asked Meta to ring: the start is unconfirmed, looked for.
        (502, "BAD_GATEWAY", UnconfirmedError),
        (503, "UPSTREAM_TIMEOUT", UnconfirmedError),
        (500, "INTERNAL", UnconfirmedError),
    ],
)
async def test_start_call_errors_are_typed_and_never_resent(
    pilot: FakePilotStatus, client: PilotStatusClient, offer: str, status: int, code: str, error: type[Exception]
) -> None:
    pilot.script("POST", "/v1/calls", status=status, body={"error": "no", "code": code}, times=5)
    with pytest.raises(error):
        await client.start_call(CUSTOMER, offer)
    # A call Pilot Status may have started is never started again (the customer would ring twice).
    assert len(pilot.requests_to("POST", "/v1/calls")) == 1


async def test_expired_permission_is_permission_required(
    pilot: FakePilotStatus, client: PilotStatusClient, offer: str
) -> None:
    pilot.permissions.clear()
    with pytest.raises(CallPermissionRequiredError):
        await client.start_call(CUSTOMER, offer)
    assert pilot.calls == {}


async def test_a_start_with_no_answer_is_unconfirmed_not_resent(pilot: FakePilotStatus, offer: str) -> None:
    pilot.set_permission(CUSTOMER, "PERMANENT")
    pilot.script("POST", "/v1/calls", delay=1.0)
    ps = PilotStatusClient(base_url=pilot.base_url, api_key=pilot.api_key, retry=POLICY, timeout=0.3, sleep=_no_sleep)
    try:
        with pytest.raises(UnconfirmedError):
            await ps.start_call(CUSTOMER, offer)
    finally:
        await ps.aclose()
    assert len(pilot.requests_to("POST", "/v1/calls")) == 1


async def test_a_dropped_start_is_unconfirmed_not_resent(
    pilot: FakePilotStatus, client: PilotStatusClient, offer: str
) -> None:
    pilot.drop_connection_next("POST", "/v1/calls")
    with pytest.raises(UnconfirmedError):
        await client.start_call(CUSTOMER, offer)
    assert len(pilot.requests_to("POST", "/v1/calls")) == 1


async def test_reading_many_calls_never_holds_up_a_permission_request(
    pilot: FakePilotStatus, client: PilotStatusClient
) -> None:
    """Browser calls' reads have a lane of their own: forty slow reads at once (Pilot Status taking a second each)
    leave the permission request going out at once, not after them."""
    pilot.script("GET", "/v1/calls/call_X", status=404, body={"code": "CALL_NOT_FOUND"}, delay=1.0, times=40)
    reads = [asyncio.ensure_future(client.get_call("call_X")) for _ in range(40)]
    await asyncio.sleep(0.1)  # the reads are on their way
    await client.request_permission(CUSTOMER, "Podemos ligar?")
    arrived = [(r.method, r.path) for r in pilot.requests]
    assert arrived.index(("POST", "/v1/calls/permissions/request")) <= CALL_LANE, arrived
    await asyncio.gather(*reads, return_exceptions=True)
