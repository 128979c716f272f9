"""The fake Pilot Status calls endpoints, driven over loopback HTTP by an aiortc caller (no browser).

Audio is proven both ways by decoded frames on each side; each webhook is checked for shape and signature.
"""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from bot.fakes.pilot_status import CallBehaviour, FakePilotStatus, call_event
from tests.calls.conftest import CUSTOMER
from tests.calls.helpers import AiortcCaller, WebhookSink, wait_until
from tests.conftest import WEBHOOK_SECRET, ManualClock

CALLS = "/v1/calls"
BUSINESS = "5511888888888"


async def start(calls: httpx.AsyncClient, caller: AiortcCaller) -> str:
    response = await calls.post(CALLS, json={"to": CUSTOMER, "sdp": await caller.offer()})
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


# ---------------------------------------------------------------------- validation
async def test_start_call_validation(pilot: FakePilotStatus, calls: httpx.AsyncClient) -> None:
    caller = AiortcCaller()
    try:
        good = await caller.offer()
    finally:
        await caller.close()
    actpass = good.replace("a=setup:active", "a=setup:actpass")
    cases = [
        ({"to": "5511999999999", "sdp": good}, "VALIDATION_ERROR", "E.164"),
        ({"to": CUSTOMER}, "VALIDATION_ERROR", "`sdp`"),
        ({"to": CUSTOMER, "sdp": "  "}, "VALIDATION_ERROR", "`sdp`"),
        ({"to": CUSTOMER, "sdp": "hello"}, "VALIDATION_ERROR", "audio section"),
        ({"to": CUSTOMER, "sdp": actpass}, "VALIDATION_ERROR", "a=setup:active"),
        ({"to": CUSTOMER, "sdp": good, "sdpType": "answer"}, "VALIDATION_ERROR", "sdpType"),
        ({"to": CUSTOMER, "sdp": good, "bizOpaqueCallbackData": 42}, "VALIDATION_ERROR", "bizOpaque"),
        ({"to": "+5511777777777", "sdp": good}, "META_CALL_PERMISSION_REQUIRED", "138006"),
    ]
    for body, code, words in cases:
        response = await calls.post(CALLS, json=body)
        assert (response.status_code, response.json()["code"]) == (400, code), body
        assert words in response.json()["error"], body
    garbage = await calls.post(CALLS, content=b"not json", headers={"content-type": "application/json"})
    assert (garbage.status_code, garbage.json()["code"]) == (400, "VALIDATION_ERROR")

    unauthorized = await calls.post(CALLS, json={"to": CUSTOMER, "sdp": good}, headers={"x-api-key": "ps_wrong"})
    assert (unauthorized.status_code, unauthorized.json()["code"]) == (401, "UNAUTHORIZED")
    pilot.tenant_key = True
    tenant = await calls.post(CALLS, json={"to": CUSTOMER, "sdp": good})
    assert (tenant.status_code, tenant.json()["code"]) == (403, "TENANT_SCOPE_NOT_ALLOWED")
    pilot.tenant_key, pilot.provider_supported = False, False
    unsupported = await calls.post(CALLS, json={"to": CUSTOMER, "sdp": good})
    assert (unsupported.status_code, unsupported.json()["code"]) == (400, "FEATURE_NOT_SUPPORTED")
    assert pilot.calls == {}


async def test_an_expired_permission_refuses_the_call(pilot: FakePilotStatus, calls: httpx.AsyncClient) -> None:
    pilot.now = clock = ManualClock(1_800_000_000.0)
    pilot.set_permission(CUSTOMER, "TEMPORARY", expiration_time=int(clock.now) + 60)
    caller = AiortcCaller()
    try:
        offer = await caller.offer()
        pilot.call_behaviour = CallBehaviour(answer_after=None, ring_timeout=5)
        assert (await calls.post(CALLS, json={"to": CUSTOMER, "sdp": offer})).status_code == 200
        clock.advance(61)
        refused = await calls.post(CALLS, json={"to": CUSTOMER, "sdp": offer})
        assert (refused.status_code, refused.json()["code"]) == (400, "META_CALL_PERMISSION_REQUIRED")
        assert len(pilot.calls) == 1
    finally:
        await caller.close()


async def test_unknown_call_is_404(calls: httpx.AsyncClient) -> None:
    for response in (await calls.get(CALLS + "/call_nope"), await calls.post(CALLS + "/call_nope/terminate")):
        assert (response.status_code, response.json()["code"]) == (404, "CALL_NOT_FOUND")


