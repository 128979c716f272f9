"""Tests of the fake Pilot Status API, driven by httpx over loopback."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web

from bot.fakes import FakePilotStatus, sign_pilot_status
from bot.fakes.pilot_status import DAY, WEEK, CallBehaviour, WebCalls, permission_event, send_webhook

CUSTOMER = "+5511999999999"
REQUEST = "/v1/calls/permissions/request"


@pytest.fixture
async def fake() -> AsyncIterator[FakePilotStatus]:
    async with FakePilotStatus() as server:
        server.customer_writes(CUSTOMER)  # the customer is chatting with the business: their window is open
        yield server


@pytest.fixture
async def client(fake: FakePilotStatus) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake.base_url, headers={"x-api-key": "ps_test"}) as c:
        yield c


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


async def test_permission_request_succeeds_and_is_recorded(fake: FakePilotStatus, client: httpx.AsyncClient) -> None:
    resp = await client.post(REQUEST, json={"to": CUSTOMER, "text": "Podemos ligar?"})
    assert resp.status_code == 200
    assert resp.json() == {"messageId": "wamid.FAKE1"}
    [record] = fake.permission_requests
    assert (record.to, record.text, record.message_id) == (CUSTOMER, "Podemos ligar?", "wamid.FAKE1")
    [req] = fake.requests_to("POST", REQUEST)
    assert req.json == {"to": CUSTOMER, "text": "Podemos ligar?"}
    assert req.headers["x-api-key"] == "ps_test" and req.status == 200


async def test_auth_scope_and_validation_errors(fake: FakePilotStatus, client: httpx.AsyncClient) -> None:
    bad = await client.post(REQUEST, json={"to": CUSTOMER}, headers={"x-api-key": "ps_wrong"})
    assert (bad.status_code, bad.json()["code"]) == (401, "UNAUTHORIZED")
    invalid = await client.post(REQUEST, json={"to": "5511999999999"})
    assert (invalid.status_code, invalid.json()["code"]) == (400, "VALIDATION_ERROR")
    fake.tenant_key = True
    tenant = await client.post(REQUEST, json={"to": CUSTOMER})
    assert (tenant.status_code, tenant.json()["code"]) == (403, "TENANT_SCOPE_NOT_ALLOWED")
    assert fake.permission_requests == []
    assert len(fake.requests) == 3


async def test_scripted_429_and_503_then_default(fake: FakePilotStatus, client: httpx.AsyncClient) -> None:
    limited = {"error": "Too many", "code": "RATE_LIMITED", "retryAfterSeconds": 1}
    fake.script("POST", REQUEST, status=429, body=limited, headers={"Retry-After": "1"})
    fake.script("POST", REQUEST, status=503, body="Service Unavailable")

    first = await client.post(REQUEST, json={"to": CUSTOMER})
    assert (first.status_code, first.headers["retry-after"], first.json()) == (429, "1", limited)
    second = await client.post(REQUEST, json={"to": CUSTOMER})
    assert (second.status_code, second.text) == (503, "Service Unavailable")
    third = await client.post(REQUEST, json={"to": CUSTOMER})
    assert third.status_code == 200
    assert [r.status for r in fake.requests_to("POST", REQUEST)] == [429, 503, 200]
    assert len(fake.permission_requests) == 1


async def test_scripted_delay_and_dropped_connection(fake: FakePilotStatus, client: httpx.AsyncClient) -> None:
    fake.script("POST", REQUEST, delay=0.3)
    started = time.monotonic()
    slow = await client.post(REQUEST, json={"to": CUSTOMER})
    assert time.monotonic() - started >= 0.3
    assert slow.json() == {"messageId": "wamid.FAKE1"}

    fake.drop_connection_next("POST", REQUEST)
    with pytest.raises(httpx.TransportError):
        await client.post(REQUEST, json={"to": CUSTOMER})
    assert len(fake.requests) == 2 and len(fake.permission_requests) == 1


async def test_realistic_by_default_with_opt_outs() -> None:
    """Meta's request limits and the 24-hour window are on unless a test turns them off."""
    async with FakePilotStatus() as strict, FakePilotStatus(limits=False, window=False) as lenient:
        assert (strict.enforce_limits, strict.enforce_window) == (True, True)
        assert (lenient.enforce_limits, lenient.enforce_window) == (False, False)
        async with httpx.AsyncClient(base_url=lenient.base_url, headers={"x-api-key": "ps_test"}) as client:
            answers = [await client.post(REQUEST, json={"to": CUSTOMER}) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 200]


