"""Helpers shared by the end-to-end tests: what the fakes saw, and what AskCall stored."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import socket
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import aiohttp
import asyncpg

from bot.config import RetryPolicy, Settings
from bot.domain import Request
from bot.fakes.pilot_status import FakePilotStatus, iso_timestamp, send_webhook
from bot.fakes.slack import FakeSlack, SlackCall, button_payload, interaction_body, slack_signed_headers
from tests.conftest import CHANNEL, SIGNING_SECRET, WEBHOOK_SECRET, Server, start_server, stop_server

PERMISSION_REQUEST = "/v1/calls/permissions/request"
PERMISSION_PROBE = "/v1/calls/permissions"

PHONE = "+55 11 98765-4321"
E164 = "+5511987654321"
DIGITS = "5511987654321"
MASKED = "+55 11 9••••-4321"
REASON = "Podemos te ligar para fechar o pedido?"
DAY = 24 * 3600

EXAMPLE = "Exemplo: `/askcall +55 11 98765-4321"


def patient(settings: Settings) -> Settings:
    """Slack retries that don't give up during the test, and a short shutdown grace."""
    return replace(
        settings,
        slack_retry=RetryPolicy(attempts=1000, base_delay=0.05, max_delay=0.1, max_retry_after=5),
        shutdown_grace=0.1,
    )


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def render(item: dict[str, Any] | SlackCall) -> str:
    """Everything a Slack user could read in a message or a call's args (text and blocks), as one string."""
    args = item.args if isinstance(item, SlackCall) else item
    visible = {k: args.get(k) for k in ("text", "blocks", "attachments") if args.get(k) is not None}
    return json.dumps(visible, ensure_ascii=False)


def posts(pilot: FakePilotStatus) -> list[Any]:
    """Every POST /v1/calls/permissions/request Pilot Status received (answered or not)."""
    return pilot.requests_to("POST", PERMISSION_REQUEST)


def slack_writes(slack: FakeSlack) -> list[SlackCall]:
    """Every call that puts text in front of people (successful or not)."""
    return [c for c in slack.calls if c.method in ("chat.postMessage", "chat.update", "chat.postEphemeral")]


def parents(slack: FakeSlack, channel: str = CHANNEL) -> list[dict[str, Any]]:
    return [m for m in slack.channel_messages(channel) if m.get("thread_ts") is None]


def only_parent(slack: FakeSlack, channel: str = CHANNEL) -> dict[str, Any]:
    found = parents(slack, channel)
    assert len(found) == 1, slack.summary()
    return found[0]


def replies(slack: FakeSlack, parent: dict[str, Any]) -> list[dict[str, Any]]:
    return slack.thread_replies(parent["channel"], parent["ts"])


def only_reply(slack: FakeSlack, parent: dict[str, Any]) -> dict[str, Any]:
    found = replies(slack, parent)
    assert len(found) == 1, slack.summary()
    return found[0]


def updates_of(slack: FakeSlack, parent: dict[str, Any]) -> list[dict[str, Any]]:
    return [u for u in slack.updates if u["channel"] == parent["channel"] and u["ts"] == parent["ts"]]


def reply_attempts(slack: FakeSlack, parent: dict[str, Any]) -> list[SlackCall]:
    """chat.postMessage calls (any outcome) aimed at the parent's thread."""
    return [
        c
        for c in slack.calls_to("chat.postMessage", only_ok=False)
        if c.args.get("thread_ts") == parent["ts"] and c.args.get("channel") == parent["channel"]
    ]


READ_BACKS = ("conversations.history", "conversations.replies")


def delivery_key(call: SlackCall) -> str | None:
    """The delivery key AskCall attached to a post as message metadata."""
    metadata = call.args.get("metadata")
    payload = metadata.get("event_payload") if isinstance(metadata, dict) else None
    return str(payload["key"]) if isinstance(payload, dict) and "key" in payload else None


def assert_checked_before_each_retry(slack: FakeSlack) -> None:
    """Every post AskCall sent again after an answer in doubt (no answer, a 5xx, internal_error) was preceded,
    since that doubtful attempt, by a successful read-back of where it would have landed: conversations.replies
    of its thread, or conversations.history of its channel or DM, with include_all_metadata."""
    attempts: dict[str, list[int]] = {}
    for index, call in enumerate(slack.calls):
        if call.method == "chat.postMessage" and (key := delivery_key(call)) is not None:
            attempts.setdefault(key, []).append(index)
    for key, indexes in attempts.items():
        for before, after in itertools.pairwise(indexes):
            doubtful = slack.calls[before]
            if not doubtful.in_doubt:
                continue
            where = str(doubtful.args.get("channel") or "")
            where = slack.dm_channel(where) if where[:1] in ("U", "W") else where
            thread = doubtful.args.get("thread_ts")
            checked = [
                call
                for call in slack.calls[before + 1 : after]
                if call.method == ("conversations.replies" if thread else "conversations.history")
                and call.outcome == "ok"
                and call.args.get("channel") == where
                and (not thread or call.args.get("ts") == thread)
                and str(call.args.get("include_all_metadata")).lower() in ("1", "true")
            ]
            assert checked, f"{key} was posted again without reading {where} back first\n{slack.summary()}"


def update_attempts(slack: FakeSlack, parent: dict[str, Any]) -> list[SlackCall]:
    return [
        c
        for c in slack.calls_to("chat.update", only_ok=False)
        if c.args.get("ts") == parent["ts"] and c.args.get("channel") == parent["channel"]
    ]


