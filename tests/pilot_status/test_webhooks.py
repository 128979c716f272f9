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
    CallEvent,
    PayloadError,
    PermissionUpdated,
    UnusableEvent,
    ignored_dedup_key,
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


# --- edges the mutation run found unchecked (tests/MUTATION.md, "webhooks") ---------------------
# The SDK's call.ended fixture, verbatim (docs: pilot-status-api.md §3.4).
SDK_CALL_ENDED: dict[str, Any] = {
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


def test_the_fakes_events_have_the_sdk_fixtures_shape() -> None:
    fake_ended = call_event(
        "call.ended",
        "call_1",
        "COMPLETED",
        customer="+5511999999999",
        external_call_id="wacid.ABGG",
        timestamp="2026-07-03T15:02:05.000Z",
        duration=120,
    )
    assert fake_ended == SDK_CALL_ENDED
    fake_permission = permission_event("5511999999999", "TEMPORARY", timestamp="2026-07-03T15:00:00.000Z")
    assert fake_permission == json.loads(SDK_FIXTURE)


def test_sdk_call_ended_fixture_parses() -> None:
    assert parse_call_event(SDK_CALL_ENDED) == CallEvent(
        event="call.ended",
        call_id="call_1",
        status="COMPLETED",
        timestamp="2026-07-03T15:02:05.000Z",
        duration=120,
        from_phone="5511888888888",
        to_phone="5511999999999",
        external_call_id="wacid.ABGG",
        direction="OUTBOUND",
        opaque=None,
    )


def call_with(**changes: Any) -> CallEvent:
    data = dict(SDK_CALL_ENDED)
    for key, value in changes.items():
        if value is _DELETE:
            del data[key]
        else:
            data[key] = value
    return parse_call_event(data)


def test_a_call_event_missing_its_optional_fields_is_read_with_blanks() -> None:
    event = call_with(status=_DELETE, timestamp=_DELETE, duration=_DELETE, direction=_DELETE)

    assert (event.status, event.timestamp, event.duration, event.direction) == ("", None, None, "")
    assert event.dedup_key == "call.ended:call_1:"


def test_call_event_fields_of_the_wrong_type_are_dropped_not_crashing() -> None:
    event = call_with(
        externalCallId=["wacid"],
        status=7,
        timestamp=1783090925,
        duration="120",
        direction=1,
        bizOpaqueCallbackData={"askcall": 1},
        **{"from": 5511888888888, "to": 5511999999999},
    )

    assert event == CallEvent(
        event="call.ended",
        call_id="call_1",
        status="",
        timestamp=None,
        duration=None,
        from_phone=None,
        to_phone=None,
        external_call_id=None,
        direction="",
        opaque=None,
    )


@pytest.mark.parametrize("call_id", ["", "c" * 201, 42, None])
def test_an_empty_overlong_or_non_text_call_id_is_no_call_id(call_id: object) -> None:
    event = call_with(callId=call_id, externalCallId=call_id)

    assert (event.call_id, event.external_call_id) == (None, None)
    assert event.dedup_key.startswith("call.ended:noid:")


def test_a_call_id_of_200_characters_is_kept() -> None:
    event = call_with(callId="c" * 200, externalCallId="w" * 200)

    assert (event.call_id, event.external_call_id) == ("c" * 200, "w" * 200)


def test_call_event_text_fields_are_cut_to_their_bounds() -> None:
    """What a sender writes is stored: each field has a bound, and exactly that many characters are kept."""
    event = call_with(
        status="s" * 60,
        timestamp="t" * 150,
        direction="d" * 30,
        bizOpaqueCallbackData="askcall:" + "o" * 300,
        **{"from": "1" * 150, "to": "2" * 150},
    )

    assert event.status == "S" * 50
    assert event.timestamp == "t" * 100
    assert (event.from_phone, event.to_phone) == ("1" * 100, "2" * 100)
    assert event.direction == "D" * 20
    assert event.opaque == "askcall:" + "o" * 192


@pytest.mark.parametrize(
    ("duration", "kept"),
    [(0, 0), (120, 120), (90.7, 90), (10**7 - 1, 10**7 - 1), (10**7, None), (-1, None)],
)
def test_call_duration_is_whole_seconds_under_ten_million(duration: float, kept: int | None) -> None:
    assert call_with(duration=duration).duration == kept


@pytest.mark.parametrize("party", ["from", "to"])
def test_a_call_event_without_ids_is_kept_with_either_party(party: str) -> None:
    other = "to" if party == "from" else "from"
    event = call_with(callId=None, externalCallId=None, **{other: None})

    assert event.call_id is None and event.external_call_id is None
    assert event.dedup_key.startswith("call.ended:noid:")


def test_a_call_event_without_ids_or_parties_says_so() -> None:
    with pytest.raises(UnusableEvent) as raised:
        call_with(callId=None, externalCallId=_DELETE, **{"from": None, "to": _DELETE})

    assert str(raised.value) == "callId, externalCallId and the parties are all missing"


def test_another_event_is_not_a_call_event_and_is_named() -> None:
    with pytest.raises(UnusableEvent) as raised:
        parse_call_event({**SDK_CALL_ENDED, "event": "call.transferred"})

    assert str(raised.value) == "event 'call.transferred' is not a call event"


# The reason an unusable event is kept with (stored and logged): exact, since operators read it.
@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"event": "message.sent"}, "event 'message.sent' is not call.permission_updated"),
        ({"event": None}, "event None is not call.permission_updated"),
        ({"status": "MAYBE"}, "status 'MAYBE' is not one of NO_PERMISSION, TEMPORARY, PERMANENT"),
        ({"status": 1}, "status 1 is not one of NO_PERMISSION, TEMPORARY, PERMANENT"),
        ({"status": {"x": "5511999999999"}}, "status 'dict' is not one of NO_PERMISSION, TEMPORARY, PERMANENT"),
        ({"status": ["TEMPORARY"]}, "status 'list' is not one of NO_PERMISSION, TEMPORARY, PERMANENT"),
        ({"status": "A" * 100}, f"status '{'A' * 39} is not one of NO_PERMISSION, TEMPORARY, PERMANENT"),
        ({"status": "MA\nYBE\x00"}, "status 'MA\\nYBE\\x00' is not one of NO_PERMISSION, TEMPORARY, PERMANENT"),
        ({"from": _DELETE}, "from (the customer's number) is missing"),
        ({"from": "+"}, "from (the customer's number) is missing"),
        ({"timestamp": _DELETE}, "timestamp is missing"),
        ({"timestamp": 1783090800}, "timestamp is missing"),
        ({"timestamp": "yesterday"}, "timestamp 'yesterday' is not ISO-8601"),
    ],
)
def test_the_reason_an_unusable_answer_is_kept_with(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(UnusableEvent) as raised:
        parse_permission_updated(fixture_with(**changes))

    assert str(raised.value) == reason


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{", "body is not valid JSON"),
        (b"[]", "body is not a JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, "body is nested too deeply"),
    ],
)
def test_the_reason_a_body_is_refused_with(body: bytes, reason: str) -> None:
    """Sent back to Pilot Status in the 400's body: exact."""
    with pytest.raises(PayloadError) as raised:
        parse_body(body)

    assert str(raised.value) == reason


@pytest.mark.parametrize("to", [None, 5511888888888, ["5511888888888"]])
def test_an_answer_whose_to_is_not_text_is_kept_without_it(to: object) -> None:
    event = parse_permission_updated(fixture_with(to=to))

    assert event.to_phone is None
    assert event.dedup_key == parse_permission_updated(fixture_with(to=_DELETE)).dedup_key


# Dedup keys are stored: one that changed between versions would take a redelivery across an upgrade for new.
def test_the_answers_dedup_key_is_stable() -> None:
    fields = "call.permission_updated|5511999999999|5511888888888|TEMPORARY|2026-07-03T15:00:00.000Z"

    assert parse_permission_updated(parse_body(SDK_FIXTURE)).dedup_key == hashlib.sha256(fields.encode()).hexdigest()
    spelled = fixture_with(**{"from": "+55 (11) 99999-9999", "to": "+55 11 8888-88888"})
    assert parse_permission_updated(spelled).dedup_key == parse_permission_updated(fixture_with()).dedup_key


def test_a_call_without_ids_has_a_stable_dedup_key() -> None:
    event = call_with(callId=None, externalCallId=None, **{"from": "+55 11 8888-88888"})
    fields = "call.ended|5511888888888|5511999999999|COMPLETED|2026-07-03T15:02:05.000Z"

    assert event.dedup_key == "call.ended:noid:" + hashlib.sha256(fields.encode()).hexdigest()


def test_an_unusable_events_dedup_key_is_stable() -> None:
    body = b'{"event": "message.sent"}'

    assert ignored_dedup_key(body) == "ignored:" + hashlib.sha256(body).hexdigest()
