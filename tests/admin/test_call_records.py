"""Browser calls in the records: `askcall export` summarises each request's calls, and `askcall purge` leaves
nothing of them that leads back to the customer. The calls are made through the real flow (Call now, the
link, the call page's offer, the fake customer's webhooks)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from bot.admin.export import CALL_FIELDS, FIELDS
from bot.config import Settings
from bot.domain import Call
from bot.fakes.pilot_status import FakePilotStatus
from bot.fakes.slack import FakeSlack
from tests.admin.conftest import RunCli, use_database
from tests.admin.records import backdate
from tests.calls.askcall import calling_askcall, granted_request
from tests.conftest import REP
from tests.e2e.helpers import E164, db_rows
from tests.e2e.placed_calls import ANSWERED, REJECTED, place_call

TODAY = datetime.now(UTC).date().isoformat()
OTHER_REP = "U2"
CALL_TABLES = ("requests", "webhook_events", "deliveries", "calls", "call_links", "call_sessions")


@dataclass(frozen=True)
class Called:
    request_id: int
    answered: Call  # by OTHER_REP, who did not ask
    rejected: Call  # then by REP, who asked


@pytest.fixture
async def called(cli_env, settings: Settings, slack: FakeSlack, pilot: FakePilotStatus, monkeypatch) -> Called:
    """A granted request with two calls: one answered (by a teammate), then one the customer declined."""
    use_database(monkeypatch, settings)
    async with calling_askcall(settings, slack, pilot) as server:
        request_id, _ = await granted_request(server)
        answered = await place_call(server, request_id, user=OTHER_REP, behaviour=ANSWERED)
        rejected = await place_call(server, request_id, user=REP, behaviour=REJECTED)
    assert answered.duration is not None and (answered.end_reason, rejected.end_reason) == ("completed", "rejected")
    return Called(request_id, answered, rejected)


async def test_export_summarises_each_requests_calls(called: Called, run_cli: RunCli) -> None:
    result = await run_cli("export", "--since", TODAY, "--format", "jsonl")

    assert result.code == 0, result.err
    [record] = [json.loads(line) for line in result.lines]
    assert set(record) == set(FIELDS)
    assert {name: record[name] for name in FIELDS[FIELDS.index("calls") :]} == {
        "calls": 2,
        "calls_answered": 1,
        "call_seconds": called.answered.duration,
        "last_call_at": _iso(called.rejected.started_at),
        "last_call_by": REP,
        "last_call_result": "rejected",
        "last_call_seconds": None,
        "last_call_error": None,
    }
    assert E164.lstrip("+") not in result.out  # calls add nothing that shows the number


async def test_csv_export_has_the_call_columns(called: Called, run_cli: RunCli) -> None:
    result = await run_cli("export", "--since", TODAY, "--format", "csv")

    reader = csv.DictReader(io.StringIO(result.out))
    assert tuple(reader.fieldnames or ()) == FIELDS
    [row] = list(reader)
    assert (row["calls"], row["calls_answered"], row["last_call_by"], row["last_call_result"]) == (
        "2",
        "1",
        REP,
        "rejected",
    )
    assert row["call_seconds"] == str(called.answered.duration) and row["last_call_seconds"] == ""


async def test_export_calls_gives_one_record_per_call(called: Called, run_cli: RunCli) -> None:
    masked = await run_cli("export", "--since", TODAY, "--format", "jsonl", "--calls")
    full = await run_cli("export", "--since", TODAY, "--format", "csv", "--calls", "--full-phones")

    assert masked.code == 0, masked.err
    records = [json.loads(line) for line in masked.lines]
    assert [set(r) for r in records] == [set(CALL_FIELDS)] * 2
    answered, rejected = records
    assert (answered["call_id"], answered["request_id"], answered["called_by"], answered["requested_by"]) == (
        called.answered.id,
        called.request_id,
        OTHER_REP,
        REP,
    )
    assert (answered["result"], answered["seconds"], answered["error"]) == ("completed", called.answered.duration, None)
    assert answered["started_at"] == _iso(called.answered.started_at) and answered["connected_at"] is not None
    assert (rejected["called_by"], rejected["result"], rejected["seconds"], rejected["connected_at"]) == (
        REP,
        "rejected",
        None,
        None,
    )
    assert {r["phone"] for r in records} == {"+55 11 9••••-4321"}
    assert "Exported 2 call record(s)" in masked.err
    reader = csv.DictReader(io.StringIO(full.out))
    assert tuple(reader.fieldnames or ()) == CALL_FIELDS
    assert [row["phone"] for row in reader] == [E164, E164]


async def test_purge_leaves_nothing_of_the_calls_that_leads_back_to_the_customer(
    called: Called, run_cli: RunCli, settings: Settings
) -> None:
    before = {table: await db_rows(settings, f"SELECT * FROM {table}") for table in CALL_TABLES}
    assert E164.lstrip("+") in json.dumps(before["webhook_events"])  # the call webhooks carry the number
    assert [c["pilot_call_id"] for c in before["calls"]] != [None, None]
    await backdate(settings.database.url, [called.request_id], days=200)

    result = await run_cli("purge", "--older-than", "180d")

    assert result.code == 0, result.err
    assert "1 closed request(s)" in result.out and "and 2 call(s)" in result.out
    after = {table: await db_rows(settings, f"SELECT * FROM {table}") for table in CALL_TABLES}
    assert E164.lstrip("+") not in json.dumps(after)
    call_events = [e for e in after["webhook_events"] if e["event"] != "call.permission_updated"]
    assert len(call_events) >= 4 and all(e["request_id"] == called.request_id for e in call_events)
    assert all((e["body"], e["to_phone"], e["from_phone"]) == ("", None, None) for e in call_events)
    # The calls stay, so who called, when, how long and how it ended still count; their Pilot Status id goes.
    assert [(c["user_id"], c["state"], c["end_reason"], c["duration"], c["pilot_call_id"]) for c in after["calls"]] == [
        (OTHER_REP, "ended", "completed", called.answered.duration, None),
        (REP, "ended", "rejected", None, None),
    ]
    assert (after["call_links"], after["call_sessions"]) == ([], [])

    exported = await run_cli("export", "--since", "2000-01-01", "--format", "jsonl")
    [record] = [json.loads(line) for line in exported.lines]
    assert (record["phone"], record["calls"], record["last_call_result"]) == ("", 2, "rejected")


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
