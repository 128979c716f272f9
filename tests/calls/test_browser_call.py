"""A real browser calls the fake WhatsApp customer: headless Chromium ⇄ aiortc over loopback, audio both ways.

Runs when Chromium is present; under CI a missing Chromium fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page, expect

from bot.fakes.pilot_status import CallBehaviour, FakePilotStatus
from tests.calls.browser import chromium, loopback_only_network, require_chromium
from tests.calls.conftest import CUSTOMER
from tests.calls.helpers import wait_until
from tests.calls.relay import CallRelay
from tests.conftest import WEBHOOK_SECRET

STATIC = Path(__file__).parent / "static"


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[BrowserContext]:
    require_chromium()
    if os.environ.get("CI") and not loopback_only_network():
        pytest.fail("CI runs the browser tests in a loopback-only network namespace: see .ci/run")
    async with chromium(tmp_path) as context:
        yield context


@pytest.fixture
async def relay(pilot: FakePilotStatus) -> AsyncIterator[CallRelay]:
    pilot.set_permission(CUSTOMER, "PERMANENT")
    async with CallRelay(pilot, CUSTOMER, STATIC) as server:
        yield server


async def inbound_audio(page: Page) -> dict[str, Any]:
    stats: dict[str, Any] | None = await page.evaluate("harness.inboundAudio()")
    return stats or {"packetsReceived": 0, "totalSamplesReceived": 0, "codec": None}


@pytest.mark.timeout(30)
async def test_browser_calls_the_customer_with_audio_both_ways(
    browser: BrowserContext, relay: CallRelay, pilot: FakePilotStatus
) -> None:
    started = time.monotonic()
    pilot.call_behaviour = CallBehaviour(answer_after=0.2)
    page = await browser.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    response = await page.goto(relay.base_url)
    assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]
    state = page.get_by_test_id("call-state")
    await expect(state).to_have_text("idle")

    await page.get_by_test_id("call").click()
    await expect(state).to_have_text("connected", timeout=10_000)
    call = pilot.calls["call_FAKE1"]
    assert call.peer is not None and call.status == "ACCEPTED"
    assert "a=setup:active" in call.sdp_offer and "a=setup:actpass" not in call.sdp_offer

    # Audio both ways: the fake phone decodes the browser's microphone (a tone), the browser receives the phone's.
    phone = call.peer
    await wait_until(lambda: phone.audible_frames_received > 5, what="the customer to hear the browser's tone")
    received = await inbound_audio(page)
    deadline = time.monotonic() + 5
    while received["totalSamplesReceived"] == 0 and time.monotonic() < deadline:
        await page.wait_for_timeout(100)
        received = await inbound_audio(page)
    assert received["packetsReceived"] > 0 and received["totalSamplesReceived"] > 0, received
    assert received["codec"] == "audio/opus"
    assert phone.tone.frames_sent > 0

    await page.get_by_test_id("hangup").click()
    await expect(state).to_have_text("ended")
    ended = await relay.wait_for("call.ended", call_id="call_FAKE1")
    assert ended.payload["status"] == "COMPLETED" and isinstance(ended.payload["duration"], int)
    assert relay.events() == ["call.ringing", "call.connected", "call.ended"]
    assert relay.all_signed_with(WEBHOOK_SECRET)
    assert errors == []
    assert time.monotonic() - started < 15


@pytest.mark.timeout(30)
async def test_browser_sees_a_missed_call_end(
    browser: BrowserContext, relay: CallRelay, pilot: FakePilotStatus
) -> None:
    pilot.call_behaviour = CallBehaviour(answer_after=None, ring_timeout=0.3)
    page = await browser.new_page()
    await page.goto(relay.base_url)
    await page.get_by_test_id("call").click()
    await expect(page.get_by_test_id("call-state")).to_have_text("ended", timeout=5_000)
    assert relay.events() == ["call.ringing", "call.missed"]
    assert pilot.calls["call_FAKE1"].peer is None


def test_missing_chromium_fails_under_ci_and_skips_elsewhere(tmp_path: Path) -> None:
    absent = tmp_path / "no-chromium"
    with pytest.raises(pytest.fail.Exception, match="CI must run the browser tests"):
        require_chromium(absent, ci=True)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        require_chromium(absent, ci=False)
    present = tmp_path / "chromium"
    present.touch()
    require_chromium(present, ci=True)
