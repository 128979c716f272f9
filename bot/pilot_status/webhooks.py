"""Pilot Status webhooks: signature check and the `call.permission_updated` payload."""

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
    if not isinstance(data, dict):
        raise PayloadError("body is not a JSON object")
    return data


def parse_permission_updated(data: dict[str, Any]) -> PermissionUpdated:
    status = data.get("status")
    if not isinstance(status, str) or status.upper() not in PERMISSION_STATUSES:
        raise PayloadError("status must be one of NO_PERMISSION, TEMPORARY, PERMANENT")
    from_phone = data.get("from")
    if not isinstance(from_phone, str) or not _digits(from_phone):
        raise PayloadError("from (the customer's number) is missing")
    timestamp = data.get("timestamp")
    if not isinstance(timestamp, str):
        raise PayloadError("timestamp is missing")
    try:
        answered_at = datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise PayloadError("timestamp is not ISO-8601") from exc
    to_phone = data.get("to")
    return PermissionUpdated(
        status=status.upper(),
        from_phone=from_phone,
        to_phone=to_phone if isinstance(to_phone, str) else None,
        timestamp=timestamp,
        answered_at=answered_at,
    )


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())