async def test_the_24_hour_window_is_enforced(fake: FakePilotStatus, client: httpx.AsyncClient) -> None:
    """A permission request goes out only within 24 h of the customer's last message (Pilot Status's endpoint
    sends a free-form interactive message); outside it, FLOW_WINDOW_CLOSED (the SDK's code) and nothing is sent."""
    fake.now = clock = Clock()
    stranger = "+5521998765432"  # never wrote

    never = await client.post(REQUEST, json={"to": stranger})
    assert (never.status_code, never.json()["code"]) == (400, "FLOW_WINDOW_CLOSED")
    fake.customer_writes(stranger, at=clock.t - DAY + 60)  # wrote 23 h 59 min ago
    assert (await client.post(REQUEST, json={"to": stranger})).status_code == 200
    fake.customer_writes(CUSTOMER, at=clock.t - DAY - 1)  # a day and a second ago
    closed = await client.post(REQUEST, json={"to": CUSTOMER})
    assert (closed.status_code, closed.json()["code"]) == (400, "FLOW_WINDOW_CLOSED")
    assert [r.to for r in fake.permission_requests] == [stranger]


async def test_meta_quota_is_enforced(fake: FakePilotStatus, client: httpx.AsyncClient) -> None:
    fake.now = clock = Clock()
    fake.customer_writes(CUSTOMER, at=clock.t)
    fake.customer_writes("+5511777777777", at=clock.t)

    async def ask() -> httpx.Response:
        return await client.post(REQUEST, json={"to": CUSTOMER})

    assert (await ask()).status_code == 200
    again = await ask()
    assert (again.status_code, again.json()["code"]) == (400, "META_CALL_PERMISSION_REQUEST_LIMIT")
    clock.t += DAY + 60
    fake.customer_writes(CUSTOMER)
    assert (await ask()).status_code == 200
    clock.t += DAY + 60
    fake.customer_writes(CUSTOMER)
    assert (await ask()).json()["code"] == "META_CALL_PERMISSION_REQUEST_LIMIT"  # 2 in 7 days

    probe = (await client.get("/v1/calls/permissions", params={"to": CUSTOMER})).json()
    action = probe["actions"][0]
    assert action["can_perform_action"] is False
    assert [limit["current_usage"] for limit in action["limits"]] == [0, 2]
    assert action["limit_expiration_time"] == int(1_800_000_000 + WEEK)
    fake.customer_writes("+5511777777777")
    assert (await client.post(REQUEST, json={"to": "+5511777777777"})).status_code == 200


async def test_permission_probe_shape(fake: FakePilotStatus, client: httpx.AsyncClient) -> None:
    fake.now = clock = Clock()
    probe = (await client.get("/v1/calls/permissions", params={"to": CUSTOMER})).json()
    assert probe["permission"] == {"status": "no_permission"}
    names = [a["action_name"] for a in probe["actions"]]
    assert names == ["send_call_permission_request", "start_call"]
    assert probe["actions"][0]["can_perform_action"] is True
    assert probe["actions"][0]["limits"][1] == {"time_period": "P7D", "max_allowed": 2, "current_usage": 0}

    fake.set_permission(CUSTOMER, "TEMPORARY", expiration_time=int(clock.t) + 100)
    probe = (await client.get("/v1/calls/permissions", params={"to": CUSTOMER})).json()
    assert probe["permission"] == {"status": "temporary", "expiration_time": int(clock.t) + 100}
    assert probe["actions"][1]["can_perform_action"] is True
    clock.t += 101
    probe = (await client.get("/v1/calls/permissions", params={"to": CUSTOMER})).json()
    assert probe["permission"]["status"] == "no_permission"


async def test_calling_settings(fake: FakePilotStatus, client: httpx.AsyncClient) -> None:
    settings = (await client.get("/v1/calls/settings")).json()
    assert settings["calling"]["status"] == "ENABLED"
    assert settings["calling"]["callback_permission_status"] == "ENABLED"
    fake.provider_supported = False
    unsupported = await client.get("/v1/calls/settings")
    assert (unsupported.status_code, unsupported.json()["code"]) == (400, "FEATURE_NOT_SUPPORTED")


