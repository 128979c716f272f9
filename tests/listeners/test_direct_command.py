"""`/askcall` over HTTP without Bolt's dispatch (bot.listeners.direct) answers exactly as Bolt does: the same status
and body for every kind of command, the same refusal for a rep the access check stops, and Bolt's own answer for a
workspace AskCall isn't installed in. Each case is dispatched both ways, on the running app, with a request signed
and checked as POST /slack/events checks it."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.config import Settings
from bot.fakes.pilot_status import FakePilotStatus
from bot.fakes.slack import FakeSlack, slack_signed_headers, slash_command_body
from bot.listeners import inbound
from tests.conftest import CHANNEL, REP, SIGNING_SECRET, Server, start_server, stop_server
from tests.opcount import python_lines

Dispatch = Callable[[AsyncBoltRequest], Awaitable[BoltResponse]]
_customers = itertools.count(1)


def _request(server: Server, text: str, **fields: Any) -> AsyncBoltRequest:
    fields.setdefault("response_url", server.slack.new_response_url())
    fields.setdefault("trigger_id", server.slack.trigger_id())
    fields.setdefault("channel_id", CHANNEL)
    fields.setdefault("user_id", REP)
    body = slash_command_body(text, **fields)
    headers = slack_signed_headers(body, SIGNING_SECRET)
    return inbound.bolt_request(body.encode(), "", headers, SIGNING_SECRET, time.time())


def _customer() -> str:
    return f"11 9{next(_customers):04d}-4321"


async def _both(server: Server, text: Callable[[], str], **fields: Any) -> tuple[BoltResponse, BoltResponse]:
    """The same command through Bolt and directly (a new customer each, where the text names one)."""
    through_bolt = await server.askcall.bolt.async_dispatch(_request(server, text(), **fields))
    direct = await server.askcall.slack_http.dispatch(_request(server, text(), **fields))
    return through_bolt, direct


def _same(through_bolt: BoltResponse, direct: BoltResponse) -> None:
    assert (direct.status, direct.body, direct.headers) == (
        through_bolt.status,
        through_bolt.body,
        through_bolt.headers,
    )


@pytest.mark.parametrize(
    "text",
    [
        lambda: f"{_customer()} Podemos te ligar?",  # a request: stored, then an empty ack
        lambda: "help",
        lambda: "11 9876",  # not a number: the problem and an example
        lambda: "status",  # the status usage
        lambda: f"status {_customer()}",
        lambda: "",  # the form (opened after the ack)
    ],
    ids=["request", "help", "invalid", "status-usage", "status", "form"],
)
async def test_each_command_gets_the_answer_bolt_gives(server: Server, text: Callable[[], str]) -> None:
    through_bolt, direct = await _both(server, text)
    _same(through_bolt, direct)
    assert direct.status == 200


async def test_a_request_is_stored_and_posted_the_same_way(server: Server) -> None:
    await _both(server, lambda: f"{_customer()} Podemos te ligar?")
    await server.wait_idle()
    parents = [c for c in server.slack.calls if c.method == "chat.postMessage"]
    assert len(parents) == 2  # one per path, each in the channel, each for its own request
    assert {c.args["channel"] for c in parents} == {CHANNEL}
    assert len(server.pilot.permission_requests) == 2


async def test_the_direct_path_leaves_out_most_of_bolts_work(server: Server) -> None:
    """Counted in lines of Bolt's code run (no clock): matching every listener, building every middleware's keyword
    arguments. A warm-up first, so that both counts are of a request like the thousandth."""
    await _both(server, lambda: "help")
    with python_lines("slack_bolt") as through_bolt:
        await server.askcall.bolt.async_dispatch(_request(server, "help"))
    with python_lines("slack_bolt") as direct:
        await server.askcall.slack_http.dispatch(_request(server, "help"))
    assert direct.lines * 3 < through_bolt.lines, (direct.lines, through_bolt.lines)


async def test_a_workspace_askcall_is_not_installed_in_gets_bolts_answer(server: Server) -> None:
    through_bolt, direct = await _both(server, lambda: "help", team_id="T-ELSEWHERE")
    _same(through_bolt, direct)
    assert b"help" not in str(direct.body).encode()


@pytest.fixture
async def restricted(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path
) -> AsyncIterator[Server]:
    """AskCall open to REP only."""
    server = await start_server(replace(settings, allowed_users=frozenset({REP})), slack, pilot)
    try:
        yield server
    finally:
        await stop_server(server)


async def test_a_rep_the_access_check_refuses_is_told_the_same(restricted: Server) -> None:
    through_bolt, direct = await _both(restricted, lambda: f"{_customer()} Podemos te ligar?", user_id="U-OTHER")
    _same(through_bolt, direct)
    assert "ephemeral" in str(direct.body)
    assert await restricted.askcall.store.pending_delivery_count() == 0  # nothing stored either way
