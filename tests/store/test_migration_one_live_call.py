"""Migration 10 on a database that already holds calls (both backends): each call gets its request's number and
customer, a customer left with several live calls (possible before the unique index) keeps only the newest live one,
and the database gets its own id."""

from __future__ import annotations

import sqlite3
from urllib.parse import urlsplit

import asyncpg

from bot.domain import TenantId
from bot.phones import customer_key
from bot.store import create_store
from bot.store.postgres.schema import MIGRATIONS as POSTGRES_MIGRATIONS
from bot.store.sqlite.schema import MIGRATIONS as SQLITE_MIGRATIONS

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


async def at_version_9(url: str) -> None:
    if url.startswith("sqlite"):
        with sqlite3.connect(urlsplit(url).path) as db:
            for script in SQLITE_MIGRATIONS[:BEFORE]:
                db.executescript(script)
            for row in ROWS:
                db.execute(row)
            db.execute(f"PRAGMA user_version = {BEFORE}")
        return
    connection = await asyncpg.connect(url)
    try:
        for script in POSTGRES_MIGRATIONS[:BEFORE]:
            await connection.execute(script)
        for row in ROWS:
            await connection.execute(row)
        await connection.execute("CREATE TABLE askcall_schema (version INTEGER NOT NULL)")
        await connection.execute(f"INSERT INTO askcall_schema (version) VALUES ({BEFORE})")
    finally:
        await connection.close()


async def test_existing_calls_get_their_customer_and_only_the_newest_live_one_stays_live(database_url: str) -> None:
    await at_version_9(database_url)
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
