"""Figure 4: `Store.find_request_for_answer` on a database holding `rows` requests.

    python -m bench.lookup --db PATH --rows 1000000 --lookups 10000

Builds the database with AskCall's own schema (`Store.open()` runs the migrations), bulk-inserts
`rows` requests in one transaction, then times `lookups` random correlation lookups through the
Store (aiosqlite). The floor runs the very statements the Store executed (captured with SQLite's
trace callback, values inlined) through the sqlite3 module: the query without the aiosqlite hop.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

from bench.common import REASON, announce, customer_e164, percentile, without_ninth_digit
from bot.domain import TenantId
from bot.phones import customer_key
from bot.store.sqlite import SQLiteStore as Store

DAY = 24 * 3600
HISTORY_DAYS = 730  # two years of requests
AREAS = (11, 19, 21, 27, 31, 41, 47, 51, 61, 62, 71, 81, 85, 91, 92)
# Most customers are asked a few times; a handful of accounts are asked over and over.
HEAVY_CUSTOMERS = 100
HEAVY_SHARE = 0.1
# (state, outcome, weight) of stored requests.
STATES = (
    ("answered", "TEMPORARY", 30),
    ("answered", "PERMANENT", 10),
    ("answered", "NO_PERMISSION", 15),
    ("waiting", None, 25),
    ("failed", None, 12),
    ("unconfirmed", None, 3),
    ("undeliverable", None, 5),
)

# Every row belongs to one workspace's tenant: the legacy one ('', a single-workspace install), as the lookups ask.
TENANT = TenantId("")
INSERT_SQL = """INSERT INTO requests (tenant_id, source_key, team_id, channel_id, user_id, phone_e164, phone_key,
    reason, lang, response_url, state, outcome, parent_ts, message_id, created_at, sent_at, answered_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""


def customer(index: int) -> str:
    return customer_e164(AREAS[index % len(AREAS)], index)


def generate(
    rows: int, customers: int, now: float, rng: random.Random, made: list[tuple[int, float]]
) -> Iterator[tuple[Any, ...]]:
    """Request rows; appends (customer, created_at) of each to `made`."""
    keys = [customer_key(customer(c)) for c in range(customers)]
    states = [s[:2] for s in STATES]
    weights = [s[2] for s in STATES]
    for i in range(rows):
        c = rng.randrange(HEAVY_CUSTOMERS) if rng.random() < HEAVY_SHARE else rng.randrange(customers)
        created = now - rng.uniform(0, HISTORY_DAYS * DAY)
        state, outcome = rng.choices(states, weights)[0]
        answered = created + rng.uniform(60, 3 * DAY) if outcome else None
        made.append((c, created))
        yield (
            TENANT,
            f"cmd:bench{i}",
            "T1",
            f"C{c % 500:08d}",
            f"U{c % 300:08d}",
            customer(c),
            keys[c],
            REASON,
            "pt-BR",
            None,
            state,
            outcome,
            f"{int(created)}.{i % 1_000_000:06d}",
            f"wamid.BENCH{i}" if state != "undeliverable" else None,
            created,
            created + 1.5 if state != "undeliverable" else None,
            answered,
            answered or created,
        )


def build(path: str, rows: int, customers: int, now: float, seed: int) -> tuple[float, list[tuple[int, float]]]:
    """Bulk insert in one transaction; returns (seconds taken, (customer, created_at) of each row)."""
    started = time.perf_counter()
    made: list[tuple[int, float]] = []
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA cache_size=-262144")  # 256 MiB: keep the index B-trees in memory while loading
        conn.execute("BEGIN")
        conn.executemany(INSERT_SQL, generate(rows, customers, now, random.Random(seed), made))
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return time.perf_counter() - started, made


def lookup_keys(
    lookups: int, customers: int, made: list[tuple[int, float]], now: float, rng: random.Random
) -> list[tuple[str, float]]:
    """Half answer a stored request (its customer, within 3 days of it), 40 % are today's answers from
    known customers, 10 % come from numbers never asked; a quarter arrive without the 9th digit."""
    keys = []
    for _ in range(lookups):
        roll = rng.random()
        if roll < 0.5:
            c, created = made[rng.randrange(len(made))]
            number, at = customer(c), created + rng.uniform(0, 3 * DAY)
        elif roll < 0.9:
            number, at = customer(rng.randrange(customers)), now
        else:
            number = customer_e164(99, rng.randrange(10_000_000))
            at = now
        written = without_ninth_digit(number) if rng.random() < 0.25 else number
        keys.append((customer_key(written), at))
    return keys


async def time_store(path: str, keys: list[tuple[str, float]]) -> tuple[list[float], int, list[list[str]]]:
    """Per-lookup milliseconds through the Store, hits, and the SQL each lookup executed."""
    store = Store(path)
    await store.open()
    try:
        statements: list[list[str]] = []
        await store.db.set_trace_callback(lambda sql: statements[-1].append(sql))
        for key, at in keys:  # warms the connection and the page cache, and records the SQL
            statements.append([])
            await store.find_request_for_answer(TENANT, key, at)
        await store.db.set_trace_callback(None)  # type: ignore[arg-type]  # None stops tracing (sqlite3 API)
        latencies, hits = [], 0
        for key, at in keys:
            started = time.perf_counter()
            found = await store.find_request_for_answer(TENANT, key, at)
            latencies.append((time.perf_counter() - started) * 1000)
            hits += found is not None
    finally:
        await store.close()
    return latencies, hits, statements


def time_sqlite3(path: str, statements: list[list[str]]) -> tuple[list[float], str]:
    """The same statements through the sqlite3 module: per-lookup milliseconds, and the query plan."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        latencies = []
        for lookup in statements:
            started = time.perf_counter()
            for sql in lookup:
                conn.execute(sql).fetchall()
            latencies.append((time.perf_counter() - started) * 1000)
        selects = [sql for sql in statements[0] if sql.lstrip().upper().startswith("SELECT")]
        plan = conn.execute("EXPLAIN QUERY PLAN " + selects[0]).fetchall() if selects else []
    finally:
        conn.close()
    return latencies, " / ".join(str(row[-1]) for row in plan)


async def run(path: str, rows: int, lookups: int, seed: int) -> dict[str, Any]:
    now = time.time()
    customers = max(rows // 4, HEAVY_CUSTOMERS + 1)
    store = Store(path)
    await store.open()  # AskCall's schema, by AskCall's own migrations
    await store.close()
    build_seconds, made = build(path, rows, customers, now, seed)
    keys = lookup_keys(lookups, customers, made, now, random.Random(seed + 1))
    store_ms, hits, statements = await time_store(path, keys)
    floor_ms, plan = time_sqlite3(path, statements)
    return {
        "rows": rows,
        "customers": customers,
        "lookups": lookups,
        "hits": hits,
        "build_seconds": build_seconds,
        "p50_ms": percentile(store_ms, 50),
        "p99_ms": percentile(store_ms, 99),
        "max_ms": max(store_ms),
        "floor_p50_ms": percentile(floor_ms, 50),
        "floor_p99_ms": percentile(floor_ms, 99),
        "plan": plan,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.lookup")
    parser.add_argument("--db", required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    announce(asyncio.run(run(args.db, args.rows, args.lookups, args.seed)))


if __name__ == "__main__":
    main()
