"""slack-sdk's installation and state stores on AskCall's store, and the cached `Installations` port in front of them
(bot/slack/stored_installations.py), on both backends; token rotation against the fake Slack."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain import TenantId
from bot.fakes import FakeSlack
from bot.secrets import Secrets, new_key
from bot.slack.stored_installations import StoredInstallations
from bot.store import NewDelivery, NewRequest, Store
from tests.oauth.install_helpers import installation


async def test_a_saved_installation_is_found_for_its_team_only_with_its_token_encrypted(
    store: Store, secrets: Secrets
) -> None:
    installs = StoredInstallations(store, secrets)
    await installs.sdk_store.async_save(installation("T1"))
    await installs.sdk_store.async_save(installation("T2", "xoxb-T2-secret"))

    one = await installs.find(enterprise_id=None, team_id="T1", is_enterprise_install=False)

    assert one is not None and (one.tenant, one.bot_token, one.bot_user_id) == ("T1", "xoxb-T1-secret", "UBOT")
    assert "xoxb-T1-secret" not in repr(one)
    assert await installs.find(enterprise_id=None, team_id="T3", is_enterprise_install=False) is None
    row = await store.slack_installation("T1")
    assert row is not None and row.bot_token is not None and "xoxb" not in row.bot_token
    assert row.installer_user_id == "UINSTALLER"
    bot = await installs.sdk_store.async_find_bot(enterprise_id=None, team_id="T2")
    assert bot is not None and bot.bot_token == "xoxb-T2-secret"
    found = await installs.sdk_store.async_find_installation(enterprise_id=None, team_id="T2")
    assert found is not None and found.user_id == "UINSTALLER"
    assert await installs.sdk_store.async_find_installation(enterprise_id=None, team_id="T2", user_id="U9") is None


async def test_an_org_wide_install_serves_every_team_of_its_organisation(store: Store, secrets: Secrets) -> None:
    installs = StoredInstallations(store, secrets)
    org = installation(team="T1", enterprise_id="E1", is_enterprise_install=True)
    org.team_id = None

    await installs.sdk_store.async_save(org)

    found = await installs.find(enterprise_id="E1", team_id="T7", is_enterprise_install=True)
    assert found is not None and found.tenant == "E1"
    assert await installs.find(enterprise_id="E1", team_id="T7", is_enterprise_install=False) is None
    await installs.sdk_store.async_delete_all(enterprise_id="E1", team_id="T7")  # app_uninstalled from one of its teams
    assert await installs.find(enterprise_id="E1", team_id="T7", is_enterprise_install=True) is None


async def test_uninstall_forgets_at_once_and_reinstall_comes_back(store: Store, secrets: Secrets) -> None:
    installs = StoredInstallations(store, secrets, cache_seconds=3600)
    await installs.sdk_store.async_save(installation("T1"))
    assert await installs.for_tenant(TenantId("T1")) is not None  # cached now

    await installs.sdk_store.async_delete_all(enterprise_id=None, team_id="T1")

    assert await installs.for_tenant(TenantId("T1")) is None
    row = await store.slack_installation("T1")
    assert row is not None and row.bot_token is None and row.uninstalled_at is not None
    await installs.sdk_store.async_save(installation("T1", "xoxb-T1-again"))
    back = await installs.for_tenant(TenantId("T1"))
    assert back is not None and back.bot_token == "xoxb-T1-again"


async def test_a_revoked_bot_token_is_deleted_but_a_user_token_revocation_changes_nothing(
    store: Store, secrets: Secrets
) -> None:
    installs = StoredInstallations(store, secrets)
    await installs.sdk_store.async_save(installation("T1"))

    await installs.sdk_store.async_delete_installation(enterprise_id=None, team_id="T1", user_id="U5")
    assert await installs.for_tenant(TenantId("T1")) is not None

    await installs.sdk_store.async_delete_bot(enterprise_id=None, team_id="T1")
    assert await installs.for_tenant(TenantId("T1")) is None


async def test_another_replica_forgets_what_this_one_changed(store: Store, rival: Store, secrets: Secrets) -> None:
    here = StoredInstallations(store, secrets, cache_seconds=3600)
    there = StoredInstallations(rival, secrets, cache_seconds=3600)
    await here.sdk_store.async_save(installation("T1"))
    assert await there.for_tenant(TenantId("T1")) is not None  # cached there
    listening = asyncio.create_task(there.listen())
    try:
        await asyncio.sleep(0.3)  # LISTEN is up (PostgreSQL); SQLite is one process and hears nothing

        await here.sdk_store.async_delete_all(enterprise_id=None, team_id="T1")

        if store.backend == "SQLite":
            assert await there.for_tenant(TenantId("T1")) is not None  # its own cache: one process only, by design
        else:
            for _ in range(50):
                if await there.for_tenant(TenantId("T1")) is None:
                    break
                await asyncio.sleep(0.05)
            assert await there.for_tenant(TenantId("T1")) is None
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)


async def test_the_cache_is_bounded_and_short_lived(store: Store, secrets: Secrets) -> None:
    now = [1_000.0]
    installs = StoredInstallations(store, secrets, clock=lambda: now[0], cache_seconds=30, cache_size=2)
    for team in ("T1", "T2", "T3"):
        await installs.sdk_store.async_save(installation(team))
        await installs.for_tenant(TenantId(team))

    assert len(installs._cache) == 2
    await store.uninstall_slack("T3", now[0])  # behind the cache's back (as another process would, without NOTIFY)
    assert await installs.for_tenant(TenantId("T3")) is not None
    now[0] += 31
    assert await installs.for_tenant(TenantId("T3")) is None


async def test_a_token_no_key_decrypts_is_not_installed_and_says_whose(
    store: Store, secrets: Secrets, caplog: pytest.LogCaptureFixture
) -> None:
    await StoredInstallations(store, secrets).sdk_store.async_save(installation("T1"))

    with caplog.at_level(logging.ERROR):
        found = await StoredInstallations(store, Secrets(new_key())).for_tenant(TenantId("T1"))

    assert found is None
    assert "Slack installation of T1" in caplog.text and "xoxb" not in caplog.text


async def test_a_key_rotation_keeps_every_token(store: Store) -> None:
    old, new = new_key(), new_key()
    await StoredInstallations(store, Secrets(old)).sdk_store.async_save(installation("T1"))
    both = Secrets(f"{new},{old}")

    changed = await store.rotate_slack_secrets(lambda value, tenant: both.rotate(value, what=tenant))

    assert changed == 1
    found = await StoredInstallations(store, Secrets(new)).for_tenant(TenantId("T1"))
    assert found is not None and found.bot_token == "xoxb-T1-secret"


async def test_an_expiring_token_is_rotated_saved_and_used(store: Store, secrets: Secrets) -> None:
    async with FakeSlack() as slack:
        slack.oauth.token_rotation = True
        client = AsyncWebClient(base_url=slack.api_url)
        rotator = AsyncTokenRotator(
            client_id=slack.oauth.client_id, client_secret=slack.oauth.client_secret, client=client
        )
        issued = slack.oauth.issue("T1", scopes="commands", installer="UINSTALLER")
        installs = StoredInstallations(store, secrets, rotator)
        await installs.sdk_store.async_save_bot(
            Bot(
                team_id="T1",
                bot_token=issued["access_token"],
                bot_id="BBOT",
                bot_user_id="UBOT",
                bot_refresh_token=issued["refresh_token"],
                bot_token_expires_at=int(time.time()) + 60,  # within the rotation window
                installed_at=time.time(),
            )
        )

        found = await installs.for_tenant(TenantId("T1"))

        assert found is not None and found.bot_token != issued["access_token"]
        assert (await AsyncWebClient(token=found.bot_token, base_url=slack.api_url).auth_test())["team_id"] == "T1"
        row = await store.slack_installation("T1")
        assert (
            row is not None and row.bot_token_expires_at is not None and row.bot_token_expires_at > time.time() + 3600
        )
        assert len(slack.calls_to("oauth.v2.access")) == 1
        assert await installs.for_tenant(TenantId("T1")) == found  # not rotated again


async def test_an_uninstall_stops_the_workspaces_work_and_a_reinstall_resumes_it(
    store: Store, secrets: Secrets
) -> None:
    installs = StoredInstallations(store, secrets, cache_seconds=3600)
    await installs.sdk_store.async_save(installation("T1"))
    await installs.sdk_store.async_save(installation("T2", "xoxb-T2-secret"))
    request_id, _ = await store.create_request(
        NewRequest(TenantId("T1"), "C1", "U1", "+5531988887777", "why", "pt-BR"),
        NewDelivery("parent-1", "parent", {"channel": "C1", "text": "x"}),
    )

    await installs.sdk_store.async_delete_bot(enterprise_id=None, team_id="T1")  # app_uninstalled
    await installs.sdk_store.async_delete_bot(enterprise_id=None, team_id="T1")  # Slack retries it

    stopped = await store.workspace(TenantId("T1"))
    assert stopped is not None and stopped.stopped
    parent = await store.delivery_for(TenantId("T1"), request_id, "parent")
    assert parent is not None and (parent.state, parent.last_error) == ("dead", "uninstalled")
    assert await installs.for_tenant(TenantId("T1")) is None
    other = await store.workspace(TenantId("T2"))
    assert other is not None and not other.stopped
    assert await installs.for_tenant(TenantId("T2")) is not None

    await installs.sdk_store.async_save(installation("T1", "xoxb-T1-again"))  # reinstalled within the grace period

    resumed = await store.workspace(TenantId("T1"))
    assert resumed is not None and not resumed.stopped
    found = await installs.for_tenant(TenantId("T1"))
    assert found is not None and found.bot_token == "xoxb-T1-again"
    assert await store.get_request(TenantId("T1"), request_id) is not None


async def test_a_disabled_workspace_is_answered_as_not_installed_and_keeps_its_tokens(
    store: Store, secrets: Secrets
) -> None:
    installs = StoredInstallations(store, secrets)
    await installs.sdk_store.async_save(installation("T1"))

    await store.stop_workspace(TenantId("T1"), time.time(), disabled=True)

    assert await installs.find(enterprise_id=None, team_id="T1", is_enterprise_install=False) is None
    row = await store.slack_installation(TenantId("T1"))
    assert row is not None and row.live
    assert await store.enable_workspace(TenantId("T1"))
    installs.invalidate(TenantId("T1"))  # what PostgreSQL's NOTIFY does on every replica (SQLite: within 30 s)
    assert await installs.find(enterprise_id=None, team_id="T1", is_enterprise_install=False) is not None
