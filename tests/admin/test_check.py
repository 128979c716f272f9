"""`askcall check`: every outcome, against the loopback fakes of Slack and Pilot Status."""

from __future__ import annotations

import socket
import sqlite3

import asyncpg
import pytest

from bot.cli import main
from bot.config import redact_url
from bot.fakes.pilot_status import FakePilotStatus
from bot.fakes.slack import FakeSlack
from bot.pilot_status.admin import PilotStatusAdmin
from bot.pilot_status.webhooks import HANDLED_EVENTS
from bot.store import create_store
from bot.store.sqlite import SQLiteStore as Store
from bot.store.sqlite.schema import MIGRATIONS
from tests.admin.conftest import PASSWORD, RunCli, printed_command, with_password

URL = "https://askcall.example.com/webhooks/pilot-status"


@pytest.fixture(autouse=True)
async def migrated_database(cli_env: dict[str, str]) -> None:
    """The database `askcall serve` (or `askcall db migrate`) made: check only looks at it, never creates one."""
    store = Store(cli_env["ASKCALL_DB_PATH"])
    await store.open()
    await store.close()


async def add_webhook(pilot: FakePilotStatus, url: str = URL, events: list[str] | None = None) -> str:
    async with PilotStatusAdmin(base_url=pilot.base_url, api_key=pilot.api_key) as admin:
        webhook = await admin.create_webhook(url=url, name="AskCall", events=events or list(HANDLED_EVENTS))
    return webhook.id


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def test_everything_ready_passes_with_exit_0(cli_env, run_cli: RunCli, pilot: FakePilotStatus) -> None:
    webhook_id = await add_webhook(pilot)

    result = await run_cli("check")

    assert result.code == 0, result.out
    checks = [line for line in result.lines if line[:1] in "✓✗"]
    assert checks and all(line.startswith("✓ ") for line in checks), result.out
    assert "Slack bot token is valid" in result.line_with("Slack bot token")
    result.line_with("every scope manifest.yml asks for")
    result.line_with("Pilot Status API key is valid")
    result.line_with("Calling is enabled")
    assert f"schema version {len(MIGRATIONS)}" in result.line_with("Database")
    assert webhook_id in result.line_with("webhook")
    assert result.lines[-1] == "All checks passed."


async def test_no_secret_is_printed(cli_env, run_cli: RunCli, pilot: FakePilotStatus) -> None:
    await add_webhook(pilot)

    result = await run_cli("check")

    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "PILOT_STATUS_API_KEY", "PILOT_STATUS_WEBHOOK_SECRET"):
        assert cli_env[name] not in result.out + result.err


async def test_wrong_slack_token(cli_env, run_cli: RunCli, pilot: FakePilotStatus, monkeypatch) -> None:
    await add_webhook(pilot)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-wrong-token")

    result = await run_cli("check")

    assert result.code == 1
    line = result.line_with("SLACK_BOT_TOKEN")
    assert line.startswith("✗ Slack rejected SLACK_BOT_TOKEN (invalid_auth) — fix: ")
    assert "OAuth & Permissions" in line
    assert "xoxb-wrong-token" not in result.out
    result.line_with("✓ Calling is enabled")  # the other checks still ran


