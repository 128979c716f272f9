"""`askcall webhook register | list` against the fake Pilot Status."""

from __future__ import annotations

from bot.fakes.pilot_status import FakePilotStatus
from bot.pilot_status.admin import PilotStatusAdmin
from bot.pilot_status.webhooks import HANDLED_EVENTS
from tests.admin.conftest import RunCli

URL = "https://askcall.example.com/webhooks/pilot-status"


async def test_register_twice_keeps_one_webhook_subscribed_to_exactly_the_handled_events(
    cli_env, run_askcall_process: RunCli, pilot: FakePilotStatus
) -> None:
    first = await run_askcall_process("webhook", "register", "--url", URL)
    second = await run_askcall_process("webhook", "register", "--url", URL)

    assert (first.code, second.code) == (0, 0), first.err + second.err
    (webhook,) = pilot.webhooks.values()
    assert webhook["url"] == URL
    assert webhook["events"] == list(HANDLED_EVENTS)
    assert set(HANDLED_EVENTS) == {
        "call.permission_updated",
        "call.ringing",
        "call.connected",
        "call.ended",
        "call.missed",
    }
    assert webhook["active"] is True
    assert webhook["name"] == "AskCall"
    # The second run finds nothing to repair: no PATCH.
    assert [r.method for r in pilot.requests if r.path.startswith("/v1/webhooks")] == ["GET", "POST", "GET"]
    assert first.lines[0] == f"Created Pilot Status webhook {webhook['id']}: {URL}"
    assert second.lines[0] == (
        f"Pilot Status webhook {webhook['id']} already posts every event AskCall handles to {URL}: nothing to change."
    )
    for result in (first, second):
        assert f"events: {', '.join(HANDLED_EVENTS)}" in result.out
        assert "PILOT_STATUS_WEBHOOK_SECRET" in result.out
        assert "only in its dashboard" in result.out


async def test_register_repairs_the_webhook_of_the_old_set_up_with_one_patch_of_the_whole_list(
    cli_env, run_askcall_process: RunCli, pilot: FakePilotStatus
) -> None:
    # What `webhook register` used to create: answers only, so Call now never rang.
    old = pilot.subscribe(URL, ["call.permission_updated"])

    result = await run_askcall_process("webhook", "register", "--url", URL)

    assert result.code == 0, result.err
    assert len(pilot.webhooks) == 1
    assert pilot.webhooks[old["id"]]["events"] == list(HANDLED_EVENTS)
    (patch,) = [r for r in pilot.requests if r.method == "PATCH"]
    assert patch.json == {"events": list(HANDLED_EVENTS)}  # PATCH replaces the list: all of it is sent
    assert result.lines[0] == f"Updated Pilot Status webhook {old['id']}: {URL}"
    assert "  added call.ringing, call.connected, call.ended, call.missed" in result.lines


async def test_register_reactivates_and_keeps_only_the_handled_events(
    cli_env, run_askcall_process: RunCli, pilot: FakePilotStatus
) -> None:
    async with PilotStatusAdmin(base_url=pilot.base_url, api_key=pilot.api_key) as admin:
        existing = await admin.create_webhook(url=URL, name="CRM", events=["message.received", "call.ended"])
        await admin.update_webhook(existing.id, active=False)

    result = await run_askcall_process("webhook", "register", "--url", URL)

    assert result.code == 0, result.err
    webhook = pilot.webhooks[existing.id]
    assert len(pilot.webhooks) == 1
    assert webhook["events"] == list(HANDLED_EVENTS)
    assert webhook["active"] is True
    assert webhook["name"] == "CRM"  # not renamed unless --name is given
    assert "  removed message.received (AskCall doesn't handle them)" in result.lines
    assert "  turned back on (it was paused)" in result.lines


async def test_register_narrows_a_catch_all_subscription_and_renames_on_request(
    cli_env, run_cli: RunCli, pilot: FakePilotStatus
) -> None:
    async with PilotStatusAdmin(base_url=pilot.base_url, api_key=pilot.api_key) as admin:
        existing = await admin.create_webhook(url=URL, name="everything", events=["*"])

    result = await run_cli("webhook", "register", "--url", URL, "--name", "AskCall vendas")

    assert result.code == 0
    assert pilot.webhooks[existing.id]["events"] == list(HANDLED_EVENTS)
    assert pilot.webhooks[existing.id]["name"] == "AskCall vendas"
    assert "  now sends only the events AskCall handles instead of every event (*)" in result.lines


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
        f"{askcall_id}  {URL}  active  events: {', '.join(HANDLED_EVENTS)}",
    ]


async def test_list_when_there_is_none(cli_env, run_cli: RunCli) -> None:
    result = await run_cli("webhook", "list")

    assert result.code == 0
    assert result.lines == [
        "This WhatsApp number has no Pilot Status webhook. To create one, "
        "run askcall webhook register --url https://<your-host>/webhooks/pilot-status"
    ]
