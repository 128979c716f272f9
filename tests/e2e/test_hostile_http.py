"""Client garbage over real HTTP: every unsigned, malformed or slow request gets a 4xx, never a 500,
and never an ERROR or a traceback in the logs; request ids can't forge log lines."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlparse

import pytest

from bot.fakes.pilot_status import FakePilotStatus, permission_event, sign_pilot_status
from bot.fakes.slack import (
    FakeSlack,
    interaction_body,
    shortcut_payload,
    slash_command_body,
    view_submission_payload,
)
from bot.observability import RequestIdFilter
from bot.slack.home import DM_TOGGLE_ACTION
from bot.slack.messages import AGAIN_ACTION, CHECK_ACTION
from tests.conftest import SIGNING_SECRET, WEBHOOK_SECRET, Server, make_settings
from tests.e2e.helpers import DIGITS, ask, db_rows, only_request, replies, running


def assert_no_error_logged(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert bad == [], [f"{r.name}: {r.getMessage()}" for r in bad]


async def raw_request(
    url: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes, *, method: bytes = b"POST"
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request written byte for byte (headers no client library would send)."""
    where = urlparse(url)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    try:
        lines = [method + b" " + path.encode() + b" HTTP/1.1", b"Host: askcall", b"Connection: close"]
        lines += [name + b": " + value for name, value in headers]
        lines.append(b"Content-Length: " + str(len(body)).encode())
        writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, content = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    answer_headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        answer_headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), answer_headers, content


def signed(body: str | bytes) -> list[tuple[bytes, bytes]]:
    """Slack's headers for `body`, signed over its raw bytes (UTF-8 or not)."""
    raw = body if isinstance(body, bytes) else body.encode()
    timestamp = str(int(time.time())).encode()
    digest = hmac.new(SIGNING_SECRET.encode(), b"v0:" + timestamp + b":" + raw, hashlib.sha256).hexdigest()
    return [
        (b"Content-Type", b"application/x-www-form-urlencoded"),
        (b"X-Slack-Request-Timestamp", timestamp),
        (b"X-Slack-Signature", b"v0=" + digest.encode()),
    ]


