"""Helpers shared by the store tests: a request with its parent delivery, a reply delivery, every table filled."""

from __future__ import annotations

from typing import Any

from bot.domain import CallState, ReminderKind, RequestState, TenantId
from bot.store import DATA_TABLES, Effects, IncomingEvent, NewDelivery, NewReminder, NewRequest, Store, Workspace
from tests.tenants import TENANT

CUSTOMER = "+5531988887777"
ANSWER_AT = 1_800_000_000.0
FAR_FUTURE = 4_000_000_000.0
TABLES = [table for table, _ in DATA_TABLES]


_counter = iter(range(1, 1_000_000))


def asking(
    source_key: str | None, *, user_id: str = "U1", phone: str = CUSTOMER, tenant: TenantId = TENANT
) -> NewRequest:
    """A request by `user_id` for `phone`, in channel C1 of the tenant's workspace (T1 by default)."""
    return NewRequest(
        tenant,
        source_key=source_key,
        team_id="T1",
        channel_id="C1",
        user_id=user_id,
        phone_e164=phone,
        reason="Podemos te ligar?",
        lang="pt-BR",
        response_url=None,
    )


async def new_request(
    store: Store,
    *,
    phone: str = CUSTOMER,
    source_key: str | None = None,
    state: RequestState | None = None,
    created_at: float | None = None,
    user_id: str = "U1",
    tenant: TenantId = TENANT,
    **kwargs: Any,
) -> int:
    n = next(_counter)
    request_id, created = await store.create_request(
        asking(source_key if source_key is not None else f"src-{n}", user_id=user_id, phone=phone, tenant=tenant),
        NewDelivery(f"parent-{n}", "parent", {"channel": "C1", "text": f"request {n}"}),
        **kwargs,
    )
    assert created
    if state is not None:
        await store.update_request(tenant, request_id, state=state)
    if created_at is not None:
        await store.update_request(tenant, request_id, created_at=created_at)
    return request_id


def reply(key: str) -> NewDelivery:
    return NewDelivery(key, "reply", {"channel": "C1", "thread_ts": "1.0", "text": key})


async def fill(store: Store, requests: int = 3) -> None:
    """Rows in every AskCall table, with leases, NULLs, floats and text keys."""
    await store.record_workspace(Workspace(TENANT, "T1", None, name="Fake", url="https://fake.slack.com/"))
    for n in range(requests):
        request_id = await new_request(store, phone=f"+55319888877{n:02d}")
        await store.transition(
            TENANT,
            request_id,
            [RequestState.NEW],
            RequestState.WAITING,
            Effects(
                deliveries=[reply(f"reply-{request_id}")], reminders=[NewReminder(ReminderKind.EXPIRY, ANSWER_AT + n)]
            ),
            sent_at=ANSWER_AT - 0.125,
        )
    await store.claim_due_deliveries(ANSWER_AT + 10, limit=2)  # leased rows
    await store.record_webhook_event(
        IncomingEvent(
            TENANT,
            dedup_key="evt-1",
            event="call.permission_updated",
            status="PERMANENT",
            from_phone=CUSTOMER,
            to_phone=None,
            event_ts="2027-01-15T10:00:00.000Z",
            body='{"x": "ção"}',
        ),
    )
    await store.set_dm_answers(TENANT, "U1", True)
    await store.set_locale(TENANT, "U2", "en-US", ANSWER_AT)
    for key in ("b-action", "a-action", "c-action"):
        assert await store.claim_action(TENANT, key)
    await store.create_call_link(TENANT, "hash-1", request_id, "U1", ANSWER_AT, ANSWER_AT + 600)
    assert await store.redeem_call_link("hash-1", "session-1", ANSWER_AT + 1, ANSWER_AT + 3600)
    call = await store.create_call(TENANT, request_id, "U2", ANSWER_AT + 2.5)
    await store.advance_call(
        TENANT, call.id, [CallState.STARTED], {"state": "ended", "duration": 252, "end_reason": "completed"}
    )


async def all_rows(store: Store, batch: int = 1000) -> dict[str, list[dict[str, Any]]]:
    return {table: await store.export_rows(table, None, batch) for table in TABLES}