async def test_a_web_number_refuses_the_meta_only_calls_endpoints_and_webrtc_starts(
    fake: FakePilotStatus, client: httpx.AsyncClient
) -> None:
    fake.accepted_keys.add("ps_web")
    fake.web_keys.add("ps_web")
    web = {"x-api-key": "ps_web"}
    refused = [
        await client.get("/v1/calls/permissions", params={"to": CUSTOMER}, headers=web),
        await client.post(REQUEST, json={"to": CUSTOMER}, headers=web),
        await client.get("/v1/calls/settings", headers=web),
        await client.post("/v1/calls", json={"to": CUSTOMER, "sdp": "v=0"}, headers=web),
    ]
    assert [(r.status_code, r.json()["code"]) for r in refused] == [(400, "FEATURE_NOT_SUPPORTED")] * 4
    listed = await client.get("/v1/calls", headers=web)  # the endpoints web numbers have still answer
    assert listed.status_code == 200
    assert (await client.get("/v1/calls/settings")).status_code == 200  # the Meta number's key is unaffected


async def test_a_web_number_that_accepts_a_start_drops_the_offer_and_never_answers_with_sdp(
    fake: FakePilotStatus, client: httpx.AsyncClient
) -> None:
    """What a web number does with an offer is not documented: with `web_calls=ACCEPT` the call starts (no
    permission step on web numbers), rings and is answered, but Pilot Status keeps no offer and gives no answer."""
    fake.web_calls = WebCalls.ACCEPT
    fake.call_behaviour = CallBehaviour(ring_after=0.01, answer_after=0.05)
    fake.accepted_keys.add("ps_web")
    fake.web_keys.add("ps_web")
    web = {"x-api-key": "ps_web"}
    offer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=setup:active\r\n"
    started = await client.post("/v1/calls", json={"to": "+5521998765432", "sdp": offer}, headers=web)
    assert started.status_code == 200 and started.json()["id"] == "call_FAKE1"
    call = fake.calls["call_FAKE1"]
    for _ in range(100):
        if call.status == "ACCEPTED":
            break
        await asyncio.sleep(0.02)
    shown = (await client.get("/v1/calls/call_FAKE1", params={"includeSdp": "1"}, headers=web)).json()
    assert (shown["status"], shown["sdpOffer"], shown["sdpAnswer"]) == ("ACCEPTED", None, None)
    assert call.peer is None  # no WebRTC on the customer's side: the media is Pilot Status's
    assert (await client.post("/v1/calls/call_FAKE1/terminate", headers=web)).status_code == 200
    # The Meta-only endpoints still refuse a web number.
    probe = await client.get("/v1/calls/permissions", params={"to": CUSTOMER}, headers=web)
    assert (probe.status_code, probe.json()["code"]) == (400, "FEATURE_NOT_SUPPORTED")


async def test_webhooks_crud(fake: FakePilotStatus, client: httpx.AsyncClient) -> None:
    body = {"url": "https://askcall.example.com/webhooks/pilot", "events": ["call.permission_updated"]}
    created = await client.post("/v1/webhooks", json=body)
    assert created.status_code == 201
    hook = created.json()
    assert hook["id"] == "wh_1" and hook["active"] is True and hook["environment"] == "LIVE"
    assert hook["name"] == "askcall.example.com" and hook["createdAt"].endswith("Z")

    assert [h["id"] for h in (await client.get("/v1/webhooks")).json()] == ["wh_1"]
    patched = await client.patch("/v1/webhooks/wh_1", json={"active": False, "events": ["*"]})
    assert (patched.json()["active"], patched.json()["events"]) == (False, ["*"])
    missing = await client.patch("/v1/webhooks/wh_9", json={"active": True})
    assert (missing.status_code, missing.json()["code"]) == (404, "WEBHOOK_NOT_FOUND")
    assert (await client.delete("/v1/webhooks/wh_1")).status_code == 200
    assert fake.webhooks == {}
    assert (await client.delete("/v1/webhooks/wh_1")).status_code == 404


def test_signature_helper_matches_hmac() -> None:
    body = b'{"event":"call.permission_updated"}'
    expected = hmac.new(b"whsec_test", body, hashlib.sha256).hexdigest()
    assert sign_pilot_status(body, "whsec_test") == expected


def test_permission_event_matches_sdk_fixture() -> None:
    event = permission_event("5511999999999", "TEMPORARY", timestamp="2026-07-03T15:00:00.000Z")
    assert event == {
        "event": "call.permission_updated",
        "callId": None,
        "direction": None,
        "status": "TEMPORARY",
        "from": "5511999999999",
        "to": "5511888888888",
        "timestamp": "2026-07-03T15:00:00.000Z",
    }
    assert permission_event("1", "PERMANENT")["timestamp"].endswith("Z")


