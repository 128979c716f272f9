"""Floors: the least a server on AskCall's stack can do, each run in its own process.

    python -m bench.floors aiohttp --slack-api-url URL        # bare aiohttp POST handler
    python -m bench.floors bolt-pbr --slack-api-url URL       # Bolt AsyncApp, process_before_response=True
    python -m bench.floors bolt-default --slack-api-url URL   # Bolt AsyncApp, default (False): 10 ms ack polling
    python -m bench.floors relay --slack-api-url URL          # webhook → verify → 200 → one chat.postMessage
    python -m bench.floors sqlite --db PATH --events N --concurrency C   # one INSERT + commit per event
    python -m bench.floors postgres --dsn URL --events N --concurrency C # the same with asyncpg on a pool

The servers print one JSON line ({"url": ...}) once they listen and run until SIGTERM. `sqlite` and
`postgres` print their result ({"events": N, "seconds": s, "events_per_s": r}) and exit.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import aiosqlite
import asyncpg
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bench.common import SIGNING_SECRET, SLACK_TOKEN, WEBHOOK_SECRET, Served, announce
from bot.fakes.pilot_status import permission_event
from bot.pilot_status.webhooks import SIGNATURE_HEADER, verify_signature


def bare_app() -> web.Application:
    """Read the body, answer 200: what aiohttp itself costs."""

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response()

    app = web.Application()
    app.router.add_post("/slack/events", handle)
    app.router.add_post("/webhooks/pilot-status", handle)
    return app


def bolt_app(slack_api_url: str, *, process_before_response: bool) -> web.Application:
    """A Bolt app whose `/askcall` only acks, built and mounted exactly like AskCall's (signature checked,
    a configured AsyncWebClient pointed at the fake Slack, the same aiohttp adapter)."""
    bolt = AsyncApp(
        client=AsyncWebClient(token=SLACK_TOKEN, base_url=slack_api_url),
        signing_secret=SIGNING_SECRET,
        process_before_response=process_before_response,
    )

    async def askcall(ack: AsyncAck) -> None:
        await ack()

    bolt.command("/askcall")(askcall)

    async def slack_events(request: web.Request) -> web.Response:
        response = await bolt.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    app = web.Application()
    app.router.add_post("/slack/events", slack_events)
    return app


def relay_app(slack_api_url: str) -> web.Application:
    """Webhook → signature check → 200 → one chat.postMessage: the floor of webhook → Slack latency.

    No store at all: it posts to channel `F<from>` so the bench can match each post to its webhook.
    """
    tasks: set[asyncio.Task[Any]] = set()
    clients: list[AsyncWebClient] = []

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        session = aiohttp.ClientSession()
        clients.append(AsyncWebClient(token=SLACK_TOKEN, base_url=slack_api_url, session=session))
        yield
        await session.close()

    async def webhook(request: web.Request) -> web.Response:
        body = await request.read()
        if not verify_signature(WEBHOOK_SECRET, body, request.headers.get(SIGNATURE_HEADER)):
            return web.json_response({"error": "invalid signature"}, status=401)
        data = json.loads(body)
        post = clients[0].chat_postMessage(channel=f"F{data['from']}", text=f"answer: {data['status']}")
        task = asyncio.create_task(post)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return web.json_response({"ok": True})

    app = web.Application()
    app.cleanup_ctx.append(lifecycle)
    app.router.add_post("/webhooks/pilot-status", webhook)
    return app


async def serve(app: web.Application) -> None:
    served = Served()
    port = await served.serve(app)
    await served.run_until_terminated({"url": f"http://127.0.0.1:{port}"})


def floor_rows(events: int) -> list[tuple[str, str, float]]:
    """(dedup key, body, received at) of `events` distinct webhooks, built before any clock starts."""
    now = time.time()
    rows = []
    for i in range(events):
        body = json.dumps(permission_event(f"55219{i:08d}", "TEMPORARY"), separators=(",", ":"))
        rows.append((hashlib.sha256(body.encode()).hexdigest(), body, now))
    return rows


def floor_result(events: int, seconds: float) -> dict[str, float]:
    return {"events": events, "seconds": seconds, "events_per_s": events / seconds}


async def sqlite_floor(db_path: str, events: int, concurrency: int) -> dict[str, float]:
    """`concurrency` coroutines share one aiosqlite connection (like AskCall); each event is one
    INSERT and one commit, under a lock so that no commit ever carries another coroutine's row."""
    rows = floor_rows(events)
    async with aiosqlite.connect(db_path) as db:
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute(
            """CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, dedup_key TEXT NOT NULL UNIQUE,
               body TEXT NOT NULL, received_at REAL NOT NULL)"""
        )
        await db.commit()
        lock = asyncio.Lock()
        pending = iter(rows)

        async def worker() -> None:
            for row in pending:
                async with lock:
                    await db.execute("INSERT INTO events (dedup_key, body, received_at) VALUES (?, ?, ?)", row)
                    await db.commit()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return floor_result(events, seconds)


async def postgres_floor(dsn: str, events: int, concurrency: int) -> dict[str, float]:
    """`concurrency` coroutines on an asyncpg pool of as many connections; each event is one INSERT in
    its own transaction (autocommit: one commit per event), into a table shaped like the SQLite floor's."""
    rows = floor_rows(events)
    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    try:
        async with pool.acquire() as conn:
            await conn.execute("DROP TABLE IF EXISTS floor_events")
            await conn.execute(
                """CREATE TABLE floor_events (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                   dedup_key TEXT NOT NULL UNIQUE, body TEXT NOT NULL, received_at DOUBLE PRECISION NOT NULL)"""
            )
        pending = iter(rows)

        async def worker() -> None:
            async with pool.acquire() as conn:
                for row in pending:
                    await conn.execute(
                        "INSERT INTO floor_events (dedup_key, body, received_at) VALUES ($1, $2, $3)", *row
                    )

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    finally:
        await pool.close()
    return floor_result(events, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floors")
    parser.add_argument("which", choices=["aiohttp", "bolt-pbr", "bolt-default", "relay", "sqlite", "postgres"])
    parser.add_argument("--slack-api-url", default="")
    parser.add_argument("--db", default="floor.db")
    parser.add_argument("--dsn", default="")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    if args.which == "sqlite":
        announce(asyncio.run(sqlite_floor(args.db, args.events, args.concurrency)))
        return
    if args.which == "postgres":
        announce(asyncio.run(postgres_floor(args.dsn, args.events, args.concurrency)))
        return
    apps: dict[str, Callable[[], web.Application]] = {
        "aiohttp": bare_app,
        "bolt-pbr": lambda: bolt_app(args.slack_api_url, process_before_response=True),
        "bolt-default": lambda: bolt_app(args.slack_api_url, process_before_response=False),
        "relay": lambda: relay_app(args.slack_api_url),
    }
    asyncio.run(serve(apps[args.which]()))


if __name__ == "__main__":
    main()
