"""`askcall export`: the consent records, one per request, as CSV or JSON Lines, each with a summary of the
browser calls made to the customer for it (how many, how many answered, talk time, and the last call);
or, with `--calls`, the browser calls themselves, one record per call. Every record names its workspace (the
tenant: team id, or organisation id for an org-wide install).

Invariant: nothing in a record identifies the customer beyond its `phone` column, which is masked unless
asked otherwise; a CSV cell of outside text never starts a spreadsheet formula."""

from __future__ import annotations

import csv
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, TextIO

from bot.domain import REQUEST_LIFETIME, Call, CallState, EndReason, Outcome, Request, RequestState
from bot.phones import mask
from bot.store import CallRecord, RequestRecord, Store

FIELDS = (
    "request_id",
    "requested_at",
    "requested_by",
    "channel",
    "number",
    "phone",
    "reason",
    "outcome",
    "error_code",
    "answered_at",
    "expires_at",
    "source_event",
    "source_event_timestamp",
    "purged_at",
    "workspace",
    "calls",
    "calls_answered",
    "call_seconds",
    "last_call_at",
    "last_call_by",
    "last_call_result",
    "last_call_seconds",
    "last_call_error",
)
# `--calls`: one record per call.
CALL_FIELDS = (
    "call_id",
    "request_id",
    "called_by",
    "requested_by",
    "channel",
    "number",
    "phone",
    "started_at",
    "connected_at",
    "ended_at",
    "result",
    "seconds",
    "error",
    "workspace",
)
# Outside text that ends up in CSV cells.
_FREE_TEXT = ("reason", "error_code", "last_call_error", "error")
ANSWER_OUTCOMES = {
    Outcome.TEMPORARY: "granted_temporary",
    Outcome.PERMANENT: "granted_permanent",
    Outcome.NO_PERMISSION: "denied",
}
# Spreadsheets run a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date like 2025-01-31") from None


def day_bounds(since: date, until: date | None) -> tuple[float, float | None]:
    """[since 00:00 UTC, the day after `until` 00:00 UTC): both dates are included."""
    start = datetime(since.year, since.month, since.day, tzinfo=UTC).timestamp()
    if until is None:
        return start, None
    end = datetime(until.year, until.month, until.day, tzinfo=UTC) + timedelta(days=1)
    return start, end.timestamp()


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def outcome_of(request: Request, now: float) -> str:
    """One word for what happened to the request."""
    if request.state is RequestState.ANSWERED:
        return ANSWER_OUTCOMES[request.outcome] if request.outcome else "answered"
    if request.state is RequestState.FAILED:
        return "failed"
    if request.state is RequestState.UNDELIVERABLE:
        return "not_sent"
    if request.state is RequestState.EXPIRED:
        return "expired"  # a temporary grant that ran out
    if request.state in (RequestState.WAITING, RequestState.UNCONFIRMED):
        if now - (request.sent_at or request.created_at) > REQUEST_LIFETIME:
            return "expired"  # Meta drops an unanswered request after 7 days
        return request.state.value
    return "pending"  # new / ready / sending: not sent to the customer yet


def call_result(call: Call) -> str:
    """One word for how a call went: in_progress, completed, missed, rejected or failed."""
    if call.is_live:
        return "in_progress"
    if call.state is CallState.FAILED:
        return "failed"
    if call.end_reason == EndReason.COMPLETED:
        return "completed" if call.answered or call.duration is not None else "missed"  # hung up while ringing
    if call.end_reason in (EndReason.MISSED, EndReason.REJECTED):
        return str(call.end_reason)
    return "failed"


def workspace_of(request: Request) -> str:
    """The workspace (tenant) a record belongs to: its team id, or its organisation's id for an org-wide install.
    Rows made before tenancy and never adopted show as `legacy`."""
    return request.tenant or "legacy"


