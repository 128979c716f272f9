"""The fair PostgreSQL ingest floor (`bench.floors postgres-http`), over loopback HTTP on a real database: it must
do the work AskCall's ingest is compared with (verify, store once, say whether it was new), or the ratio lies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from bench.common import WEBHOOK_SECRET, webhook_body
from bench.floors import postgres_http_app
from bot.fakes.pilot_status import iso_timestamp, sign_pilot_status
from bot.pilot_status.webhooks import SIGNATURE_HEADER


@pytest.fixture
async def floor(pg_url: str) -> AsyncIterator[str]:
    runner = web.AppRunner(postgres_http_app(pg_url, pool_size=2), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def post(http: aiohttp.ClientSession, url: str, body: bytes, signature: str) -> tuple[int, dict[str, object]]:
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature}
    async with http.post(url + "/webhooks/pilot-status", data=body, headers=headers) as response:
        return response.status, json.loads(await response.read())


async def stored(http: aiohttp.ClientSession, url: str) -> int:
    async with http.get(url + "/count") as response:
        return int((await response.json())["rows"])


async def test_each_signed_webhook_is_stored_once_and_its_redelivery_is_a_duplicate(floor: str) -> None:
    first = webhook_body("5521900000001", "TEMPORARY", iso_timestamp()).encode()
    second = webhook_body("5521900000002", "PERMANENT", iso_timestamp()).encode()
    async with aiohttp.ClientSession() as http:
        assert await post(http, floor, first, sign_pilot_status(first, WEBHOOK_SECRET)) == (
            200,
            {"ok": True, "duplicate": False},
        )
        assert await post(http, floor, second, sign_pilot_status(second, WEBHOOK_SECRET)) == (
            200,
            {"ok": True, "duplicate": False},
        )
        assert await post(http, floor, first, "sha256=" + sign_pilot_status(first, WEBHOOK_SECRET)) == (
            200,
            {"ok": True, "duplicate": True},
        )
        assert await stored(http, floor) == 2


async def test_what_would_not_be_stored_is_refused_before_the_database(floor: str) -> None:
    body = webhook_body("5521900000003", "TEMPORARY", iso_timestamp()).encode()
    async with aiohttp.ClientSession() as http:
        status, answer = await post(http, floor, body, sign_pilot_status(body, "another-secret"))
        assert (status, answer) == (401, {"error": "invalid signature"})
        status, _ = await post(http, floor, b"[1, 2]", sign_pilot_status(b"[1, 2]", WEBHOOK_SECRET))
        assert status == 400
        status, _ = await post(http, floor, b"not json", sign_pilot_status(b"not json", WEBHOOK_SECRET))
        assert status == 400
        assert await stored(http, floor) == 0
