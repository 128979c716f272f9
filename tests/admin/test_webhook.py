"""`askcall webhook register | list` against the fake Pilot Status."""

from __future__ import annotations

from bot.fakes.pilot_status import FakePilotStatus
from bot.pilot_status.admin import PilotStatusAdmin
from tests.admin.conftest import RunCli

URL = "https://askcall.example.com/webhooks/pilot-status"


async def test_register_twice_keeps_one_webhook_and_patches_it(
    cli_env, run_cli: RunCli, pilot: FakePilotStatus
) -> None:
    first = await run_cli("webhook", "register", "--url", URL)
    second = await run_cli("webhook", "register", "--url", URL)

    assert (first.code, second.code) == (0, 0)
    (webhook,) = pilot.webhooks.values()
    assert webhook["url"] == URL
    assert webhook["events"] == ["call.permission_updated"]
    assert webhook["active"] is True
    assert webhook["name"] == "AskCall"
    assert [r.method for r in pilot.requests if r.path.startswith("/v1/webhooks")] == ["GET", "POST", "GET", "PATCH"]
    assert first.lines[0] == f"Created Pilot Status webhook {webhook['id']}: {URL}"
    assert second.lines[0] == f"Updated Pilot Status webhook {webhook['id']}: {URL}"
    for result in (first, second):
        assert "PILOT_STATUS_WEBHOOK_SECRET" in result.out
        assert "only in its dashboard" in result.out


async def test_register_reactivates_and_adds_the_event_keeping_the_others(
    cli_env, run_cli: RunCli, pilot: FakePilotStatus
) -> None:
    async with PilotStatusAdmin(base_url=pilot.base_url, api_key=pilot.api_key) as admin:
        existing = await admin.create_webhook(url=URL, name="CRM", events=["message.received"])
        await admin.update_webhook(existing.id, active=False)

    result = await run_cli("webhook", "register", "--url", URL)

    assert result.code == 0
    webhook = pilot.webhooks[existing.id]
    assert len(pilot.webhooks) == 1
    assert webhook["events"] == ["message.received", "call.permission_updated"]
    assert webhook["active"] is True
    assert webhook["name"] == "CRM"  # not renamed unless --name is given
    assert "active; events: message.received, call.permission_updated" in result.out


async def test_register_leaves_a_catch_all_subscription_alone_and_renames_on_request(
    cli_env, run_cli: RunCli, pilot: FakePilotStatus
) -> None:
    async with PilotStatusAdmin(base_url=pilot.base_url, api_key=pilot.api_key) as admin:
        existing = await admin.create_webhook(url=URL, name="everything", events=["*"])

    result = await run_cli("webhook", "register", "--url", URL, "--name", "AskCall vendas")

    assert result.code == 0
    assert pilot.webhooks[existing.id]["events"] == ["*"]
    assert pilot.webhooks[existing.id]["name"] == "AskCall vendas"


async def test_register_refuses_plain_http_unless_allowed(cli_env, run_cli: RunCli, pilot: FakePilotStatus) -> None:
    http_url = "http://127.0.0.1:3000/webhooks/pilot-status"

    refused = await run_cli("webhook", "register", "--url", http_url)
    assert refused.code == 2
    assert "must start with https://" in refused.err
    assert pilot.requests == []

    allowed = await run_cli("webhook", "register", "--url", http_url, "--allow-http")
    assert allowed.code == 0
    assert [w["url"] for w in pilot.webhooks.values()] == [http_url]


async def test_register_needs_only_the_pilot_status_key(
    cli_env, run_cli: RunCli, pilot: FakePilotStatus, monkeypatch
) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "PILOT_STATUS_WEBHOOK_SECRET"):
        monkeypatch.delenv(name)

    result = await run_cli("webhook", "register", "--url", URL)

    assert result.code == 0
    assert len(pilot.webhooks) == 1


async def test_register_with_a_wrong_key_explains_and_creates_nothing(
    cli_env, run_cli: RunCli, pilot: FakePilotStatus, monkeypatch
) -> None:
    monkeypatch.setenv("PILOT_STATUS_API_KEY", "ps_wrong")

    result = await run_cli("webhook", "register", "--url", URL)

    assert result.code == 1
    assert "Pilot Status rejected PILOT_STATUS_API_KEY (401)" in result.err
    assert "Traceback" not in result.err
    assert "ps_wrong" not in result.out + result.err
    assert pilot.webhooks == {}


async def test_register_without_a_key_names_the_variable(cli_env, run_cli: RunCli, monkeypatch) -> None:
    monkeypatch.delenv("PILOT_STATUS_API_KEY")

    result = await run_cli("webhook", "register", "--url", URL)

    assert result.code == 2
    assert "PILOT_STATUS_API_KEY is not set" in result.err


async def test_list_shows_one_line_per_webhook(cli_env, run_cli: RunCli, pilot: FakePilotStatus) -> None:
    async with PilotStatusAdmin(base_url=pilot.base_url, api_key=pilot.api_key) as admin:
        crm = await admin.create_webhook(url="https://crm.example.com/in", name="CRM", events=["message.received"])
        await admin.update_webhook(crm.id, active=False)
    await run_cli("webhook", "register", "--url", URL)
    askcall_id = next(w["id"] for w in pilot.webhooks.values() if w["url"] == URL)

    result = await run_cli("webhook", "list")

    assert result.code == 0
    assert result.lines == [
        f"{crm.id}  https://crm.example.com/in  paused  events: message.received",
        f"{askcall_id}  {URL}  active  events: call.permission_updated",
    ]


async def test_list_when_there_is_none(cli_env, run_cli: RunCli) -> None:
    result = await run_cli("webhook", "list")

    assert result.code == 0
    assert result.lines == [
        "This WhatsApp number has no Pilot Status webhook. To create one, "
        "run askcall webhook register --url https://<your-host>/webhooks/pilot-status"
    ]
