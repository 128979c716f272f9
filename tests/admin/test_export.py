"""`askcall export`: the consent records of requests made through the real flow."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.admin.export import FIELDS
from bot.config import Settings
from bot.domain import Request
from bot.fakes.pilot_status import FakePilotStatus
from bot.fakes.slack import FakeSlack
from bot.store import NewDelivery, NewRequest, open_store
from tests.admin.conftest import RunCli, use_database
from tests.admin.records import DENIED, FAILED, GRANTED, WAITING, answer_timestamp, backdate, build_records
from tests.conftest import CHANNEL
from tests.tenants import TENANT

TODAY = datetime.now(UTC).date().isoformat()


@pytest.fixture
def answered() -> str:
    """The Pilot Status timestamp the records' answers carry."""
    return answer_timestamp()


@pytest.fixture
async def records(
    cli_env, settings: Settings, slack: FakeSlack, pilot: FakePilotStatus, monkeypatch, answered: str
) -> dict[str, Request]:
    use_database(monkeypatch, settings)
    return await build_records(settings, slack, pilot, answered)


def by_user(rows: list[dict]) -> dict[str, dict]:
    return {row["requested_by"]: row for row in rows}


async def test_jsonl_has_one_masked_record_per_request(records, run_cli: RunCli, answered: str) -> None:
    result = await run_cli("export", "--since", TODAY, "--format", "jsonl")

    assert result.code == 0, result.err
    rows = by_user([json.loads(line) for line in result.lines])
    assert len(result.lines) == 4
    granted = rows[GRANTED.user]
    assert set(granted) == set(FIELDS)
    assert granted["request_id"] == records["granted"].id
    assert granted["channel"] == CHANNEL
    assert granted["number"] == "default"
    assert granted["phone"] == GRANTED.masked
    assert granted["reason"] == GRANTED.reason
    assert granted["outcome"] == "granted_temporary"
    assert granted["requested_at"] == _iso(records["granted"].created_at)
    assert granted["answered_at"] == _iso(records["granted"].answered_at)
    assert granted["expires_at"] == _iso(records["granted"].expires_at)
    assert granted["source_event_timestamp"] == answered
    assert len(granted["source_event"]) == 64  # the event's dedup key
    assert granted["purged_at"] is None

    assert rows[DENIED.user]["outcome"] == "denied"
    assert rows[DENIED.user]["expires_at"] is None
    assert rows[FAILED.user]["outcome"] == "failed"
    assert rows[FAILED.user]["error_code"] == "META_CALL_PERMISSION_REQUEST_LIMIT"
    assert rows[FAILED.user]["source_event"] is None
    assert rows[WAITING.user]["outcome"] == "waiting"
    assert rows[WAITING.user]["answered_at"] is None
    for customer in (GRANTED, DENIED, FAILED, WAITING):
        assert customer.digits[-8:-4] not in result.out  # nothing but the last four digits shows
    assert "Exported 4 record(s)" in result.err


async def test_full_phones_on_request(records, run_cli: RunCli) -> None:
    result = await run_cli("export", "--since", TODAY, "--format", "jsonl", "--full-phones")

    rows = by_user([json.loads(line) for line in result.lines])
    assert {user: row["phone"] for user, row in rows.items()} == {
        c.user: c.e164 for c in (GRANTED, DENIED, FAILED, WAITING)
    }


async def test_csv_has_a_header_and_the_same_records(records, run_cli: RunCli, answered: str) -> None:
    result = await run_cli("export", "--since", TODAY, "--format", "csv")

    assert result.code == 0
    reader = csv.DictReader(io.StringIO(result.out))
    assert tuple(reader.fieldnames or ()) == FIELDS
    rows = by_user(list(reader))
    assert len(rows) == 4
    assert rows[GRANTED.user]["phone"] == GRANTED.masked
    assert rows[GRANTED.user]["outcome"] == "granted_temporary"
    assert rows[GRANTED.user]["source_event_timestamp"] == answered
    assert rows[FAILED.user]["answered_at"] == ""
    # A reason that a spreadsheet would run as a formula stays text.
    assert rows[WAITING.user]["reason"] == "'" + WAITING.reason


async def test_date_filters_include_both_days(records, run_cli: RunCli, settings: Settings) -> None:
    await backdate(settings.database.url, [records["denied"].id], days=400)
    old_day = datetime.fromtimestamp(datetime.now(UTC).timestamp() - 400 * 86400, UTC).date().isoformat()

    only_old = await run_cli("export", "--since", old_day, "--until", old_day, "--format", "jsonl")
    recent = await run_cli("export", "--since", TODAY, "--format", "jsonl")
    everything = await run_cli("export", "--since", "2000-01-01", "--until", TODAY, "--format", "jsonl")

    assert [json.loads(line)["requested_by"] for line in only_old.lines] == [DENIED.user]
    assert DENIED.user not in by_user([json.loads(line) for line in recent.lines])
    assert len(recent.lines) == 3
    assert len(everything.lines) == 4


