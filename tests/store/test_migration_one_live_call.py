"""Migration 10 on a database that already holds calls (both backends): each call gets its request's number and
customer, a customer left with several live calls (possible before the unique index) keeps only the newest live one,
and the database gets its own id."""

from __future__ import annotations

from bot.domain import TenantId
from bot.phones import customer_key
from bot.store import create_store
from tests.store.older import at_version

LEGACY = TenantId("")  # rows made before tenancy (migration 11) belong to the legacy tenant until adopted
BEFORE = 9  # the schema version before calls knew their customer
CUSTOMER = "+5511987654321"
ROWS = [
    f"""INSERT INTO requests (id, channel_id, user_id, phone_e164, phone_key, reason, lang, state, outcome,
                              created_at, updated_at, number_name)
        VALUES (1, 'C1', 'U1', '{CUSTOMER}', '{customer_key(CUSTOMER)}', 'r', 'pt-BR', 'answered', 'PERMANENT',
                1, 1, 'vendas')""",
    """INSERT INTO calls (id, request_id, user_id, state, started_at, delivery_key, updated_at, pilot_call_id)
       VALUES (1, 1, 'U1', 'ringing', 10, 'call1', 10, 'call_A')""",
    """INSERT INTO calls (id, request_id, user_id, state, started_at, delivery_key, updated_at, pilot_call_id)
       VALUES (2, 1, 'U2', 'connected', 20, 'call2', 20, 'call_B')""",
    """INSERT INTO calls (id, request_id, user_id, state, started_at, delivery_key, updated_at, pilot_call_id)
       VALUES (3, 1, 'U1', 'ended', 5, 'call3', 5, 'call_C')""",
]


async def test_existing_calls_get_their_customer_and_only_the_newest_live_one_stays_live(database_url: str) -> None:
    await at_version(database_url, BEFORE, ROWS, identities=("requests", "calls"))
    store = create_store(database_url)
    await store.open()  # migrates
    try:
        calls = (await store.calls_for_requests(LEGACY, [1]))[1]
        assert [(c.id, c.state, c.end_reason) for c in calls] == [
            (1, "failed", "SUPERSEDED"),
            (2, "connected", None),
            (3, "ended", None),
        ]
        assert {(c.number_name, c.phone_key) for c in calls} == {("vendas", customer_key(CUSTOMER))}
        assert (await store.live_call_to(LEGACY, "vendas", customer_key(CUSTOMER))).id == 2  # type: ignore[union-attr]
        assert await store.database_id()
    finally:
        await store.close()