async def test_missing_scopes_are_listed_with_reinstall_fix(
    cli_env, run_cli: RunCli, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    await add_webhook(pilot)
    slack.scopes = "commands,chat:write"

    result = await run_cli("check")

    assert result.code == 1
    result.line_with("✓ Slack bot token is valid")
    line = result.line_with("missing scopes")
    assert line.startswith("✗ The Slack app is missing scopes: chat:write.public, channels:history, groups:history")
    assert "reinstall" in line and "manifest.yml" in line


async def test_pilot_status_401(cli_env, run_cli: RunCli, monkeypatch) -> None:
    monkeypatch.setenv("PILOT_STATUS_API_KEY", "ps_revoked_key")

    result = await run_cli("check")

    assert result.code == 1
    line = result.line_with("(401)")
    assert line.startswith("✗ Pilot Status rejected PILOT_STATUS_API_KEY (401): the key is wrong or was revoked")
    assert "regenerate" in line and "PILOT_STATUS_API_KEY" in line
    assert "ps_revoked_key" not in result.out
    assert "Calling is" not in result.out  # nothing to say about calling with a refused key


async def test_account_key_is_refused_with_its_own_explanation(
    cli_env, run_cli: RunCli, pilot: FakePilotStatus
) -> None:
    await add_webhook(pilot)
    pilot.tenant_key = True

    result = await run_cli("check")

    assert result.code == 1
    line = result.line_with("TENANT_SCOPE_NOT_ALLOWED")
    assert line.startswith("✗ PILOT_STATUS_API_KEY is an account key, but calls need the WhatsApp number's own key")
    assert "API keys" in line


async def test_number_without_calling_support(cli_env, run_cli: RunCli, pilot: FakePilotStatus) -> None:
    await add_webhook(pilot)
    pilot.provider_supported = False

    result = await run_cli("check")

    assert result.code == 1
    result.line_with("✓ Pilot Status API key is valid")
    line = result.line_with("FEATURE_NOT_SUPPORTED")
    assert line.startswith("✗ The WhatsApp number cannot use calling: it is not a Meta Cloud API number")


async def test_calling_disabled(cli_env, run_cli: RunCli, pilot: FakePilotStatus) -> None:
    await add_webhook(pilot)
    pilot.calling_settings["status"] = "DISABLED"

    result = await run_cli("check")

    assert result.code == 1
    result.line_with("✓ Pilot Status API key is valid")
    line = result.line_with("Calling is")
    assert line.startswith("✗ Calling is DISABLED on the WhatsApp number — fix: enable calling")


async def test_no_webhook(cli_env, run_cli: RunCli, pilot: FakePilotStatus) -> None:
    await add_webhook(pilot, url="https://crm.example.com/hooks/whatsapp", events=["message.received"])

    result = await run_cli("check")

    assert result.code == 1
    line = result.line_with("No Pilot Status webhook")
    assert line.startswith("✗ No Pilot Status webhook points at …/webhooks/pilot-status (1 other webhook(s) exist)")
    assert "askcall webhook register --url https://<your-host>/webhooks/pilot-status" in line


async def test_paused_webhook(cli_env, run_cli: RunCli, pilot: FakePilotStatus) -> None:
    webhook_id = await add_webhook(pilot)
    async with PilotStatusAdmin(base_url=pilot.base_url, api_key=pilot.api_key) as admin:
        await admin.update_webhook(webhook_id, active=False)

    result = await run_cli("check")

    assert result.code == 1
    line = result.line_with("is paused")
    assert line.startswith(f"✗ The Pilot Status webhook {webhook_id} ({URL}) is paused")
    assert f"askcall webhook register --url {URL}" in line


async def test_webhook_without_the_answer_event(cli_env, run_cli: RunCli, pilot: FakePilotStatus) -> None:
    webhook_id = await add_webhook(pilot, events=["message.received"])

    result = await run_cli("check")

    assert result.code == 1
    line = result.line_with(webhook_id)
    assert line.startswith(f"✗ The Pilot Status webhook {webhook_id} ({URL}) does not send call.permission_updated")
    assert "(events: message.received): customers' answers never reach Slack" in line


async def test_webhook_without_the_call_events_fails_naming_them_and_its_fix_repairs_it(
    cli_env, run_askcall_process: RunCli, pilot: FakePilotStatus
) -> None:
    """The documented set-up used to subscribe only the answers: check passed, and Call now never rang."""
    webhook_id = await add_webhook(pilot, events=["call.permission_updated"])

    before = await run_askcall_process("check")

    assert before.code == 1, before.out
    line = before.line_with(webhook_id)
    assert line.startswith(
        f"✗ The Pilot Status webhook {webhook_id} ({URL}) does not send "
        "call.ringing, call.connected, call.ended, call.missed (events: call.permission_updated): Call now never rings"
    )
    fix = printed_command(line)
    assert fix == ["webhook", "register", "--url", URL]

    repaired = await run_askcall_process(*fix)
    after = await run_askcall_process("check")

    assert repaired.code == 0, repaired.err
    assert after.code == 0, after.out
    assert f"Pilot Status webhook {webhook_id} sends every event AskCall handles" in after.line_with(webhook_id)


async def test_the_fix_for_an_http_public_url_works_as_printed(
    cli_env, run_askcall_process: RunCli, pilot: FakePilotStatus, monkeypatch
) -> None:
    monkeypatch.setenv("ASKCALL_PUBLIC_URL", "http://127.0.0.1:3000")
    target = "http://127.0.0.1:3000/webhooks/pilot-status"

    before = await run_askcall_process("check")

    assert before.code == 1, before.out
    fix = printed_command(before.line_with("No Pilot Status webhook"))
    assert fix == ["webhook", "register", "--url", target, "--allow-http"]
    registered = await run_askcall_process(*fix)
    assert registered.code == 0, registered.err
    after = await run_askcall_process("check")
    assert after.code == 0, after.out
    assert [w["url"] for w in pilot.webhooks.values()] == [target]


async def test_a_webhook_at_another_address_is_named(
    cli_env, run_askcall_process: RunCli, pilot: FakePilotStatus, monkeypatch
) -> None:
    old = await add_webhook(pilot, url="https://old-host.example.com/webhooks/pilot-status")
    monkeypatch.setenv("ASKCALL_PUBLIC_URL", "https://askcall.example.com")

    result = await run_askcall_process("check")

    assert result.code == 1
    line = result.line_with("No Pilot Status webhook")
    assert line.startswith(
        f"✗ No Pilot Status webhook points at {URL}: AskCall's webhook posts elsewhere "
        f"({old} to https://old-host.example.com/webhooks/pilot-status)"
    )
    assert printed_command(line) == ["webhook", "register", "--url", URL]


async def test_each_number_of_askcall_config_is_checked_with_its_own_fix(
    cli_env, run_askcall_process: RunCli, pilot: FakePilotStatus, monkeypatch, tmp_path
) -> None:
    """A second number (ASKCALL_CONFIG) has its own key, path and webhook: check names it, and its fix works."""
    config = tmp_path / "numbers.toml"
    config.write_text(
        '[[numbers]]\nname = "rio"\napi_key_env = "RIO_KEY"\nwebhook_secret_env = "RIO_SECRET"\nchannels = ["C0RIO"]\n'
    )
    monkeypatch.setenv("ASKCALL_CONFIG", str(config))
    monkeypatch.setenv("RIO_KEY", pilot.api_key)  # the fake has one key; the path tells the numbers apart
    monkeypatch.setenv("RIO_SECRET", "whsec_rio")
    monkeypatch.setenv("ASKCALL_PUBLIC_URL", "https://askcall.example.com")
    await add_webhook(pilot)

    before = await run_askcall_process("check")

    assert before.code == 1, before.out
    line = before.line_with("Number rio: No Pilot Status webhook")
    rio_url = "https://askcall.example.com/webhooks/pilot-status/rio"
    assert line.startswith(f"✗ Number rio: No Pilot Status webhook points at {rio_url}")
    fix = printed_command(line)
    assert fix == ["webhook", "register", "--url", rio_url, "--number", "rio"]
    assert (await run_askcall_process(*fix)).code == 0
    after = await run_askcall_process("check")
    assert after.code == 0, after.out


async def test_webhook_subscribed_to_everything_passes(cli_env, run_cli: RunCli, pilot: FakePilotStatus) -> None:
    await add_webhook(pilot, events=["*"])

    result = await run_cli("check")

    assert result.code == 0, result.out


async def test_public_url_must_match_exactly(cli_env, run_cli: RunCli, pilot: FakePilotStatus, monkeypatch) -> None:
    await add_webhook(pilot, url="https://old-host.example.com/webhooks/pilot-status")
    monkeypatch.setenv("ASKCALL_PUBLIC_URL", "https://askcall.example.com/")

    wrong_host = await run_cli("check")
    await add_webhook(pilot, url=URL)
    right_host = await run_cli("check")

    assert wrong_host.code == 1
    assert wrong_host.line_with("No Pilot Status webhook").startswith(f"✗ No Pilot Status webhook points at {URL}")
    assert f"--url {URL}" in wrong_host.line_with("No Pilot Status webhook")
    assert right_host.code == 0, right_host.out


async def test_database_that_cannot_be_opened(
    cli_env, run_cli: RunCli, pilot: FakePilotStatus, monkeypatch, tmp_path
) -> None:
    await add_webhook(pilot)
    folder = tmp_path / "a-folder"
    folder.mkdir()
    monkeypatch.setenv("ASKCALL_DB_PATH", str(folder))  # a directory is no database file

    result = await run_cli("check")

    assert result.code == 1
    line = result.line_with("is a folder")
    assert line.startswith(f"✗ The database path {folder} is a folder")
    assert "ASKCALL_DB_PATH" in line


async def test_database_from_a_newer_askcall(cli_env, run_cli: RunCli, pilot: FakePilotStatus) -> None:
    await add_webhook(pilot)
    path = cli_env["ASKCALL_DB_PATH"]
    store = Store(path)
    await store.open()
    await store.close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")

    result = await run_cli("check")

    assert result.code == 1
    line = result.line_with("schema version")
    assert line.startswith(f"✗ The database at {path} is at schema version {len(MIGRATIONS) + 1}")
    assert "use the AskCall version that migrated it" in line


async def test_database_check_leaves_no_trace(cli_env, run_cli: RunCli, pilot: FakePilotStatus) -> None:
    await add_webhook(pilot)

    await run_cli("check")

    with sqlite3.connect(cli_env["ASKCALL_DB_PATH"]) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "askcall_check_probe" not in tables
    assert "requests" in tables


async def test_unreachable_services_are_check_lines_not_tracebacks(cli_env, run_cli: RunCli, monkeypatch) -> None:
    monkeypatch.setenv("SLACK_API_URL", closed_port_url() + "/api/")
    monkeypatch.setenv("PILOT_STATUS_BASE_URL", closed_port_url())

    result = await run_cli("check")

    assert result.code == 1
    assert result.line_with("Could not reach Slack").startswith("✗ Could not reach Slack at http://127.0.0.1:")
    assert result.line_with("Could not reach Pilot Status").startswith("✗ Could not reach Pilot Status at")
    assert result.line_with("webhooks").startswith("✗ Could not list the Pilot Status webhooks")
    result.line_with("✓ Database")
    assert "Traceback" not in result.out + result.err


async def test_missing_webhook_secret_is_reported_and_other_checks_still_run(
    cli_env, run_cli: RunCli, pilot: FakePilotStatus, monkeypatch
) -> None:
    await add_webhook(pilot)
    monkeypatch.delenv("PILOT_STATUS_WEBHOOK_SECRET")

    result = await run_cli("check")

    assert result.code == 1
    line = result.line_with("PILOT_STATUS_WEBHOOK_SECRET")
    assert line.startswith("✗ PILOT_STATUS_WEBHOOK_SECRET is not set — fix: copy the webhook's signing secret")
    result.line_with("✓ Calling is enabled")
    result.line_with("✓ Pilot Status webhook")


async def test_missing_key_stops_with_the_variable_named(cli_env, run_cli: RunCli, monkeypatch) -> None:
    monkeypatch.delenv("PILOT_STATUS_API_KEY")

    result = await run_cli("check")

    assert result.code == 1
    assert result.lines[0].startswith("✗ Missing required environment variable(s): PILOT_STATUS_API_KEY")


async def test_insecure_dev_mode_fails_the_check(cli_env, run_cli: RunCli, pilot: FakePilotStatus, monkeypatch) -> None:
    await add_webhook(pilot)
    monkeypatch.setenv("ASKCALL_INSECURE_DEV", "1")

    result = await run_cli("check")

    assert result.code == 1
    assert result.line_with("ASKCALL_INSECURE_DEV").startswith("✗ ASKCALL_INSECURE_DEV is on")


@pytest.mark.parametrize(
    "command",
    [
        ["check"],
        ["webhook"],
        ["webhook", "register"],
        ["webhook", "list"],
        ["demo"],
        ["export"],
        ["purge"],
        ["db"],
        ["db", "status"],
        ["db", "migrate"],
        ["db", "copy"],
    ],
)
def test_every_command_has_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])

    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: askcall {' '.join(command)}")
    assert "--help" in out


