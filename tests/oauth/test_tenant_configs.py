"""Each workspace's settings and numbers through the per-tenant seam (bot/tenant_config.py) and the Pilot Status
client pool in front of it, on both backends: a tenant gets its own only; a change is seen at once here and by
the other replicas (PostgreSQL); a reconnected key gets a new client."""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import replace

import pytest

from bot.config import Settings
from bot.domain import TenantId
from bot.pilot_status.pool import PilotStatusPool
from bot.secrets import Secrets, new_key
from bot.store import Store
from bot.store.workspace_settings import StoredNumber, WorkspaceSettings
from bot.tenant_config import EnvConfigs, StoredConfigs

T1, T2 = TenantId("T1"), TenantId("T2")


def number(secrets: Secrets, tenant: str, key: str, *, name: str = "default", token: str = "") -> StoredNumber:
    return StoredNumber(
        tenant_id=tenant,
        name=name,
        api_key=secrets.encrypt(key),
        webhook_token=token or f"tok-{tenant}-{name}",
        created_at=1.0,
        updated_at=1.0,
    )


async def test_each_workspace_gets_its_own_settings_over_the_defaults(
    store: Store, secrets: Secrets, settings: Settings
) -> None:
    configs = StoredConfigs(settings, store, secrets)
    await store.save_workspace_settings(
        WorkspaceSettings(tenant_id="T1", language="en", hourly_budget=3, allowed_channels=("C1",))
    )
    await store.save_workspace_number(number(secrets, "T1", "ps_key_one"))
    await store.save_workspace_number(replace(number(secrets, "T1", "ps_key_sales", name="sales"), channels=("C7",)))

    one, two = await configs.config_of(T1), await configs.config_of(T2)

    assert (one.language, one.max_per_rep_per_hour, one.allowed_channels) == ("en", 3, frozenset({"C1"}))
    assert one.retention_days == settings.retention_days
    assert [(n.name, n.api_key) for n in one.numbers] == [("default", "ps_key_one"), ("sales", "ps_key_sales")]
    assert one.number_for_channel("C7").name == "sales"  # type: ignore[union-attr]
    assert one.number_for_channel("C1").name == "default"  # type: ignore[union-attr]
    # T2 saved nothing: the defaults, no number, and never the environment's access lists or numbers.
    assert (two.language, two.max_per_rep_per_hour) == (settings.language, settings.max_requests_per_rep_per_hour)
    assert two.numbers == () and two.number_for_channel("C1") is None
    assert two.allowed_channels == two.allowed_users == frozenset() and two.access_contact == ""
    assert "ps_key" not in repr(one)


async def test_the_pool_serves_a_tenant_its_own_numbers_and_follows_a_new_key(
    store: Store, secrets: Secrets, settings: Settings
) -> None:
    configs = StoredConfigs(settings, store, secrets, cache_seconds=3600)
    pool = PilotStatusPool(settings, configs)
    await store.save_workspace_number(number(secrets, "T1", "ps_key_one"))
    try:
        first = await pool.get(T1, "default")
        assert first._headers["x-api-key"] == "ps_key_one"
        assert await pool.get(T1, "default") is first
        with pytest.raises(LookupError):
            await pool.get(T2, "default")

        await store.save_workspace_number(number(secrets, "T1", "ps_key_two"))  # reconnected
        configs.invalidate(T1)

        again = await pool.get(T1, "default")
        assert again is not first
        assert again._headers["x-api-key"] == "ps_key_two"
    finally:
        await pool.aclose()


async def test_every_workspaces_client_verifies_tls_with_one_context_loaded_once(
    store: Store, secrets: Secrets, settings: Settings
) -> None:
    pool = PilotStatusPool(settings, StoredConfigs(settings, store, secrets))
    await store.save_workspace_number(number(secrets, "T1", "ps_key_one"))
    await store.save_workspace_number(number(secrets, "T2", "ps_key_two"))
    try:
        one, two = await pool.get(T1, "default"), await pool.get(T2, "default")

        assert one is not two and two._headers["x-api-key"] == "ps_key_two"
        contexts = {id(client._session().connector._ssl) for client in (one, two)}  # type: ignore[union-attr]
        assert len(contexts) == 1
        context = one._session().connector._ssl  # type: ignore[union-attr]
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        assert context.cert_store_stats()["x509_ca"] > 0  # the CA certificates, loaded once
    finally:
        await pool.aclose()


async def test_a_number_no_key_decrypts_is_left_out_and_said_so(
    store: Store, secrets: Secrets, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    await store.save_workspace_number(number(Secrets(new_key()), "T1", "ps_key_lost"))

    with caplog.at_level(logging.ERROR):
        config = await StoredConfigs(settings, store, secrets).config_of(T1)

    assert config.numbers == ()
    assert "can't be decrypted" in caplog.text and "ps_key_lost" not in caplog.text


async def test_another_replica_forgets_what_this_one_changed(
    store: Store, rival: Store, secrets: Secrets, settings: Settings
) -> None:
    here = StoredConfigs(settings, store, secrets, cache_seconds=3600)
    there = StoredConfigs(settings, rival, secrets, cache_seconds=3600)
    assert (await there.config_of(T1)).language == settings.language  # cached there
    listening = asyncio.create_task(there.listen())
    try:
        await asyncio.sleep(0.3)  # LISTEN is up (PostgreSQL); SQLite is one process and hears nothing

        await store.save_workspace_settings(WorkspaceSettings(tenant_id="T1", language="en"))
        here.invalidate(T1)

        assert (await here.config_of(T1)).language == "en"
        if store.backend == "SQLite":
            assert (await there.config_of(T1)).language == settings.language  # one process only, by design
        else:
            for _ in range(50):
                if (await there.config_of(T1)).language == "en":
                    break
                await asyncio.sleep(0.05)
            assert (await there.config_of(T1)).language == "en"
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)


async def test_single_workspace_mode_serves_the_environment_to_its_workspace_only(settings: Settings) -> None:
    configs = EnvConfigs(settings, T1)

    mine, theirs = await configs.config_of(T1), await configs.config_of(T2)

    assert mine.numbers == tuple(settings.numbers) and mine.allowed_channels == settings.allowed_channels
    assert theirs.numbers == ()
    assert await EnvConfigs(settings, None).numbers_of(T1) == ()