async def post_slack_raw(server: Server, body: bytes, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    status, _, content = await raw_request(server.url, "/slack/events", headers, body)
    return status, content


async def nothing_happened(server: Server) -> None:
    await server.wait_idle()
    assert await db_rows(server.askcall.settings, "SELECT id FROM requests") == []
    assert server.slack.messages == [] and server.pilot.requests == []


# --- HTTP itself ----------------------------------------------------------------------------------------

BROKEN_HTTP = {
    "request-line": b"GARBAGE\r\n\r\n",
    "header-too-long": b"POST /slack/events HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
    "content-length-not-a-number": b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    "bad-chunk": b"POST /slack/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n",
    "two-content-lengths": b"POST /webhooks/pilot-status HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
    b"Content-Length: 6\r\n\r\nhello",
    "control-char-in-header": b"POST /webhooks/pilot-status HTTP/1.1\r\nHost: x\r\nX-Request-Id: a\x01b\r\n"
    b"Content-Length: 0\r\n\r\n",
}


@pytest.mark.parametrize("case", list(BROKEN_HTTP))
async def test_requests_http_cannot_parse_get_400_and_a_one_line_warning(
    server: Server, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    where = urlparse(server.url)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    writer.write(BROKEN_HTTP[case])
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert answer.split(b" ")[1] == b"400", answer[:80]
    assert_no_error_logged(caplog)
    warnings = [r.getMessage() for r in caplog.records if "malformed HTTP request" in r.getMessage()]
    assert len(warnings) == (0 if case == "request-line" else 1)  # not HTTP at all: aiohttp logs it at DEBUG
    assert not any("\n" in w or "GARBAGE" in w for w in warnings)
    await nothing_happened(server)


# --- Slack: unsigned or unparseable -------------------------------------------------------------------

VALID_COMMAND = slash_command_body("+55 11 98765-4321 Podemos ligar?")


def _bad_signature_cases() -> list[tuple[str, list[tuple[bytes, bytes]]]]:
    now = str(int(time.time()))
    good = dict(signed(VALID_COMMAND))
    signature = good[b"X-Slack-Signature"]

    def with_(**changes: bytes) -> list[tuple[bytes, bytes]]:
        headers = {**good, **{k.replace("_", "-").encode(): v for k, v in changes.items()}}
        return list(headers.items())

    return [
        ("no-signature", [(b"Content-Type", b"application/x-www-form-urlencoded")]),
        ("timestamp-not-a-number", with_(X_Slack_Request_Timestamp=b"yesterday")),
        ("timestamp-float", with_(X_Slack_Request_Timestamp=now.encode() + b".5")),
        ("timestamp-negative", with_(X_Slack_Request_Timestamp=b"-" + now.encode())),
        ("timestamp-huge", with_(X_Slack_Request_Timestamp=b"9" * 5000)),
        ("timestamp-far-future", with_(X_Slack_Request_Timestamp=b"99999999999")),
        ("timestamp-non-ascii-digits", with_(X_Slack_Request_Timestamp="١٢٣٤٥".encode())),
        ("signature-non-ascii", with_(X_Slack_Signature="v0=ééé".encode())),
        ("signature-latin1-bytes", with_(X_Slack_Signature=b"v0=\xe9\xe9")),
        ("signature-wrong", with_(X_Slack_Signature=b"v0=" + b"0" * 64)),
        ("signature-truncated", with_(X_Slack_Signature=signature[:-1])),
    ]


@pytest.mark.parametrize(("case", "headers"), _bad_signature_cases(), ids=[c for c, _ in _bad_signature_cases()])
async def test_unsigned_or_badly_signed_slack_requests_get_401(
    server: Server, case: str, headers: list[tuple[bytes, bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    status, _ = await post_slack_raw(server, VALID_COMMAND.encode(), headers)
    assert status == 401, case
    await nothing_happened(server)
    assert_no_error_logged(caplog)


DEEP = "[" * 100_000 + "]" * 100_000

UNPARSEABLE = {
    "not-utf8": b"payload=\xff\xfe\xfd",
    "payload-not-json": b"payload=" + b"%7Bnot+json",
    "payload-a-list": b"payload=" + urlencode({"x": "[1, 2]"})[2:].encode(),
    "payload-a-string": b"payload=" + urlencode({"x": '"text"'})[2:].encode(),
    "payload-nested-deep": b"payload=" + urlencode({"x": DEEP})[2:].encode(),
    "json-body-nested-deep": ("{" + '"a":{' * 60_000 + "}" * 60_001).encode(),
    "json-body-broken": b"{not json",
}


@pytest.mark.parametrize("case", list(UNPARSEABLE))
async def test_signed_but_unparseable_slack_bodies_get_400(
    server: Server, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    body = UNPARSEABLE[case]
    status, content = await post_slack_raw(server, body, signed(body))
    assert status == 400, (case, content)
    await nothing_happened(server)
    assert_no_error_logged(caplog)


async def test_json_content_type_with_an_array_body_gets_400(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    body = b"[1, 2, 3]"
    headers = [h for h in signed(body) if h[0] != b"Content-Type"] + [(b"Content-Type", b"application/json")]
    status, _ = await post_slack_raw(server, body, headers)
    assert status == 400
    assert_no_error_logged(caplog)


async def test_a_body_over_the_size_limit_gets_413(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    body = b"payload=" + b"a" * (2 * 1024 * 1024)
    status, _ = await post_slack_raw(server, body, signed(body))
    assert status == 413
    status, _, _ = await raw_request(server.url, "/webhooks/pilot-status", [], body)
    assert status == 413
    await nothing_happened(server)
    assert_no_error_logged(caplog)


# --- Slack: signed, but not what Slack sends ---------------------------------------------------------


def _block_actions(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": "U1"},
        "team": {"id": "T1"},
        "channel": {"id": "C1"},
        "trigger_id": "1.2.3",
        "response_url": "http://127.0.0.1:9/unused",
        "actions": [{"action_id": CHECK_ACTION, "block_id": "b", "value": "1", "type": "button"}],
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not _DROP}


def _submission(metadata: str, **changes: Any) -> dict[str, Any]:
    values = {"phone": {"phone_value": {"type": "plain_text_input", "value": "+55 11 98765-4321"}}}
    payload = view_submission_payload("askcall_request", values, metadata)
    payload.update(changes)
    return payload


_DROP = object()

MALFORMED_PAYLOADS: dict[str, dict[str, Any]] = {
    "actions-without-user": _block_actions(user=_DROP),
    "actions-user-a-string": _block_actions(user="U1"),
    "actions-user-id-a-number": _block_actions(user={"id": 1}),
    "actions-not-a-list": _block_actions(actions={"action_id": CHECK_ACTION}),
    "actions-empty": _block_actions(actions=[]),
    "action-without-id": _block_actions(actions=[{"value": "1"}]),
    "check-value-not-a-number": _block_actions(actions=[{"action_id": CHECK_ACTION, "value": "one"}]),
    "check-value-missing": _block_actions(actions=[{"action_id": CHECK_ACTION}]),
    "again-value-huge": _block_actions(actions=[{"action_id": AGAIN_ACTION, "value": "9" * 40}]),
    "again-value-unicode-digits": _block_actions(actions=[{"action_id": AGAIN_ACTION, "value": "١٢"}]),
    "toggle-options-not-a-list": _block_actions(actions=[{"action_id": DM_TOGGLE_ACTION, "selected_options": 3}]),
    "channel-a-string": _block_actions(channel="C1"),
    "team-a-string": _block_actions(team="T1"),
    "submission-metadata-not-json": _submission("{not json"),
    "submission-metadata-a-list": _submission("[1]"),
    "submission-metadata-deep": _submission(DEEP),
    "submission-metadata-channel-a-number": _submission(json.dumps({"channel_id": 5})),
    "submission-without-user": {k: v for k, v in _submission("{}").items() if k != "user"},
    "submission-without-view-id": _submission("{}", view={"callback_id": "askcall_request", "private_metadata": ""}),
    "submission-state-not-a-map": _submission(
        "{}", view={"id": "V1", "callback_id": "askcall_request", "state": {"values": ["phone"]}}
    ),
    "submission-phone-a-number": _submission(
        "{}",
        view={
            "id": "V1",
            "callback_id": "askcall_request",
            "state": {"values": {"phone": {"phone_value": {"value": 5511987654321}}}},
        },
    ),
    "submission-response-urls-strings": _submission("{}", response_urls=["http://x"]),
    "shortcut-without-trigger": {k: v for k, v in shortcut_payload("askcall_global", "U1", trigger_id="t").items()}
    | {"trigger_id": None},
    "message-shortcut-message-a-string": shortcut_payload(
        "askcall_message", "U1", trigger_id="t", message={"ts": "1.2", "text": "x"}, channel_id="C1"
    )
    | {"message": "hello"},
    "shortcut-without-callback-id": {
        k: v for k, v in shortcut_payload("askcall_global", "U1", trigger_id="t").items() if k != "callback_id"
    },
    "submission-without-callback-id": _submission("{}", view={"id": "V1", "private_metadata": ""}),
    "another-views-metadata-not-json": _submission(
        "{not json", view={"id": "V1", "callback_id": "someone_elses_modal", "private_metadata": "{not json"}
    ),
    "event-a-string": {"type": "event_callback", "event": "app_home_opened", "team_id": "T1", "api_app_id": "A1"},
    "home-opened-without-user": {
        "type": "event_callback",
        "team_id": "T1",
        "api_app_id": "A1",
        "event": {"type": "app_home_opened", "tab": "home"},
    },
}


@pytest.mark.parametrize("case", list(MALFORMED_PAYLOADS))
async def test_signed_slack_payloads_missing_fields_or_of_wrong_types_get_400(
    server: Server, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    payload = MALFORMED_PAYLOADS[case]
    body = json.dumps(payload) if payload.get("type") == "event_callback" else interaction_body(payload)
    headers = signed(body)
    if payload.get("type") == "event_callback":
        headers = [h for h in headers if h[0] != b"Content-Type"] + [(b"Content-Type", b"application/json")]
    status, content = await post_slack_raw(server, body.encode(), headers)
    assert status == 400, (case, content)
    await nothing_happened(server)
    assert server.slack.calls_to("views.open", only_ok=False) == []
    assert_no_error_logged(caplog)


COMMAND_FIELDS = {
    "without-user": {"user_id": None},
    "without-channel": {"channel_id": None},
    "without-trigger": {"trigger_id": None},
}


@pytest.mark.parametrize("case", list(COMMAND_FIELDS))
async def test_slash_command_missing_fields_gets_400(
    server: Server, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    fields = dict(pair.split("=", 1) for pair in VALID_COMMAND.split("&"))
    for name in COMMAND_FIELDS[case]:
        del fields[name]
    body = "&".join(f"{k}={v}" for k, v in fields.items())
    status, _ = await post_slack_raw(server, body.encode(), signed(body))
    assert status == 400
    await nothing_happened(server)
    assert_no_error_logged(caplog)


async def test_a_well_formed_button_still_works_after_the_checks(server: Server) -> None:
    """The checks refuse only what is malformed: the real buttons and forms keep working."""
    await ask(server)
    request = await only_request(server)
    # As real Slack sends it: from the request's own status message.
    own_message = {"type": "message", "channel_id": request.channel_id, "message_ts": request.parent_ts}
    actions = [{"action_id": CHECK_ACTION, "value": str(request.id)}]
    body = interaction_body(_block_actions(actions=actions, container=own_message))
    status, _ = await post_slack_raw(server, body.encode(), signed(body))
    assert status == 200
    response = await server.submit_modal("+55 21 99876-5432", "outro cliente")
    assert response.status == 200


# --- Pilot Status webhook: unsigned or unparseable ----------------------------------------------------


@pytest.mark.parametrize(
    "signature",
    ["sha256=ééé".encode(), b"\xe9\xe9\xe9", b"sha256=" + b"z" * 64, b"", b" " * 10],
    ids=["non-ascii", "latin1-bytes", "not-hex", "empty", "blank"],
)
async def test_webhook_with_a_garbage_signature_gets_401(
    server: Server, signature: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    body = json.dumps(permission_event(DIGITS, "PERMANENT")).encode()
    headers = [(b"Content-Type", b"application/json"), (b"x-pilot-status-signature", signature)]
    status, _, _ = await raw_request(server.url, "/webhooks/pilot-status", headers, body)
    assert status == 401
    assert await db_rows(server.askcall.settings, "SELECT id FROM webhook_events") == []
    assert_no_error_logged(caplog)


async def test_unsigned_deep_json_webhook_gets_401_and_signed_gets_400(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    body = DEEP.encode()
    status, _, _ = await raw_request(server.url, "/webhooks/pilot-status", [], body)
    assert status == 401
    headers = [(b"x-pilot-status-signature", sign_pilot_status(body, WEBHOOK_SECRET).encode())]
    status, _, _ = await raw_request(server.url, "/webhooks/pilot-status", headers, body)
    assert status == 400
    assert_no_error_logged(caplog)


# --- slow clients -------------------------------------------------------------------------------------


@asynccontextmanager
async def trickling(url: str, path: str, declared: int = 1000) -> AsyncIterator[asyncio.StreamReader]:
    """A client that sends its headers and a few bytes of a `declared`-byte body, then stalls."""
    where = urlparse(url)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    head = f"POST {path} HTTP/1.1\r\nHost: askcall\r\nContent-Length: {declared}\r\n\r\n"
    writer.write(head.encode() + b"payload=")
    await writer.drain()
    try:
        yield reader
    finally:
        writer.close()


@pytest.fixture
async def quick_timeout(slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path) -> AsyncIterator[Server]:
    settings = make_settings(slack, pilot, tmp_path / "askcall.db", body_timeout=0.5)
    async with running(settings, slack, pilot) as server:
        yield server


@pytest.mark.parametrize("path", ["/slack/events", "/webhooks/pilot-status"])
async def test_a_body_that_never_finishes_gets_408_and_holds_no_priority(
    quick_timeout: Server, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = quick_timeout
    started = time.monotonic()
    async with trickling(server.url, path) as reader:
        await asyncio.sleep(0.2)
        # Background work does not wait behind a client that has not even sent its request.
        assert server.askcall.tasks.priority._inbound == 0
        answer = await asyncio.wait_for(reader.read(), 5)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
    assert time.monotonic() - started < 4  # 0.5 s body timeout, then at most 1 s lingering
    # Meanwhile and afterwards, everyone else is served normally.
    parent = await ask(server)
    assert replies(server.slack, parent) == []
    assert_no_error_logged(caplog)


async def test_requests_are_served_while_a_client_stalls(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    """With the default 10 s body timeout: others are answered long before the stalled body times out."""
    async with trickling(server.url, "/slack/events"), trickling(server.url, "/webhooks/pilot-status"):
        await asyncio.sleep(0.1)
        began = time.monotonic()
        response = await server.command("help")
        assert response.status == 200
        assert time.monotonic() - began < 2  # not behind the stalled bodies
    await asyncio.sleep(0.2)  # the stalled clients hang up mid-body: not an error either
    assert_no_error_logged(caplog)


# --- X-Request-Id ---------------------------------------------------------------------------------------

GENERATED = re.compile(r"[0-9a-f]{16}")


@pytest.mark.parametrize("request_id", ["abc-123", "Req.42_x", "a" * 64])
async def test_a_safe_request_id_is_kept_and_logged(
    server: Server, request_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.addFilter(RequestIdFilter())
    headers = [(b"X-Request-Id", request_id.encode())]
    status, answer_headers, _ = await raw_request(server.url, "/webhooks/pilot-status", headers, b"{}")
    assert status == 401
    assert answer_headers["x-request-id"] == request_id
    warning = next(r for r in caplog.records if "rejected a Pilot Status webhook" in r.getMessage())
    assert warning.request_id == request_id  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "forged",
    [
        b"a" * 65,
        b"abc def",
        b"abc\tdef",
        b"x]: forged log line [y",
        "pedido-é".encode(),
        b"\xe9\xff",
        b"abc\x1b[31mred",
        b"abc\x7f",
    ],
    ids=["too-long", "space", "tab", "brackets", "utf8", "latin1", "escape", "del"],
)
async def test_an_unsafe_request_id_is_replaced(
    server: Server, forged: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.addFilter(RequestIdFilter())
    headers = [(b"X-Request-Id", forged)]
    status, answer_headers, _ = await raw_request(server.url, "/webhooks/pilot-status", headers, b"{}")
    if status == 400:  # the HTTP parser itself refused the header: nothing reached a handler or a log
        assert not any("rejected a Pilot Status webhook" in r.getMessage() for r in caplog.records)
        return
    assert status == 401
    assert GENERATED.fullmatch(answer_headers["x-request-id"])
    for record in caplog.records:
        assert GENERATED.fullmatch(record.request_id) or record.request_id == "-"  # type: ignore[attr-defined]
    assert_no_error_logged(caplog)


async def test_a_newline_in_a_request_id_cannot_split_a_log_line(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.addFilter(RequestIdFilter())
    headers = [(b"X-Request-Id", b"abc\r\nX-Forged: 1"), (b"X-Other", b"a\nb")]
    status, _, _ = await raw_request(server.url, "/webhooks/pilot-status", headers, b"{}")
    assert status in (400, 401)
    for record in caplog.records:
        assert "\n" not in record.request_id and "\r" not in record.request_id  # type: ignore[attr-defined]


# --- Socket Mode: the same payload checks ---------------------------------------------------------------


@pytest.mark.parametrize("case", ["actions-without-user", "check-value-not-a-number", "submission-metadata-not-json"])
async def test_malformed_payloads_over_socket_mode_are_refused_without_a_traceback(
    slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(slack, pilot, tmp_path / "askcall.db", slack_app_token=slack.app_token)
    async with running(settings, slack, pilot) as server:
        await slack.wait_for(lambda: len(slack.sockets) == 1)
        envelope = {"envelope_id": f"env-{case}", "type": "interactive", "payload": MALFORMED_PAYLOADS[case]}
        await slack.socket_send(envelope)
        await slack.wait_for(lambda: slack.socket_ack(envelope["envelope_id"]) is not None)
        await nothing_happened(server)
    assert_no_error_logged(caplog)


async def test_without_a_signing_secret_garbage_still_gets_400(
    slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ASKCALL_INSECURE_DEV skips the signature, not the parsing and the payload checks."""
    settings = make_settings(
        slack, pilot, tmp_path / "askcall.db", slack_signing_secret=None, pilot_status_webhook_secret=None
    )
    async with running(settings, slack, pilot) as server:
        for body in (UNPARSEABLE["payload-nested-deep"], interaction_body(MALFORMED_PAYLOADS["actions-without-user"])):
            raw = body if isinstance(body, bytes) else body.encode()
            status, _ = await post_slack_raw(server, raw, [(b"Content-Type", b"application/x-www-form-urlencoded")])
            assert status == 400
        status, _, _ = await raw_request(server.url, "/webhooks/pilot-status", [], DEEP.encode())
        assert status == 400
        await nothing_happened(server)
    assert_no_error_logged(caplog)
