"""Connecting a workspace's Pilot Status account (bot/services/connect.py) and its webhook URL
(/webhooks/pilot-status/t/<token>, bot/web/webhooks.py), in multi-workspace mode over loopback HTTP against the fake
Pilot Status, on both backends: a refused key stores nothing; a good one registers the webhook at the number's own
URL with every handled event; an unknown token is a 404; until the secret is pasted, a webhook body is only a hint
that AskCall checks with Pilot Status (a forged grant changes nothing); once pasted, signatures are checked."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from bot.domain import CallState, DeliveryKind, Outcome, RequestState, TenantId
from bot.fakes import FakePilotStatus, FakeSlack
from bot.fakes.pilot_status import permission_event, send_webhook
from bot.pilot_status.webhooks import HANDLED_EVENTS
from bot.services.connect import Connected, ConnectService, Refused
from bot.store import NewDelivery, NewRequest
from tests.e2e.test_hostile_http import trickling
from tests.oauth.install_helpers import MultiServer, free_socket, multi_settings, start_multi

T2 = TenantId("T2")
CUSTOMER = "+5511999990001"


@pytest.fixture
async def askcall(
    slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path, database_url: str
) -> AsyncIterator[MultiServer]:
    sock = free_socket()
    server = await start_multi(multi_settings(slack, pilot, tmp_path, database_url, sock.getsockname()[1]), sock, slack)
    try:
        yield server
    finally:
        await server.stop()


def connector(server: MultiServer) -> ConnectService:
    connect = server.askcall.connect
    assert connect is not None
    return connect


async def event_count(server: MultiServer) -> int:
    return (await server.askcall.store.row_counts())["webhook_events"]


@pytest.mark.parametrize(
    ("breakage", "reason"),
    [
        ("wrong key", "connect.key_refused"),
        ("account key", "connect.key_tenant"),
        ("not meta", "connect.not_meta"),
        ("calling off", "connect.calling_disabled"),
        ("malformed", "connect.key_malformed"),
    ],
)
async def test_a_refused_key_gets_its_reason_and_nothing_is_stored(
    askcall: MultiServer, pilot: FakePilotStatus, breakage: str, reason: str
) -> None:
    key = {"wrong key": "ps_wrong", "malformed": "ps test with spaces"}.get(breakage, pilot.api_key)
    pilot.tenant_key = breakage == "account key"
    pilot.provider_supported = breakage != "not meta"
    if breakage == "calling off":
        pilot.calling_settings["status"] = "DISABLED"

    result = await connector(askcall).connect(T2, key)

    assert result == Refused(reason)
    assert await askcall.askcall.store.workspace_numbers(T2) == []
    assert pilot.webhooks == {}


async def test_a_good_key_registers_the_webhook_at_the_numbers_own_url_and_is_stored_encrypted(
    askcall: MultiServer, pilot: FakePilotStatus
) -> None:
    result = await connector(askcall).connect(T2, pilot.api_key)

    assert isinstance(result, Connected) and result.created
    (webhook,) = pilot.webhooks.values()
    assert (
        webhook["url"] == result.webhook_url == f"{askcall.url}/webhooks/pilot-status/t/{result.number.webhook_token}"
    )
    assert webhook["events"] == list(HANDLED_EVENTS) and webhook["active"]
    assert len(result.number.webhook_token) >= 40
    (stored,) = await askcall.askcall.store.workspace_numbers(T2)
    assert stored.webhook_id == webhook["id"] and stored.webhook_secret is None
    assert pilot.api_key not in stored.api_key  # encrypted
    assert [n.api_key for n in await askcall.askcall.configs.numbers_of(T2)] == [pilot.api_key]
    assert await askcall.askcall.configs.numbers_of(TenantId("T3")) == ()

    # Connecting again repairs the same webhook (PATCH with the whole list), keeping the URL.
    webhook["events"] = ["call.ringing"]
    webhook["active"] = False
    again = await connector(askcall).connect(T2, pilot.api_key)

    assert isinstance(again, Connected) and not again.created
    assert again.webhook_url == result.webhook_url and len(pilot.webhooks) == 1
    assert webhook["events"] == list(HANDLED_EVENTS) and webhook["active"]


def webhook_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bot.web.webhooks" and r.levelno == logging.WARNING]


async def test_an_unknown_token_is_not_found_and_stores_nothing(
    askcall: MultiServer, pilot: FakePilotStatus, caplog: pytest.LogCaptureFixture
) -> None:
    await connector(askcall).connect(T2, pilot.api_key)
    body = permission_event(CUSTOMER, "TEMPORARY")

    for token in ("nope", "x" * 300):
        status, text = await send_webhook(f"{askcall.url}/webhooks/pilot-status/t/{token}", body, secret=None)
        assert (status, json.loads(text)) == (404, {"error": "not found"})
    assert webhook_warnings(caplog) == ["refused a Pilot Status webhook to an unknown address"] * 2
    status, _ = await send_webhook(f"{askcall.url}/webhooks/pilot-status", body, secret=pilot.webhook_secret)
    assert status == 404  # the environment's URL serves no workspace in multi-workspace mode
    assert await event_count(askcall) == 0


async def test_hint_mode_believes_pilot_status_never_the_body_and_a_pasted_secret_ends_it(
    askcall: MultiServer, pilot: FakePilotStatus, caplog: pytest.LogCaptureFixture
) -> None:
    connected = await connector(askcall).connect(T2, pilot.api_key)
    assert isinstance(connected, Connected)
    store = askcall.askcall.store
    request_id, _ = await store.create_request(
        NewRequest(T2, "C1", "U1", CUSTOMER, "Podemos ligar?", "pt-BR", source_key="waiting"),
        NewDelivery("waiting:parent", DeliveryKind.PARENT, {"channel": "C1", "text": "x"}),
    )
    await store.update_request(T2, request_id, state=RequestState.WAITING, parent_ts="1.2", message_id="m1")
    url = connected.webhook_url

    # A forged, unsigned body claiming a grant Pilot Status doesn't have: nothing stored, nothing changes.
    status, text = await send_webhook(url, permission_event(CUSTOMER.lstrip("+"), "PERMANENT"), secret=None)
    assert status == 200 and '"hint": true' in text
    request = await store.get_request(T2, request_id)
    assert request is not None and request.state is RequestState.WAITING and request.outcome is None
    assert await event_count(askcall) == 0

    # The customer really granted: the same kind of hint now applies what Pilot Status says (temporary).
    pilot.permissions[CUSTOMER] = {"status": "temporary", "expiration_time": int(time.time()) + 7 * 86400}
    status, _ = await send_webhook(url, permission_event(CUSTOMER.lstrip("+"), "PERMANENT"), secret=None)
    assert status == 200
    for _ in range(100):
        request = await store.get_request(T2, request_id)
        if request is not None and request.state is RequestState.ANSWERED:
            break
        await asyncio.sleep(0.05)
    assert request is not None and request.state is RequestState.ANSWERED and request.outcome is Outcome.TEMPORARY

    # The secret pasted: an unsigned body is refused, a signed one is taken as today.
    assert await connector(askcall).set_secret(T2, pilot.webhook_secret) is None
    (stored,) = await store.workspace_numbers(T2)
    assert stored.webhook_secret is not None and pilot.webhook_secret not in stored.webhook_secret
    before = await event_count(askcall)
    status, text = await send_webhook(url, permission_event("5511999990002", "TEMPORARY"), secret=None)
    assert (status, json.loads(text)) == (401, {"error": "invalid signature"})
    assert await event_count(askcall) == before
    assert webhook_warnings(caplog) == ["rejected a Pilot Status webhook with a missing or wrong signature"]
    status, _ = await send_webhook(url, permission_event("5511999990002", "TEMPORARY"), secret=pilot.webhook_secret)
    assert status == 200 and await event_count(askcall) == before + 1


async def test_a_malformed_secret_or_one_for_no_number_is_refused(askcall: MultiServer, pilot: FakePilotStatus) -> None:
    assert await connector(askcall).set_secret(T2, "whsec_x") == Refused("connect.not_connected")
    await connector(askcall).connect(T2, pilot.api_key)
    assert await connector(askcall).set_secret(T2, "   ") == Refused("connect.secret_malformed")
    (stored,) = await askcall.askcall.store.workspace_numbers(T2)
    assert stored.webhook_secret is None


async def test_a_number_name_that_isnt_one_is_refused_before_pilot_status_is_asked(
    askcall: MultiServer, pilot: FakePilotStatus
) -> None:
    for name in ("Rio de Janeiro", "", "-rj", "x" * 41):
        assert await connector(askcall).connect(T2, pilot.api_key, name=name) == Refused("settings.name_malformed")
    assert await askcall.askcall.store.workspace_numbers(T2) == [] and pilot.requests == []


# --- edges the mutation run found unchecked (tests/MUTATION.md) ----------------------------------------------------


async def hint_url(askcall: MultiServer, pilot: FakePilotStatus) -> str:
    connected = await connector(askcall).connect(T2, pilot.api_key)
    assert isinstance(connected, Connected)
    return connected.webhook_url


def asked(pilot: FakePilotStatus) -> list[tuple[str, str]]:
    """What AskCall asked Pilot Status after connecting: reads of permissions and calls."""
    return [(r.path, r.query.get("to", "")) for r in pilot.requests if r.method == "GET" and "/v1/calls" in r.path]


async def test_a_hint_asks_only_about_the_customer_or_the_call_it_names(
    askcall: MultiServer, pilot: FakePilotStatus
) -> None:
    url = await hint_url(askcall, pilot)
    store = askcall.askcall.store
    request_id, _ = await store.create_request(
        NewRequest(T2, "C1", "U1", CUSTOMER, "Podemos ligar?", "pt-BR", source_key="calling"),
        NewDelivery("calling:parent", DeliveryKind.PARENT, {"channel": "C1", "text": "x"}),
    )
    call = await store.create_call(T2, request_id, "U1", time.time())
    await store.advance_call(T2, call.id, [CallState.STARTED], {"state": "ringing", "pilot_call_id": "call_X"}, [])
    before = asked(pilot)

    nothing_to_ask = [
        {"event": "call.permission_updated", "from": 5511999990001},  # the customer not as text
        {"event": "message.received", "from": CUSTOMER, "callId": "call_X"},  # not an event AskCall handles
        {"event": "call.ended", "callId": 7},  # a call id not as text
        {"event": "call.ended", "from": CUSTOMER},  # a call event without a call id
    ]
    for payload in nothing_to_ask:
        status, text = await send_webhook(url, payload, secret=None)
        assert (status, json.loads(text)) == (200, {"ok": True, "hint": True}), payload
    assert asked(pilot) == before

    status, text = await send_webhook(url, permission_event(CUSTOMER.lstrip("+"), "PERMANENT"), secret=None)
    assert (status, json.loads(text)) == (200, {"ok": True, "hint": True})
    assert asked(pilot)[len(before) :] == [("/v1/calls/permissions", CUSTOMER)]
    status, text = await send_webhook(url, {"event": "call.ended", "callId": "call_X"}, secret=None)
    assert asked(pilot)[len(before) + 1 :] == [("/v1/calls/call_X", "")]
    assert await event_count(askcall) == 0


async def test_a_hint_that_cannot_be_read_is_a_400_and_one_pilot_status_cannot_answer_a_503(
    askcall: MultiServer, pilot: FakePilotStatus, caplog: pytest.LogCaptureFixture
) -> None:
    url = await hint_url(askcall, pilot)
    status, text = await send_webhook(url, b"{not json", secret=None)
    assert (status, json.loads(text)) == (400, {"error": "body is not valid JSON"})

    pilot.script("GET", "/v1/calls/permissions", status=503, times=20)
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, json=permission_event(CUSTOMER.lstrip("+"), "PERMANENT")) as response,
    ):
        assert (response.status, await response.json()) == (503, {"error": "temporarily unavailable"})
        assert response.headers["Retry-After"] == "30"
    (warning,) = webhook_warnings(caplog)
    assert warning == "could not take a Pilot Status webhook (HTTP 503); answered 503"  # Pilot Status's answer
    assert await event_count(askcall) == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # a read-only SQLite file is the outage
async def test_a_signed_webhook_the_database_cannot_store_is_a_503_to_be_sent_again(
    askcall: MultiServer, pilot: FakePilotStatus, caplog: pytest.LogCaptureFixture
) -> None:
    url = await hint_url(askcall, pilot)
    assert await connector(askcall).set_secret(T2, pilot.webhook_secret) is None
    store = askcall.askcall.store
    await store.db.execute("PRAGMA query_only = ON")  # every write now fails, as on a full or lost disk
    body = permission_event("5511999990002", "TEMPORARY")
    status, text = await send_webhook(url, body, secret=pilot.webhook_secret)
    assert (status, json.loads(text)) == (503, {"error": "temporarily unavailable"})
    (warning,) = webhook_warnings(caplog)
    assert warning.startswith("could not take a Pilot Status webhook (the database ") and "read-only" in warning
    await store.db.execute("PRAGMA query_only = OFF")
    assert await event_count(askcall) == 0
    assert (await send_webhook(url, body, secret=pilot.webhook_secret))[0] == 200
    assert await event_count(askcall) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the HTTP surface, not the store
async def test_a_body_that_never_finishes_at_a_workspace_url_gets_408(
    slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path, database_url: str
) -> None:
    """The settings' body timeout holds at a workspace's own webhook URL too, before its token is even looked up."""
    sock = free_socket()
    settings = multi_settings(slack, pilot, tmp_path, database_url, sock.getsockname()[1])
    server = await start_multi(replace(settings, body_timeout=0.5), sock, slack)
    try:
        async with trickling(server.url, "/webhooks/pilot-status/t/some-token") as reader:
            answer = await asyncio.wait_for(reader.read(), 5)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
    finally:
        await server.stop()
