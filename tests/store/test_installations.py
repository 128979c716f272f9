"""Contract: Slack installations and OAuth states (bot.store.installations), on every backend."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from bot.domain import TenantId
from bot.store import Store
from bot.store.installations import SlackInstallation


def installed(tenant: str = "T1", *, token: str = "enc-token-1", at: float = 1_800_000_000.0) -> SlackInstallation:
    return SlackInstallation(
        tenant_id=tenant,
        enterprise_id=None,
        enterprise_name=None,
        enterprise_url=None,
        team_id=tenant,
        team_name=f"Team {tenant}",
        is_enterprise_install=False,
        app_id="A1",
        bot_token=token,
        bot_id="B1",
        bot_user_id="UBOT",
        bot_scopes="commands,chat:write",
        bot_refresh_token=None,
        bot_token_expires_at=None,
        installer_user_id="U1",
        token_type="bot",
        installed_at=at,
        updated_at=at,
    )


async def test_an_installation_is_found_by_its_tenant_only(store: Store) -> None:
    await store.save_slack_installation(installed("T1"))
    await store.save_slack_installation(installed("T2", token="enc-token-2"))

    found = await store.slack_installation("T1")

    assert found == installed("T1")
    assert found is not None and found.live
    assert await store.slack_installation("T3") is None
    assert [i.tenant_id for i in await store.slack_installations()] == ["T1", "T2"]


async def test_the_served_installation_is_the_live_one_of_a_workspace_not_disabled(store: Store) -> None:
    for tenant in ("T1", "T2", "T3"):
        await store.save_slack_installation(installed(tenant))
    await store.uninstall_slack("T2", 1_800_000_100.0)
    await store.stop_workspace(TenantId("T3"), 1_800_000_100.0, disabled=True)
    await store.stop_workspace(TenantId("T4"), 1_800_000_100.0, disabled=True)  # never installed, disabled

    assert await store.served_slack_installation(TenantId("T1")) == installed("T1")
    assert await store.served_slack_installation(TenantId("T2")) is None  # uninstalled
    assert await store.served_slack_installation(TenantId("T3")) is None  # disabled: its row stays live
    assert (await store.slack_installation("T3")) == installed("T3")
    assert await store.served_slack_installation(TenantId("T4")) is None
    assert await store.served_slack_installation(TenantId("T5")) is None  # never installed
    await store.enable_workspace(TenantId("T3"))
    assert await store.served_slack_installation(TenantId("T3")) == installed("T3")


async def test_an_org_wide_install_round_trips(store: Store) -> None:
    org = replace(installed("E1"), enterprise_id="E1", team_id=None, is_enterprise_install=True)

    await store.save_slack_installation(org)

    assert await store.slack_installation("E1") == org


async def test_uninstall_clears_the_tokens_and_a_reinstall_brings_them_back(store: Store) -> None:
    rotating = replace(installed("T1"), bot_refresh_token="enc-refresh", bot_token_expires_at=1_800_043_200.0)
    await store.save_slack_installation(rotating)

    assert await store.uninstall_slack("T1", 1_800_000_100.0)
    assert not await store.uninstall_slack("T1", 1_800_000_200.0)  # already gone: nothing to do
    gone = await store.slack_installation("T1")
    assert gone is not None and not gone.live
    assert (gone.bot_token, gone.bot_refresh_token, gone.bot_token_expires_at) == (None, None, None)
    assert gone.uninstalled_at == 1_800_000_100.0

    await store.save_slack_installation(installed("T1", token="enc-token-new", at=1_800_000_300.0))

    back = await store.slack_installation("T1")
    assert back is not None and back.live and back.bot_token == "enc-token-new"
    assert back.installed_at == 1_800_000_000.0  # the first install's time stays
    assert back.uninstalled_at is None


async def test_rotating_the_secrets_rewrites_every_token_in_one_go(store: Store) -> None:
    await store.save_slack_installation(replace(installed("T1"), bot_refresh_token="enc-refresh"))
    await store.save_slack_installation(installed("T2", token="enc-token-2"))
    await store.uninstall_slack("T2", 1_800_000_100.0)

    changed = await store.rotate_slack_secrets(lambda value, tenant: f"{value}+{tenant}")

    assert changed == 2
    row = await store.slack_installation("T1")
    assert row is not None and (row.bot_token, row.bot_refresh_token) == ("enc-token-1+T1", "enc-refresh+T1")
    assert await store.rotate_slack_secrets(lambda value, tenant: value) == 0


async def test_a_state_is_consumed_once(store: Store) -> None:
    now = time.time()
    await store.issue_oauth_state("s1", now + 600)

    assert await store.consume_oauth_state("s1", now)
    assert not await store.consume_oauth_state("s1", now)
    assert not await store.consume_oauth_state("never-issued", now)


async def test_an_expired_state_is_refused(store: Store) -> None:
    now = time.time()
    await store.issue_oauth_state("old", now - 1)
    await store.issue_oauth_state("fresh", now + 600)

    assert not await store.consume_oauth_state("old", now)
    assert await store.consume_oauth_state("fresh", now)


async def test_two_replicas_racing_for_one_state_one_wins(store: Store, rival: Store) -> None:
    now = time.time()
    for n in range(20):
        await store.issue_oauth_state(f"race-{n}", now + 600)

    for n in range(20):
        wins = await asyncio.gather(
            store.consume_oauth_state(f"race-{n}", now), rival.consume_oauth_state(f"race-{n}", now)
        )
        assert sorted(wins) == [False, True]


async def test_a_state_issued_by_one_replica_is_consumed_by_another(store: Store, rival: Store) -> None:
    now = time.time()
    await store.issue_oauth_state("cross", now + 600)

    assert await rival.consume_oauth_state("cross", now)
    assert not await store.consume_oauth_state("cross", now)