async def db_rows(settings: Settings, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Read AskCall's database directly, on either backend, through a connection of the test's own.
    `sql` uses `?` placeholders."""
    return await _run_sql(settings, sql, params, fetch=True)


async def db_execute(settings: Settings, sql: str, params: tuple[Any, ...] = ()) -> None:
    await _run_sql(settings, sql, params, fetch=False)


async def _run_sql(settings: Settings, sql: str, params: tuple[Any, ...], *, fetch: bool) -> list[dict[str, Any]]:
    if settings.database.dsn is not None:
        counter = itertools.count(1)
        numbered = re.sub(r"\?", lambda _: f"${next(counter)}", sql)
        connection = await asyncpg.connect(settings.database.dsn)
        try:
            if fetch:
                return [dict(row) for row in await connection.fetch(numbered, *params)]
            await connection.execute(numbered, *params)
            return []
        finally:
            await connection.close()
    sqlite = sqlite3.connect(settings.db_path)
    sqlite.row_factory = sqlite3.Row
    try:
        with sqlite:
            rows = [dict(row) for row in sqlite.execute(sql, params)]
        return rows if fetch else []
    finally:
        sqlite.close()


async def quiet_past_a_lease(server: Server) -> None:
    """Idle, then idle again after a whole lease and a sweep: work a dead owner left would have been taken over
    (and posted twice, if AskCall got that wrong) by then, so "exactly once" is checked where it could fail."""
    await server.wait_idle(timeout=10)
    await asyncio.sleep(server.askcall.settings.lease_seconds * 4 / 3 + 0.2)
    await server.wait_idle()


async def requests(server: Server) -> list[Request]:
    """Every request AskCall stored, oldest first."""
    return [record.request async for record in server.askcall.store.request_records(0)]


async def only_request(server: Server) -> Request:
    found = await requests(server)
    assert len(found) == 1, found
    return found[0]


async def ask(server: Server, text: str = f"{PHONE} {REASON}", **fields: Any) -> dict[str, Any]:
    """Run `/askcall text` to completion (acked, parent posted, Pilot Status called); return the parent."""
    response = await server.command(text, **fields)
    assert response.status == 200
    assert await response.read() == b""
    await server.wait_idle()
    channel = fields.get("channel_id", CHANNEL)
    found = parents(server.slack, channel)
    assert found, server.slack.summary()
    return found[-1]


async def answer(
    server: Server, customer: str, status: str, *, at: float | None = None, expiration_time: int | None = None
) -> dict[str, Any]:
    """The customer answers (the fake's probe changes, its signed webhook goes out); waits until AskCall has acted
    on it; returns the response JSON. A TEMPORARY grant lasts 7 days unless `expiration_time` says otherwise."""
    stamp = iso_timestamp(time.time() if at is None else at)
    code, text = await server.answer(customer, status, timestamp=stamp, expiration_time=expiration_time)
    assert code == 200, text
    await server.wait_idle()
    body: dict[str, Any] = json.loads(text)
    return body


async def post_webhook(
    server: Server, payload: dict[str, Any] | bytes, *, signature: str | None = None, signed: bool = True
) -> tuple[int, str]:
    return await send_webhook(
        server.url + "/webhooks/pilot-status",
        payload,
        secret=WEBHOOK_SECRET if signed else None,
        signature=signature,
    )


@asynccontextmanager
async def running(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus, *, crash: bool = False
) -> AsyncIterator[Server]:
    """AskCall with custom settings for the duration of a block; with `crash`, killed at its end (nothing it
    holds is released: another instance takes its work over only once the leases run out)."""
    server = await start_server(settings, slack, pilot)
    try:
        yield server
    finally:
        await stop_server(server, crash=crash)


async def read_json(response: aiohttp.ClientResponse) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(await response.read())
    return body


def status_messages(slack: FakeSlack) -> list[dict[str, Any]]:
    """AskCall's status messages: the ones carrying its buttons."""
    return [m for m in slack.messages if "askcall_check" in json.dumps(m.get("blocks") or [])]


def button(
    action_id: str,
    value: str,
    *,
    user: str,
    message: dict[str, Any],
    response_url: str,
    channel: str | None = None,
    ts: str | None = None,
    action_ts: str = "1.1",
) -> str:
    """A click on one of AskCall's buttons, as Slack posts it (from `message`, or from the channel and
    message a forged payload claims)."""
    channel = channel or message["channel"]
    ts = ts or message["ts"]
    payload = button_payload(
        action_id,
        value,
        user=user,
        channel=channel,
        message={**message, "ts": ts},
        response_url=response_url,
        action_ts=action_ts,
    )
    return interaction_body(payload)


def button_value(message: dict[str, Any], action_id: str = "askcall_check") -> str:
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if element.get("action_id") == action_id:
                return str(element["value"])
    raise AssertionError(f"no {action_id} button in {message}")


async def open_home(app: Server, user: str, event_id: str = "Ev1") -> dict[str, Any]:
    """`user` opens AskCall's Home tab (a signed `app_home_opened`); returns the view AskCall published."""
    app.slack.home_views.pop(user, None)
    event = {
        "token": "t",
        "team_id": "T1",
        "api_app_id": "A1",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1,
        "event": {"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home", "event_ts": "1.0"},
    }
    raw = json.dumps(event)
    headers = {**slack_signed_headers(raw, SIGNING_SECRET), "Content-Type": "application/json"}
    assert (await app.post_slack(raw, headers)).status == 200
    await app.slack.wait_for(lambda: user in app.slack.home_views)
    return app.slack.home_views[user]
