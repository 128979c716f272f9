"""App Home with browser calls, end to end: the rep who asked sees each request's last call (whoever made it),
and a teammate who called sees that call under "Your calls on teammates' requests"."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.config import Settings
from bot.fakes.pilot_status import FakePilotStatus
from bot.fakes.slack import FakeSlack
from tests.calls.askcall import calling_askcall, granted_request
from tests.conftest import REP, Server
from tests.e2e.helpers import open_home
from tests.e2e.placed_calls import MISSED, REJECTED, place_call

TEAMMATE = "U2"
MASKED = "+55 11 9••••-4321"


@pytest.fixture
async def app(settings: Settings, slack: FakeSlack, pilot: FakePilotStatus) -> AsyncIterator[Server]:
    async with calling_askcall(settings, slack, pilot) as server:
        yield server


async def home_texts(app: Server, user: str) -> list[str]:
    """The texts of the sections of the Home tab `user` opens."""
    blocks: list[dict[str, Any]] = (await open_home(app, user, f"Ev-{user}-{len(app.slack.messages)}"))["blocks"]
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]


async def test_the_home_tabs_show_the_calls_of_the_asker_and_of_the_teammate_who_called(app: Server) -> None:
    request_id, _ = await granted_request(app)
    before = await home_texts(app, REP)
    assert not any("📞" in text or "📵" in text for text in before)
    assert not any("Suas ligações" in text for text in await home_texts(app, TEAMMATE))

    await place_call(app, request_id, user=TEAMMATE, behaviour=REJECTED)
    await place_call(app, request_id, user=REP, behaviour=MISSED)

    # The rep who asked: the request shows its last call and how many calls there were.
    (item,) = [text for text in await home_texts(app, REP) if "*+55 11 98765-4321*" in text]
    assert item.splitlines()[-1].startswith(f"📵 <@{REP}> ligou — não atendeu · <!date^")
    assert item.endswith("· 2 ligações no total")
    # The teammate who called (and didn't ask): a group of its own, with their call, the number masked.
    texts = await home_texts(app, TEAMMATE)
    assert texts[0].startswith("Você não fez pedidos")
    assert texts[1] == "*Suas ligações em pedidos de colegas*"
    assert texts[2].startswith(f"♾️ *{MASKED}* · pedido por <@{REP}> · ")
    assert f"📵 <@{TEAMMATE}> ligou — recusou · <!date^" in texts[2]
    assert "98765" not in json.dumps(app.slack.home_views[TEAMMATE])
