"""Figure 1: signed `/askcall` ack latency, AskCall on SQLite and on PostgreSQL (1 replica) against Bolt and bare
aiohttp floors (measured once, on the first deployment, and shared by the others), and the same
AskCall in multi-workspace mode with `--workspaces` (1,000) installations stored, commands spread round robin over
them, so authorize finds each one's installation (mostly not yet cached): its ack p50 at c=1 against the
one-workspace figure (target ≤ 1.1×). Those workspaces have no Pilot Status account yet (per-workspace accounts come
with App Home's settings), so after the ack their requests stop at the Pilot Status step; the ack path is the same.

Measures p50/p99 of the ack at c=1 and c=16 (closed loop: a new command the moment the previous ack
arrives), plus an open-loop run at `--light-rate` that meets an idle server: the ack path alone.
Every command is valid and for a distinct customer, so AskCall persists it before acking, then posts
the parent message and calls the fake Pilot Status, which sleeps `--pilot-delay` s per request while
AskCall is measured; after each AskCall repetition the delay is lifted and AskCall drains, so every
repetition starts idle. Also AskCall's CPU time per command (acks plus all background work).

Targets (issue 19), on each backend: ack p50 at c=1 ≤ 2× the Bolt `process_before_response=True` floor's,
ack p99 at c=16 ≤ 100 ms, CPU per command ≤ 3 ms; on SQLite also ack p50 at c=1 ≤ 0.1× default Bolt's.

Invariant (checked, exit 1 otherwise): every command is acked with an empty 200, by AskCall and by
every floor: 0 refused, 0 failed.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from bench.common import AREA_ACK, median, say
from bench.context import Context
from bench.processes import Deployment
from bench.report import Check, Row, cpu_row, fmt

# The servers of figure 1, as the report names them (AskCall first, then the floors).
TARGETS = (
    ("askcall", "AskCall"),
    ("bolt-pbr", "Bolt, process_before_response=True"),
    ("bolt-default", "Bolt, default (False)"),
    ("aiohttp", "bare aiohttp handler"),
)
FLOORS = tuple(name for name, _ in TARGETS[1:])

CHART = "Figure 1 — /askcall ack latency, SQLite"
ACK_P99_C16_MS = 100.0  # issue 19: ack p99 at c=16, both backends
CPU_PER_COMMAND_MS = 3.0  # issue 19: AskCall CPU per command (ack + background work), both backends


def chart(dep: Deployment) -> str:
    """The ack CDF chart of a deployment (the many-workspaces variant shares SQLite's)."""
    return CHART if not dep.postgres else f"Figure 1 — /askcall ack latency, {dep.label}"


def load_label(mode: str) -> str:
    """How the report names a load: "c=1", "c=16", "open loop 20/s"."""
    return f"c={mode}" if mode in ("1", "16") else f"open loop {mode}"


# The load generator's results, by (server, load): load "1" and "16" are closed loops, "20/s" the open loop.
Runs = dict[tuple[str, str], list[dict[str, Any]]]


def per_run(results: list[dict[str, Any]], key: str) -> str:
    return ", ".join(f"{r[key]:.2f}" for r in results)


def mid(runs: Runs, name: str, mode: str, key: str) -> float:
    """The median over repetitions of one server's percentile `key` under one load."""
    return median([r[key] for r in runs[name, mode]])


def ack_rows(runs: Runs, light: str | None, *, postgres: bool, suffix: str = "") -> list[Row]:
    """Figure 1's table rows from AskCall's and the floors' runs (`suffix` names a PostgreSQL deployment): the
    targets first (p50 at c=1 ≤ 2× Bolt pbr=True; on SQLite ≤ 0.1× default Bolt; p99 at c=16 ≤ 100 ms), then the
    other loads against Bolt pbr=True, for scale. `light` is the open-loop load ("20/s"), None when not run."""
    ack, pbr = mid(runs, "askcall", "1", "p50_ms"), mid(runs, "bolt-pbr", "1", "p50_ms")
    rows = [Row("1", f"ack p50, c=1 — vs Bolt pbr=True{suffix}", ack, pbr, "ms", "≤ 2×", ack <= 2 * pbr)]
    if not postgres:
        default = mid(runs, "bolt-default", "1", "p50_ms")
        rows.append(Row("1", "ack p50, c=1 — vs default Bolt", ack, default, "ms", "≤ 0.1×", ack <= 0.1 * default))
    tail, tail_floor = mid(runs, "askcall", "16", "p99_ms"), mid(runs, "bolt-pbr", "16", "p99_ms")
    rows.append(
        Row(
            "1",
            f"ack p99, c=16 — vs Bolt pbr=True{suffix}",
            tail,
            tail_floor,
            "ms",
            f"≤ {ACK_P99_C16_MS:g} ms",
            tail <= ACK_P99_C16_MS,
        )
    )
    extra = [("1", "p99_ms", "p99, c=1"), ("16", "p50_ms", "p50, c=16")]
    if light is not None:
        extra += [(light, "p50_ms", f"p50, open loop {light}"), (light, "p99_ms", f"p99, open loop {light}")]
    for mode, key, label in extra:
        askcall, floor = mid(runs, "askcall", mode, key), mid(runs, "bolt-pbr", mode, key)
        rows.append(Row("1", f"ack {label} — vs Bolt pbr=True{suffix}", askcall, floor, "ms"))
    return rows


class AckLatency:
    """Figure 1 on the SQLite deployment and on PostgreSQL with 1 replica; the floors run with the first."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.one_workspace: list[dict[str, Any]] = []  # AskCall's c=1 runs with one workspace, per repetition
        self.floor_runs: Runs = {}  # the floors' runs, from the first deployment measured

    async def commands(
        self,
        url: str,
        concurrency: int,
        count: int,
        *,
        warmup: int = 0,
        rate: float | None = None,
        teams: int = 0,
    ) -> dict[str, Any]:
        """Signed `/askcall` commands to `url`, each for a customer no one has used yet (spread over `teams`
        installed workspaces when given)."""
        offset = self.ctx.customers.take(AREA_ACK, warmup + count)
        return await self.ctx.servers.slash(
            [url + "/slack/events"],
            concurrency,
            count,
            area=AREA_ACK,
            offset=offset,
            warmup=warmup,
            rate=rate,
            teams=teams,
            # A channel per command with many workspaces: a channel belongs to the first workspace that posts in it.
            channel_prefix="CM" if teams else "",
        )

    async def measure_many(self, dep: Deployment, workspaces: int) -> None:
        """The variant with `workspaces` installed (multi-workspace mode: authorize finds each command's
        installation in the store, through its cache): ack p50 at c=1 next to the one-workspace figure."""
        o, report = self.ctx.opts, self.ctx.report
        say(f"figure 1, {workspaces:,} workspaces: /askcall ack latency, commands spread over every workspace")
        # Warm-up: one command in every workspace, so that each workspace's rep is known (a first-time rep's command
        # waits for Slack to tell their locale, as UBENCH's first did in the one-workspace figure's warm-up).
        await self.commands(dep.urls[0], 4, workspaces, teams=workspaces)
        await self.ctx.settle(dep, "figure 1 (many workspaces) warm-up")
        runs = []
        for rep in range(o.reps):
            # Measured as the one-workspace figure is: Pilot Status taking --pilot-delay on each permission request,
            # then lifted and drained, so both figures meet the same background work.
            await self.ctx.servers.pilot_delay(o.pilot_delay)
            result = await self.commands(dep.urls[0], 1, o.ack_requests, warmup=2, teams=workspaces)
            runs.append(result)
            say(f"  rep {rep + 1} askcall-many c=1    p50 {result['p50_ms']:.2f} ms p99 {result['p99_ms']:.2f} ms")
            await self.ctx.servers.pilot_delay(0)
            await self.ctx.settle(dep, f"figure 1 (many workspaces) repetition {rep + 1}")
        for result in runs:
            report.cdf(CHART, load_label("1"), f"AskCall, {workspaces:,} workspaces", result["latencies_ms"])
        many = median([r["p50_ms"] for r in runs])
        one = median([r["p50_ms"] for r in self.one_workspace]) if self.one_workspace else None
        label = f"ack p50, c=1 — {workspaces:,} workspaces vs 1"
        met = one is not None and many <= 1.1 * one
        report.rows.append(Row("1", label, many, one, "ms", "≤ 1.1×", met if one is not None else None))
        report.rows.append(
            Row(
                "1",
                f"ack p99, c=1 — {workspaces:,} workspaces vs 1",
                median([r["p99_ms"] for r in runs]),
                median([r["p99_ms"] for r in self.one_workspace]) if self.one_workspace else None,
                "ms",
            )
        )
        failed, sent = sum(r["failures"] for r in runs), sum(r["count"] for r in runs)
        report.checks.append(
            Check(
                f"figure 1: AskCall with {workspaces:,} workspaces acked every command with an empty 200",
                failed == 0,
                f"{sent - failed}/{sent}",
            )
        )

    async def measure(self, dep: Deployment) -> None:
        o, servers, report = self.ctx.opts, self.ctx.servers, self.ctx.report
        on = dep.aside
        # The floors don't depend on AskCall's database: measured with the first deployment only.
        floors = () if self.floor_runs else FLOORS
        urls = {"askcall": dep.urls[0], **{k: servers.floor_urls[k] for k in floors}}
        say(f"figure 1{on}: /askcall ack latency, fake Pilot Status taking {o.pilot_delay:g} s per request")
        for url in urls.values():  # warm-up: connections, Bolt's auth.test, first-call imports
            await self.commands(url, 4, 50)
        await self.ctx.settle(dep, f"figure 1 warm-up{on}")
        runs: Runs = defaultdict(list)
        drains, cpu_per_command = [], []
        light = f"{o.light_rate:g}/s"
        for rep in range(o.reps):
            for name, url in urls.items():
                cpu_before, sent = dep.cpu_seconds(), 0
                if name == "askcall":
                    await servers.pilot_delay(o.pilot_delay)
                # The open-loop run goes first, so that it meets an idle server.
                modes: list[tuple[str, int, float | None]] = [("1", 1, None), ("16", 16, None)]
                if name in ("askcall", "bolt-pbr") and o.light_rate > 0:
                    modes.insert(0, (light, 1, o.light_rate))
                for mode, concurrency, rate in modes:
                    count = o.ack_requests * (2 if concurrency == 16 else 1) // (2 if rate else 1)
                    result = await self.commands(url, concurrency, count, warmup=2 * concurrency, rate=rate)
                    runs[name, mode].append(result)
                    if name == "askcall":
                        sent += count + 2 * concurrency
                    say(
                        f"  rep {rep + 1} {name:12} {mode if rate else 'c=' + mode:6} "
                        f"p50 {result['p50_ms']:.2f} ms p99 {result['p99_ms']:.2f} ms ({result['failures']} failed)"
                    )
                if name == "askcall":
                    # Each repetition starts from an idle AskCall: lift the delay and let it drain.
                    await servers.pilot_delay(0)
                    started = time.monotonic()
                    await self.ctx.settle(dep, f"figure 1 repetition {rep + 1}{on}")
                    drains.append(time.monotonic() - started)
                    cpu_per_command.append((dep.cpu_seconds() - cpu_before) / sent * 1000)
        states = await dep.db.query(
            "SELECT state, COUNT(*) FROM requests WHERE phone_key LIKE ? GROUP BY state ORDER BY 2 DESC",
            (f"55{AREA_ACK}%",),
        )
        if floors:
            self.floor_runs = {key: results for key, results in runs.items() if key[0] != "askcall"}
        if not dep.postgres:
            self.one_workspace = runs["askcall", "1"]
        for (name, mode), results in runs.items():
            for result in results:
                report.cdf(chart(dep), load_label(mode), dict(TARGETS)[name], result["latencies_ms"])
        if dep.postgres and not floors:  # the shared floors, for comparison: Bolt pbr=True only
            for (name, mode), results in self.floor_runs.items():
                if name == "bolt-pbr":
                    for result in results:
                        report.cdf(
                            chart(dep),
                            load_label(mode),
                            f"{dict(TARGETS)[name]} (the floor runs of SQLite's figure 1)",
                            result["latencies_ms"],
                        )
        every: Runs = {**self.floor_runs, **runs}
        report.rows += ack_rows(
            every,
            light if o.light_rate > 0 else None,
            postgres=dep.postgres,
            suffix=f" — {dep.label}" if dep.postgres else "",
        )
        cpu = median(cpu_per_command)
        report.cpu[f"figure 1 (per command){on}"] = cpu
        suffix = f" — {dep.label}" if dep.postgres else ""
        report.rows.append(cpu_row("1", f"CPU per command (ack + background work){suffix}", cpu, CPU_PER_COMMAND_MS))
        self.checks(runs, on)
        self.details(dep, every, cpu_per_command, drains, states)

    def checks(self, runs: Runs, on: str) -> None:
        """The invariant: every command acked with an empty 200, by AskCall and by each floor measured here."""
        for name, label in TARGETS:
            results = [r for (n, _), rs in runs.items() if n == name for r in rs]
            if not results:
                continue
            failed, sent_total = sum(r["failures"] for r in results), sum(r["count"] for r in results)
            samples = [x for r in results for x in r["failure_samples"]][:2]
            self.ctx.report.checks.append(
                Check(
                    f"figure 1{on if name == 'askcall' else ''}: {label} acked every command with an empty 200",
                    failed == 0,
                    f"{sent_total - failed}/{sent_total} {samples or ''}",
                )
            )

    def details(
        self,
        dep: Deployment,
        runs: Runs,
        cpu_per_command: list[float],
        drains: list[float],
        states: list[tuple[Any, ...]],
    ) -> None:
        o = self.ctx.opts
        light = f"{o.light_rate:g}/s"
        if dep.postgres:
            lines = [
                f"## Figure 1 on {dep.label}",
                "",
                "As on SQLite, AskCall only, on one `askcall serve` process and a fresh PostgreSQL database; the "
                "floors' rows are those of the same run (measured once, with the first deployment).",
                "",
            ]
        else:
            lines = [
                "## Figure 1 — signed `/askcall` ack latency",
                "",
            ]
        lines += [
            "Per repetition and server: "
            + (
                f"(AskCall and the Bolt pbr=True floor only) {o.ack_requests // 2} commands open loop at {light}, "
                f"one every {1000 / o.light_rate:.0f} ms, so that each ack meets an idle server: the ack path "
                "alone; then "
                if o.light_rate > 0
                else ""
            )
            + f"{o.ack_requests} commands closed loop at c=1, then {2 * o.ack_requests} at c=16 (after 2×c "
            "warm-up commands). "
            f"{o.reps} repetition(s); medians of the per-run percentiles. Every command is a valid request for a "
            "distinct customer, so AskCall persists it before the ack and then posts the parent message and calls "
            f"the fake Pilot Status, which sleeps {o.pilot_delay:g} s on each request while AskCall is measured. "
            "After each AskCall repetition the delay is lifted and AskCall drains, so every repetition starts idle.",
            "",
            "| server | load | p50 | p99 | p50 per run | p99 per run |",
            "|---|---|---|---|---|---|",
        ]
        for name, label in TARGETS[:1] if dep.postgres else TARGETS:
            for (n, mode), r in runs.items():
                if n != name:
                    continue
                load = load_label(mode)
                lines.append(
                    f"| {label} | {load} | {fmt(mid(runs, name, mode, 'p50_ms'), 'ms')} "
                    f"| {fmt(mid(runs, name, mode, 'p99_ms'), 'ms')} "
                    f"| {per_run(r, 'p50_ms')} | {per_run(r, 'p99_ms')} |"
                )
        lines += [
            "",
            "AskCall CPU time per command (acks plus all background work until idle: parent message, Pilot Status "
            "calls, state changes), per repetition: "
            + ", ".join(f"{c:.1f} ms" for c in cpu_per_command)
            + ". Seconds AskCall needed to drain once the Pilot Status delay was lifted: "
            + ", ".join(f"{d:.0f}" for d in drains)
            + ". Figure 1 requests by final state: "
            + ", ".join(f"{state} {n}" for state, n in states)
            + ".",
            "",
        ]
        self.ctx.report.details += lines
