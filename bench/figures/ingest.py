"""Figure 2: webhook ingest throughput, on every deployment (SQLite; PostgreSQL with 1 and 2 replicas).

Measures events/s for N distinct signed `call.permission_updated` webhooks at c=16, closed loop,
each verified, deduplicated and committed before its 200. The customers have no request, so each
event is also matched (to nothing) and settled in the transaction that stores it, as in production.
Floors, each in its own process: on SQLite, 16 coroutines on one aiosqlite connection doing one
INSERT + commit per event, plus the same webhooks to the bare aiohttp handler (the HTTP ceiling of
one Python process). On PostgreSQL, the fair floor: the same webhooks through the same load generator
at c=16 to one Python process, a bare aiohttp handler that verifies the HMAC and does one asyncpg
INSERT + commit per webhook through a pool (`bench.floors postgres-http`, its own database); and, as
context, an asyncpg pool of 16 connections doing one INSERT per transaction without HTTP.

Invariant (checked, exit 1 otherwise): every webhook answered 200 as new (0 refused, 0 wrongly
duplicate); 500 redeliveries of the same bytes (to another process than the original, with 2
replicas) all answered `duplicate`; each event stored exactly once (rows = distinct events); the
same for the fair floor (each webhook answered new and stored once, redeliveries `duplicate`).
"""

from __future__ import annotations

import contextlib
from typing import Any

from bench.common import AREA_INGEST, STATUSES, customer_e164, median, say, webhook_body
from bench.context import Context
from bench.processes import PYTHON, Child, Deployment, fresh_database, run_once
from bench.report import Check, Row
from bot.fakes.pilot_status import iso_timestamp

WARMUP = 200
REDELIVERED = 500  # at most; never more than the events of one repetition
FAIR_FLOOR = "bare aiohttp + HMAC + asyncpg INSERT+commit, 1 process"
OLD_FLOOR = "asyncpg pool of 16, 1 INSERT+commit/event, no HTTP"


def bodies(first: int, count: int, timestamp: str) -> list[str]:
    """Webhooks from `count` customers of figure 2, starting at index `first`, statuses rotating."""
    return [webhook_body(customer_e164(AREA_INGEST, first + i)[1:], STATUSES[i % 3], timestamp) for i in range(count)]


