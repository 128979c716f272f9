"""Contract: per-workspace settings and WhatsApp numbers (bot.store.workspace_settings), on every backend."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.store import Store
from bot.store.workspace_settings import StoredNumber, WorkspaceSettings

AT = 1_800_000_000.0


def number(tenant: str = "T1", name: str = "default", *, token: str = "tok-1", at: float = AT) -> StoredNumber:
    return StoredNumber(
        tenant_id=tenant,
        name=name,
        api_key="enc-key",
        webhook_token=token,
        webhook_secret=None,
        webhook_id="wh_1",
        phone_e164="+5511900000001",
        channels=(),
        created_at=at,
        updated_at=at,
    )


async def test_settings_round_trip_and_belong_to_their_tenant_only(store: Store) -> None:
    settings = WorkspaceSettings(
        tenant_id="T1",
        language="en",
        hourly_budget=7,
        retention_days=30,
        allowed_channels=("C1", "C2"),
        allowed_users=("U1",),
        allowed_usergroups=("S1",),
        access_contact="@ops",
        updated_at=AT,
    )
    assert await store.workspace_settings("T1") is None

    await store.save_workspace_settings(settings)
    await store.save_workspace_settings(WorkspaceSettings(tenant_id="T2", updated_at=AT))

    assert await store.workspace_settings("T1") == settings
    assert await store.workspace_settings("T2") == WorkspaceSettings(tenant_id="T2", updated_at=AT)
    assert await store.workspace_settings("T3") is None


async def test_saving_settings_replaces_them_whole(store: Store) -> None:
    await store.save_workspace_settings(WorkspaceSettings(tenant_id="T1", language="en", allowed_users=("U1",)))
    later = WorkspaceSettings(tenant_id="T1", hourly_budget=3, updated_at=AT + 1)

    await store.save_workspace_settings(later)

    assert await store.workspace_settings("T1") == later


async def test_numbers_are_listed_by_tenant_and_found_by_their_token(store: Store) -> None:
    await store.save_workspace_number(number("T1", "default", token="tok-a"))
    await store.save_workspace_number(replace(number("T1", "sales", token="tok-b"), channels=("C9", "C8")))
    await store.save_workspace_number(number("T2", "default", token="tok-c"))

    assert [n.name for n in await store.workspace_numbers("T1")] == ["default", "sales"]
    assert [(n.tenant_id, n.name) for n in await store.workspace_numbers("T2")] == [("T2", "default")]
    assert await store.workspace_numbers("T3") == []
    found = await store.number_by_webhook_token("tok-b")
    assert found == replace(number("T1", "sales", token="tok-b"), channels=("C9", "C8"))
    assert await store.number_by_webhook_token("tok-zzz") is None


async def test_saving_a_number_again_keeps_its_creation_and_replaces_the_rest(store: Store) -> None:
    await store.save_workspace_number(number(at=AT))
    secret_pasted = replace(number(at=AT + 60), webhook_secret="enc-secret", webhook_id="wh_2")

    await store.save_workspace_number(secret_pasted)

    (stored,) = await store.workspace_numbers("T1")
    assert stored == replace(secret_pasted, created_at=AT)


async def test_a_webhook_token_names_one_number_in_the_whole_database(store: Store) -> None:
    await store.save_workspace_number(number("T1", token="tok-same"))

    with pytest.raises(ValueError, match="webhook token"):
        await store.save_workspace_number(number("T2", token="tok-same"))

    assert await store.workspace_numbers("T2") == []
    found = await store.number_by_webhook_token("tok-same")
    assert found is not None and found.tenant_id == "T1"


async def test_deleting_a_number_touches_its_tenant_only(store: Store) -> None:
    await store.save_workspace_number(number("T1", token="tok-1"))
    await store.save_workspace_number(number("T2", token="tok-2"))

    assert not await store.delete_workspace_number("T2", "sales")
    assert await store.delete_workspace_number("T1", "default")

    assert await store.workspace_numbers("T1") == []
    assert await store.number_by_webhook_token("tok-1") is None
    assert [n.tenant_id for n in await store.workspace_numbers("T2")] == ["T2"]


def test_a_number_never_shows_its_key_secret_or_token() -> None:
    shown = repr(replace(number(), webhook_secret="enc-secret"))

    assert "enc-key" not in shown and "enc-secret" not in shown and "tok-1" not in shown


async def test_rotating_number_secrets_rewrites_every_key_and_secret_once(store: Store) -> None:
    await store.save_workspace_number(replace(number("T1", token="tok-1"), webhook_secret="enc-secret"))
    await store.save_workspace_number(number("T2", token="tok-2"))  # no secret yet: stays None
    seen: list[tuple[str, str]] = []

    def rotate(value: str, tenant: str) -> str:
        seen.append((value, tenant))
        return value if value.startswith("new-") else "new-" + value

    assert await store.rotate_number_secrets(rotate) == 3
    assert await store.rotate_number_secrets(rotate) == 0

    (one,) = await store.workspace_numbers("T1")
    (two,) = await store.workspace_numbers("T2")
    assert (one.api_key, one.webhook_secret) == ("new-enc-key", "new-enc-secret")
    assert (two.api_key, two.webhook_secret) == ("new-enc-key", None)
    assert ("enc-key", "T1") in seen and ("enc-key", "T2") in seen
