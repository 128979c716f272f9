"""The installer's welcome DM (issue 16 §2), end to end over HTTP on both backends: an install through the real OAuth
flow stores the DM before the success page answers, and the fake Slack gets exactly one DM to the installer, in the
workspace's language, pointing to App Home's Settings; a reinstall (already installed, or back within the grace
period) sends no second one; a crash between storing and sending, or in the middle of sending, still sends it once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.domain import DeliveryState, TenantId
from bot.fakes import FakePilotStatus, FakeSlack
from bot.services.welcome import WELCOME_KEY, welcome_message
from bot.store import Store
from tests.oauth.install_helpers import MultiServer, browser, free_socket, install, multi_settings, start_multi
from tests.oauth.test_install_flow import event

INSTALLER = "UINSTALLER"  # who allows the install on the fake Slack's authorize page


def welcomes(slack: FakeSlack, team: str) -> list[dict[str, Any]]:
    """The DMs AskCall posted to the installer with `team`'s token (the calls Slack carried out)."""
    return [
        call.args
        for call in slack.calls_to("chat.postMessage")
        if call.team == team and call.args.get("channel") == INSTALLER
    ]


async def welcome_row(store: Store, tenant: str) -> dict[str, Any] | None:
    rows = await store.export_rows("deliveries", None, 1000)
    found = [row for row in rows if row["tenant_id"] == tenant and row["dedup_key"] == WELCOME_KEY]
    assert len(found) <= 1
    return found[0] if found else None


async def quiet_past_a_lease(server: MultiServer) -> None:
    """Long enough for work a dead owner left to be taken over (and sent twice, if AskCall got that wrong)."""
    await asyncio.sleep(server.askcall.settings.lease_seconds * 4 / 3 + 0.2)
    await server.askcall.leases.sweep()
    await server.slack.wait_for(lambda: len(server.askcall.tasks) == 0)


async def test_the_installer_gets_one_welcome_dm_and_a_reinstall_sends_no_other(
    multi_askcall: MultiServer, slack: FakeSlack
) -> None:
    store = multi_askcall.askcall.store
    async with browser() as http:
        status, page = await install(http, multi_askcall.url, "T2")
        # Stored before the success page answered (pending, or already sent by now).
        assert status == 200, page
        assert await welcome_row(store, "T2") is not None

    await slack.wait_for(lambda: len(welcomes(slack, "T2")) == 1)
    [dm] = welcomes(slack, "T2")
    text = " ".join(block["text"]["text"] for block in dm["blocks"])
    assert "Acme Vendas" in text and "/askcall" in text  # pt-BR, the deployment's default language
    assert "*Configurações*" in text and "*Conectar o Pilot Status*" in text  # where to connect: App Home Settings
    assert "<slack://app?team=T2&id=AFAKE&tab=home|*Início*>" in text  # a link to App Home
    assert "Configurações" in dm["text"]  # the notification says it too

    async with browser() as http:
        assert (await install(http, multi_askcall.url, "T2"))[0] == 200  # installed again (new scopes, say)
    slack.oauth.uninstall("T2")
    assert await event(multi_askcall, "T2", {"type": "app_uninstalled", "event_ts": "1.1"}) == 200
    async with browser() as http:
        assert (await install(http, multi_askcall.url, "T2"))[0] == 200  # back within the grace period
        assert (await install(http, multi_askcall.url, "T3"))[0] == 200  # another workspace: its own welcome
    await slack.wait_for(lambda: len(welcomes(slack, "T3")) == 1)
    await quiet_past_a_lease(multi_askcall)
    assert len(welcomes(slack, "T2")) == 1  # welcomed once, ever
    assert len(welcomes(slack, "T3")) == 1
    row = await welcome_row(store, "T2")
    assert row is not None and row["request_id"] is None and row["state"] == DeliveryState.DONE


async def test_the_dm_is_in_english_when_the_workspace_speaks_english(
    slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path, database_url: str
) -> None:
    from dataclasses import replace

    slack.oauth.add_team("T2", "Acme <Sales> & Co")
    sock = free_socket()
    settings = replace(multi_settings(slack, pilot, tmp_path, database_url, sock.getsockname()[1]), language="en")
    server = await start_multi(settings, sock, slack)
    try:
        async with browser() as http:
            assert (await install(http, server.url, "T2"))[0] == 200
        await slack.wait_for(lambda: len(welcomes(slack, "T2")) == 1)
    finally:
        await server.stop()
    [dm] = welcomes(slack, "T2")
    text = " ".join(block["text"]["text"] for block in dm["blocks"])
    assert "*Settings*" in text and "*Connect Pilot Status*" in text and "|*Home*>" in text
    assert "Acme &lt;Sales&gt; &amp; Co" in text and "<Sales>" not in text  # the team's name, escaped for mrkdwn


def test_an_org_wide_install_gets_the_dm_without_a_link() -> None:
    message = welcome_message("pt-BR", "Acme Org", None)
    text = " ".join(block["text"]["text"] for block in message["blocks"])
    assert "slack://" not in text and "*Início*" in text and "*Configurações*" in text


@pytest.mark.parametrize("crash", ["before sending", "while sending"])
async def test_a_crash_between_storing_and_sending_still_sends_it_once(
    slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path, database_url: str, crash: str
) -> None:
    slack.oauth.add_team("T2", "Acme Vendas")
    first_sock = free_socket()
    first_settings = multi_settings(slack, pilot, tmp_path, database_url, first_sock.getsockname()[1])
    first = await start_multi(first_settings, first_sock, slack)
    try:
        if crash == "before sending":
            await first.askcall.notifier.stop()  # the process dies before its outbox gets to the DM
        else:
            slack.hang_next("chat.postMessage")  # Slack stores the DM, and the process dies before the answer
        async with browser() as http:
            assert (await install(http, first.url, "T2"))[0] == 200
        if crash == "while sending":
            await slack.wait_for(lambda: slack.hanging == 1)
        row = await welcome_row(first.askcall.store, "T2")
        assert row is not None and row["state"] in (DeliveryState.PENDING, DeliveryState.INFLIGHT)
        await first.askcall.abort()
        slack.release_hung(answer=False)
    finally:
        await first.stop()
    assert len(slack.calls_to("chat.postMessage")) == (0 if crash == "before sending" else 1)

    second_sock = free_socket()
    second = await start_multi(
        multi_settings(
            slack, pilot, tmp_path, database_url, second_sock.getsockname()[1], first_settings.encryption_key
        ),
        second_sock,
        slack,
    )
    try:
        await quiet_past_a_lease(second)
        await slack.wait_for(lambda: len(slack.channel_messages(slack.dm_channel(INSTALLER))) >= 1)
        await quiet_past_a_lease(second)
        assert len(slack.channel_messages(slack.dm_channel(INSTALLER))) == 1  # exactly once
        row = await welcome_row(second.askcall.store, TenantId("T2"))
        assert row is not None and row["state"] == DeliveryState.DONE
    finally:
        await second.stop()
