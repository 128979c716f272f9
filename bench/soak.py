"""`python -m bench --soak SECONDS`: a mixed load on PostgreSQL with 2 replicas, watched for leaks.

For SECONDS, two load generators run at once against two `askcall serve` processes on one fresh
PostgreSQL database (round robin): one sends signed `/askcall` commands open loop at `--soak-rate`
per second, in batches of `BATCH_S` seconds, each for a new customer; the other answers each batch
once its requests wait (`ANSWER_LAG` batches later): one `call.permission_updated` per customer (a
quarter without the 9th digit), every tenth delivered again to the other replica (Pilot Status's
retries), and for every fourth customer a call's `call.ringing` and `call.ended` (a call AskCall did
not start: stored, matched to nothing). Every `SAMPLE_S` seconds the bench samples each replica's RSS,
the connections open on the database (pg_stat_activity), the outbox depth (deliveries pending or in
flight); the p99s over time are the commands' ack p99 per batch and the thread replies' p99 per
window of sending time. After the load, the remaining batches are answered and AskCall drains.

Verdict (exit 1 with one `soak FAILED: …` line per reason, 0 otherwise): every command acked, every
webhook answered 200 (each answer or its redelivery stored once, the other `duplicate`), exactly one
thread reply per request and each request `answered`; and neither any replica's RSS nor the outbox
depth keeps growing over the load (bench/growth.py: the second half's robust slope beyond its noise
and a tolerance). The table goes to stdout and `--results` (default bench/SOAK.md), the chart next to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from bench.charts import lines_chart, windows
from bench.common import AREA_SOAK, STATUSES, customer_e164, percentile, say, webhook_body, without_ninth_digit
from bench.context import Customers, Options
from bench.figures.replies import Batch as Requests
from bench.figures.replies import Tally, tally
from bench.growth import Growth, keeps_growing
from bench.processes import Child, Deployment, Servers
from bench.report import Check, checks_table, heading
from bot.fakes.pilot_status import call_event, iso_timestamp

BATCH_S = 5.0  # seconds of commands per batch
SAMPLE_S = 5.0  # seconds between samples of RSS, connections and outbox depth
ANSWER_LAG = 2  # a batch is answered once this many later batches of commands have been sent
REDELIVER_EVERY = 10  # every tenth answer is delivered again, to the other replica
CALL_EVERY = 4  # every fourth customer also gets a call's ringing and ended events
REPLY_WINDOW_S = 10.0  # the replies' p99 over time: windows of sending time
# A server running with autovacuum off (this project's CI machines) never analyzes the soak's tables, and
# the outbox claim's plan degrades as they grow; every ANALYZE_EVERY_S the bench runs ANALYZE instead, as
# autovacuum (on, as PostgreSQL ships) would. Told in the report's notes.
ANALYZE_EVERY_S = 60.0
# What "keeps growing" must exceed besides 3× the noise: RSS in MB (or this share of the level, if more), deliveries.
RSS_TOLERANCE_MB = 5.0
RSS_TOLERANCE_SHARE = 0.05
OUTBOX_TOLERANCE = 20.0


@dataclass
class Batch:
    """One batch of commands: its customers, the channels and users they came from, and how they went."""

    index: int
    first: int
    count: int
    ack: dict[str, Any] = field(default_factory=dict)
    sent: list[dict[str, Any]] = field(default_factory=list)  # the answers' and calls' webhooks (paced)

    @property
    def ids(self) -> Requests:
        """How its requests are named, as figure 3 names its own: channel `CS<index>N<customer>`, user `US…`."""
        return Requests(self.index, self.first, f"CS{self.index}N", f"US{self.index}N")


@dataclass
class Samples:
    """What the sampler saw, each series as (seconds since the load began, value)."""

    rss_mb: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))
    connections: list[tuple[float, float]] = field(default_factory=list)
    outbox: list[tuple[float, float]] = field(default_factory=list)
    ack_p99: list[tuple[float, float]] = field(default_factory=list)


def soak_events(batch: Batch, timestamp: str, replicas: int) -> list[dict[str, Any]]:
    """A batch's webhooks in sending order: an answer per customer (a quarter without the 9th digit), every
    REDELIVER_EVERY-th delivered again a few webhooks later to the next replica, and for every CALL_EVERY-th
    customer a call's ringing and ended events."""
    events: list[dict[str, Any]] = []
    later: list[dict[str, Any]] = []
    for i in range(batch.count):
        number = batch.first + i
        e164 = customer_e164(AREA_SOAK, number)
        sender = without_ninth_digit(e164) if i % 4 == 3 else e164[1:]
        answer = {"key": f"a{number}", "body": webhook_body(sender, STATUSES[i % 3], timestamp), "target": i}
        events.append(answer)
        if i % CALL_EVERY == 0:
            for j, (name, status) in enumerate((("call.ringing", "RINGING"), ("call.ended", "NO_ANSWER"))):
                body = call_event(name, f"soak-{number}", status, customer=e164[1:], timestamp=timestamp)
                events.append({"key": f"c{j}{number}", "body": _json(body), "target": i})
        events.extend(later)
        later = []
        if i % REDELIVER_EVERY == 0:
            later.append({"key": f"d{number}", "body": answer["body"], "target": (i + 1) % max(replicas, 1)})
    return events + later


