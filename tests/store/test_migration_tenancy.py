"""Migration 11 (tenancy) on a database at schema 10 that holds rows in every table (both backends): every row
gets the legacy tenant '', the keys start with the tenant, and start-up's adoption gives the rows to the one
workspace in one transaction, once, never when another workspace was recorded first."""

from __future__ import annotations

import pytest

from bot.domain import RequestState, TenantId
from bot.phones import customer_key
from bot.store import IncomingEvent, OtherWorkspaceRecorded, Store, Workspace, create_store
from tests.store.older import at_version
from tests.tenants import OTHER, TENANT

BEFORE = 10
LEGACY = TenantId("")
CUSTOMER = "+5511987654321"
ROWS = [
    f"""INSERT INTO requests (id, source_key, channel_id, user_id, phone_e164, phone_key, reason, lang, state,
                              created_at, updated_at, parent_ts)
        VALUES (1, 'cmd:T', 'C1', 'U1', '{CUSTOMER}', '{customer_key(CUSTOMER)}', 'r', 'pt-BR', 'waiting',
                1, 1, '1.0')""",
    """INSERT INTO webhook_events (id, dedup_key, event, body, received_at, processed_at, request_id, result)
       VALUES (1, 'evt-1', 'call.permission_updated', '{}', 2, 2, 1, 'matched')""",
    """INSERT INTO deliveries (id, dedup_key, request_id, kind, payload, state, next_attempt_at, created_at, updated_at,
                               result_ts)
       VALUES (1, 'cmd:T:parent', 1, 'parent', '{}', 'done', 1, 1, 1, '1.0')""",
    "INSERT INTO reminders (id, request_id, kind, due_at) VALUES (1, 1, 'expiry', 99)",
    "INSERT INTO user_prefs (user_id, dm_answers, updated_at) VALUES ('U1', 1, 1)",
    "INSERT INTO handled_actions (action_key, created_at) VALUES ('click-1', 1)",
    "INSERT INTO status_checks (request_id, checked_at, result) VALUES (1, 1, 'ok')",
    """INSERT INTO call_links (id, token_hash, request_id, user_id, created_at, expires_at)
       VALUES (1, 'hash-1', 1, 'U1', 1, 2)""",
    """INSERT INTO call_sessions (id, session_hash, request_id, user_id, created_at, expires_at)
       VALUES (1, 'session-1', 1, 'U1', 1, 2)""",
    f"""INSERT INTO calls (id, request_id, user_id, state, started_at, delivery_key, updated_at, pilot_call_id,
                           number_name, phone_key)
        VALUES (1, 1, 'U1', 'connected', 10, 'call1', 10, 'call_A', 'default', '{customer_key(CUSTOMER)}')""",
]
IDENTITIES = ("requests", "webhook_events", "deliveries", "reminders", "call_links", "call_sessions", "calls")
TENANT_TABLES = [
    "requests",
    "webhook_events",
    "deliveries",
    "reminders",
    "user_prefs",
    "handled_actions",
    "status_checks",
    "call_links",
    "call_sessions",
    "calls",
]


async def migrated(url: str) -> Store:
    await at_version(url, BEFORE, ROWS, identities=IDENTITIES)
    store = create_store(url)
    await store.open()
    return store


async def tenants_of(store: Store) -> dict[str, set[str]]:
    return {table: {row["tenant_id"] for row in await store.export_rows(table, None, 100)} for table in TENANT_TABLES}


async def test_every_row_gets_the_legacy_tenant_and_is_read_through_it(database_url: str) -> None:
    store = await migrated(database_url)
    try:
        assert await tenants_of(store) == {table: {""} for table in TENANT_TABLES}
        request = await store.get_request(LEGACY, 1)
        assert request is not None and request.state is RequestState.WAITING and request.tenant == LEGACY
        assert await store.get_request(TENANT, 1) is None
        assert await store.user_prefs(LEGACY, "U1") == (True, None, None)
        assert (await store.live_call_to(LEGACY, "default", customer_key(CUSTOMER))).id == 1  # type: ignore[union-attr]
        assert await store.workspaces() == []
        # The keys start with the tenant: another workspace may use the same ones.
        again = await store.record_webhook_event(
            IncomingEvent(OTHER, "evt-1", "call.permission_updated", None, None, None, None, "{}")
        )
        assert again.is_new
        assert await store.claim_action(OTHER, "click-1")
    finally:
        await store.close()


async def test_adoption_gives_every_legacy_row_to_the_workspace_once(database_url: str) -> None:
    store = await migrated(database_url)
    try:
        await store.record_workspace(Workspace(TENANT, "T1", None, name="Acme", url="https://acme.slack.com/"))

        moved = await store.adopt_legacy_rows(TENANT)

        assert moved == len(ROWS)
        assert await tenants_of(store) == {table: {TENANT} for table in TENANT_TABLES}
        assert (await store.get_request(TENANT, 1)).tenant == TENANT  # type: ignore[union-attr]
        assert await store.get_request(LEGACY, 1) is None
        assert not await store.claim_action(TENANT, "click-1")  # the click handled before stays handled
        assert await store.adopt_legacy_rows(TENANT) == 0  # idempotent
        (workspace,) = await store.workspaces()
        assert (workspace.tenant, workspace.name, workspace.url) == (TENANT, "Acme", "https://acme.slack.com/")
        assert await store.workspace(TENANT) == workspace and await store.workspace(OTHER) is None
    finally:
        await store.close()


async def test_adoption_is_refused_once_another_workspace_was_recorded(database_url: str) -> None:
    store = await migrated(database_url)
    try:
        await store.record_workspace(Workspace(OTHER, "T2", None))
        await store.record_workspace(Workspace(TENANT, "T1", None))

        with pytest.raises(OtherWorkspaceRecorded, match="another workspace"):
            await store.adopt_legacy_rows(TENANT)

        assert await tenants_of(store) == {table: {""} for table in TENANT_TABLES}  # nothing moved (one transaction)
    finally:
        await store.close()


async def test_recording_a_workspace_again_keeps_when_it_was_installed(store: Store) -> None:
    await store.record_workspace(Workspace(TENANT, "T1", None, name="Acme", installed_at=100.0))
    await store.record_workspace(Workspace(TENANT, "T1", None, url="https://acme.slack.com/", installed_at=200.0))

    workspace = await store.workspace(TENANT)
    assert workspace is not None
    assert (workspace.name, workspace.url, workspace.installed_at) == ("Acme", "https://acme.slack.com/", 100.0)
    assert await store.adopt_legacy_rows(TENANT) == 0  # an empty database has nothing to adopt