async def test_a_request_unanswered_for_over_7_days_is_expired(records, run_cli: RunCli, settings: Settings) -> None:
    await backdate(settings.database.url, [records["waiting"].id], days=8)

    result = await run_cli("export", "--since", "2000-01-01", "--format", "jsonl")

    assert by_user([json.loads(line) for line in result.lines])[WAITING.user]["outcome"] == "expired"


async def test_output_file_is_private(records, run_cli: RunCli, tmp_path: Path) -> None:
    target = tmp_path / "consent.csv"

    result = await run_cli("export", "--since", TODAY, "--format", "csv", "--output", str(target), "--full-phones")

    assert result.code == 0
    assert result.out == ""
    assert GRANTED.e164 in target.read_text(encoding="utf-8")
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600


async def test_output_onto_an_existing_readable_file_leaves_it_private(
    records, run_cli: RunCli, tmp_path: Path
) -> None:
    """An older export (or any file) readable by others is replaced by a new owner-only file, never rewritten in
    place with its old mode; nothing is left beside it."""
    target = tmp_path / "consent.csv"
    target.write_text("an older export\n")
    target.chmod(0o644)

    result = await run_cli("export", "--since", TODAY, "--format", "csv", "--output", str(target), "--full-phones")

    assert result.code == 0, result.err
    assert GRANTED.e164 in target.read_text(encoding="utf-8") and "an older export" not in target.read_text()
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert [name for name in os.listdir(tmp_path) if name.startswith(".consent")] == []


async def test_bad_dates_and_missing_database(cli_env, run_cli: RunCli, tmp_path: Path, monkeypatch) -> None:
    bad_date = await run_cli("export", "--since", "31/01/2025", "--format", "csv")
    reversed_range = await run_cli("export", "--since", "2025-02-01", "--until", "2025-01-01", "--format", "csv")
    monkeypatch.setenv("ASKCALL_DB_PATH", str(tmp_path / "nowhere.db"))
    no_db = await run_cli("export", "--since", "2025-01-01", "--format", "csv")

    assert (bad_date.code, reversed_range.code, no_db.code) == (2, 2, 2)
    assert "is not a date like 2025-01-31" in bad_date.err
    assert "--until is before --since" in reversed_range.err
    assert "ASKCALL_DB_PATH" in no_db.err
    assert not (tmp_path / "nowhere.db").exists()  # export never creates a database


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # a SQLite file, named two ways
async def test_a_sqlite_database_url_wins_over_db_path(
    records, run_cli: RunCli, settings: Settings, monkeypatch
) -> None:
    monkeypatch.setenv("ASKCALL_DB_PATH", "/nowhere/askcall.db")
    monkeypatch.setenv("ASKCALL_DATABASE_URL", "sqlite://" + settings.db_path)  # an absolute tmp path

    result = await run_cli("export", "--since", TODAY, "--format", "jsonl")

    assert result.code == 0, result.err
    assert len(result.lines) == 4


async def test_export_reads_a_postgresql_database(cli_env, run_cli: RunCli, monkeypatch, pg_url: str) -> None:
    store = await open_store(pg_url)
    try:
        await store.create_request(
            NewRequest(
                TENANT,
                source_key="k1",
                team_id="T1",
                channel_id=CHANNEL,
                user_id="U9",
                phone_e164=GRANTED.e164,
                reason="Reunião",
                lang="pt-BR",
                response_url=None,
            ),
            NewDelivery("k1:parent", "parent", {"channel": CHANNEL, "text": "x"}),
        )
    finally:
        await store.close()
    monkeypatch.setenv("ASKCALL_DATABASE_URL", pg_url)

    result = await run_cli("export", "--since", TODAY, "--format", "jsonl")

    assert result.code == 0, result.err
    [record] = [json.loads(line) for line in result.lines]
    assert (record["requested_by"], record["phone"], record["outcome"]) == ("U9", GRANTED.masked, "pending")


async def test_an_unreachable_postgresql_is_one_clear_line(cli_env, run_cli: RunCli, monkeypatch) -> None:
    monkeypatch.setenv("ASKCALL_DATABASE_URL", "postgresql://askcall:hunter2@127.0.0.1:9/askcall")

    result = await run_cli("export", "--since", TODAY, "--format", "jsonl")

    assert result.code == 1
    assert "postgresql://askcall:***@127.0.0.1:9/askcall" in result.err
    assert "hunter2" not in result.err
    assert "Traceback" not in result.err