def _json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"))


def growth_verdicts(samples: Samples) -> list[tuple[str, str, Growth]]:
    """(what, unit, verdict) for every replica's RSS and for the outbox depth."""
    verdicts = []
    for name, points in samples.rss_mb.items():
        level = sorted(v for _, v in points)[len(points) // 2] if points else 0.0
        tolerance = max(RSS_TOLERANCE_MB, RSS_TOLERANCE_SHARE * level)
        verdicts.append((f"RSS of {name}", "MB", keeps_growing(points, tolerance)))
    verdicts.append(("outbox depth", "deliveries", keeps_growing(samples.outbox, OUTBOX_TOLERANCE)))
    return verdicts


async def wait_for(predicate: Callable[[], Awaitable[bool]], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.2)
    return False


class Soak:
    """One soak: the load, the sampler, the checks and the report."""

    def __init__(self, opts: Options, dep: Deployment, servers: Servers, webhooks: Child) -> None:
        self.opts = opts
        self.dep = dep
        self.commands_servers = servers
        self.webhook_servers = dataclasses.replace(servers, loadgen=webhooks)
        self.customers = Customers()
        self.batches: list[Batch] = []
        self.samples = Samples()
        self.started = 0.0  # time.monotonic() when the load began
        self.started_wall = 0.0  # time.time() then (replies are timed on the wall clock)
        self.notes: list[str] = []

    def now(self) -> float:
        return time.monotonic() - self.started

    async def run(self) -> None:
        self.started, self.started_wall = time.monotonic(), time.time()
        deadline = self.started + self.opts.soak
        ready: asyncio.Queue[Batch | None] = asyncio.Queue()
        load_over = asyncio.Event()
        sampler = asyncio.create_task(self.sample(load_over))
        try:
            await asyncio.gather(self.commands(deadline, ready), self.answers(ready))
        finally:
            load_over.set()
            await sampler
        say("soak: load over; waiting for AskCall to drain")
        idle, backlog = await self.dep.db.wait_idle(240)
        if not idle:
            self.notes.append(f"AskCall still had work 240 s after the load: {backlog}")

    async def commands(self, deadline: float, ready: asyncio.Queue[Batch | None]) -> None:
        """Batches of commands open loop at the soak rate, round robin over the replicas, until `deadline`."""
        count = max(1, round(self.opts.soak_rate * BATCH_S))
        urls = [url + "/slack/events" for url in self.dep.urls]
        try:
            while time.monotonic() < deadline:
                batch = Batch(len(self.batches), self.customers.take(AREA_SOAK, count), count)
                batch.ack = await self.commands_servers.slash(
                    urls,
                    1,
                    count,
                    area=AREA_SOAK,
                    offset=batch.first,
                    channel_prefix=batch.ids.channel_prefix,
                    user_prefix=batch.ids.user_prefix,
                    rate=self.opts.soak_rate,
                )
                self.batches.append(batch)
                self.samples.ack_p99.append((self.now(), batch.ack["p99_ms"]))
                say(
                    f"  soak {self.now():.0f}s: batch {batch.index + 1}, {count} commands, ack p99 "
                    f"{batch.ack['p99_ms']:.1f} ms ({batch.ack['failures']} failed)"
                )
                await ready.put(batch)
        finally:
            await ready.put(None)

    async def answers(self, ready: asyncio.Queue[Batch | None]) -> None:
        """Answers each batch ANSWER_LAG batches after it was sent (then the rest, once the commands stop)."""
        waiting: list[Batch] = []
        while (batch := await ready.get()) is not None:
            waiting.append(batch)
            if len(waiting) > ANSWER_LAG:
                await self.answer(waiting.pop(0))
        for batch in waiting:
            await self.answer(batch)

    async def answer(self, batch: Batch) -> None:
        async def all_waiting() -> bool:
            count = await self.dep.db.scalar(
                "SELECT COUNT(*) FROM requests WHERE channel_id LIKE ? AND state = 'waiting'",
                (batch.ids.channel_prefix + "%",),
            )
            return bool(count == batch.count)

        if not await wait_for(all_waiting, 60):
            self.notes.append(f"batch {batch.index + 1}: not every request was waiting after 60 s; answered anyway")
        events = soak_events(batch, iso_timestamp(), len(self.dep.urls))
        result = await self.webhook_servers.paced(self.dep.webhook_urls(), events, len(events) / BATCH_S)
        batch.sent = result["sent"]

    async def sample(self, load_over: asyncio.Event) -> None:
        """Every SAMPLE_S seconds until the load is over: RSS per replica, connections, outbox depth."""
        database = urlsplit(getattr(self.dep.db, "url", "")).path.lstrip("/")
        admin = await asyncpg.connect(self.opts.postgres_url, timeout=10)
        stand_in = await admin.fetchval("SHOW autovacuum") == "off"
        analyzed_at, analyzes = self.now(), 0
        try:
            while not load_over.is_set():
                t = self.now()
                if stand_in and t - analyzed_at >= ANALYZE_EVERY_S:
                    await self.dep.db.query("ANALYZE")
                    analyzed_at, analyzes = t, analyzes + 1
                for child in self.dep.replicas:
                    self.samples.rss_mb[child.name].append((t, child.memory_kib()["VmRSS"] * 1024 / 1e6))
                connections = await admin.fetchval("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1", database)
                self.samples.connections.append((t, float(connections)))
                outbox = await self.dep.db.scalar(
                    "SELECT COUNT(*) FROM deliveries WHERE state IN ('pending', 'inflight')"
                )
                self.samples.outbox.append((t, float(outbox)))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(load_over.wait(), SAMPLE_S)
        finally:
            await admin.close()
            if stand_in:
                self.notes.append(
                    f"this PostgreSQL server runs with autovacuum off: the bench ran ANALYZE on the soak's database "
                    f"every {ANALYZE_EVERY_S:g} s ({analyzes} times), as autovacuum would"
                )

    async def checks(self) -> tuple[list[Check], list[tuple[float, float]]]:
        """The correctness checks, and the replies' latencies as (sending time, ms) for the p99 over time."""
        commands = sum(b.count for b in self.batches)
        refused = sum(b.ack.get("failures", 0) for b in self.batches)
        calls = await self.commands_servers.slack_calls(method="chat.postMessage", prefix="CS", threaded=1)
        replies: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for call in calls:
            if call["outcome"] == "ok":
                replies[call["channel"]].append(call)
        bad_pairs = pairs = 0
        refused_webhooks: list[str] = []
        counted = Tally()
        for batch in self.batches:
            sent = {s["key"]: s for s in batch.sent}
            tally(batch.ids, batch.count, sent, replies, into=counted)
            for key, s in sent.items():
                if key.startswith("d"):
                    pairs += 1
                    bad_pairs += {s["problem"], sent["a" + key[1:]]["problem"]} != {None, "duplicate"}
                elif s["problem"] is not None:
                    # An answer may be the `duplicate` of the pair when its redelivery won; nothing else may.
                    won = key.startswith("a") and s["problem"] == "duplicate" and f"d{key[1:]}" in sent
                    if not won:
                        refused_webhooks.append(s["problem"])
        answered = await self.dep.db.scalar(
            "SELECT COUNT(*) FROM requests WHERE channel_id LIKE ? AND state = 'answered'", ("CS%",)
        )
        lost, doubled, unmentioned = counted.lost, counted.doubled, counted.unmentioned
        latencies = [(wall - self.started_wall, ms) for wall, ms in counted.latencies]
        checks = [
            Check("soak: every command acked with an empty 200", refused == 0, f"{commands - refused}/{commands}"),
            Check(
                "soak: every answer and call event answered 200; of each answer and its redelivery one stored",
                not refused_webhooks and bad_pairs == 0,
                f"{len(refused_webhooks)} refused {refused_webhooks[:2] or ''}; {pairs - bad_pairs}/{pairs} pairs",
            ),
            Check(
                "soak: one thread reply per request, mentioning the rep; every request answered",
                lost == 0 and doubled == 0 and unmentioned == 0 and answered == commands,
                f"{commands} requests: {lost} lost, {doubled} doubled, {unmentioned} without the mention; "
                f"{answered} answered in the DB",
            ),
        ]
        return checks, latencies


def soak_markdown(
    command: str,
    info: dict[str, str],
    soak: Soak,
    checks: list[Check],
    verdicts: list[tuple[str, str, Growth]],
    reply_p99: list[tuple[float, float]],
    chart: str | None,
) -> str:
    s = soak.samples
    rows = []
    for what, unit, g in verdicts:
        series = s.rss_mb.get(what.removeprefix("RSS of "), s.outbox)
        first, last = (series[0][1], series[-1][1]) if series else (float("nan"), float("nan"))
        verdict = "**keeps growing**" if g.growing else "steady"
        rows.append(f"| {what} | {first:,.1f} → {last:,.1f} {unit} | {verdict} | {g.describe(unit)} |")
    conns = [v for _, v in s.connections]
    acks = [v for _, v in s.ack_p99]
    replies = [v for _, v in reply_p99]
    lines = [
        *heading("AskCall soak results", command, info),
        f"{soak.opts.soak:g} s of mixed load on PostgreSQL, 2 replicas: `/askcall` commands at "
        f"{soak.opts.soak_rate:g}/s "
        f"({sum(b.count for b in soak.batches):,} in {len(soak.batches)} batches of {BATCH_S:g} s), each answered "
        f"{ANSWER_LAG} batches later, every {REDELIVER_EVERY}th answer redelivered to the other replica, and a call's "
        f"ringing and ended events for every {CALL_EVERY}th customer. Sampled every {SAMPLE_S:g} s. See "
        "bench/soak.py and bench/growth.py for how growth is judged.",
        "",
        "| series | first → last sample | verdict | why |",
        "|---|---|---|---|",
        *rows,
        f"| connections to the database (the bench's own included) | {min(conns, default=0):.0f}–"
        f"{max(conns, default=0):.0f} | — | — |",
        f"| ack p99 per batch | median {percentile(acks, 50):.1f} ms, worst {max(acks, default=0):.1f} ms | — | — |",
        f"| thread reply p99 per {REPLY_WINDOW_S:g} s | median {percentile(replies, 50):.1f} ms, worst "
        f"{max(replies, default=0):.1f} ms | — | — |",
        "",
        "## Correctness under load",
        "",
        checks_table(checks),
        "",
    ]
    if soak.notes:
        lines += ["## Notes", "", *[f"- {n}" for n in soak.notes], ""]
    if chart:
        lines += ["## Chart", "", f"![soak: RSS, connections, outbox depth and p99 over time]({chart})", ""]
    return "\n".join(lines)


def draw(soak: Soak, reply_p99: list[tuple[float, float]], path: Path) -> None:
    s = soak.samples
    lines_chart(
        f"Soak: {soak.opts.soak:g} s of mixed load, PostgreSQL, 2 replicas",
        {
            "RSS per replica": ("MB", dict(s.rss_mb)),
            "connections to the database (pg_stat_activity)": ("connections", {"open": s.connections}),
            "outbox depth (deliveries pending or in flight)": ("deliveries", {"open": s.outbox}),
            "p99 over time": (
                "ms",
                {"ack p99 per batch": s.ack_p99, f"thread reply p99 per {REPLY_WINDOW_S:g} s": reply_p99},
            ),
        },
        path,
    )


def reply_windows(latencies: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return windows(latencies, REPLY_WINDOW_S)
