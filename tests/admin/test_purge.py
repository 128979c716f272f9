"""`askcall purge`: customers' data of old closed requests is erased; rows, open requests and recent ones stay."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.config import Settings
from bot.domain import Request
from bot.fakes.pilot_status import FakePilotStatus
from bot.fakes.slack import FakeSlack
from bot.store import NewDelivery, NewRequest, open_store
from tests.admin.conftest import RunCli, use_database
from tests.admin.records import FAILED, GRANTED, WAITING, backdate, build_records, requests_by_name
from tests.conftest import CHANNEL
from tests.e2e.helpers import db_rows
from tests.tenants import TENANT

OPEN_PHONE = "+5511955554444"


@pytest.fixture
async def old_records(
    cli_env, settings: Settings, slack: FakeSlack, pilot: FakePilotStatus, monkeypatch
) -> dict[str, Request]:
    """granted, failed and an open (new) request made 200 days ago; denied and waiting made today."""
    use_database(monkeypatch, settings)
    requests = await build_records(settings, slack, pilot)
    store = await open_store(settings.database.url)
    try:
        open_id, _ = await store.create_request(
            NewRequest(
                TENANT,
                source_key=None,
                team_id="T1",
                channel_id=CHANNEL,
                user_id="UE",
                phone_e164=OPEN_PHONE,
                reason="Ainda na fila",
                lang="pt-BR",
                response_url="https://hooks.slack.invalid/ue",
            ),
            NewDelivery("open:parent", "parent", {"channel": CHANNEL, "text": "fila"}),
        )
    finally:
        await store.close()
    await backdate(settings.database.url, [requests["granted"].id, requests["failed"].id, open_id], days=200)
    return await requests_by_name(settings.database.url)


async def snapshot(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    return {
        name: await db_rows(settings, f"SELECT * FROM {name} ORDER BY id")
        for name in ("requests", "webhook_events", "deliveries")
    }


async def test_purge_erases_only_old_closed_requests(old_records, run_cli: RunCli, settings: Settings) -> None:
    before = await snapshot(settings)

    result = await run_cli("purge", "--older-than", "180d")

    assert result.code == 0, result.err
    assert result.lines[0].startswith("Erased the phone numbers and reasons of 2 closed request(s) created before ")
    after = await requests_by_name(settings.database.url)
    for name in ("granted", "failed"):
        purged = after[name]
        assert (purged.phone_e164, purged.phone_key, purged.reason) == ("", "", "")
        assert purged.response_url is None and purged.message_id is None
        assert purged.purged_at is not None
        # What happened stays: state, outcome, dates.
        kept = old_records[name]
        assert (purged.state, purged.outcome, purged.answered_at, purged.expires_at, purged.created_at) == (
            kept.state,
            kept.outcome,
            kept.answered_at,
            kept.expires_at,
            kept.created_at,
        )
    assert after["UE"] == old_records["UE"]  # open request: untouched although old
    assert after["denied"] == old_records["denied"]  # closed but recent
    assert after["waiting"] == old_records["waiting"]
    assert {name: len(rows) for name, rows in (await snapshot(settings)).items()} == {
        name: len(rows) for name, rows in before.items()
    }


async def test_purge_erases_the_webhook_events_and_sent_messages_of_purged_requests(
    old_records, run_cli: RunCli, settings: Settings
) -> None:
    granted, denied = old_records["granted"].id, old_records["denied"].id

    await run_cli("purge", "--older-than", "180d")

    (event,) = await db_rows(settings, "SELECT * FROM webhook_events WHERE request_id = ?", (granted,))
    assert (event["body"], event["from_phone"], event["to_phone"], event["phone_key"]) == ("", None, None, None)
    assert event["dedup_key"] == f"purged:{event['id']}"
    assert event["status"] == "TEMPORARY"  # the answer itself stays
    deliveries = await db_rows(settings, "SELECT * FROM deliveries WHERE request_id = ?", (granted,))
    assert deliveries and all(d["payload"] == "{}" for d in deliveries)
    (recent_event,) = await db_rows(settings, "SELECT * FROM webhook_events WHERE request_id = ?", (denied,))
    assert recent_event["from_phone"] == "5521998765432"
    recent_payloads = [
        d["payload"] for d in await db_rows(settings, "SELECT * FROM deliveries WHERE request_id = ?", (denied,))
    ]
    assert all(json.loads(p) for p in recent_payloads)
    assert GRANTED.digits not in json.dumps(await snapshot(settings))
    assert GRANTED.reason not in json.dumps((await snapshot(settings)), ensure_ascii=False)
    assert FAILED.reason not in json.dumps((await snapshot(settings)), ensure_ascii=False)


async def test_purge_is_idempotent(old_records, run_cli: RunCli, settings: Settings) -> None:
    await run_cli("purge", "--older-than", "180d")
    first = await snapshot(settings)

    again = await run_cli("purge", "--older-than", "180d")

    assert again.code == 0
    assert "of 0 closed request(s)" in again.out
    assert (await snapshot(settings)) == first


async def test_export_after_purge_shows_empty_phone_and_reason(old_records, run_cli: RunCli) -> None:
    await run_cli("purge", "--older-than", "180d")

    result = await run_cli("export", "--since", "2000-01-01", "--format", "jsonl", "--full-phones")

    rows = {row["requested_by"]: row for row in map(json.loads, result.lines)}
    assert len(rows) == 5
    assert (rows[GRANTED.user]["phone"], rows[GRANTED.user]["reason"]) == ("", "")
    assert rows[GRANTED.user]["outcome"] == "granted_temporary"
    assert rows[GRANTED.user]["purged_at"] is not None
    assert rows[WAITING.user]["phone"] == WAITING.e164


async def test_dry_run_changes_nothing(old_records, run_cli: RunCli, settings: Settings) -> None:
    before = await snapshot(settings)

    result = await run_cli("purge", "--older-than", "180d", "--dry-run")

    assert result.code == 0
    assert result.lines[0].startswith("Would erase the phone numbers and reasons of 2 closed request(s)")
    assert (await snapshot(settings)) == before


async def test_hours_and_progress(old_records, run_cli: RunCli, settings: Settings) -> None:
    await backdate(settings.database.url, [old_records["denied"].id], days=1)

    result = await run_cli("purge", "--older-than", "12h", "--batch-size", "1")

    assert result.code == 0
    assert "of 3 closed request(s)" in result.out
    assert result.err.splitlines() == ["purged 1/3 requests…", "purged 2/3 requests…", "purged 3/3 requests…"]


@pytest.mark.parametrize("age", ["180", "0d", "6m", ""])
async def test_bad_age_is_refused(cli_env, run_cli: RunCli, age: str) -> None:
    result = await run_cli("purge", "--older-than", age)

    assert result.code == 2
    assert "askcall:" in result.err


async def test_missing_database_is_not_created(cli_env, run_cli: RunCli, tmp_path) -> None:
    result = await run_cli("purge", "--older-than", "180d")

    assert result.code == 2
    assert "ASKCALL_DB_PATH" in result.err
    assert not (tmp_path / "data").exists()
