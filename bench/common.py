"""Shared by every bench process: secrets, customer numbers, webhook bodies, statistics, the ready-line
protocol, progress lines."""

from __future__ import annotations

import asyncio
import gc
import json
import signal
import socket
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from bot.fakes.pilot_status import permission_event

SLACK_TOKEN = "xoxb-bench"
SIGNING_SECRET = "bench-signing-secret"
PILOT_API_KEY = "ps_bench"
WEBHOOK_SECRET = "bench-webhook-secret"
BUSINESS_NUMBER = "5511888888888"
REASON = "Podemos te ligar para fechar o pedido?"

# Area codes keep each figure's customers apart, so no answer can correlate with another figure's request.
AREA_ACK = 11  # figure 1: slash commands
# Figure 1 with many workspaces: how many are installed, how they are named, and each one's bot token at the fake.
WORKSPACES = 1_000
WORKSPACE_PREFIX = "TB"


def workspace_team(index: int) -> str:
    return f"{WORKSPACE_PREFIX}{index:05d}"


def workspace_token(team: str) -> str:
    return f"xoxb-bench-{team}"


AREA_INGEST = 21  # figure 2: webhooks for customers with no request (stored, matched to nothing)
AREA_ANSWERS = 31  # figure 3: seeded requests and their answers
AREA_RELAY = 41  # figure 3 floor: webhooks relayed straight to Slack
AREA_SOAK = 51  # the soak (bench/soak.py): commands, their answers and calls' events
STATUSES = ("TEMPORARY", "PERMANENT", "NO_PERMISSION")


def customer_e164(area: int, index: int) -> str:
    """A valid Brazilian mobile, distinct for each (area, index): `+55 AA 9NNNN-NNNN`."""
    if not 0 <= index < 100_000_000:
        raise ValueError(f"customer index {index} out of range")
    return f"+55{area}9{index:08d}"


def written(e164: str) -> str:
    """The number the way a rep types it: `+55 (11) 91234-5678`."""
    national = e164[5:]
    return f"+55 ({e164[3:5]}) {national[:5]}-{national[5:]}"


def without_ninth_digit(e164: str) -> str:
    """How WhatsApp may report an old Brazilian mobile: digits only, the leading 9 dropped."""
    return e164[1:5] + e164[6:]


def webhook_body(sender: str, status: str, timestamp: str) -> str:
    """A `call.permission_updated` webhook body from `sender` (digits) to the bench's business number."""
    event = permission_event(sender, status, business=BUSINESS_NUMBER, timestamp=timestamp)
    return json.dumps(event, separators=(",", ":"))


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile (`pct` in 0..100)."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return float(values[0])
    if pct == 50:
        return float(statistics.median(values))
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return float(cuts[round(pct) - 1])


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


# Collections of the youngest two generations between full ones; a threshold no process of the bench reaches.
NO_FULL_COLLECTIONS = 10**9


def steady_clock_servers() -> None:
    """For the bench's processes that stamp the time of what they send or receive (the fakes, the load generator):
    they keep every call they saw (the bench's record, tens of thousands of objects per figure), so each full
    collection of the cyclic GC walks more of them and stamps whatever arrives meanwhile late (measured: 79 ms with
    10,000 fake Slack calls, 314 ms with 60,000; in figure 3 a reply that arrives then looks that much slower).
    Start-up's objects are frozen and full collections are off; the young generations, where request garbage
    dies, are still collected."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, NO_FULL_COLLECTIONS)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def say(message: str) -> None:
    """A progress line of the bench on stderr (stdout carries the results table)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def announce(payload: dict[str, Any]) -> None:
    """Tell the parent process we are ready (one JSON line on stdout)."""
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


class Served:
    """aiohttp apps listening on loopback ports chosen by the OS, until SIGTERM or SIGINT."""

    def __init__(self) -> None:
        self._runners: list[web.AppRunner] = []
        self._stop = asyncio.Event()

    async def serve(self, app: web.Application, port: int = 0) -> int:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        self._runners.append(runner)
        return int(runner.addresses[0][1])

    async def run_until_terminated(self, ready: dict[str, Any]) -> None:
        """Announce `ready`, then serve until SIGTERM/SIGINT and clean up."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        announce(ready)
        await self._stop.wait()
        for runner in reversed(self._runners):
            await runner.cleanup()
