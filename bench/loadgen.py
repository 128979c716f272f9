"""The load generator: its own process, driven by the bench over stdin/stdout (one JSON object a line).

Every request body is built and signed before the clock starts, so the measured time is the
server's plus the loopback round trip. A spec names one server (`url`) or several (`urls`: request
i goes to `urls[(i + shift) % len(urls)]`, round robin; a paced event may name its own `target`
index instead). Operations:

- `slash`: signed `/askcall` commands, closed loop at `concurrency` (or open loop at `rate`); latency.
- `webhooks`: signed `call.permission_updated` webhooks, closed loop at `concurrency`; throughput.
- `paced`: signed webhooks sent open loop at `rate` per second; the wall-clock send time of each.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from bench.common import (
    REASON,
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    announce,
    customer_e164,
    percentile,
    steady_clock_servers,
    workspace_team,
    written,
)
from bot.fakes.pilot_status import sign_pilot_status
from bot.fakes.slack import slack_signed_headers, slash_command_body

TIMEOUT = aiohttp.ClientTimeout(total=60)


@dataclass(frozen=True)
class Prepared:
    body: bytes
    headers: dict[str, str]


@dataclass
class Outcome:
    latencies: list[float]
    failures: list[str]
    duplicates: int = 0


def slash_requests(spec: dict[str, Any]) -> list[Prepared]:
    """`count` commands for customers `offset`.. in area `area`; channel/user per request when prefixed."""
    prepared = []
    for i in range(spec["count"]):
        number = spec["offset"] + i
        body = slash_command_body(
            f"{written(customer_e164(spec['area'], number))} {REASON}",
            channel_id=f"{spec['channel_prefix']}{number:08d}" if spec.get("channel_prefix") else "CBENCH",
            user_id=f"{spec['user_prefix']}{number:08d}" if spec.get("user_prefix") else "UBENCH",
            response_url=spec["response_url"],
            # Spread over the installed workspaces when there are many (round robin), else the fake's one team.
            **({"team_id": workspace_team(i % spec["teams"])} if spec.get("teams") else {}),
        )
        prepared.append(Prepared(body.encode(), slack_signed_headers(body, SIGNING_SECRET)))
    return prepared


def webhook_requests(bodies: list[str]) -> list[Prepared]:
    prepared = []
    for text in bodies:
        body = text.encode()
        headers = {
            "Content-Type": "application/json",
            "x-pilot-status-signature": sign_pilot_status(body, WEBHOOK_SECRET),
        }
        prepared.append(Prepared(body, headers))
    return prepared


def targets(spec: dict[str, Any]) -> list[str]:
    """The servers a spec spreads its requests over (round robin by request index)."""
    return list(spec["urls"]) if spec.get("urls") else [spec["url"]]


def url_for(urls: list[str], i: int, shift: int = 0) -> str:
    return urls[(i + shift) % len(urls)]


async def closed_loop(
    urls: list[str],
    requests: list[Prepared],
    concurrency: int,
    check: Callable[[int, bytes], str | None],
    shift: int = 0,
) -> Outcome:
    """Send `requests` with `concurrency` workers, each waiting for its answer before the next."""
    outcome = Outcome(latencies=[0.0] * len(requests), failures=[])
    indexes = iter(range(len(requests)))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=TIMEOUT) as session:

        async def worker() -> None:
            for i in indexes:
                await _send(session, url_for(urls, i, shift), requests, i, check, outcome)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcome


async def _send(
    session: aiohttp.ClientSession,
    url: str,
    requests: list[Prepared],
    i: int,
    check: Callable[[int, bytes], str | None],
    outcome: Outcome,
) -> None:
    """POST request `i`, time it, and record what `check` says of the answer in `outcome`."""
    request = requests[i]
    started = time.perf_counter()
    try:
        async with session.post(url, data=request.body, headers=request.headers) as response:
            body = await response.read()
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as error:
        outcome.failures.append(f"{type(error).__name__}: {error}")
        return
    outcome.latencies[i] = time.perf_counter() - started
    problem = check(status, body)
    if problem == "duplicate":
        outcome.duplicates += 1
    elif problem:
        outcome.failures.append(problem)


def slash_check(status: int, body: bytes) -> str | None:
    # A plain ack is an empty 200; any text in it is an error shown to the rep.
    if status != 200 or body.strip():
        return f"HTTP {status}: {body[:200].decode(errors='replace')}"
    return None


def webhook_check(status: int, body: bytes) -> str | None:
    if status != 200:
        return f"HTTP {status}: {body[:200].decode(errors='replace')}"
    try:
        data = json.loads(body)
    except ValueError:
        return None  # a floor that answers without a body
    return "duplicate" if isinstance(data, dict) and data.get("duplicate") else None


async def open_loop(
    urls: list[str], requests: list[Prepared], rate: float, check: Callable[[int, bytes], str | None]
) -> Outcome:
    """Request k leaves at start + k/rate whatever the server does (no waiting for earlier answers)."""
    outcome = Outcome(latencies=[0.0] * len(requests), failures=[])
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector, timeout=TIMEOUT) as session:

        async def send(i: int) -> None:
            await _send(session, url_for(urls, i), requests, i, check, outcome)

        tasks = []
        start = loop.time()
        for i in range(len(requests)):
            wait = start + i / rate - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(send(i)))
        await asyncio.gather(*tasks)
    return outcome


def samples(ms: list[float]) -> list[float]:
    """Every latency of a run (ms, to the microsecond), in sending order: the raw samples of the charts."""
    return [round(x, 3) for x in ms]


async def op_slash(spec: dict[str, Any]) -> dict[str, Any]:
    """Closed loop at `concurrency`, or open loop at `rate` commands per second when given."""
    warmup = spec.get("warmup", 0)
    requests = slash_requests(spec)
    urls = targets(spec)
    if warmup:
        await closed_loop(urls, requests[:warmup], spec.get("concurrency", 1), slash_check)
    if spec.get("rate"):
        outcome = await open_loop(urls, requests[warmup:], float(spec["rate"]), slash_check)
    else:
        outcome = await closed_loop(urls, requests[warmup:], spec["concurrency"], slash_check)
    ms = [x * 1000 for x in outcome.latencies]
    return {
        "count": len(ms),
        "p50_ms": percentile(ms, 50),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms) if ms else 0.0,
        "latencies_ms": samples(ms),
        "failures": len(outcome.failures),
        "failure_samples": outcome.failures[:5],
    }


async def op_webhooks(spec: dict[str, Any]) -> dict[str, Any]:
    requests = webhook_requests(spec["bodies"])
    started = time.perf_counter()
    outcome = await closed_loop(targets(spec), requests, spec["concurrency"], webhook_check, spec.get("shift", 0))
    seconds = time.perf_counter() - started
    ms = [x * 1000 for x in outcome.latencies]
    return {
        "count": len(requests),
        "seconds": seconds,
        "per_s": len(requests) / seconds,
        "p50_ms": percentile(ms, 50),
        "p99_ms": percentile(ms, 99),
        "latencies_ms": samples(ms),
        "duplicates": outcome.duplicates,
        "failures": len(outcome.failures),
        "failure_samples": outcome.failures[:5],
    }


async def op_paced(spec: dict[str, Any]) -> dict[str, Any]:
    """Open loop: webhook k leaves at start + k/rate whatever the server does; records when it left."""
    requests = webhook_requests([e["body"] for e in spec["events"]])
    keys = [e["key"] for e in spec["events"]]
    urls = targets(spec)
    event_urls = [url_for(urls, e.get("target", i)) for i, e in enumerate(spec["events"])]
    rate = float(spec["rate"])
    sent: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector, timeout=TIMEOUT) as session:

        async def send(key: str, url: str, request: Prepared) -> None:
            wall = time.time()
            try:
                async with session.post(url, data=request.body, headers=request.headers) as response:
                    body = await response.read()
                    problem = webhook_check(response.status, body)
            except (aiohttp.ClientError, TimeoutError) as error:
                problem = f"{type(error).__name__}: {error}"
            sent.append({"key": key, "wall": wall, "problem": problem})

        tasks = []
        start = loop.time()
        for k, (key, url, request) in enumerate(zip(keys, event_urls, requests, strict=True)):
            wait = start + k / rate - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(send(key, url, request)))
        await asyncio.gather(*tasks)
        elapsed = loop.time() - start
    return {"sent": sent, "seconds": elapsed, "achieved_rate": len(sent) / elapsed if elapsed else 0.0}


OPERATIONS: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
    "slash": op_slash,
    "webhooks": op_webhooks,
    "paced": op_paced,
}


async def serve_commands() -> None:
    loop = asyncio.get_running_loop()
    announce({"ready": True})
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        spec = json.loads(line)
        try:
            result = await OPERATIONS[spec["op"]](spec)
        except Exception as error:  # reported to the bench, which stops with the message
            result = {"error": f"{type(error).__name__}: {error}"}
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    steady_clock_servers()
    asyncio.run(serve_commands())
