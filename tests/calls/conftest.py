"""Fixtures for the calls tests: the fake Pilot Status with a permission granted and a subscribed webhook sink."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext

from bot.fakes.pilot_status import FakePilotStatus
from tests.calls.browser import MICROPHONE, chromium, loopback_only_network, require_chromium
from tests.calls.helpers import WebhookSink

CUSTOMER = "+5511999999999"


@pytest.fixture
async def sink(pilot: FakePilotStatus) -> AsyncIterator[WebhookSink]:
    async with WebhookSink() as receiver:
        pilot.subscribe(receiver.url)
        yield receiver


@pytest.fixture
async def calls(pilot: FakePilotStatus, sink: WebhookSink) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the fake with the number-scoped key; the customer has granted a permanent permission."""
    pilot.set_permission(CUSTOMER, "PERMANENT")
    async with httpx.AsyncClient(base_url=pilot.base_url, headers={"x-api-key": pilot.api_key}) as client:
        yield client


# One Chromium per browser-test module (its start costs ~2 s), a fresh context per test: those tests share the
# module's event loop (`pytest.mark.asyncio(loop_scope="module")`).
@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chromium_browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Browser]:
    require_chromium()
    if os.environ.get("CI") and not loopback_only_network():
        pytest.fail("CI runs the browser tests in a loopback-only network namespace: see .ci/run")
    async with chromium(tmp_path_factory.mktemp("chromium")) as browser:
        yield browser


@pytest_asyncio.fixture(loop_scope="module")
async def browser(chromium_browser: Browser) -> AsyncIterator[BrowserContext]:
    context = await chromium_browser.new_context(permissions=MICROPHONE)
    try:
        yield context
    finally:
        await context.close()
