"""Pilot Status webhooks: signature check, the `call.permission_updated` payload and the calls' `call.*` events.

Two kinds of bad input, answered differently: a body that is not a JSON object (`PayloadError`, a
400: the sender has a bug) and a well-formed, signed event AskCall cannot use (`UnusableEvent`: a
new status value, another event, an unreadable timestamp). The latter is acknowledged and kept, since
refusing it would only make Pilot Status retry for days something that can never succeed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.phones import customer_key

SIGNATURE_HEADER = "x-pilot-status-signature"
PERMISSION_UPDATED = "call.permission_updated"
PERMISSION_STATUSES = frozenset({"NO_PERMISSION", "TEMPORARY", "PERMANENT"})
# A browser call's life (Call now): without them the page never hears that the customer's phone rings.
CALL_EVENTS = ("call.ringing", "call.connected", "call.ended", "call.missed")
# Every event AskCall acts on: the one list `askcall webhook register` subscribes to and `askcall check` expects
# (bot.admin), and what the webhook handler (bot.web.webhooks) dispatches. Any other event is kept as ignored.
HANDLED_EVENTS = (PERMISSION_UPDATED, *CALL_EVENTS)
# A webhook subscribed to this gets every event Pilot Status has, these included.
ALL_EVENTS = "*"


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """HMAC-SHA256 hex of the raw body, with or without a `sha256=` prefix, compared in constant time."""
    if not header:
        return False
    received = header.strip().lower().removeprefix("sha256=")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not received.isascii():  # compare_digest raises TypeError on non-ASCII str; hex never is
        return False
    return hmac.compare_digest(expected, received)


class PayloadError(ValueError):
    """The body is not something AskCall can read; the message says why (safe to return to the sender)."""


class UnusableEvent(ValueError):
    """A readable event AskCall has no use for; the message says why (safe to log: no phone number)."""


@dataclass(frozen=True)
class PermissionUpdated:
    status: str
    from_phone: str
    to_phone: str | None
    timestamp: str
    answered_at: float

    @property
    def customer_key(self) -> str:
        """The customer, however the number was spelled (see `bot.phones.customer_key`)."""
        return customer_key(self.from_phone)

    @property
    def dedup_key(self) -> str:
        """Call events carry no id: a redelivery repeats exactly these fields."""
        parts = [
            PERMISSION_UPDATED,
            _digits(self.from_phone),
            _digits(self.to_phone or ""),
            self.status,
            self.timestamp,
        ]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()


def parse_body(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError("body is not valid JSON") from exc
    except RecursionError as exc:  # nested thousands of levels deep
        raise PayloadError("body is nested too deeply") from exc
    if not isinstance(data, dict):
        raise PayloadError("body is not a JSON object")
    return data


def parse_permission_updated(data: dict[str, Any]) -> PermissionUpdated:
    event = data.get("event")
    if event != PERMISSION_UPDATED:
        raise UnusableEvent(f"event {_shown(event)} is not {PERMISSION_UPDATED}")
    status = data.get("status")
    if not isinstance(status, str) or status.upper() not in PERMISSION_STATUSES:
        raise UnusableEvent(f"status {_shown(status)} is not one of NO_PERMISSION, TEMPORARY, PERMANENT")
    from_phone = data.get("from")
    if not isinstance(from_phone, str) or not _digits(from_phone):
        raise UnusableEvent("from (the customer's number) is missing")
    timestamp = data.get("timestamp")
    if not isinstance(timestamp, str):
        raise UnusableEvent("timestamp is missing")
    try:
        answered_at = datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError, OSError) as exc:
        raise UnusableEvent(f"timestamp {_shown(timestamp)} is not ISO-8601") from exc
    to_phone = data.get("to")
    return PermissionUpdated(
        status=status.upper(),
        from_phone=from_phone,
        to_phone=to_phone if isinstance(to_phone, str) else None,
        timestamp=timestamp,
        answered_at=answered_at,
    )


@dataclass(frozen=True)
class CallEvent:
    """A flat `call.ringing` / `call.connected` / `call.ended` / `call.missed` event of one call.

    The SDK allows `callId: null`: such an event is still kept, and matched by `externalCallId` (the provider's
    id) or by the customer where that is unambiguous."""

    event: str
    call_id: str | None
    status: str
    timestamp: str | None
    duration: int | None
    from_phone: str | None
    to_phone: str | None
    external_call_id: str | None = None
    direction: str = ""  # INBOUND | OUTBOUND ("" when absent)
    opaque: str | None = None  # bizOpaqueCallbackData, when Pilot Status echoes it (the field is not documented)

    @property
    def dedup_key(self) -> str:
        """No event id: one call has each event once, so its name, the call and the status identify it (a call
        without a callId, by its provider id, else by its parties and timestamp)."""
        if self.call_id:
            return f"{self.event}:{self.call_id}:{self.status}"
        if self.external_call_id:
            return f"{self.event}:ext:{self.external_call_id}:{self.status}"
        parts = [self.event, _digits(self.from_phone or ""), _digits(self.to_phone or ""), self.status]
        return f"{self.event}:noid:" + hashlib.sha256("|".join([*parts, self.timestamp or ""]).encode()).hexdigest()

    @property
    def customer(self) -> str | None:
        """The customer's number: the callee of an outbound (business-initiated) call, the caller of an inbound one."""
        return self.from_phone if self.direction == "INBOUND" else self.to_phone

    @property
    def clearly_not_askcalls(self) -> bool:
        """An inbound call, or one marked by another tool: no AskCall start can be waiting for it."""
        return self.direction == "INBOUND" or (self.opaque is not None and not self.opaque.startswith(OPAQUE_PREFIX))


# What AskCall sends as bizOpaqueCallbackData starts with this: its own calls can be told from other tools'.
OPAQUE_PREFIX = "askcall:"


def parse_call_event(data: dict[str, Any]) -> CallEvent:
    event = data.get("event")
    if event not in CALL_EVENTS:
        raise UnusableEvent(f"event {_shown(event)} is not a call event")
    call_id, external = _call_id(data.get("callId")), _call_id(data.get("externalCallId"))
    status, timestamp, duration = data.get("status"), data.get("timestamp"), data.get("duration")
    from_phone, to_phone = data.get("from"), data.get("to")
    if call_id is None and external is None and not (isinstance(to_phone, str) or isinstance(from_phone, str)):
        raise UnusableEvent("callId, externalCallId and the parties are all missing")
    direction, opaque = data.get("direction"), data.get("bizOpaqueCallbackData")
    return CallEvent(
        event=str(event),
        call_id=call_id,
        status=status.upper()[:50] if isinstance(status, str) else "",
        timestamp=timestamp[:100] if isinstance(timestamp, str) else None,
        duration=int(duration) if isinstance(duration, int | float) and 0 <= duration < 10**7 else None,
        from_phone=from_phone[:100] if isinstance(from_phone, str) else None,
        to_phone=to_phone[:100] if isinstance(to_phone, str) else None,
        external_call_id=external,
        direction=direction.upper()[:20] if isinstance(direction, str) else "",
        opaque=opaque[:200] if isinstance(opaque, str) else None,
    )


def _call_id(value: Any) -> str | None:
    return value if isinstance(value, str) and value and len(value) <= 200 else None


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def _shown(value: object) -> str:
    """A sender's value for a log line: short, quoted, control characters escaped."""
    return ascii(value if isinstance(value, str | int | float | bool | None) else type(value).__name__)[:40]


def ignored_dedup_key(body: bytes) -> str:
    """Redeliveries of an unusable event repeat its body byte for byte."""
    return "ignored:" + hashlib.sha256(body).hexdigest()
