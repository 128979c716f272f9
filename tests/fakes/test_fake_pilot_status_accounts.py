"""Tests of the fake Pilot Status's accounts (one per API key), driven by httpx over loopback: like the real API,
a key sees and changes only its own account's webhooks, permissions, limits, calls and settings (another account's
webhook or call is a 404, as if it did not exist), and a customer of one number answers only to that account's
webhooks, signed with that account's secret. The single-account attributes stay the default account's."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web

from bot.fakes import FakePilotStatus, sign_pilot_status
from bot.fakes.pilot_status import CallBehaviour, PilotAccount

CUSTOMER = "+5511999999999"
REQUEST = "/v1/calls/permissions/request"
OFFER = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=setup:active\r\n"


@pytest.fixture
async def fake() -> AsyncIterator[FakePilotStatus]:
    async with FakePilotStatus(api_key="ps_a", business_number="5511888880001", webhook_secret="whsec_a") as server:
        yield server


@pytest.fixture
def other(fake: FakePilotStatus) -> PilotAccount:
    return fake.add_account("ps_b", "5521777770002", "whsec_b")


def client(fake: FakePilotStatus, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=fake.base_url, headers={"x-api-key": key})


class Receiver:
    """A loopback webhook receiver that records each body with its signature header."""

    def __init__(self) -> None:
        self.got: list[tuple[str, bytes, str | None]] = []  # (path, body, signature)
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{name}", self._receive)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def _receive(self, request: web.Request) -> web.Response:
        self.got.append((request.path, await request.read(), request.headers.get("x-pilot-status-signature")))
        return web.json_response({"ok": True})

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    started = Receiver()
    await started.start()
    try:
        yield started
    finally:
        await started.stop()


async def test_a_key_cannot_see_or_change_another_accounts_webhook(fake: FakePilotStatus, other: PilotAccount) -> None:
    async with client(fake, "ps_a") as a, client(fake, "ps_b") as b:
        created = await b.post("/v1/webhooks", json={"url": "https://b.example/hook", "events": ["*"]})
        assert created.status_code == 201
        hook = created.json()
        assert hook["tenantId"] == other.tenant_id != fake.default.tenant_id
        own = (await a.post("/v1/webhooks", json={"url": "https://a.example/hook"})).json()

        assert [h["id"] for h in (await a.get("/v1/webhooks")).json()] == [own["id"]]
        assert [h["id"] for h in (await b.get("/v1/webhooks")).json()] == [hook["id"]]
        path = f"/v1/webhooks/{hook['id']}"
        crossing = [await a.get(path), await a.patch(path, json={"active": False}), await a.delete(path)]
        assert [(r.status_code, r.json()) for r in crossing] == [
            (404, {"error": "Webhook not found", "code": "WEBHOOK_NOT_FOUND"})
        ] * 3

    assert other.webhooks == {hook["id"]: hook} and hook["active"] is True
    assert list(fake.webhooks) == [own["id"]]  # the single-account attribute is the default account's


async def test_permissions_limits_and_settings_are_per_account(fake: FakePilotStatus, other: PilotAccount) -> None:
    fake.customer_writes(CUSTOMER)
    other.customer_writes(CUSTOMER)
    other.set_permission(CUSTOMER, "PERMANENT")
    async with client(fake, "ps_a") as a, client(fake, "ps_b") as b:
        assert (await a.post(REQUEST, json={"to": CUSTOMER})).status_code == 200
        # The same customer, another number: its own limits (1 per 24 h), not yet used.
        assert (await b.post(REQUEST, json={"to": CUSTOMER})).status_code == 200
        again = await a.post(REQUEST, json={"to": CUSTOMER})
        assert (again.status_code, again.json()["code"]) == (400, "META_CALL_PERMISSION_REQUEST_LIMIT")

        probe_a = (await a.get("/v1/calls/permissions", params={"to": CUSTOMER})).json()
        probe_b = (await b.get("/v1/calls/permissions", params={"to": CUSTOMER})).json()
        assert probe_a["permission"] == {"status": "no_permission"}
        assert probe_b["permission"] == {"status": "permanent"}

        assert (await b.put("/v1/calls/settings", json={"status": "DISABLED"})).status_code == 200
        assert (await a.get("/v1/calls/settings")).json()["calling"]["status"] == "ENABLED"
        assert (await b.get("/v1/calls/settings")).json()["calling"]["status"] == "DISABLED"

    assert [r.to for r in fake.permission_requests] == [CUSTOMER]
    assert [r.to for r in other.permission_requests] == [CUSTOMER]
    assert [r.status for r in other.requests_to("POST", REQUEST)] == [200]
    assert [r.status for r in fake.default.requests_to("POST", REQUEST)] == [200, 400]


async def test_a_key_sees_only_its_own_calls(fake: FakePilotStatus, other: PilotAccount) -> None:
    other.set_permission(CUSTOMER, "TEMPORARY")
    other.call_behaviour = CallBehaviour(ring_after=30.0, answer_after=None)  # still ringing when the test ends
    async with client(fake, "ps_a") as a, client(fake, "ps_b") as b:
        started = await b.post("/v1/calls", json={"to": CUSTOMER, "sdp": OFFER})
        assert started.status_code == 200
        call_id = started.json()["id"]
        shown = await b.get(f"/v1/calls/{call_id}")
        assert (shown.status_code, shown.json()["fromNumber"]) == (200, other.business_number)

        assert (await a.get("/v1/calls")).json() == {"calls": []}
        crossing = [await a.get(f"/v1/calls/{call_id}"), await a.post(f"/v1/calls/{call_id}/terminate")]
        assert [(r.status_code, r.json()["code"]) for r in crossing] == [(404, "CALL_NOT_FOUND")] * 2
        # A's customer has not granted A anything: A can't call them on the strength of B's grant.
        refused = await a.post("/v1/calls", json={"to": CUSTOMER, "sdp": OFFER})
        assert (refused.status_code, refused.json()["code"]) == (400, "META_CALL_PERMISSION_REQUIRED")
        assert [c["id"] for c in (await b.get("/v1/calls")).json()["calls"]] == [call_id]

    assert other.calls[call_id].status == "INITIATED" and other.calls[call_id].ended_at is None
    assert fake.calls == {}


async def test_an_answer_goes_only_to_its_accounts_webhooks_signed_with_its_secret(
    fake: FakePilotStatus, other: PilotAccount, receiver: Receiver
) -> None:
    fake.subscribe(f"{receiver.url}/a")
    other.subscribe(f"{receiver.url}/b", ["call.permission_updated"])
    other.subscribe(f"{receiver.url}/b-calls-only", ["call.ended"])

    status, _ = await other.customer_answers(None, CUSTOMER, "TEMPORARY")

    assert status == 200
    [(path, body, signature)] = receiver.got
    assert path == "/b" and signature == sign_pilot_status(body, "whsec_b")
    payload: dict[str, Any] = json.loads(body)
    assert (payload["event"], payload["from"], payload["to"]) == (
        "call.permission_updated",
        CUSTOMER.removeprefix("+"),
        other.business_number,
    )
    assert [d.url for d in other.deliveries] == [f"{receiver.url}/b"] and fake.default.deliveries == []
    assert fake.permissions == {}  # A's customer state is untouched
    assert other.permissions[CUSTOMER]["status"] == "temporary"


async def test_scripts_for_one_key_leave_the_other_accounts_requests_alone(
    fake: FakePilotStatus, other: PilotAccount
) -> None:
    other.script("GET", "/v1/calls/settings", status=503, body="down", times=3)
    async with client(fake, "ps_a") as a, client(fake, "ps_b") as b:
        answers = await asyncio.gather(*(c.get("/v1/calls/settings") for c in (a, b, a, b)))
    assert [r.status_code for r in answers] == [200, 503, 200, 503]


async def test_keys_and_the_single_account_api(fake: FakePilotStatus, other: PilotAccount) -> None:
    fake.accepted_keys.add("ps_a2")  # another key of the default account shares its world
    assert fake.account_for("ps_a") is fake.account_for("ps_a2") is fake.default
    assert fake.account_for("ps_b") is other and fake.account_for("ps_c") is None
    with pytest.raises(ValueError, match="already"):
        fake.add_account("ps_a2", "5511000000000", "whsec_x")
    async with client(fake, "ps_c") as c:
        refused = await c.get("/v1/webhooks")
    assert (refused.status_code, refused.json()["code"]) == (401, "UNAUTHORIZED")
    fake.webhook_secret = "whsec_rotated"
    assert fake.default.webhook_secret == "whsec_rotated" and other.webhook_secret == "whsec_b"
    assert fake.accounts == [fake.default, other]