def call_columns(calls: tuple[Call, ...]) -> dict[str, Any]:
    """The request's calls in a few columns: counts and talk time, then the last call."""
    last = calls[-1] if calls else None
    return {
        "calls": len(calls),
        "calls_answered": sum(1 for c in calls if c.answered or call_result(c) == "completed"),
        "call_seconds": sum(c.duration or 0 for c in calls),
        "last_call_at": iso(last.started_at) if last else None,
        "last_call_by": last.user_id if last else None,
        "last_call_result": call_result(last) if last else None,
        "last_call_seconds": last.duration if last else None,
        # Pilot Status's reason (an error code) when the last call failed to start or to connect.
        "last_call_error": call_error(last) if last else None,
    }


def call_error(call: Call) -> str | None:
    """Pilot Status's reason (an error code) when the call failed to start or to connect."""
    return call.end_reason if call_result(call) == "failed" else None


def to_call_record(item: CallRecord, *, full_phones: bool) -> dict[str, Any]:
    call, request = item.call, item.request
    return {
        "call_id": call.id,
        "request_id": request.id,
        "called_by": call.user_id,
        "requested_by": request.user_id,
        "channel": request.channel_id,
        "number": request.number_name,
        "phone": request.phone_e164 if full_phones else mask(request.phone_e164),
        "started_at": iso(call.started_at),
        "connected_at": iso(call.connected_at),
        "ended_at": iso(call.ended_at),
        "result": call_result(call),
        "seconds": call.duration,
        "error": call_error(call),
        "workspace": workspace_of(request),
    }


def to_record(item: RequestRecord, *, full_phones: bool, now: float) -> dict[str, Any]:
    request = item.request
    phone = request.phone_e164 if full_phones else mask(request.phone_e164)
    return {
        "request_id": request.id,
        "requested_at": iso(request.created_at),
        "requested_by": request.user_id,
        "channel": request.channel_id,
        "number": request.number_name,
        "phone": phone,
        "reason": request.reason,
        "outcome": outcome_of(request, now),
        "error_code": request.error_code,
        "answered_at": iso(request.answered_at),
        "expires_at": iso(request.expires_at),
        "source_event": item.source_event,
        "source_event_timestamp": item.source_event_ts,
        "purged_at": iso(request.purged_at),
        "workspace": workspace_of(request),
        **call_columns(item.calls),
    }


async def export(
    store: Store,
    out: TextIO,
    *,
    since: float,
    until: float | None,
    fmt: str,
    full_phones: bool = False,
    calls: bool = False,
) -> int:
    """Write the records of requests created in [since, until) to `out` (with `calls`: of the calls started
    then); returns how many."""
    if calls:
        fields, records = CALL_FIELDS, _call_records(store, since, until, full_phones=full_phones)
    else:
        fields, records = FIELDS, _records(store, since, until, full_phones=full_phones)
    if fmt == "csv":
        return await _write_csv(records, out, fields)
    return await _write_jsonl(records, out)


async def _records(
    store: Store, since: float, until: float | None, *, full_phones: bool
) -> AsyncIterator[dict[str, Any]]:
    now = time.time()
    async for item in store.request_records(since, until):
        yield to_record(item, full_phones=full_phones, now=now)


async def _call_records(
    store: Store, since: float, until: float | None, *, full_phones: bool
) -> AsyncIterator[dict[str, Any]]:
    async for item in store.call_records(since, until):
        yield to_call_record(item, full_phones=full_phones)


async def _write_csv(records: AsyncIterator[dict[str, Any]], out: TextIO, fields: tuple[str, ...]) -> int:
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    count = 0
    async for record in records:
        writer.writerow({**record, **{name: _defuse_formula(record[name]) for name in _FREE_TEXT if name in record}})
        count += 1
    return count


async def _write_jsonl(records: AsyncIterator[dict[str, Any]], out: TextIO) -> int:
    count = 0
    async for record in records:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
    return count


def _defuse_formula(text: str | None) -> str | None:
    """A reason typed as `=HYPERLINK(…)` stays text when the CSV is opened in a spreadsheet."""
    return "'" + text if text and text.startswith(_FORMULA_START) else text
