"""Leaving (bot/store/workspaces.py), on both backends: a stopped workspace's open deliveries die with the reason,
every claim across tenants skips it (on every replica: `rival` is another store on the same database), a
reinstall or `enable` resumes it, and a purge deletes every row of it, every table, and no other tenant's row.
Fairness: a claim shares the outbox out in turns across workspaces."""

from __future__ import annotations

import time
from typing import Any

from slack_sdk.oauth.installation_store import Installation

from bot.domain import DeliveryState, ReminderKind, RequestState
from bot.secrets import Secrets, new_key
from bot.services.retention import purge_left_workspaces, purge_workspace
from bot.slack.stored_installations import StoredInstallations
from bot.store import Effects, IncomingEvent, NewReminder, Store, Workspace
from bot.store.workspace_settings import StoredNumber, WorkspaceSettings
from tests.store.helpers import ANSWER_AT, FAR_FUTURE, TABLES, all_rows, fill, new_request, reply
from tests.tenants import OTHER, TENANT


async def waiting_with_reminder(store: Store, tenant: Any, phone: str) -> int:
    request_id = await new_request(store, tenant=tenant, phone=phone)
    await store.transition(
        tenant,
        request_id,
        [RequestState.NEW],
        RequestState.WAITING,
        Effects(deliveries=[reply(f"reply-{tenant}-{request_id}")], reminders=[NewReminder(ReminderKind.EXPIRY, 10.0)]),
        sent_at=5.0,
    )
    return request_id


async def two_workspaces(store: Store) -> None:
    for tenant in (TENANT, OTHER):
        await store.record_workspace(Workspace(tenant, tenant, None, name=f"Acme {tenant}", installed_at=1.0))
        await waiting_with_reminder(store, tenant, "+5531988887777")


async def open_deliveries(store: Store) -> dict[str, list[str | None]]:
    rows = await store.export_rows("deliveries", None, 1000)
    found: dict[str, list[str | None]] = {}
    for row in rows:
        if row["state"] in (DeliveryState.PENDING, DeliveryState.INFLIGHT):
            found.setdefault(row["tenant_id"], []).append(row["last_error"])
    return found


async def test_stopping_kills_open_deliveries_with_the_reason_and_is_idempotent(store: Store) -> None:
    await two_workspaces(store)

    killed = await store.stop_workspace(TENANT, 100.0)
    again = await store.stop_workspace(TENANT, 200.0)

    assert killed == 2 and again == 0  # its parent message and its reply; Slack's retry kills nothing more
    dead = [r for r in await store.export_rows("deliveries", None, 1000) if r["tenant_id"] == TENANT]
    assert {(r["state"], r["last_error"]) for r in dead} == {(DeliveryState.DEAD, "uninstalled")}
    assert list(await open_deliveries(store)) == [OTHER]
    workspace = await store.workspace(TENANT)
    assert workspace is not None and workspace.stopped and workspace.uninstalled_at == 100.0  # the first stamp kept


async def test_a_stopped_workspaces_work_is_skipped_by_every_replica(store: Store, rival: Store) -> None:
    await two_workspaces(store)
    for tenant in (TENANT, OTHER):
        await store.record_webhook_event(
            IncomingEvent(
                tenant,
                dedup_key="evt-1",
                event="call.permission_updated",
                status="PERMANENT",
                from_phone="+5531988887777",
                to_phone=None,
                event_ts="2027-01-15T10:00:00.000Z",
                body="{}",
            )
        )
    await store.stop_workspace(TENANT, 100.0, disabled=True)

    reminders = await rival.claim_due_reminders(ANSWER_AT)
    due = await rival.due_reminders(ANSWER_AT)
    events = await rival.abandoned_webhook_events(ANSWER_AT)

    assert {r.tenant_id for r in reminders} == {OTHER} and {r.tenant_id for r in due} == {OTHER}
    assert [tenant for _, tenant, _ in events] == [OTHER]
    killed = [r for r in await store.export_rows("deliveries", None, 1000) if r["tenant_id"] == TENANT]
    assert {r["last_error"] for r in killed} == {"disabled"}