class Ingest:
    """Figure 2; `measure` runs once per deployment."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.one_replica: float | None = None  # PostgreSQL ingest with 1 replica, ev/s: the 2 replicas' yardstick

    async def fair_floor(self, stack: contextlib.AsyncExitStack, dep: Deployment, dsn: str) -> str:
        """Starts the fair PostgreSQL floor server on `dsn` (stopped with `stack`); its webhook URL."""
        name = f"floor-postgres-http-{len(dep.replicas)}"
        argv = [PYTHON, "-m", "bench.floors", "postgres-http", "--dsn", dsn]
        child = Child(name, argv, self.ctx.work / f"{name}.log")
        stack.push_async_callback(child.stop)
        info = await child.start()
        return f"{info['url']}/webhooks/pilot-status"

    async def floor(self, name: str, backend: str, target: list[str], events: int) -> dict[str, Any]:
        """A storage floor's run (`target`: `--db PATH` or `--dsn URL`), in its own process."""
        argv = [PYTHON, "-m", "bench.floors", backend, *target, "--events", str(events), "--concurrency", "16"]
        return await run_once(self.ctx.work, name, argv, within=600)

    async def measure(self, dep: Deployment) -> None:
        ctx, o, servers = self.ctx, self.ctx.opts, self.ctx.servers
        n = o.ingest_events
        timestamp = iso_timestamp()
        on = dep.aside
        say(f"figure 2{on}: webhook ingest, {n} distinct events at c=16")
        warmup = bodies(ctx.customers.take(AREA_INGEST, WARMUP), WARMUP, timestamp)
        await servers.webhooks(dep.webhook_urls(), warmup)
        await ctx.settle(dep, "figure 2 warm-up")
        runs, floors, firsts, cpu, http_ceiling, fair = [], [], [], [], [], []
        async with contextlib.AsyncExitStack() as stack:
            floor_dsn = await stack.enter_async_context(fresh_database(o.postgres_url)) if dep.postgres else ""
            fair_url = ""
            if dep.postgres:
                fair_url = await self.fair_floor(stack, dep, floor_dsn)
                await servers.webhooks([fair_url], warmup)
            for rep in range(o.reps):
                first = ctx.customers.take(AREA_INGEST, n)
                firsts.append(first)
                events = bodies(first, n, timestamp)
                cpu_before = dep.cpu_seconds()
                result = await servers.webhooks(dep.webhook_urls(), events)
                runs.append(result)
                # AskCall finishes processing before the floors run, so they don't share the CPU with it.
                await ctx.settle(dep, f"figure 2 repetition {rep + 1}")
                cpu.append((dep.cpu_seconds() - cpu_before) / n * 1000)
                if dep.postgres:
                    name = f"floor-postgres-{len(dep.replicas)}-{rep}"
                    floor_run = await self.floor(name, "postgres", ["--dsn", floor_dsn], n)
                else:
                    db = str(ctx.work / f"floor-sqlite-{rep}.db")
                    floor_run = await self.floor(f"floor-sqlite-{rep}", "sqlite", ["--db", db], n)
                floors.append(floor_run)
                line = (
                    f"  rep {rep + 1} AskCall {result['per_s']:.0f} ev/s (p50 {result['p50_ms']:.2f} ms, "
                    f"p99 {result['p99_ms']:.2f} ms); floor {floor_run['events_per_s']:.0f} ev/s"
                )
                if dep.postgres:  # the fair floor: the same webhooks, the same load generator, its own database
                    fair_run = await servers.webhooks([fair_url], events)
                    fair.append(fair_run)
                    line += f"; fair floor {fair_run['per_s']:.0f} ev/s (p99 {fair_run['p99_ms']:.2f} ms)"
                else:  # the HTTP ceiling does not depend on the database: measured once
                    bare = await servers.webhooks([servers.floor_urls["aiohttp"] + "/webhooks/pilot-status"], events)
                    http_ceiling.append(bare["per_s"])
                    ctx.report.cdf(self.chart(dep), "c=16", "bare aiohttp handler (no store)", bare["latencies_ms"])
                    line += f"; bare aiohttp {bare['per_s']:.0f} req/s"
                ctx.report.cdf(self.chart(dep), "c=16", "AskCall", result["latencies_ms"])
                if dep.postgres:
                    ctx.report.cdf(self.chart(dep), "c=16", f"fair floor: {FAIR_FLOOR}", fair[-1]["latencies_ms"])
                say(line)
            if dep.postgres:
                await self.check_fair(dep, fair_url, fair, WARMUP + o.reps * n, warmup[: min(n, REDELIVERED)])
        await self.check(dep, runs, bodies(firsts[0], min(n, REDELIVERED), timestamp))
        askcall, floor = median([r["per_s"] for r in runs]), median([f["events_per_s"] for f in floors])
        ctx.report.cpu[f"figure 2 (per webhook, until processed){on}"] = median(cpu)
        fair_floor = median([f["per_s"] for f in fair]) if fair else None
        self.rows(dep, askcall, floor, http_ceiling, fair_floor)
        self.details(dep, runs, floors, http_ceiling, fair)

    @staticmethod
    def chart(dep: Deployment) -> str:
        return f"Figure 2 — webhook response latency, {dep.label}"

    async def check_fair(
        self, dep: Deployment, url: str, runs: list[dict[str, Any]], expected: int, redeliveries: list[str]
    ) -> None:
        """The fair floor's own invariant, so that it is compared with AskCall doing the same work: every
        webhook answered new, the same bytes again `duplicate`, each stored once (rows = distinct webhooks)."""
        ctx = self.ctx
        again = await ctx.servers.webhooks([url], redeliveries)
        async with ctx.servers.http.get(url.removesuffix("/webhooks/pilot-status") + "/count") as response:
            stored = int((await response.json())["rows"])
        bad = sum(r["failures"] + r["duplicates"] for r in runs)
        sent = sum(r["count"] for r in runs)
        ctx.report.checks.append(
            Check(
                f"figure 2{dep.aside}: the fair floor answered every webhook new, redeliveries as duplicates, "
                "and stored each once",
                bad == 0 and again["duplicates"] == len(redeliveries) and again["failures"] == 0 and stored == expected,
                f"{sent - bad}/{sent} new; {again['duplicates']}/{len(redeliveries)} duplicates; "
                f"{stored} rows for {expected} distinct webhooks",
            )
        )

    async def check(self, dep: Deployment, runs: list[dict[str, Any]], redeliveries: list[str]) -> None:
        """The invariant: every webhook new; the same bytes again (to another process than the first
        time, when there are several) acknowledged as duplicates; every event stored once."""
        ctx, o, on = self.ctx, self.ctx.opts, dep.aside
        n = o.ingest_events
        again = await ctx.servers.webhooks(dep.webhook_urls(), redeliveries, shift=1)
        await ctx.settle(dep, "figure 2 redeliveries")
        stored = await dep.db.scalar(
            "SELECT COUNT(*) FROM webhook_events WHERE from_phone LIKE ?", (f"55{AREA_INGEST}%",)
        )
        expected = WARMUP + o.reps * n
        bad = sum(r["failures"] + r["duplicates"] for r in runs)
        ctx.report.checks.append(
            Check(
                f"figure 2{on}: every webhook verified, stored and answered 200 as new",
                bad == 0,
                f"{o.reps * n - bad}/{o.reps * n}",
            )
        )
        ctx.report.checks.append(
            Check(
                f"figure 2{on}: redeliveries answered as duplicates, every event stored exactly once",
                again["duplicates"] == len(redeliveries) and again["failures"] == 0 and stored == expected,
                f"{again['duplicates']}/{len(redeliveries)} duplicates; {stored} rows for {expected} distinct events",
            )
        )

    def rows(
        self, dep: Deployment, askcall: float, floor: float, http_ceiling: list[float], fair: float | None
    ) -> None:
        n, report = self.ctx.opts.ingest_events, self.ctx.report
        # The targets are for one process; with several, the rows show how far they scale past it.
        single = len(dep.replicas) == 1
        label = f"webhook ingest, {n:,} events, c=16"
        if not dep.postgres:
            report.rows.append(
                Row("2", label, askcall, floor, "ev/s", "≥ 1.0×", askcall >= floor, "aiosqlite, 1 INSERT+commit/event")
            )
            # The floor above does no HTTP; this row shows how close ingest is to what one Python HTTP
            # process serves at all (the same webhooks to a bare aiohttp handler that only answers 200).
            report.rows.append(
                Row(
                    "2",
                    f"{label} — vs HTTP ceiling",
                    askcall,
                    median(http_ceiling),
                    "ev/s",
                    floor_label="bare aiohttp handler, same webhooks",
                )
            )
            return
        met = askcall >= 0.8 * fair if single and fair else None
        report.rows += [
            Row("2", f"{label} — {dep.label}", askcall, fair, "ev/s", "≥ 0.8×" if single else "—", met, FAIR_FLOOR),
            Row("2", f"{label} — {dep.label}, vs no-HTTP floor", askcall, floor, "ev/s", floor_label=OLD_FLOOR),
        ]
        if single:
            self.one_replica = askcall
        elif len(dep.replicas) == 2 and self.one_replica:
            report.rows.append(
                Row(
                    "2",
                    f"{label} — 2 replicas vs 1",
                    askcall,
                    self.one_replica,
                    "ev/s",
                    "≥ 1.6×",
                    askcall >= 1.6 * self.one_replica,
                    "AskCall, PostgreSQL, 1 replica",
                )
            )

    def details(
        self,
        dep: Deployment,
        runs: list[dict[str, Any]],
        floors: list[dict[str, Any]],
        http_ceiling: list[float],
        fair: list[dict[str, Any]],
    ) -> None:
        o = self.ctx.opts
        n = o.ingest_events
        if dep.postgres:
            self.ctx.report.details += [
                f"## Figure 2 on {dep.label}",
                "",
                f"The same webhooks as on SQLite, spread round robin over {len(dep.replicas)} `askcall serve` "
                "process(es) on one fresh PostgreSQL database (the redeliveries go to another process than "
                "the originals). The fair floor gets the same webhooks from the same load generator at c=16: one "
                "Python process, a bare aiohttp handler that verifies the HMAC, parses the JSON and does one "
                "INSERT … ON CONFLICT DO NOTHING, committed on its own, through an asyncpg pool as large as "
                "AskCall's default, on its own fresh database on the same server. For context, the no-HTTP floor: "
                "16 coroutines on an asyncpg pool of 16 connections, each event one INSERT in its own "
                "transaction, in its own process (16 concurrent commits let the server flush them together, "
                "faster than one Python HTTP process can be fed).",
                "",
                "| run | AskCall ev/s | response p50 | response p99 | fair floor ev/s | fair floor p50 "
                "| fair floor p99 | no-HTTP floor ev/s |",
                "|---|---|---|---|---|---|---|---|",
                *[
                    f"| {i + 1} | {r['per_s']:,.0f} | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms "
                    f"| {h['per_s']:,.0f} | {h['p50_ms']:.2f} ms | {h['p99_ms']:.2f} ms | {f['events_per_s']:,.0f} |"
                    for i, (r, f, h) in enumerate(zip(runs, floors, fair, strict=True))
                ],
                "",
            ]
            return
        self.ctx.report.details += [
            "## Figure 2 — webhook ingest throughput",
            "",
            f"{n:,} distinct signed `call.permission_updated` webhooks per run, 16 connections, closed loop, "
            f"{o.reps} run(s) (after {WARMUP} warm-up events). The customers have no request, so after the 200 "
            "each event is also matched (to nothing) and settled, in the transaction that stores it, as in production. "
            "The floor is 16 coroutines on one aiosqlite connection, one INSERT + commit per event (WAL, "
            "synchronous=NORMAL), in its own process. For scale, the last column sends the same webhooks to the "
            "bare aiohttp handler (no verification, no store): the HTTP ceiling of one Python process here.",
            "",
            "| run | AskCall ev/s | response p50 | response p99 | floor ev/s | bare aiohttp req/s |",
            "|---|---|---|---|---|---|",
            *[
                f"| {i + 1} | {r['per_s']:,.0f} | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms "
                f"| {f['events_per_s']:,.0f} | {h:,.0f} |"
                for i, (r, f, h) in enumerate(zip(runs, floors, http_ceiling, strict=True))
            ],
            "",
        ]
