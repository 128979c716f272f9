"""Fixtures for the calls tests: the fake Pilot Status with a permission granted and a subscribed webhook sink."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bot.fakes.pilot_status import FakePilotStatus
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
