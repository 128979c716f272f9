"""A real browser on AskCall's call page (bot/web) calls the fake WhatsApp customer: headless Chromium ⇄ aiortc
over loopback, audio proven both ways, and every way a call ends.

Runs when Chromium is present; under CI a missing Chromium, or a network other than loopback, fails these tests.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import BrowserContext, Page, expect

from bot.fakes.pilot_status import CallBehaviour, FakePilotStatus
from bot.web import CALL_PAGE_CSP, page_strings
from tests.calls.browser import (
    STATE_RECORDER,
    inbound_audio,
    states,
)
from tests.calls.conftest import CUSTOMER
from tests.calls.helpers import wait_until
from tests.calls.relay import CallRelay
from tests.conftest import WEBHOOK_SECRET

EN = page_strings("en")
pytestmark = [pytest.mark.timeout(30), pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(loop_scope="module")
async def pilot() -> AsyncIterator[FakePilotStatus]:
    async with FakePilotStatus(webhook_secret=WEBHOOK_SECRET) as fake:
        yield fake


@pytest_asyncio.fixture(loop_scope="module")
async def relay(pilot: FakePilotStatus) -> AsyncIterator[CallRelay]:
    pilot.set_permission(CUSTOMER, "PERMANENT")
    async with CallRelay(pilot, CUSTOMER) as server:
        yield server


async def open_page(browser: BrowserContext, relay: CallRelay, errors: list[str] | None = None) -> Page:
    page = await browser.new_page()
    await page.add_init_script(STATE_RECORDER)
    if errors is not None:
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    response = await page.goto(relay.base_url)
    assert response is not None
    assert response.headers["content-security-policy"] == CALL_PAGE_CSP
    assert response.headers["referrer-policy"] == "no-referrer"
    await expect(page.get_by_test_id("call-state")).to_have_text("idle")
    return page


async def test_call_with_audio_both_ways_mute_and_hang_up(
    browser: BrowserContext, relay: CallRelay, pilot: FakePilotStatus
) -> None:
    started = time.monotonic()
    pilot.call_behaviour = CallBehaviour(answer_after=0.3)
    errors: list[str] = []
    page = await open_page(browser, relay, errors)
    state = page.get_by_test_id("call-state")
    assert await page.get_by_test_id("customer").text_content() == "+55 11 9••••-9999"
    assert await page.get_by_test_id("validity-label").text_content() == EN["permanent"]
    assert await page.get_by_test_id("call").text_content() == EN["call"]
    assert await page.get_by_test_id("hangup").is_disabled()

    await page.get_by_test_id("call").click()
    await expect(state).to_have_text("connected", timeout=10_000)
    assert await states(page) == ["idle", "connecting", "ringing", "connected"]
    await expect(page.get_by_test_id("status-text")).to_have_text(EN["state.connected"])
    call = pilot.calls["call_FAKE1"]
    assert call.peer is not None and call.status == "ACCEPTED"
    assert "a=setup:active" in call.sdp_offer and "a=setup:actpass" not in call.sdp_offer

    # Audio both ways: the customer's phone decodes the browser's microphone, the browser decodes the phone's tone.
    phone = call.peer
    await wait_until(lambda: phone.frames_received > 10, what="the customer to receive the browser's audio")
    received = await inbound_audio(page)
    assert received["packets"] > 0 and received["samples"] > 0, received
    assert received["codec"] == "audio/opus"
    level = page.get_by_test_id("mic-level")
    await expect(level).not_to_have_js_property("value", 0)  # the microphone's tone moves the meter
    await expect(page.get_by_test_id("timer")).not_to_have_text("0:00", timeout=3_000)

    # Mute: the customer stops hearing the tone, the button says so.
    await wait_until(lambda: phone.audible_frames_received > 5, what="the customer to hear the microphone's tone")
    await page.get_by_test_id("mute").click()
    await expect(page.get_by_test_id("mute")).to_have_attribute("aria-pressed", "true")
    await expect(page.get_by_test_id("mute")).to_have_text(EN["unmute"])
    await page.wait_for_timeout(500)  # frames already on the way
    heard = phone.audible_frames_received
    await page.wait_for_timeout(500)
    assert phone.audible_frames_received - heard <= 2
    assert phone.frames_received > 0

    await page.get_by_test_id("hangup").click()
    await expect(state).to_have_text("ended")
    await expect(page.get_by_test_id("message")).to_have_text(EN["ended.completed"])
    ended = await relay.wait_for("call.ended", call_id="call_FAKE1")
    assert ended.payload["status"] == "COMPLETED" and isinstance(ended.payload["duration"], int)
    assert relay.events() == ["call.ringing", "call.connected", "call.ended"]
    assert relay.all_signed_with(WEBHOOK_SECRET)
    assert relay.hangups == 1 and await page.get_by_test_id("call").is_disabled()
    assert (await states(page))[-1] == "ended"
    assert errors == []
    assert time.monotonic() - started < 15


async def test_missed_call(browser: BrowserContext, relay: CallRelay, pilot: FakePilotStatus) -> None:
    pilot.call_behaviour = CallBehaviour(answer_after=None, ring_timeout=0.5)
    page = await open_page(browser, relay)
    await page.get_by_test_id("call").click()
    await expect(page.get_by_test_id("call-state")).to_have_text("ended", timeout=5_000)
    await expect(page.get_by_test_id("message")).to_have_text(EN["ended.missed"])
    assert await states(page) == ["idle", "connecting", "ringing", "ended"]
    assert relay.events() == ["call.ringing", "call.missed"] and relay.hangups == 0


async def test_rejected_call(browser: BrowserContext, relay: CallRelay, pilot: FakePilotStatus) -> None:
    pilot.call_behaviour = CallBehaviour(answer_after=0.2, reject=True)
    page = await open_page(browser, relay)
    await page.get_by_test_id("call").click()
    await expect(page.get_by_test_id("call-state")).to_have_text("ended", timeout=5_000)
    await expect(page.get_by_test_id("message")).to_have_text(EN["ended.rejected"])


async def test_expired_permission_says_ask_again(
    browser: BrowserContext, relay: CallRelay, pilot: FakePilotStatus
) -> None:
    pilot.permissions.clear()
    page = await open_page(browser, relay)
    await page.get_by_test_id("call").click()
    await expect(page.get_by_test_id("call-state")).to_have_text("failed", timeout=5_000)
    await expect(page.get_by_test_id("message")).to_have_text(EN["error.permission_required"])
    assert await states(page) == ["idle", "connecting", "failed"]
    assert pilot.calls == {}


@pytest.mark.parametrize(
    ("status", "code", "key"),
    [
        (429, "RATE_LIMITED", "error.rate_limited"),
        (503, "UPSTREAM_ERROR", "error.provider"),
        (400, "FEATURE_NOT_SUPPORTED", "error.number_unsupported"),
    ],
)
async def test_provider_errors_say_what_to_do(
    browser: BrowserContext, relay: CallRelay, pilot: FakePilotStatus, status: int, code: str, key: str
) -> None:
    pilot.script("POST", "/v1/calls", status=status, body={"error": "no", "code": code})
    page = await open_page(browser, relay)
    await page.get_by_test_id("call").click()
    await expect(page.get_by_test_id("call-state")).to_have_text("failed", timeout=5_000)
    await expect(page.get_by_test_id("message")).to_have_text(EN[key])
    assert await page.get_by_test_id("call").is_enabled()  # nothing started: the rep may try again


@pytest.mark.parametrize(
    ("script", "key"),
    [
        ("delete window.RTCPeerConnection;", "error.no_webrtc"),
        (
            "navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('no', 'NotAllowedError'));",
            "error.mic_denied",
        ),
        (
            "navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('no', 'NotFoundError'));",
            "error.mic_missing",
        ),
    ],
)
async def test_browser_problems_say_what_to_do(
    browser: BrowserContext, relay: CallRelay, pilot: FakePilotStatus, script: str, key: str
) -> None:
    await browser.add_init_script(script)
    page = await open_page(browser, relay)
    await page.get_by_test_id("call").click()
    await expect(page.get_by_test_id("call-state")).to_have_text("failed", timeout=5_000)
    await expect(page.get_by_test_id("message")).to_have_text(EN[key])
    assert pilot.calls == {}


async def test_hanging_up_while_the_offer_is_on_its_way_ends_that_call(
    browser: BrowserContext, relay: CallRelay, pilot: FakePilotStatus
) -> None:
    pilot.call_behaviour = CallBehaviour(ring_after=2, answer_after=0.1)
    pilot.script("POST", "/v1/calls", delay=0.8)  # Pilot Status is slow to start the call
    page = await open_page(browser, relay)
    await page.get_by_test_id("call").click()
    await wait_until(lambda: bool(pilot.requests_to("POST", "/v1/calls")), what="the offer to reach Pilot Status")
    await page.get_by_test_id("hangup").click()
    await expect(page.get_by_test_id("call-state")).to_have_text("ended")
    ended = await relay.wait_for("call.ended", call_id="call_FAKE1", timeout=5)
    assert ended.payload["status"] == "COMPLETED" and "duration" not in ended.payload
    assert relay.hangups == 1 and await states(page) == ["idle", "connecting", "ended"]
    assert [e["event"] for e in pilot.calls["call_FAKE1"].events] == ["call.ended"]


async def test_closing_the_tab_mid_call_terminates_it(
    browser: BrowserContext, relay: CallRelay, pilot: FakePilotStatus
) -> None:
    pilot.call_behaviour = CallBehaviour(answer_after=0.1)
    page = await open_page(browser, relay)
    await page.get_by_test_id("call").click()
    await expect(page.get_by_test_id("call-state")).to_have_text("connected", timeout=10_000)
    await page.close(run_before_unload=True)
    ended = await relay.wait_for("call.ended", call_id="call_FAKE1", timeout=5)
    assert ended.payload["status"] == "COMPLETED" and "duration" in ended.payload
    assert relay.hangups == 1


async def test_the_page_speaks_portuguese(browser: BrowserContext, pilot: FakePilotStatus) -> None:
    async with CallRelay(pilot, CUSTOMER, lang="pt-BR", valid_until="2026-12-08T15:00:00Z") as relay:
        page = await open_page(browser, relay)
        pt = page_strings("pt-BR")
        assert await page.get_attribute("html", "lang") == "pt-BR"
        assert await page.get_by_test_id("call").text_content() == pt["call"]
        assert await page.get_by_test_id("status-text").text_content() == pt["state.idle"]
        assert await page.get_by_test_id("validity-label").text_content() == pt["valid_until"]
        assert "2026" in (await page.get_by_test_id("valid-until").text_content() or "")