async def test_services_in_trouble_are_check_lines(
    cli_env, run_cli: RunCli, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    await add_webhook(pilot)
    slack.fail_next("auth.test", status=503)
    pilot.script("GET", "/v1/calls/settings", status=503, body={"error": "down", "code": "UPSTREAM_ERROR"})

    result = await run_cli("check")

    assert result.code == 1
    assert result.line_with("auth.test").startswith("✗ Slack answered auth.test with an error (HTTP 503)")
    assert result.line_with("calling settings").startswith(
        "✗ Pilot Status answered HTTP 503 UPSTREAM_ERROR when asked for the calling settings"
    )
    assert "Traceback" not in result.out + result.err


async def test_database_line_names_the_backend_and_its_version(
    cli_env, run_cli: RunCli, pilot: FakePilotStatus
) -> None:
    await add_webhook(pilot)

    result = await run_cli("check")

    line = result.line_with("Database")
    assert line.startswith(f"✓ Database {cli_env['ASKCALL_DB_PATH']} (SQLite {sqlite3.sqlite_version}) is writable")


async def test_postgresql_database_passes_with_its_server_version(
    cli_env, run_cli: RunCli, pilot: FakePilotStatus, pg_url: str, monkeypatch
) -> None:
    await add_webhook(pilot)
    monkeypatch.setenv("ASKCALL_DATABASE_URL", with_password(pg_url))
    connection = await asyncpg.connect(pg_url)
    version = await connection.fetchval("SHOW server_version")
    await connection.close()
    store = create_store(pg_url)
    await store.open()  # what askcall serve or askcall db migrate did
    await store.close()

    result = await run_cli("check")

    assert result.code == 0, result.out
    line = result.line_with("Database")
    assert line.startswith(f"✓ Database {redact_url(with_password(pg_url))} (PostgreSQL {version}) is writable")
    assert f"schema version {len(MIGRATIONS)}" in line
    assert PASSWORD not in result.out + result.err


async def test_unreachable_postgresql_is_a_clear_line_with_the_password_hidden(
    cli_env, run_cli: RunCli, pilot: FakePilotStatus, monkeypatch
) -> None:
    await add_webhook(pilot)
    port = int(closed_port_url().rsplit(":", 1)[1])
    monkeypatch.setenv("ASKCALL_DATABASE_URL", f"postgresql://askcall:{PASSWORD}@127.0.0.1:{port}/askcall")

    result = await run_cli("check")

    assert result.code == 1
    line = result.line_with("The database at")
    assert line.startswith(f"✗ The database at postgresql://askcall:***@127.0.0.1:{port}/askcall cannot be used (")
    assert "fix: check ASKCALL_DATABASE_URL (host, port, database, user, password)" in line
    assert PASSWORD not in result.out + result.err
    assert "Traceback" not in result.out + result.err


async def test_the_socket_mode_app_token_is_checked(
    cli_env, run_askcall_process: RunCli, slack: FakeSlack, pilot: FakePilotStatus, monkeypatch
) -> None:
    await add_webhook(pilot)
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1-revoked")

    refused = await run_askcall_process("check")
    monkeypatch.setenv("SLACK_APP_TOKEN", slack.app_token)
    accepted = await run_askcall_process("check")

    assert refused.code == 1, refused.out
    line = refused.line_with("SLACK_APP_TOKEN")
    assert line.startswith("✗ Slack refused SLACK_APP_TOKEN (invalid_auth) — fix: create an App-Level Token")
    assert "xapp-1-revoked" not in refused.out + refused.err
    assert accepted.code == 0, accepted.out
    assert accepted.line_with("SLACK_APP_TOKEN").startswith("✓ Slack accepts the app-level token")