async def test_scripted_failure_on_start(pilot: FakePilotStatus, calls: httpx.AsyncClient) -> None:
    pilot.script("POST", CALLS, status=429, body={"error": "Too many", "code": "RATE_LIMITED"})
    response = await calls.post(CALLS, json={"to": CUSTOMER, "sdp": "v=0"})
    assert (response.status_code, response.json()["code"]) == (429, "RATE_LIMITED")
    assert pilot.calls == {}


def test_call_event_matches_sdk_fixture() -> None:
    event = call_event(
        "call.ended",
        "call_1",
        "COMPLETED",
        customer="+5511999999999",
        external_call_id="wacid.ABGG",
        timestamp="2026-07-03T15:02:05.000Z",
        duration=120,
    )
    assert event == {
        "event": "call.ended",
        "callId": "call_1",
        "externalCallId": "wacid.ABGG",
        "direction": "OUTBOUND",
        "status": "COMPLETED",
        "from": "5511888888888",
        "to": "5511999999999",
        "timestamp": "2026-07-03T15:02:05.000Z",
        "duration": 120,
    }
    assert "duration" not in call_event("call.missed", "call_1", "MISSED", customer="5511999999999")


# ---------------------------------------------------------------------- a call with audio both ways
async def test_answered_call_audio_both_ways_then_terminate(
    pilot: FakePilotStatus, calls: httpx.AsyncClient, sink: WebhookSink
) -> None:
    pilot.now = clock = ManualClock(1_800_000_000.0)
    pilot.call_behaviour = CallBehaviour(answer_after=0.3)
    caller = AiortcCaller(tone_hz=880)
    try:
        response = await calls.post(
            CALLS, json={"to": CUSTOMER, "sdp": await caller.offer(), "bizOpaqueCallbackData": "req-7"}
        )
        started = response.json()
        assert started == {"id": "call_FAKE1", "externalCallId": "wacid.FAKE1", "status": "INITIATED"}
        early = (await calls.get(CALLS + "/call_FAKE1", params={"includeSdp": "1"})).json()
        assert early["sdpAnswer"] is None and early["sdpOffer"].startswith("v=0")
        assert early["status"] in ("INITIATED", "RINGING")

        connected = await sink.wait_for("call.connected")
        assert connected.payload["status"] == "ACCEPTED"
        details = (await calls.get(CALLS + "/wacid.FAKE1", params={"includeSdp": "1"})).json()
        assert details["status"] == "ACCEPTED" and details["direction"] == "OUTBOUND"
        assert (details["peerNumber"], details["fromNumber"]) == ("5511999999999", BUSINESS)
        assert details["bizOpaqueCallbackData"] == "req-7" and details["connectedAt"].endswith("Z")
        assert "a=setup:passive" in details["sdpAnswer"]  # the fake is the DTLS server
        plain = (await calls.get(CALLS + "/call_FAKE1")).json()
        assert "sdpAnswer" not in plain and "sdpOffer" not in plain

        await caller.accept(details["sdpAnswer"])
        assert await caller.wait_connected(5)
        fake_phone = pilot.calls["call_FAKE1"].peer
        assert fake_phone is not None
        await wait_until(
            lambda: caller.audible_frames_received > 5 and fake_phone.audible_frames_received > 5,
            what="audible audio both ways",
        )
        assert caller.frames_received > 0 and fake_phone.frames_received > 0

        clock.advance(252)
        hung_up = await calls.post(CALLS + "/call_FAKE1/terminate")
        assert hung_up.json() == {"success": True, "id": "call_FAKE1", "status": "COMPLETED"}
        ended = await sink.wait_for("call.ended")
        assert ended.payload == {
            "event": "call.ended",
            "callId": "call_FAKE1",
            "externalCallId": "wacid.FAKE1",
            "direction": "OUTBOUND",
            "status": "COMPLETED",
            "from": BUSINESS,
            "to": "5511999999999",
            "timestamp": ended.payload["timestamp"],
            "duration": 252,
        }
        assert sink.events() == ["call.ringing", "call.connected", "call.ended"]
        assert sink.all_signed_with(WEBHOOK_SECRET)
        final = (await calls.get(CALLS + "/call_FAKE1")).json()
        assert (final["status"], final["durationSeconds"]) == ("COMPLETED", 252)
        again = await calls.post(CALLS + "/call_FAKE1/terminate")
        assert (again.status_code, again.json()["code"]) == (409, "CALL_ALREADY_ENDED")
        await wait_until(lambda: pilot.calls["call_FAKE1"].task.done(), what="the call task to finish")
        assert fake_phone.pc.connectionState == "closed"
    finally:
        await caller.close()