async def test_customer_answers_sends_signed_webhook(fake: FakePilotStatus) -> None:
    received: list[tuple[bytes, dict[str, str]]] = []

    async def receiver(request: web.Request) -> web.Response:
        received.append((await request.read(), {k.lower(): v for k, v in request.headers.items()}))
        return web.Response(text="thanks")

    app = web.Application()
    app.router.add_post("/hook", receiver)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        fake.now = clock = Clock()
        assert await fake.customer_answers(url, CUSTOMER, "TEMPORARY") == (200, "thanks")
        raw, headers = received[0]
        payload: dict[str, Any] = json.loads(raw)
        assert (payload["from"], payload["to"], payload["status"]) == (
            "5511999999999",
            "5511888888888",
            "TEMPORARY",
        )
        assert payload["timestamp"] == "2027-01-15T08:00:00.000Z"
        assert headers["x-pilot-status-signature"] == sign_pilot_status(raw, "whsec_test")
        assert fake.permissions[CUSTOMER] == {"status": "temporary", "expiration_time": int(clock.t) + WEEK}

        await send_webhook(url, payload, secret=None)
        await send_webhook(url, b"{}", secret="whsec_test", signature="forged")
        assert "x-pilot-status-signature" not in received[1][1]
        assert received[2][1]["x-pilot-status-signature"] == "forged"
    finally:
        await runner.cleanup()


class Receiver:
    """A webhook endpoint that answers with the statuses it is given (then 200), recording each arrival."""

    def __init__(self, statuses: list[int], delay: float = 0.0) -> None:
        self.statuses = statuses
        self.delay = delay
        self.arrivals: list[tuple[float, bytes]] = []
        self.runner: web.AppRunner | None = None

    async def __aenter__(self) -> str:
        async def receive(request: web.Request) -> web.Response:
            self.arrivals.append((time.monotonic(), await request.read()))
            if self.delay and len(self.arrivals) == 1:
                await asyncio.sleep(self.delay)  # the first attempt times out
            status = self.statuses.pop(0) if self.statuses else 200
            return web.Response(status=status, text="ok" if status == 200 else "retry")

        app = web.Application()
        app.router.add_post("/hook", receive)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{self.runner.addresses[0][1]}/hook"

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


async def test_the_customer_answering_is_one_operation_probe_and_webhook(
    fake: FakePilotStatus, client: httpx.AsyncClient
) -> None:
    """Whoever asks afterwards (AskCall's status check, a call start) meets the world the webhook announced."""
    async with Receiver([]) as url:
        fake.subscribe(url, ["call.permission_updated"])
        assert await fake.customer_answers(None, CUSTOMER, "PERMANENT") == (200, "ok")  # to every subscriber
        probe = (await client.get("/v1/calls/permissions", params={"to": CUSTOMER})).json()
        assert probe["permission"] == {"status": "permanent"}
        await fake.customer_answers(url, CUSTOMER, "NO_PERMISSION")
        probe = (await client.get("/v1/calls/permissions", params={"to": CUSTOMER})).json()
        assert probe["permission"] == {"status": "no_permission"}
    assert [d.payload["status"] for d in fake.deliveries] == ["PERMANENT", "NO_PERMISSION"]


@pytest.mark.parametrize("failure", ["503", "timeout", "refused"])
async def test_a_webhook_without_a_2xx_is_redelivered_with_backoff_the_same_bytes(
    fake: FakePilotStatus, failure: str
) -> None:
    fake.redelivery_delays = (0.1, 0.2, 0.4)
    fake.delivery_timeout = 0.3
    receiver = Receiver([503, 503] if failure == "503" else [], delay=1.0 if failure == "timeout" else 0.0)
    async with receiver as url:
        target = url if failure != "refused" else url.replace("/hook", "/nowhere")
        first = await fake.customer_answers(target, CUSTOMER, "TEMPORARY")
        assert not 200 <= first[0] < 300
        await fake.redeliveries_done(timeout=10)
    attempts = [(d.attempt, d.succeeded) for d in fake.deliveries]
    if failure == "refused":  # a 404 every time: given up after the last delay
        assert attempts == [(1, False), (2, False), (3, False), (4, False)]
        return
    expected = [(1, False), (2, False), (3, True)] if failure == "503" else [(1, False), (2, True)]
    assert attempts == expected
    times = [at for at, _ in receiver.arrivals]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap >= delay * 0.9 for gap, delay in zip(gaps, fake.redelivery_delays, strict=False)), gaps
    assert len({body for _, body in receiver.arrivals}) == 1  # the same bytes (and so the same signature)
