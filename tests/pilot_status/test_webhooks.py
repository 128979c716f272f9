"""Pilot Status webhook signature and payload parsing (bot/pilot_status/webhooks.py)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.fakes.pilot_status import call_event, permission_event, sign_pilot_status
from bot.pilot_status.webhooks import (
    PERMISSION_UPDATED,
    SIGNATURE_HEADER,
    PayloadError,
    PermissionUpdated,
    UnusableEvent,
    parse_body,
    parse_call_event,
    parse_permission_updated,
    verify_signature,
)

SECRET = "whsec_test"
# The SDK test fixture, verbatim.
SDK_FIXTURE = b"""{
  "event": "call.permission_updated",
  "callId": null,
  "direction": null,
  "status": "TEMPORARY",
  "from": "5511999999999",
  "to": "5511888888888",
  "timestamp": "2026-07-03T15:00:00.000Z"
}"""


def hex_signature(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# --- signature ---------------------------------------------------------------------------------
def test_header_name() -> None:
    assert SIGNATURE_HEADER == "x-pilot-status-signature"


def test_plain_hex_signature_is_accepted() -> None:
    assert verify_signature(SECRET, SDK_FIXTURE, hex_signature(SDK_FIXTURE))


def test_fake_signer_agrees_with_verifier() -> None:
    assert verify_signature(SECRET, SDK_FIXTURE, sign_pilot_status(SDK_FIXTURE, SECRET))


def test_sha256_prefixed_signature_is_accepted() -> None:
    assert verify_signature(SECRET, SDK_FIXTURE, "sha256=" + hex_signature(SDK_FIXTURE))


def test_uppercase_hex_signature_is_accepted() -> None:
    assert verify_signature(SECRET, SDK_FIXTURE, hex_signature(SDK_FIXTURE).upper())
    assert verify_signature(SECRET, SDK_FIXTURE, "sha256=" + hex_signature(SDK_FIXTURE).upper())


def test_surrounding_whitespace_is_tolerated() -> None:
    assert verify_signature(SECRET, SDK_FIXTURE, f"  {hex_signature(SDK_FIXTURE)}\n")


def test_signature_with_wrong_secret_is_rejected() -> None:
    assert not verify_signature(SECRET, SDK_FIXTURE, hex_signature(SDK_FIXTURE, "other-secret"))


def test_signature_of_modified_body_is_rejected() -> None:
    signature = hex_signature(SDK_FIXTURE)
    modified = SDK_FIXTURE.replace(b"TEMPORARY", b"PERMANENT")

    assert not verify_signature(SECRET, modified, signature)


def test_signature_over_reserialised_json_is_rejected() -> None:
    # The HMAC covers the raw bytes: the same JSON written differently is another body.
    compact = json.dumps(json.loads(SDK_FIXTURE), separators=(",", ":")).encode()

    assert not verify_signature(SECRET, compact, hex_signature(SDK_FIXTURE))


@pytest.mark.parametrize("header", [None, "", "   ", "sha256=", "sha256"])
def test_missing_or_empty_signature_is_rejected(header: str | None) -> None:
    assert not verify_signature(SECRET, SDK_FIXTURE, header)


def test_truncated_signature_is_rejected() -> None:
    assert not verify_signature(SECRET, SDK_FIXTURE, hex_signature(SDK_FIXTURE)[:-1])


@pytest.mark.parametrize("header", ["sha256=é", "ç" * 64, "sha256=" + "ü" * 64, "\udcff" * 64])
def test_non_ascii_signature_is_rejected_not_crashing(header: str) -> None:
    assert verify_signature(SECRET, SDK_FIXTURE, header) is False


# --- body --------------------------------------------------------------------------------------
def test_parse_body_returns_the_object() -> None:
    assert parse_body(SDK_FIXTURE)["event"] == PERMISSION_UPDATED


@pytest.mark.parametrize("body", [b"", b"{", b"not json", b"\xff\xfe", b"{'single': 'quotes'}"])
def test_parse_body_rejects_invalid_json(body: bytes) -> None:
    with pytest.raises(PayloadError, match="not valid JSON"):
        parse_body(body)


@pytest.mark.parametrize("body", [b"[]", b"[1, 2]", b'"text"', b"42", b"null", b"true"])
def test_parse_body_rejects_non_objects(body: bytes) -> None:
    with pytest.raises(PayloadError, match="not a JSON object"):
        parse_body(body)


def test_payload_error_is_a_value_error() -> None:
    assert issubclass(PayloadError, ValueError)


# --- call.permission_updated -------------------------------------------------------------------
def test_sdk_fixture_parses() -> None:
    event = parse_permission_updated(parse_body(SDK_FIXTURE))

    assert event == PermissionUpdated(
        status="TEMPORARY",
        from_phone="5511999999999",
        to_phone="5511888888888",
        timestamp="2026-07-03T15:00:00.000Z",
        answered_at=datetime(2026, 7, 3, 15, 0, tzinfo=UTC).timestamp(),
    )


@pytest.mark.parametrize("status", ["NO_PERMISSION", "TEMPORARY", "PERMANENT", "temporary", "Permanent"])
def test_every_status_parses_upper_cased(status: str) -> None:
    event = parse_permission_updated(permission_event("5511999999999", status))

    assert event.status == status.upper()


def test_from_with_plus_and_missing_to_parse() -> None:
    data = permission_event("+5511999999999", "PERMANENT", timestamp="2026-07-03T15:00:00Z")
    del data["to"]

    event = parse_permission_updated(data)

    assert event.from_phone == "+5511999999999"
    assert event.to_phone is None
    assert event.answered_at == datetime(2026, 7, 3, 15, 0, tzinfo=UTC).timestamp()


def test_timestamp_with_offset_is_converted() -> None:
    event = parse_permission_updated(
        permission_event("5511999999999", "TEMPORARY", timestamp="2026-07-03T12:00:00-03:00")
    )

    assert event.answered_at == datetime(2026, 7, 3, 15, 0, tzinfo=UTC).timestamp()


def fixture_with(**changes: Any) -> dict[str, Any]:
    data = json.loads(SDK_FIXTURE)
    for key, value in changes.items():
        if value is _DELETE:
            del data[key]
        else:
            data[key] = value
    return data


_DELETE = object()


@pytest.mark.parametrize(
    "changes",
    [
        {"status": _DELETE},
        {"status": None},
        {"status": "MAYBE"},
        {"status": ""},
        {"status": 1},
        {"from": _DELETE},
        {"from": None},
        {"from": ""},
        {"from": "+"},
        {"from": 5511999999999},
        {"timestamp": _DELETE},
        {"timestamp": None},
        {"timestamp": 1783090800},
        {"timestamp": "yesterday"},
        {"timestamp": ""},
        {"timestamp": "2026-13-45T25:61:00Z"},
        {"event": "call.ended"},
        {"event": None},
    ],
)
def test_signed_payload_askcall_cannot_use_is_an_unusable_event(changes: dict[str, Any]) -> None:
    """Not a PayloadError (400): the webhook acknowledges and keeps these (see tests/e2e/test_webhook.py)."""
    with pytest.raises(UnusableEvent) as raised:
        parse_permission_updated(fixture_with(**changes))
    assert not isinstance(raised.value, PayloadError)
    assert "5511999999999" not in str(raised.value)  # the reason is logged: no phone number in it


def test_json_nested_too_deeply_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="nested too deeply"):
        parse_body(b"[" * 100_000 + b"]" * 100_000)


def test_dedup_key_ignores_plus_on_from_and_to() -> None:
    plain = parse_permission_updated(fixture_with())
    with_plus = parse_permission_updated(fixture_with(**{"from": "+5511999999999", "to": "+5511888888888"}))

    assert plain.dedup_key == with_plus.dedup_key


def test_dedup_key_is_equal_for_a_redelivery() -> None:
    first = parse_permission_updated(parse_body(SDK_FIXTURE))
    again = parse_permission_updated(json.loads(json.dumps(json.loads(SDK_FIXTURE))))

    assert first.dedup_key == again.dedup_key


@pytest.mark.parametrize(
    "changes",
    [
        {"status": "PERMANENT"},
        {"status": "NO_PERMISSION"},
        {"timestamp": "2026-07-03T15:00:01.000Z"},
        {"from": "5511999999998"},
        {"to": "5511888888887"},
    ],
)
def test_dedup_key_differs_when_the_answer_differs(changes: dict[str, Any]) -> None:
    original = parse_permission_updated(fixture_with())
    other = parse_permission_updated(fixture_with(**changes))

    assert original.dedup_key != other.dedup_key


def test_a_call_event_without_a_call_id_is_kept_with_what_it_has() -> None:
    """The SDK allows `callId: null`: the event is usable, identified by the provider's id, else by its parties and
    time, and says whose call it is (the customer: the callee of an outbound call, the caller of an inbound one)."""
    base = call_event("call.ended", "x", "COMPLETED", customer="+5511999999999", external_call_id="wacid.ABGG")
    by_external = parse_call_event({**base, "callId": None})
    assert (by_external.call_id, by_external.external_call_id) == (None, "wacid.ABGG")
    assert by_external.dedup_key == "call.ended:ext:wacid.ABGG:COMPLETED"
    assert by_external.customer == "5511999999999" and not by_external.clearly_not_askcalls
    bare = parse_call_event({**base, "callId": None, "externalCallId": None})
    assert bare.dedup_key.startswith("call.ended:noid:") and bare.dedup_key != by_external.dedup_key
    inbound = parse_call_event({**base, "direction": "INBOUND", "from": "5511999999999", "to": "5511888888888"})
    assert inbound.customer == "5511999999999" and inbound.clearly_not_askcalls
    other_tool = parse_call_event({**base, "bizOpaqueCallbackData": "crm:42"})
    assert other_tool.clearly_not_askcalls
    assert not parse_call_event({**base, "bizOpaqueCallbackData": "askcall:call7"}).clearly_not_askcalls
    with pytest.raises(UnusableEvent):
        parse_call_event({**base, "callId": None, "externalCallId": None, "from": None, "to": None})