async def test_customer_hangs_up(pilot: FakePilotStatus, calls: httpx.AsyncClient, sink: WebhookSink) -> None:
    pilot.call_behaviour = CallBehaviour(answer_after=0.05, hang_up_after=0.6)
    caller = AiortcCaller()
    try:
        call_id = await start(calls, caller)
        await sink.wait_for("call.connected")
        details = (await calls.get(f"{CALLS}/{call_id}", params={"includeSdp": "true"})).json()
        await caller.accept(details["sdpAnswer"])
        assert await caller.wait_connected(5)
        ended = await sink.wait_for("call.ended")
        assert (ended.payload["status"], ended.payload["duration"]) == ("COMPLETED", 1)
        assert caller.frames_received > 0
    finally:
        await caller.close()


async def test_missed_call(pilot: FakePilotStatus, calls: httpx.AsyncClient, sink: WebhookSink) -> None:
    pilot.call_behaviour = CallBehaviour(answer_after=None, ring_timeout=0.4)
    caller = AiortcCaller()
    try:
        call_id = await start(calls, caller)
        missed = await sink.wait_for("call.missed")
        assert missed.payload["status"] == "MISSED" and "duration" not in missed.payload
        assert sink.events() == ["call.ringing", "call.missed"]
        details = (await calls.get(f"{CALLS}/{call_id}", params={"includeSdp": "1"})).json()
        assert (details["status"], details["sdpAnswer"], details["durationSeconds"]) == ("MISSED", None, None)
        refused = await calls.post(f"{CALLS}/{call_id}/terminate")
        assert refused.status_code == 409
    finally:
        await caller.close()


async def test_rejected_call(pilot: FakePilotStatus, calls: httpx.AsyncClient, sink: WebhookSink) -> None:
    pilot.call_behaviour = CallBehaviour(answer_after=0.1, reject=True)
    caller = AiortcCaller()
    try:
        await start(calls, caller)
        ended = await sink.wait_for("call.ended")
        assert ended.payload["status"] == "REJECTED" and "duration" not in ended.payload
        assert sink.events() == ["call.ringing", "call.ended"]
        assert pilot.calls["call_FAKE1"].peer is None  # never picked up: no media at all
    finally:
        await caller.close()


async def test_business_hangs_up_while_ringing(
    pilot: FakePilotStatus, calls: httpx.AsyncClient, sink: WebhookSink
) -> None:
    pilot.call_behaviour = CallBehaviour(answer_after=5)
    caller = AiortcCaller()
    try:
        call_id = await start(calls, caller)
        await sink.wait_for("call.ringing")
        started = time.monotonic()
        assert (await calls.post(f"{CALLS}/{call_id}/terminate")).json()["status"] == "COMPLETED"
        ended = await sink.wait_for("call.ended", timeout=2)
        assert time.monotonic() - started < 1
        assert ended.payload["status"] == "COMPLETED" and "duration" not in ended.payload
        assert sink.events() == ["call.ringing", "call.ended"]
    finally:
        await caller.close()


async def test_no_media_connection_fails_the_call(
    pilot: FakePilotStatus, calls: httpx.AsyncClient, sink: WebhookSink
) -> None:
    """An offer whose only candidates are not on loopback: the fake drops them, never connects, and gives up."""
    pilot.call_behaviour = CallBehaviour(answer_after=0.05, media_timeout=1.0)
    caller = AiortcCaller()
    try:
        offer = (await caller.offer()).replace(" 127.0.0.1 ", " 192.0.2.1 ")
        assert " 192.0.2.1 " in offer
        response = await calls.post(CALLS, json={"to": CUSTOMER, "sdp": offer})
        assert response.status_code == 200
        ended = await sink.wait_for("call.ended", timeout=5)
        assert ended.payload["status"] == "FAILED"
        details = (await calls.get(CALLS + "/call_FAKE1", params={"includeSdp": "1"})).json()
        assert "192.0.2.1" not in details["sdpAnswer"]
        assert sink.events() == ["call.ringing", "call.connected", "call.ended"]
        assert details["errorCode"] == "MEDIA_TIMEOUT"
    finally:
        await caller.close()


