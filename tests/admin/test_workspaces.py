"""`askcall workspaces list | show | rotate-key | new-key` (bot/admin/workspaces.py), on both backends: no token is
ever printed; rotate-key re-encrypts under the first key, all or nothing, and again changes nothing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from slack_sdk.oauth.installation_store import Installation

from bot.domain import TenantId
from bot.fakes import FakeSlack
from bot.secrets import Secrets, new_key
from bot.slack.stored_installations import StoredInstallations
from bot.store import DATA_TABLES, NewDelivery, NewRequest, create_store
from bot.store.workspace_settings import StoredNumber
from tests.admin.conftest import RunCli


async def installed(url: str, key: str, *teams: str) -> None:
    store = create_store(url)
    await store.open()
    try:
        sdk = StoredInstallations(store, Secrets(key)).sdk_store
        for team in teams:
            await sdk.async_save(
                Installation(
                    team_id=team,
                    team_name=f"Acme {team}",
                    bot_token=f"xoxb-{team}-secret",
                    bot_id="B1",
                    bot_user_id="UBOT",
                    bot_scopes="commands,chat:write",
                    user_id="UINSTALLER",
                    installed_at=time.time(),
                )
            )
    finally:
        await store.close()


async def token_of(url: str, key: str, team: str) -> str | None:
    store = create_store(url)
    await store.open()
    try:
        found = await StoredInstallations(store, Secrets(key)).for_tenant(TenantId(team))
        return found.bot_token if found else None
    finally:
        await store.close()


@pytest.fixture
def env_db(cli_env: dict[str, str], database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    if database_url.startswith("sqlite"):
        monkeypatch.setenv("ASKCALL_DB_PATH", database_url.removeprefix("sqlite://"))
    else:
        monkeypatch.setenv("ASKCALL_DATABASE_URL", database_url)
    return database_url


async def connected_number(url: str, key: str, tenant: str) -> None:
    """A WhatsApp number connected from App Home, its key and webhook secret encrypted under `key`."""
    store = create_store(url)
    await store.open()
    try:
        secrets = Secrets(key)
        await store.save_workspace_number(
            StoredNumber(
                tenant_id=tenant,
                name="default",
                api_key=secrets.encrypt(f"ps_{tenant}_key"),
                webhook_token=f"tok-{tenant}",
                webhook_secret=secrets.encrypt(f"whsec_{tenant}"),
            )
        )
    finally:
        await store.close()


async def number_secrets_of(url: str, key: str, tenant: str) -> tuple[str, str | None]:
    store = create_store(url)
    await store.open()
    try:
        (number,) = await store.workspace_numbers(TenantId(tenant))
    finally:
        await store.close()
    secrets = Secrets(key)  # the new key alone: the old one is no longer needed
    return secrets.decrypt(number.api_key, what=tenant), secrets.decrypt_optional(number.webhook_secret, what=tenant)


async def test_list_and_show_never_print_a_token(env_db: str, run_cli: RunCli) -> None:
    key = new_key()
    await installed(env_db, key, "T1", "T2")

    listing = await run_cli("workspaces", "list")
    shown = await run_cli("workspaces", "show", "T2")
    missing = await run_cli("workspaces", "show", "T9")

    assert listing.code == 0 and "Acme T1" in listing.line_with("T1") and "installed" in listing.line_with("T2")
    assert shown.code == 0 and "bot token: stored (encrypted)" in shown.out and "UINSTALLER" in shown.out
    assert missing.code == 1 and "never installed in T9" in missing.out
    for output in (listing.out, shown.out):
        assert "xoxb" not in output and "gAAAA" not in output  # neither the token nor its ciphertext


async def test_rotate_key_moves_every_token_to_the_first_key_once(
    env_db: str, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = new_key(), new_key()
    await installed(env_db, old, "T1", "T2")
    await connected_number(env_db, old, "T2")
    monkeypatch.setenv("ASKCALL_ENCRYPTION_KEY", f"{new},{old}")

    first = await run_cli("workspaces", "rotate-key")
    again = await run_cli("workspaces", "rotate-key")

    assert first.code == 0 and "Re-encrypted 4 stored token(s) and key(s)" in first.out
    assert again.code == 0 and "Re-encrypted 0 stored token(s) and key(s)" in again.out
    assert await token_of(env_db, new, "T1") == "xoxb-T1-secret"  # the old key is no longer needed
    assert await token_of(env_db, new, "T2") == "xoxb-T2-secret"
    assert await number_secrets_of(env_db, new, "T2") == ("ps_T2_key", "whsec_T2")  # the number's too
    assert new not in first.out + first.err and old not in first.out + first.err


async def test_rotate_key_without_the_old_key_changes_nothing(
    env_db: str, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = new_key()
    await installed(env_db, old, "T1")
    monkeypatch.setenv("ASKCALL_ENCRYPTION_KEY", new_key())

    result = await run_cli("workspaces", "rotate-key")

    assert result.code == 1 and "Slack installation of T1" in result.out and "nothing re-encrypted" in result.out
    assert await token_of(env_db, old, "T1") == "xoxb-T1-secret"


async def test_rotate_key_needs_a_key(env_db: str, run_cli: RunCli) -> None:
    result = await run_cli("workspaces", "rotate-key")

    assert result.code == 2 and "ASKCALL_ENCRYPTION_KEY is not set" in result.err


async def test_new_key_is_a_working_key(run_cli: RunCli) -> None:
    result = await run_cli("workspaces", "new-key")

    assert result.code == 0
    Secrets(result.out.strip()).encrypt("works")


def multi_env(monkeypatch: pytest.MonkeyPatch, slack: FakeSlack, key: str, secret: str | None = None) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.setenv("SLACK_CLIENT_ID", slack.oauth.client_id)
    monkeypatch.setenv("SLACK_CLIENT_SECRET", secret or slack.oauth.client_secret)
    monkeypatch.setenv("ASKCALL_ENCRYPTION_KEY", key)
    monkeypatch.setenv("ASKCALL_PUBLIC_URL", "http://127.0.0.1:3000")


async def test_check_in_multi_workspace_mode_proves_the_credentials_and_the_key(
    env_db: str, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, slack: FakeSlack
) -> None:
    key = new_key()
    await installed(env_db, key, "T1", "T2")
    multi_env(monkeypatch, slack, key)

    good = await run_cli("check")

    assert "✓ Slack accepts the app's client id and secret" in good.out
    assert "✓ 2 workspace(s) installed, 0 uninstalled; every stored token decrypts" in good.out
    assert "SLACK_BOT_TOKEN" not in good.out

    multi_env(monkeypatch, slack, new_key(), secret="not-the-secret")
    bad = await run_cli("check")

    assert bad.code == 1
    assert "✗ Slack refused SLACK_CLIENT_ID / SLACK_CLIENT_SECRET (invalid_client)" in bad.out
    assert "✗ ASKCALL_ENCRYPTION_KEY decrypts no key of the tokens of T1, T2" in bad.out
    assert "not-the-secret" not in bad.out and key not in bad.out


async def rows_of(url: str, tenant: str) -> int:
    store = create_store(url)
    await store.open()
    try:
        rows = [row for table, _ in DATA_TABLES for row in await store.export_rows(table, None, 10_000)]
        return sum(1 for row in rows if row.get("tenant_id") == tenant)
    finally:
        await store.close()


async def a_request(url: str, tenant: str) -> None:
    store = create_store(url)
    await store.open()
    try:
        await store.create_request(
            NewRequest(TenantId(tenant), "C1", "U1", "+5531988887777", "why", "pt-BR"),
            NewDelivery(f"parent-{tenant}", "parent", {"channel": "C1", "text": "x"}),
        )
    finally:
        await store.close()


async def test_disable_enable_and_purge_run_as_the_real_process(env_db: str, run_askcall_process: RunCli) -> None:
    key = new_key()
    await installed(env_db, key, "T1", "T2")
    for team in ("T1", "T2"):
        await a_request(env_db, team)
    kept = await rows_of(env_db, "T2")

    refused = await run_askcall_process("workspaces", "purge", "T1", "--yes")  # installed and enabled
    disabled = await run_askcall_process("workspaces", "disable", "T1")
    unconfirmed = await run_askcall_process("workspaces", "purge", "T1")  # no terminal: no answer is no
    listing = await run_askcall_process("workspaces", "list")
    enabled = await run_askcall_process("workspaces", "enable", "T1")
    forced = await run_askcall_process("workspaces", "purge", "T1", "--force", "--yes")
    unknown = await run_askcall_process("workspaces", "disable", "T9")

    assert refused.code == 1 and "installed and enabled: nothing purged" in refused.out
    assert disabled.code == 0 and "1 pending Slack message(s) dropped" in disabled.out
    assert unconfirmed.code == 1 and "Nothing purged." in unconfirmed.out
    assert "disabled" in listing.line_with("T1") and "disabled" not in listing.line_with("T2")
    assert enabled.code == 0 and "enabled" in enabled.out
    assert forced.code == 0 and "Purged workspace T1" in forced.out
    assert unknown.code == 1 and "no workspace T9" in unknown.out
    assert await rows_of(env_db, "T1") == 0 and await rows_of(env_db, "T2") == kept
    for result in (refused, disabled, unconfirmed, listing, enabled, forced):
        assert "88887777" not in result.out + result.err and "xoxb" not in result.out + result.err