async def test_enable_and_reinstall_resume_the_workspace_with_its_history(store: Store) -> None:
    await two_workspaces(store)
    await store.stop_workspace(TENANT, 100.0, disabled=True)
    await store.stop_workspace(OTHER, 100.0)

    assert await store.enable_workspace(TENANT) and not await store.enable_workspace(TENANT)
    await store.record_workspace(Workspace(OTHER, OTHER, None, installed_at=300.0))  # reinstalled

    for tenant in (TENANT, OTHER):
        workspace = await store.workspace(tenant)
        assert workspace is not None and not workspace.stopped and workspace.installed_at == 1.0
        assert len(await store.requests_by_user(tenant, "U1", 0.0)) == 1  # its history is there
    assert {r.tenant_id for r in await store.due_reminders(ANSWER_AT)} == {TENANT, OTHER}


async def test_only_workspaces_past_their_grace_period_are_purged(store: Store) -> None:
    await two_workspaces(store)
    await store.stop_workspace(TENANT, 100.0)
    await store.stop_workspace(OTHER, 500.0)

    assert await store.workspaces_left_before(400.0) == [TENANT]
    purged = await purge_left_workspaces(store, 400.0, batch_size=1)

    assert list(purged) == [TENANT] and purged[TENANT] > 0
    assert await store.workspace(TENANT) is None and await store.workspace(OTHER) is not None


async def test_purge_deletes_every_row_of_the_tenant_and_no_other_tenants_row(store: Store) -> None:
    await fill(store)  # every table, for TENANT
    key = new_key()
    for tenant in (TENANT, OTHER):
        await StoredInstallations(store, Secrets(key)).sdk_store.async_save(
            Installation(
                team_id=tenant,
                bot_token=f"xoxb-{tenant}",
                bot_id="B",
                bot_user_id="UB",
                user_id="U1",
                installed_at=time.time(),
            )
        )
    await waiting_with_reminder(store, OTHER, "+5531988880000")
    await store.set_dm_answers(OTHER, "U1", True)
    assert await store.claim_action(OTHER, "a-action")
    await store.issue_oauth_state("state-1", time.time() + 600)
    for tenant in (TENANT, OTHER):  # each workspace's settings and connected number go with it
        await store.save_workspace_settings(WorkspaceSettings(tenant_id=tenant, language="en"))
        await store.save_workspace_number(StoredNumber(tenant, "default", "enc-key", f"tok-{tenant}"))
    before = await all_rows(store)

    deleted = await purge_workspace(store, TENANT, batch_size=2)
    again = await purge_workspace(store, TENANT)

    after = await all_rows(store)
    assert deleted == sum(1 for table in TABLES for row in before[table] if row.get("tenant_id") == TENANT)
    assert again == 0
    for table in TABLES:
        assert not [row for row in after[table] if row.get("tenant_id") == TENANT], table
        untouched = [row for row in before[table] if row.get("tenant_id") != TENANT]
        assert after[table] == untouched, table
    assert after["oauth_states"]  # OAuth states belong to no workspace


async def test_a_claim_shares_the_outbox_out_in_turns_across_workspaces(store: Store, rival: Store) -> None:
    for n in range(6):  # a backlog of TENANT's, all due before OTHER's one message
        await new_request(store, tenant=TENANT, phone=f"+55319888800{n:02d}")
    await new_request(store, tenant=OTHER, phone="+5531988881111")

    first = await store.claim_due_deliveries(FAR_FUTURE, limit=2)
    second = await rival.claim_due_deliveries(FAR_FUTURE, limit=3)

    assert [d.tenant for d in first] == [TENANT, OTHER]  # OTHER's message doesn't wait behind TENANT's backlog
    assert [d.tenant for d in second] == [TENANT] * 3 and not {d.id for d in first} & {d.id for d in second}