async def test_webhook_subscriptions_and_failed_deliveries(pilot: FakePilotStatus, calls: httpx.AsyncClient) -> None:
    async with WebhookSink() as only_final, WebhookSink() as paused:
        pilot.webhooks.clear()
        pilot.subscribe(only_final.url, ["call.ended", "call.missed"])
        pilot.webhooks[pilot.subscribe(paused.url)["id"]]["active"] = False
        pilot.subscribe("http://127.0.0.1:9/closed")  # nothing listens: recorded as a failed delivery
        pilot.call_behaviour = CallBehaviour(answer_after=None, ring_timeout=0.2)
        caller = AiortcCaller()
        try:
            call_id = await start(calls, caller)
            await only_final.wait_for("call.missed")
            await wait_until(lambda: pilot.calls[call_id].task.done(), what="the last delivery")
        finally:
            await caller.close()
        assert only_final.events() == ["call.missed"] and paused.deliveries == []
        failed = [d for d in pilot.deliveries if d.url.endswith("/closed")]
        assert [(d.payload["event"], d.status) for d in failed] == [("call.ringing", 0), ("call.missed", 0)]


@pytest.mark.filterwarnings("error")
async def test_stopping_the_fake_ends_running_calls(pilot: FakePilotStatus, calls: httpx.AsyncClient) -> None:
    pilot.call_behaviour = CallBehaviour(answer_after=0.05)
    caller = AiortcCaller()
    try:
        call_id = await start(calls, caller)
        await wait_until(lambda: pilot.calls[call_id].peer is not None, what="the fake to pick up")
        await pilot.stop()
        task = pilot.calls[call_id].task
        assert task is not None and task.done()
    finally:
        await caller.close()


def test_the_fake_loads_without_aiortc() -> None:
    """``askcall demo`` runs from the production image, which has no test extra: aiortc loads only for a call."""
    code = "import sys, bot.fakes, bot.demo.loop; assert 'aiortc' not in sys.modules and 'av' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


async def test_a_call_without_aiortc_is_refused_clearly(
    pilot: FakePilotStatus, calls: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    caller = AiortcCaller()
    try:
        offer = await caller.offer()
    finally:
        await caller.close()
    monkeypatch.setitem(sys.modules, "bot.fakes.whatsapp_peer", None)  # what a missing aiortc looks like
    response = await calls.post(CALLS, json={"to": CUSTOMER, "sdp": offer})
    assert (response.status_code, response.json()["code"]) == (503, "FAKE_NEEDS_AIORTC")
    assert pilot.calls == {}


async def test_list_calls_newest_first_with_cursor(pilot: FakePilotStatus, calls: httpx.AsyncClient) -> None:
    pilot.now = clock = ManualClock(1_800_000_000.0)
    pilot.call_behaviour = CallBehaviour(answer_after=None, ring_timeout=30)
    caller = AiortcCaller()
    try:
        offer = await caller.offer()
        for _ in range(3):
            assert (await calls.post(CALLS, json={"to": CUSTOMER, "sdp": offer})).status_code == 200
            clock.advance(1)
    finally:
        await caller.close()
    listed = (await calls.get(CALLS)).json()["calls"]
    assert [c["id"] for c in listed] == ["call_FAKE3", "call_FAKE2", "call_FAKE1"]
    assert all("sdpOffer" not in c and "sdpAnswer" not in c for c in listed)
    assert listed[0]["peerNumber"] == "5511999999999" and listed[0]["direction"] == "OUTBOUND"
    page = (await calls.get(CALLS, params={"limit": "2"})).json()["calls"]
    assert [c["id"] for c in page] == ["call_FAKE3", "call_FAKE2"]
    rest = (await calls.get(CALLS, params={"before": page[-1]["createdAt"]})).json()["calls"]
    assert [c["id"] for c in rest] == ["call_FAKE1"]
    for params in ({"limit": "0"}, {"limit": "101"}, {"limit": "x"}, {"before": "yesterday"}):
        bad = await calls.get(CALLS, params=params)
        assert (bad.status_code, bad.json()["code"]) == (400, "VALIDATION_ERROR"), params
