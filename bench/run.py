"""`python -m bench`: AskCall and the floors it is compared with, measured in one run (see bench/README.md).

Processes (all children of this one, which only orchestrates and stays idle while load runs):
fake Slack, fake Pilot Status, AskCall (`python -m bot.cli serve`), four floor servers, and the load
generator. Figure 4 and the aiosqlite and asyncpg floors run in their own processes too. Figures 2
and 3 are measured again on PostgreSQL, with one AskCall and with two `askcall serve` processes on one
database (the load generator spreads the load over them round robin), each on a fresh database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench.common import (
    AREA_ACK,
    AREA_ANSWERS,
    AREA_INGEST,
    AREA_RELAY,
    BUSINESS_NUMBER,
    PILOT_API_KEY,
    SIGNING_SECRET,
    SLACK_TOKEN,
    STATUSES,
    WEBHOOK_SECRET,
    customer_e164,
    free_port,
    median,
    percentile,
    without_ninth_digit,
)
from bench.postgres import DEFAULT_ADMIN_URL, PostgresDatabase, checkpoints, fresh_database, server_version
from bench.processes import PYTHON, REPO, BenchError, Child, Database, WorkQuestions, child_env, wait_healthy
from bench.report import Check, Report, Row, fmt, machine, render
from bot.config import redact_url
from bot.fakes.pilot_status import iso_timestamp, permission_event

FLOORS = ("aiohttp", "bolt-pbr", "bolt-default", "relay")
ACK_TARGETS = {
    "askcall": "AskCall",
    "bolt-pbr": "Bolt, process_before_response=True",
    "bolt-default": "Bolt, default (False)",
    "aiohttp": "bare aiohttp handler",
}
CUSTOMERS_PER_REP = 100_000  # customer index stride between repetitions


@dataclass(frozen=True)
class Options:
    quick: bool
    reps: int
    ack_requests: int
    ingest_events: int
    answers: int
    answer_rate: float
    duplicate_share: float
    lookup_rows: int
    lookups: int
    pilot_delay: float
    light_rate: float
    phases: frozenset[int]
    sqlite: bool
    postgres_replicas: tuple[int, ...]
    postgres_url: str
    postgres_url_given: bool
    profile: bool
    askcall_command: list[str]
    workdir: Path | None
    keep: bool
    results: Path | None


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark AskCall against its floors (bare aiohttp, Bolt, aiosqlite) in one run.",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run (< ~60 s): 1 repetition, small counts")
    parser.add_argument("--reps", type=int, help="repetitions per measurement; medians are reported (default 3)")
    parser.add_argument("--ack-requests", type=int, help="figure 1: commands per run at c=1; c=16 sends 2x (500)")
    parser.add_argument("--ingest-events", type=int, help="figure 2: webhooks per repetition (10000)")
    parser.add_argument("--answers", type=int, help="figure 3: seeded requests answered per repetition (1000)")
    parser.add_argument("--answer-rate", type=float, default=100.0, help="figure 3: webhooks per second (100)")
    parser.add_argument(
        "--duplicates", type=float, default=0.1, help="figure 3: share of answers delivered twice (0.1)"
    )
    parser.add_argument("--lookup-rows", type=int, help="figure 4: stored requests (1000000)")
    parser.add_argument("--lookups", type=int, help="figure 4: timed lookups (10000)")
    parser.add_argument("--pilot-delay", type=float, default=5.0, help="figure 1: fake Pilot Status delay, s (5)")
    parser.add_argument(
        "--light-rate", type=float, default=20.0, help="figure 1: open-loop commands/s for the ack path alone (20)"
    )
    parser.add_argument("--phases", default="1,2,3,4", help="figures to measure, e.g. 2 or 1,3 (5 comes with 1-3)")
    parser.add_argument(
        "--postgres-replicas",
        default="1,2",
        help="PostgreSQL rows of figures 2 and 3: how many `askcall serve` processes share the database, "
        "one deployment per number (default 1,2; 0 skips PostgreSQL)",
    )
    parser.add_argument(
        "--postgres-url",
        help="a PostgreSQL server's admin URL; the bench creates and drops its databases there "
        f"(default $ASKCALL_BENCH_POSTGRES_URL or {DEFAULT_ADMIN_URL})",
    )
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite deployment (figures 1 and 5 need it)")
    parser.add_argument(
        "--profile", action="store_true", help="run AskCall under pyinstrument; the report lands in the workdir"
    )
    parser.add_argument(
        "--askcall-command",
        default="python -m bot.cli serve",
        help="how to start AskCall (default: %(default)s; `python` means this interpreter), e.g. to measure "
        "another checkout or a patched variant",
    )
    parser.add_argument("--workdir", type=Path, help="where DBs and logs go (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the workdir (always kept on failure)")
    parser.add_argument(
        "--results", type=Path, help="markdown output (default bench/RESULTS.md; none with --quick unless given)"
    )
    args = parser.parse_args(argv)

    def pick(value: int | None, full: int, quick: int) -> int:
        return value if value is not None else (quick if args.quick else full)

    phases = frozenset(int(p) for p in args.phases.split(",") if p.strip())
    if not phases <= {1, 2, 3, 4, 5}:
        parser.error("--phases takes figure numbers 1-5")
    results = args.results if args.results is not None else (None if args.quick else REPO / "bench" / "RESULTS.md")
    replicas = tuple(sorted({int(r) for r in args.postgres_replicas.split(",") if r.strip() and int(r) > 0}))
    given = args.postgres_url or os.environ.get("ASKCALL_BENCH_POSTGRES_URL")
    return Options(
        quick=args.quick,
        reps=pick(args.reps, 3, 1),
        ack_requests=pick(args.ack_requests, 500, 100),
        ingest_events=pick(args.ingest_events, 10_000, 1_000),
        answers=pick(args.answers, 1_000, 200),
        answer_rate=args.answer_rate,
        duplicate_share=args.duplicates,
        lookup_rows=pick(args.lookup_rows, 1_000_000, 100_000),
        lookups=pick(args.lookups, 10_000, 2_000),
        pilot_delay=args.pilot_delay,
        light_rate=args.light_rate,
        phases=phases,
        sqlite=not args.no_sqlite,
        postgres_replicas=replicas,
        postgres_url=given or DEFAULT_ADMIN_URL,
        postgres_url_given=bool(given),
        profile=args.profile,
        askcall_command=[PYTHON if word == "python" else word for word in shlex.split(args.askcall_command)],
        workdir=args.workdir,
        keep=args.keep or args.profile,
        results=results,
    )


def per_run(results: list[dict[str, Any]], key: str) -> str:
    return ", ".join(f"{r[key]:.2f}" for r in results)


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def webhook_body(sender: str, status: str, timestamp: str) -> str:
    event = permission_event(sender, status, business=BUSINESS_NUMBER, timestamp=timestamp)
    return json.dumps(event, separators=(",", ":"))


@dataclass
class Deployment:
    """AskCall as measured: one or more `askcall serve` processes on one database."""

    label: str  # how the table names it: "SQLite", "PostgreSQL, 1 replica", …
    backend: str  # "sqlite" or "postgresql"
    replicas: list[Child]
    urls: list[str]
    db: WorkQuestions
    stack: contextlib.AsyncExitStack

    @property
    def postgres(self) -> bool:
        return self.backend == "postgresql"

    def cpu_seconds(self) -> float:
        return sum(child.cpu_seconds() for child in self.replicas)

    def webhook_urls(self) -> list[str]:
        return [url + "/webhooks/pilot-status" for url in self.urls]


class Bench:
    def __init__(self, opts: Options, work: Path) -> None:
        self.opts = opts
        self.work = work
        self.report = Report()
        self.children: list[Child] = []
        self.floor_children: dict[str, Child] = {}
        self.floor_urls: dict[str, str] = {}
        self.slack: dict[str, str] = {}
        self.pilot: dict[str, str] = {}
        self.offsets: dict[int, int] = defaultdict(int)
        self.cpu: dict[str, float] = {}  # AskCall CPU ms per operation, by figure
        self.relay_runs: dict[int, list[float]] = {}  # figure 3 floor latencies, by repetition
        self.seed_cpu: dict[str, list[float]] = defaultdict(list)  # figure 3 seeding: CPU ms per command
        self.sqlite: Deployment | None = None
        self.postgres_version = ""
        self.stopped: list[tuple[str, int | None, Path]] = []  # (process, exit code, log) of every AskCall
        self._loadgen: Child | None = None
        self._http: aiohttp.ClientSession | None = None

    # --- processes ------------------------------------------------------------------------
    @property
    def main(self) -> Deployment:
        """The SQLite deployment: figures 1 and 5, and the original figures 2 and 3."""
        if self.sqlite is None:
            raise BenchError("AskCall on SQLite is not running")
        return self.sqlite

    @property
    def askcall(self) -> Child:
        return self.main.replicas[0]

    @property
    def askcall_url(self) -> str:
        return self.main.urls[0]

    @property
    def loadgen(self) -> Child:
        if self._loadgen is None:
            raise BenchError("the load generator is not running")
        return self._loadgen

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        return self._http

    async def spawn(self, name: str, argv: Sequence[str], **kwargs: Any) -> tuple[Child, dict[str, Any]]:
        child = Child(name, argv, self.work / f"{name}.log", **kwargs)
        self.children.append(child)
        return child, await child.start()

    async def start_servers(self) -> None:
        say(f"starting the fakes, the floors and the load generator (workdir {self.work})")
        _, self.slack = await self.spawn("fake-slack", [PYTHON, "-m", "bench.fakes", "slack"])
        _, self.pilot = await self.spawn("fake-pilot-status", [PYTHON, "-m", "bench.fakes", "pilot"])
        for name in FLOORS:
            argv = [PYTHON, "-m", "bench.floors", name, "--slack-api-url", self.slack["api_url"]]
            child, info = await self.spawn(f"floor-{name}", argv)
            self.floor_children[name] = child
            self.floor_urls[name] = info["url"]
        self._loadgen, _ = await self.spawn("loadgen", [PYTHON, "-m", "bench.loadgen"])

    async def start_askcall(self, name: str, database: dict[str, str]) -> tuple[Child, str]:
        """One `askcall serve` process on `database` (its ASKCALL_* variables), pointed at the fakes."""
        port = free_port()
        env = child_env(
            {
                "SLACK_BOT_TOKEN": SLACK_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": self.slack["api_url"],
                "PILOT_STATUS_API_KEY": PILOT_API_KEY,
                "PILOT_STATUS_BASE_URL": self.pilot["base_url"],
                "PILOT_STATUS_WEBHOOK_SECRET": WEBHOOK_SECRET,
                "HOST": "127.0.0.1",
                "PORT": str(port),
                # The load comes from one rep (UBENCH): with the default budget (30 an hour) the bench would
                # only measure the refusal, and any budget that never refuses would have the check read every
                # one of that rep's thousands of requests, which no real rep makes. No budget; in production
                # the check reads at most `budget` rows (30 by default) through an index.
                "ASKCALL_MAX_REQUESTS_PER_REP_PER_HOUR": "0",
                **database,
            }
        )
        command = self.opts.askcall_command
        if self.opts.profile:
            if command[0] != PYTHON:
                raise BenchError("--profile needs an --askcall-command that starts with `python`")
            profile = self.work / f"{name}.pyisession"
            command = [PYTHON, "-m", "pyinstrument", "-r", "pyisession", "-o", str(profile), *command[1:]]
        cwd = self.work / name
        cwd.mkdir(parents=True, exist_ok=True)  # its cwd: no stray .env gets read
        child = Child(name, command, self.work / f"{name}.log", env=env, cwd=cwd)
        await child.start(ready_line=False)
        url = f"http://127.0.0.1:{port}"
        try:
            await wait_healthy(url + "/healthz", child)
        except BenchError:
            await child.stop()
            raise
        return child, url

    async def start_sqlite(self) -> Deployment:
        say("starting AskCall on SQLite")
        db = Database(self.work / "askcall" / "askcall.db")
        child, url = await self.start_askcall("askcall", {"ASKCALL_DB_PATH": str(db.path)})
        deployment = Deployment("SQLite", "sqlite", [child], [url], db, contextlib.AsyncExitStack())
        deployment.stack.push_async_callback(self.stop_askcall, child)
        return deployment

    async def start_postgres(self, replicas: int) -> Deployment:
        """`replicas` AskCall processes sharing a database created for them (dropped at `stop_deployment`)."""
        label = f"PostgreSQL, {replicas} replica{'s' if replicas > 1 else ''}"
        say(f"starting AskCall on PostgreSQL: {replicas} process(es) on a fresh database")
        stack = contextlib.AsyncExitStack()
        try:
            url = await stack.enter_async_context(fresh_database(self.opts.postgres_url))
            db = PostgresDatabase(url)
            stack.push_async_callback(db.close)
            children, urls = [], []
            for i in range(replicas):
                child, http_url = await self.start_askcall(
                    f"askcall-pg{replicas}-{i + 1}", {"ASKCALL_DATABASE_URL": url}
                )
                stack.push_async_callback(self.stop_askcall, child)
                children.append(child)
                urls.append(http_url)
        except BaseException:
            await stack.aclose()
            raise
        return Deployment(label, "postgresql", children, urls, db, stack)

    async def stop_askcall(self, child: Child) -> None:
        code = await child.stop()
        self.stopped.append((child.name, code, child.log))
        if self.opts.profile:
            await self.render_profile(child.name)

    async def stop_servers(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
        for child in reversed(self.children):
            await child.stop()
        self.children.clear()

    async def render_profile(self, name: str) -> None:
        session = self.work / f"{name}.pyisession"
        if not session.exists():
            self.report.notes.append(f"--profile: pyinstrument wrote no session for {name} (did it exit cleanly?)")
            return
        text = self.work / f"{name}-profile.txt"
        proc = await asyncio.create_subprocess_exec(
            PYTHON, "-m", "pyinstrument", f"--load={session}", "-r", "text", "--show-all", "-o", str(text)
        )
        await proc.wait()
        html = self.work / f"{name}-profile.html"
        proc = await asyncio.create_subprocess_exec(
            PYTHON, "-m", "pyinstrument", f"--load={session}", "-r", "html", "-o", str(html)
        )
        await proc.wait()
        self.report.notes.append(f"pyinstrument profile of {name}: {text} and {html}")

    # --- helpers ----------------------------------------------------------------------------
    def take_offset(self, area: int, count: int) -> int:
        offset = self.offsets[area]
        self.offsets[area] += count
        return offset

    async def slash(
        self,
        url: str | list[str],
        concurrency: int,
        count: int,
        *,
        area: int,
        warmup: int = 0,
        offset: int | None = None,
        channel_prefix: str = "",
        user_prefix: str = "",
        rate: float | None = None,
    ) -> dict[str, Any]:
        total = warmup + count
        spec: dict[str, Any] = {
            "op": "slash",
            "urls": [url] if isinstance(url, str) else url,
            "concurrency": concurrency,
            "count": total,
            "warmup": warmup,
            "area": area,
            "offset": self.take_offset(area, total) if offset is None else offset,
            "channel_prefix": channel_prefix,
            "user_prefix": user_prefix,
            "response_url": self.slack["response_url"],
        }
        if rate:
            spec["rate"] = rate
        return await self.loadgen.call(spec, within=120 + total * 0.1 + (count / rate if rate else 0))

    async def pilot_delay(self, seconds: float) -> None:
        async with self.http.post(f"{self.pilot['control']}/delay", params={"seconds": str(seconds)}) as response:
            response.raise_for_status()

    async def pilot_stats(self) -> dict[str, int]:
        async with self.http.get(f"{self.pilot['control']}/stats") as response:
            return dict(await response.json())

    async def slack_count(self, **query: str | int) -> tuple[int, int]:
        """(matching calls, all calls so far) at the fake Slack."""
        params = {k: str(v) for k, v in query.items()}
        async with self.http.get(f"{self.slack['control']}/count", params=params) as response:
            data = await response.json()
        return int(data["count"]), int(data["total"])

    async def slack_calls(self, **query: str | int) -> list[dict[str, Any]]:
        params = {k: str(v) for k, v in query.items()}
        async with self.http.get(f"{self.slack['control']}/calls", params=params) as response:
            data = await response.json()
        return list(data["calls"])

    async def wait_for(self, predicate: Callable[[], Awaitable[bool]], within: float, what: str) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if await predicate():
                return True
            await asyncio.sleep(0.1)
        say(f"timed out after {within:.0f}s waiting for {what}")
        return False

    async def settle(self, dep: Deployment, after: str, within: float = 240.0) -> None:
        idle, backlog = await dep.db.wait_idle(within)
        if not idle:
            self.report.notes.append(f"AskCall still had work after {after} when the next phase started: {backlog}")

    # --- figure 1 -----------------------------------------------------------------------------
    async def figure1(self) -> None:
        o = self.opts
        urls = {"askcall": self.askcall_url, **{k: self.floor_urls[k] for k in ("bolt-pbr", "bolt-default", "aiohttp")}}
        say(f"figure 1: /askcall ack latency, fake Pilot Status taking {o.pilot_delay:g} s per request")
        for url in urls.values():  # warm-up: connections, Bolt's auth.test, first-call imports
            await self.slash(url + "/slack/events", 4, 50, area=AREA_ACK)
        await self.settle(self.main, "figure 1 warm-up")
        runs: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        drains, cpu_per_command = [], []
        light = f"{o.light_rate:g}/s"
        for rep in range(o.reps):
            for name, url in urls.items():
                cpu_before, sent = self.askcall.cpu_seconds(), 0
                if name == "askcall":
                    await self.pilot_delay(o.pilot_delay)
                # The open-loop run goes first, so that it meets an idle server.
                modes: list[tuple[str, int, float | None]] = [("1", 1, None), ("16", 16, None)]
                if name in ("askcall", "bolt-pbr") and o.light_rate > 0:
                    modes.insert(0, (light, 1, o.light_rate))
                for mode, concurrency, rate in modes:
                    count = o.ack_requests * (2 if concurrency == 16 else 1) // (2 if rate else 1)
                    result = await self.slash(
                        url + "/slack/events", concurrency, count, area=AREA_ACK, warmup=2 * concurrency, rate=rate
                    )
                    runs[name, mode].append(result)
                    if name == "askcall":
                        sent += count + 2 * concurrency
                    say(
                        f"  rep {rep + 1} {name:12} {mode if rate else 'c=' + mode:6} "
                        f"p50 {result['p50_ms']:.2f} ms p99 {result['p99_ms']:.2f} ms ({result['failures']} failed)"
                    )
                if name == "askcall":
                    # Each repetition starts from an idle AskCall: lift the delay and let it drain.
                    await self.pilot_delay(0)
                    started = time.monotonic()
                    await self.settle(self.main, f"figure 1 repetition {rep + 1}")
                    drains.append(time.monotonic() - started)
                    cpu_per_command.append((self.askcall.cpu_seconds() - cpu_before) / sent * 1000)
        states = await self.main.db.query(
            "SELECT state, COUNT(*) FROM requests WHERE phone_key LIKE ? GROUP BY state ORDER BY 2 DESC",
            (f"55{AREA_ACK}%",),
        )

        def mid(name: str, mode: str, key: str) -> float:
            return median([r[key] for r in runs[name, mode]])

        ack, pbr, default = (
            mid("askcall", "1", "p50_ms"),
            mid("bolt-pbr", "1", "p50_ms"),
            mid("bolt-default", "1", "p50_ms"),
        )
        rows = self.report.rows
        rows.append(Row("1", "ack p50, c=1 — vs Bolt pbr=True", ack, pbr, "ms", "≤ 3×", ack <= 3 * pbr))
        rows.append(Row("1", "ack p50, c=1 — vs default Bolt", ack, default, "ms", "≤ 0.1×", ack <= 0.1 * default))
        extra = [("1", "p99_ms", "p99, c=1"), ("16", "p50_ms", "p50, c=16"), ("16", "p99_ms", "p99, c=16")]
        if o.light_rate > 0:
            extra += [(light, "p50_ms", f"p50, open loop {light}"), (light, "p99_ms", f"p99, open loop {light}")]
        for mode, key, label in extra:
            rows.append(
                Row("1", f"ack {label} — vs Bolt pbr=True", mid("askcall", mode, key), mid("bolt-pbr", mode, key), "ms")
            )
        for name, label in ACK_TARGETS.items():
            results = [r for (n, _), rs in runs.items() if n == name for r in rs]
            failed, sent_total = sum(r["failures"] for r in results), sum(r["count"] for r in results)
            samples = [x for r in results for x in r["failure_samples"]][:2]
            self.report.checks.append(
                Check(
                    f"figure 1: {label} acked every command with an empty 200",
                    failed == 0,
                    f"{sent_total - failed}/{sent_total} {samples or ''}",
                )
            )

        lines = [
            "## Figure 1 — signed `/askcall` ack latency",
            "",
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
        for name, label in ACK_TARGETS.items():
            for (n, mode), r in runs.items():
                if n != name:
                    continue
                load = f"c={mode}" if mode in ("1", "16") else f"open loop {mode}"
                lines.append(
                    f"| {label} | {load} | {fmt(mid(name, mode, 'p50_ms'), 'ms')} "
                    f"| {fmt(mid(name, mode, 'p99_ms'), 'ms')} "
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
        self.report.details += lines
        self.cpu["figure 1 (per command)"] = median(cpu_per_command)

    # --- figure 2 -----------------------------------------------------------------------------
    def ingest_bodies(self, first: int, count: int, timestamp: str) -> list[str]:
        return [
            webhook_body(customer_e164(AREA_INGEST, first + i)[1:], STATUSES[i % 3], timestamp) for i in range(count)
        ]

    async def sqlite_floor(self, rep: int, events: int) -> dict[str, Any]:
        db = self.work / f"floor-sqlite-{rep}.db"
        argv = [PYTHON, "-m", "bench.floors", "sqlite", "--db", str(db), "--events", str(events), "--concurrency", "16"]
        child = Child(f"floor-sqlite-{rep}", argv, self.work / f"floor-sqlite-{rep}.log")
        await child.start(ready_line=False)
        return await child.finish(within=600)

    async def postgres_floor(self, name: str, dsn: str, events: int) -> dict[str, Any]:
        argv = [PYTHON, "-m", "bench.floors", "postgres", "--dsn", dsn, "--events", str(events), "--concurrency", "16"]
        child = Child(name, argv, self.work / f"{name}.log")
        await child.start(ready_line=False)
        return await child.finish(within=600)

    async def ingest(self, dep: Deployment, bodies: list[str], shift: int = 0) -> dict[str, Any]:
        """The webhooks closed loop at c=16, spread round robin over the deployment's processes."""
        spec = {"op": "webhooks", "urls": dep.webhook_urls(), "concurrency": 16, "bodies": bodies, "shift": shift}
        return await self.loadgen.call(spec, within=120 + len(bodies) * 0.1)

    async def figure2(self, dep: Deployment) -> None:
        o = self.opts
        n = o.ingest_events
        timestamp = iso_timestamp()
        on = "" if dep is self.sqlite else f" ({dep.label})"
        say(f"figure 2{on}: webhook ingest, {n} distinct events at c=16")
        warmup = 200
        await self.ingest(dep, self.ingest_bodies(self.take_offset(AREA_INGEST, warmup), warmup, timestamp))
        await self.settle(dep, "figure 2 warm-up")
        runs, floors, firsts, cpu, http_ceiling = [], [], [], [], []
        async with contextlib.AsyncExitStack() as stack:
            floor_dsn = await stack.enter_async_context(fresh_database(self.opts.postgres_url)) if dep.postgres else ""
            for rep in range(o.reps):
                first = self.take_offset(AREA_INGEST, n)
                firsts.append(first)
                bodies = self.ingest_bodies(first, n, timestamp)
                cpu_before = dep.cpu_seconds()
                result = await self.ingest(dep, bodies)
                runs.append(result)
                # AskCall finishes processing before the floors run, so they don't share the CPU with it.
                await self.settle(dep, f"figure 2 repetition {rep + 1}")
                cpu.append((dep.cpu_seconds() - cpu_before) / n * 1000)
                if dep.postgres:
                    floor_run = await self.postgres_floor(f"floor-postgres-{len(dep.replicas)}-{rep}", floor_dsn, n)
                else:
                    floor_run = await self.sqlite_floor(rep, n)
                floors.append(floor_run)
                line = (
                    f"  rep {rep + 1} AskCall {result['per_s']:.0f} ev/s (p50 {result['p50_ms']:.2f} ms, "
                    f"p99 {result['p99_ms']:.2f} ms); floor {floor_run['events_per_s']:.0f} ev/s"
                )
                if not dep.postgres:  # the HTTP ceiling does not depend on the database: measured once
                    url = self.floor_urls["aiohttp"] + "/webhooks/pilot-status"
                    bare = await self.loadgen.call(
                        {"op": "webhooks", "url": url, "concurrency": 16, "bodies": bodies}, within=120 + n * 0.1
                    )
                    http_ceiling.append(bare["per_s"])
                    line += f"; bare aiohttp {bare['per_s']:.0f} req/s"
                say(line)
        # Redeliveries: the same bytes again (to another process than the first time, when there are
        # several) must be acknowledged as duplicates and stored once.
        redelivered = min(n, 500)
        again = await self.ingest(dep, self.ingest_bodies(firsts[0], redelivered, timestamp), shift=1)
        await self.settle(dep, "figure 2 redeliveries")
        stored = await dep.db.scalar(
            "SELECT COUNT(*) FROM webhook_events WHERE from_phone LIKE ?", (f"55{AREA_INGEST}%",)
        )
        expected = warmup + o.reps * n
        bad = sum(r["failures"] + r["duplicates"] for r in runs)
        self.report.checks.append(
            Check(
                f"figure 2{on}: every webhook verified, stored and answered 200 as new",
                bad == 0,
                f"{o.reps * n - bad}/{o.reps * n}",
            )
        )
        self.report.checks.append(
            Check(
                f"figure 2{on}: redeliveries answered as duplicates, every event stored exactly once",
                again["duplicates"] == redelivered and again["failures"] == 0 and stored == expected,
                f"{again['duplicates']}/{redelivered} duplicates; {stored} rows for {expected} distinct events",
            )
        )
        askcall, floor = median([r["per_s"] for r in runs]), median([f["events_per_s"] for f in floors])
        self.cpu[f"figure 2 (per webhook, until processed){on}"] = median(cpu)
        # The target is for one process; with several, the row shows how far they scale past it.
        single = len(dep.replicas) == 1
        floor_label = (
            "asyncpg pool, 1 INSERT+commit/event, same server" if dep.postgres else "aiosqlite, 1 INSERT+commit/event"
        )
        self.report.rows.append(
            Row(
                "2",
                f"webhook ingest, {n:,} events, c=16{' — ' + dep.label if dep.postgres else ''}",
                askcall,
                floor,
                "ev/s",
                "≥ 1.0×" if single else "—",
                askcall >= floor if single else None,
                floor_label=floor_label,
            )
        )
        if http_ceiling:
            # The floor above does no HTTP; this row shows how close ingest is to what one Python HTTP
            # process serves at all (the same webhooks to a bare aiohttp handler that only answers 200).
            self.report.rows.append(
                Row(
                    "2",
                    f"webhook ingest, {n:,} events, c=16 — vs HTTP ceiling",
                    askcall,
                    median(http_ceiling),
                    "ev/s",
                    floor_label="bare aiohttp handler, same webhooks",
                )
            )
        if dep.postgres:
            self.report.details += [
                f"## Figure 2 on {dep.label}",
                "",
                f"The same webhooks as on SQLite, spread round robin over {len(dep.replicas)} `askcall serve` "
                "process(es) on one fresh PostgreSQL database (the redeliveries go to another process than "
                "the originals). The floor is 16 coroutines on an asyncpg pool of 16 connections to the same "
                "server, each event one INSERT in its own transaction, in its own process.",
                "",
                "| run | AskCall ev/s | response p50 | response p99 | floor ev/s |",
                "|---|---|---|---|---|",
                *[
                    f"| {i + 1} | {r['per_s']:,.0f} | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms "
                    f"| {f['events_per_s']:,.0f} |"
                    for i, (r, f) in enumerate(zip(runs, floors, strict=True))
                ],
                "",
            ]
            return
        self.report.details += [
            "## Figure 2 — webhook ingest throughput",
            "",
            f"{n:,} distinct signed `call.permission_updated` webhooks per run, 16 connections, closed loop, "
            f"{o.reps} run(s) (after {warmup} warm-up events). The customers have no request, so after the 200 "
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

    # --- figure 3 -----------------------------------------------------------------------------
    async def seed(self, dep: Deployment, first: int, prefix: str, user_prefix: str) -> bool:
        o = self.opts
        result = await self.slash(
            [url + "/slack/events" for url in dep.urls],
            8,
            o.answers,
            area=AREA_ANSWERS,
            offset=first,
            channel_prefix=prefix,
            user_prefix=user_prefix,
        )
        if result["failures"]:
            raise BenchError(f"figure 3: seeding failed: {result['failure_samples']}")

        async def all_waiting() -> bool:
            count = await dep.db.scalar(
                "SELECT COUNT(*) FROM requests WHERE channel_id LIKE ? AND state = 'waiting'", (prefix + "%",)
            )
            return bool(count == o.answers)

        return await self.wait_for(all_waiting, 60 + o.answers / 20, f"{o.answers} seeded requests to be waiting")

    def answer_events(self, first: int, timestamp: str, replicas: int) -> list[dict[str, Any]]:
        """One answer per seeded customer (a quarter without the 9th digit), and every k-th delivered
        again 20 webhooks later, the way Pilot Status retries. With several processes, answers go round
        robin and each redelivery to another process than its original."""
        o = self.opts
        originals = []
        for i in range(o.answers):
            e164 = customer_e164(AREA_ANSWERS, first + i)
            sender = without_ninth_digit(e164) if i % 4 == 3 else e164[1:]
            body = webhook_body(sender, STATUSES[i % 3], timestamp)
            originals.append({"key": f"a{first + i}", "body": body, "target": i % replicas})
        every = round(1 / o.duplicate_share) if o.duplicate_share > 0 else 0
        sequence = []
        for i, event in enumerate(originals):
            sequence.append(event)
            if every and i >= 20 and (i - 20) % every == 0:
                original = originals[i - 20]
                sequence.append(
                    {
                        "key": "d" + original["key"][1:],
                        "body": original["body"],
                        "target": (original["target"] + 1) % replicas,
                    }
                )
        return sequence

    async def paced(self, urls: list[str], events: list[dict[str, Any]]) -> dict[str, Any]:
        spec = {"op": "paced", "urls": urls, "rate": self.opts.answer_rate, "events": events}
        return await self.loadgen.call(spec, within=120 + len(events) / self.opts.answer_rate)

    async def replies_arrived(self, since: int, prefix: str, threaded: int, expected: int, within: float) -> None:
        async def arrived() -> bool:
            count, _ = await self.slack_count(
                since=since, method="chat.postMessage", prefix=prefix, threaded=threaded, ok=1
            )
            return count >= expected

        await self.wait_for(arrived, within, f"{expected} Slack posts in {prefix}*")
        await asyncio.sleep(1.5)  # a doubled reply would show up now

    async def figure3_rep(
        self, dep: Deployment, rep: int
    ) -> tuple[list[float], list[float], list[Check], float, float, float]:
        o = self.opts
        on = "" if dep is self.sqlite else f" ({dep.label})"
        first = self.take_offset(AREA_ANSWERS, CUSTOMERS_PER_REP)
        tag = f"P{len(dep.replicas)}" if dep.postgres else ""
        prefix, user_prefix = f"C3{tag}R{rep}N", f"U3{tag}R{rep}N"
        cpu_before = dep.cpu_seconds()
        if not await self.seed(dep, first, prefix, user_prefix):
            raise BenchError(f"figure 3{on}: the seeded requests never all reached 'waiting'")
        await self.settle(dep, f"figure 3 seeding {rep + 1}")
        self.seed_cpu[dep.label].append((dep.cpu_seconds() - cpu_before) / o.answers * 1000)

        _, mark = await self.slack_count(method="-")
        events = self.answer_events(first, iso_timestamp(), len(dep.replicas))
        cpu_before = dep.cpu_seconds()
        result = await self.paced(dep.webhook_urls(), events)
        await self.replies_arrived(mark, prefix, 1, o.answers, within=30)
        await self.settle(dep, f"figure 3 run {rep + 1}")
        cpu = (dep.cpu_seconds() - cpu_before) / o.answers * 1000
        calls = await self.slack_calls(since=mark, method="chat.postMessage", prefix=prefix, threaded=1)
        sent = {s["key"]: s for s in result["sent"]}
        replies: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for call in calls:
            if call["outcome"] == "ok":
                replies[call["channel"]].append(call)
        latencies, lost, doubled, unmentioned = [], 0, 0, 0
        for i in range(o.answers):
            number = first + i
            got = replies.get(f"{prefix}{number:08d}", [])
            if not got:
                lost += 1
                continue
            doubled += len(got) > 1
            unmentioned += f"<@{user_prefix}{number:08d}>" not in got[0]["text"]
            latencies.append((got[0]["wall"] - sent[f"a{number}"]["wall"]) * 1000)
        # An answer and its redelivery: exactly one is stored and the other answered `duplicate`. With
        # several processes the redelivery, sent to another one, may be stored first when AskCall lags.
        redelivered = {s["key"][1:]: s for s in result["sent"] if s["key"].startswith("d")}
        dup_ok = sum(
            {s["problem"], sent["a" + number]["problem"]} == {None, "duplicate"} for number, s in redelivered.items()
        )
        duplicates = list(redelivered.values())
        bad = [
            s["problem"]
            for s in result["sent"]
            if s["key"].startswith("a")
            and s["problem"]
            and not (s["problem"] == "duplicate" and s["key"][1:] in redelivered)
        ]
        answered = await dep.db.scalar(
            "SELECT COUNT(*) FROM requests WHERE channel_id LIKE ? AND state = 'answered'", (prefix + "%",)
        )
        checks = [
            Check(
                f"figure 3{on} run {rep + 1}: one thread reply per answered request",
                lost == 0 and doubled == 0 and not bad,
                f"{o.answers} answers: {o.answers - lost} replied, {lost} lost, {doubled} doubled, "
                f"{len(bad)} webhooks refused {bad[:2] or ''}",
            ),
            Check(
                f"figure 3{on} run {rep + 1}: of each answer and its redelivery, one stored and one answered "
                "duplicate; no second reply",
                dup_ok == len(duplicates) and doubled == 0,
                f"{dup_ok}/{len(duplicates)} pairs",
            ),
            Check(
                f"figure 3{on} run {rep + 1}: replies mention the rep; requests marked answered",
                unmentioned == 0 and answered == o.answers,
                f"{unmentioned} without the mention; {answered}/{o.answers} answered in the DB",
            ),
        ]
        arrivals = [c["wall"] for calls_in in replies.values() for c in calls_in]
        first_sent = min(s["wall"] for s in result["sent"])
        throughput = len(arrivals) / (max(arrivals) - first_sent) if arrivals else 0.0
        offered = o.answers / result["seconds"] if result["seconds"] else 0.0
        say(
            f"  rep {rep + 1} AskCall p50 {percentile(latencies, 50):.2f} ms p99 {percentile(latencies, 99):.2f} ms "
            f"({len(events)} webhooks at {result['achieved_rate']:.0f}/s; answers offered at {offered:.0f}/s, "
            f"replied at {throughput:.0f}/s; "
            f"{lost} lost, {doubled} doubled)"
        )
        if rep not in self.relay_runs:  # one floor run per repetition, shared by every deployment
            self.relay_runs[rep] = await self.relay(rep)
        return latencies, self.relay_runs[rep], checks, throughput, offered, cpu

    async def relay(self, rep: int) -> list[float]:
        """The floor: the same pace against the relay server (verify, 200, one chat.postMessage)."""
        o = self.opts
        first = self.take_offset(AREA_RELAY, CUSTOMERS_PER_REP)
        timestamp = iso_timestamp()
        events: list[dict[str, Any]] = []
        for i in range(o.answers):
            sender = customer_e164(AREA_RELAY, first + i)[1:]
            events.append({"key": sender, "body": webhook_body(sender, STATUSES[i % 3], timestamp)})
        _, mark = await self.slack_count(method="-")
        result = await self.paced([self.floor_urls["relay"] + "/webhooks/pilot-status"], events)
        prefix = f"F55{AREA_RELAY}"
        await self.replies_arrived(mark, prefix, 0, o.answers, within=30)
        sent = {s["key"]: s["wall"] for s in result["sent"]}
        calls = await self.slack_calls(since=mark, method="chat.postMessage", prefix=prefix)
        latencies = [(c["wall"] - sent[c["channel"][1:]]) * 1000 for c in calls if c["channel"][1:] in sent]
        say(
            f"  rep {rep + 1} relay floor p50 {percentile(latencies, 50):.2f} ms p99 {percentile(latencies, 99):.2f} ms"
        )
        return latencies

    async def figure3(self, dep: Deployment) -> None:
        o = self.opts
        on = "" if dep is self.sqlite else f" ({dep.label})"
        say(f"figure 3{on}: webhook → thread reply at {o.answer_rate:g}/s, {o.answers} answers per run")
        per_run: list[tuple[float, float, float, float, float, float]] = []
        cpu_runs = []
        for rep in range(o.reps):
            latencies, floor, checks, throughput, offered, cpu = await self.figure3_rep(dep, rep)
            self.report.checks += checks
            cpu_runs.append(cpu)
            per_run.append(
                (
                    percentile(latencies, 50),
                    percentile(latencies, 99),
                    percentile(floor, 50),
                    percentile(floor, 99),
                    throughput,
                    offered,
                )
            )
            await self.settle(dep, f"figure 3 run {rep + 1}")
        self.cpu[f"figure 3 seeding (per command: ack, parent message, Pilot Status request){on}"] = median(
            self.seed_cpu[dep.label]
        )
        self.cpu[f"figure 3 (per answer: webhook, reply, parent update){on}"] = median(cpu_runs)
        p50, p99 = median([r[0] for r in per_run]), median([r[1] for r in per_run])
        floor50, floor99 = median([r[2] for r in per_run]), median([r[3] for r in per_run])
        label = "relay: verify+200+postMessage"
        suffix = f" — {dep.label}" if dep.postgres else ""
        self.report.rows.append(
            Row(
                "3",
                f"webhook → thread reply p50 @{o.answer_rate:g}/s{suffix}",
                p50,
                floor50,
                "ms",
                "≤ 10 ms",
                p50 <= 10,
                label,
            )
        )
        self.report.rows.append(
            Row(
                "3",
                f"webhook → thread reply p99 @{o.answer_rate:g}/s{suffix}",
                p99,
                floor99,
                "ms",
                "≤ 50 ms",
                p99 <= 50,
                label,
            )
        )
        table = [
            "| run | AskCall p50 | AskCall p99 | answers offered/s | AskCall replies/s | floor p50 | floor p99 |",
            "|---|---|---|---|---|---|---|",
            *[
                f"| {i + 1} | {a:.2f} ms | {b:.2f} ms | {f:.0f} | {t:.0f} | {c:.2f} ms | {d:.2f} ms |"
                for i, (a, b, c, d, t, f) in enumerate(per_run)
            ],
            "",
        ]
        if dep.postgres:
            self.report.details += [
                f"## Figure 3 on {dep.label}",
                "",
                f"As on SQLite, with the requests seeded and the answers sent round robin over {len(dep.replicas)} "
                "`askcall serve` process(es) on one fresh PostgreSQL database; each redelivery goes to another "
                "process than its original. The floor columns repeat the relay runs of the SQLite table.",
                "",
                *table,
            ]
            return
        self.report.details += [
            "## Figure 3 — webhook → thread reply latency",
            "",
            f"Per run: {o.answers} requests seeded through `/askcall` (no Pilot Status delay) and left waiting; then "
            f"one signed answer per customer sent open loop at {o.answer_rate:g} webhooks/s (statuses rotate "
            "TEMPORARY / PERMANENT / NO_PERMISSION, a quarter of the numbers without the 9th digit), plus "
            f"{o.duplicate_share:.0%} redeliveries of earlier answers. Latency = arrival of the thread reply's "
            "`chat.postMessage` at the fake Slack (its `time.time()`) − the load generator's `time.time()` just "
            "before sending the webhook. Answers offered/s = distinct answers ÷ sending time (redeliveries make "
            "up the rest of the webhooks); replies/s = replies ÷ (last reply − first webhook). Replies/s below "
            "answers offered/s means AskCall is saturated, and latency then grows with the length of the run. "
            "The floor relays each webhook straight to `chat.postMessage` (no store).",
            "",
            *table,
        ]

    # --- figure 4 -----------------------------------------------------------------------------
    async def figure4(self) -> None:
        o = self.opts
        say(f"figure 4: correlation lookup, {o.lookup_rows:,} stored requests, {o.lookups:,} lookups")
        db = self.work / "lookup.db"
        argv = [
            PYTHON,
            "-m",
            "bench.lookup",
            "--db",
            str(db),
            "--rows",
            str(o.lookup_rows),
            "--lookups",
            str(o.lookups),
        ]
        child = Child("lookup", argv, self.work / "lookup.log")
        await child.start(ready_line=False)
        r = await child.finish(within=1800)
        self.report.rows.append(
            Row(
                "4",
                f"correlation lookup p99, {o.lookup_rows:,} requests",
                r["p99_ms"],
                r["floor_p99_ms"],
                "ms",
                "≤ 1 ms",
                r["p99_ms"] <= 1.0,
                "same SQL via sqlite3",
            )
        )
        self.report.details += [
            "## Figure 4 — correlation lookup",
            "",
            f"`Store.find_request_for_answer` on a database with AskCall's schema (its own migrations) and "
            f"{r['rows']:,} requests from {r['customers']:,} customers over two years (10 % of the rows on 100 heavy "
            f"customers), built in {r['build_seconds']:.0f} s with one `executemany` transaction. {r['lookups']:,} "
            f"lookups: half answer a stored request, 40 % are today's answers from known customers, 10 % come "
            f"from unknown numbers; {r['hits']:,} found a request.",
            "",
            f"- Store (aiosqlite): p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms, max {r['max_ms']:.2f} ms",
            f"- the same statements through sqlite3: p50 {r['floor_p50_ms']:.3f} ms, p99 {r['floor_p99_ms']:.3f} ms",
            f"- query plan: `{r['plan']}`",
            "",
        ]

    # --- figure 5 -----------------------------------------------------------------------------
    def figure5(self) -> None:
        askcall = self.askcall.memory_kib()
        floor = self.floor_children["bolt-pbr"].memory_kib()
        peak, floor_peak = askcall["VmHWM"] * 1024 / 1e6, floor["VmHWM"] * 1024 / 1e6
        note = " (under pyinstrument)" if self.opts.profile else ""
        self.report.rows.append(
            Row(
                "5",
                f"peak RSS of AskCall during 1–3{note}",
                peak,
                floor_peak,
                "MB",
                "≤ 120 MB",
                peak <= 120,
                "Bolt pbr=True floor",
            )
        )
        others = [c for c in self.children if c.proc and c.proc.returncode is None]
        self.report.notes.append(
            "CPU seconds used over figures 1–3, to judge how much the rest of the bench competed with AskCall: "
            + ", ".join(f"{c.name} {c.cpu_seconds():.0f}" for c in [self.askcall, *others])
            + "."
        )
        self.report.notes.append(
            f"Figure 5 is VmHWM from /proc/<pid>/status after the last phase (MB = 10^6 bytes); AskCall's RSS "
            f"at that moment was {askcall['VmRSS'] * 1024 / 1e6:.1f} MB."
        )

    def cpu_details(self) -> None:
        if not self.cpu:
            return
        self.report.details += [
            "## AskCall CPU time per operation",
            "",
            "User + system CPU of the AskCall process(es) (all threads, /proc/<pid>/stat; summed over the "
            "processes of a deployment), from the start of a run until AskCall was idle again, divided by the "
            "operations of the run; medians of the runs. On one event loop this bounds what one process can "
            "sustain: 1000 ms ÷ CPU per operation.",
            "",
            "| operation | CPU | sustainable rate on one core |",
            "|---|---|---|",
            *[f"| {k} | {v:.2f} ms | {1000 / v:,.0f}/s |" for k, v in self.cpu.items() if v > 0],
            "",
        ]

    # --- all ----------------------------------------------------------------------------------
    async def run(self) -> None:
        phases = self.opts.phases
        if phases & {1, 2, 3, 5}:
            try:
                await self.start_servers()
                if self.opts.sqlite:
                    await self.run_sqlite(phases)
                if phases & {2, 3} and self.opts.postgres_replicas and await self.postgres_available():
                    for replicas in self.opts.postgres_replicas:
                        await self.run_postgres(replicas, phases)
            finally:
                await self.stop_servers()
                self.stop_checks()
            self.cpu_details()
        if 4 in phases:
            await self.figure4()

    async def run_sqlite(self, phases: frozenset[int]) -> None:
        self.sqlite = dep = await self.start_sqlite()
        async with dep.stack:
            if 1 in phases:
                await self.figure1()
            if 2 in phases:
                await self.figure2(dep)
            if 3 in phases:
                await self.figure3(dep)
            self.figure5()

    async def run_postgres(self, replicas: int, phases: frozenset[int]) -> None:
        dep = await self.start_postgres(replicas)
        async with dep.stack:  # stops the processes, then drops the database
            before, started = await checkpoints(self.opts.postgres_url), time.monotonic()
            if 2 in phases:
                await self.figure2(dep)
            if 3 in phases:
                await self.figure3(dep)
            ran = await checkpoints(self.opts.postgres_url) - before
        # The server is shared: other clients' CREATE/DROP DATABASE (a test suite's fresh database per
        # test) each force a checkpoint, which stalls every commit while it flushes.
        self.report.notes.append(
            f"{dep.label}: the PostgreSQL server ran {ran} checkpoints during figures 2–3 "
            f"({ran / (time.monotonic() - started):.1f}/s; dropping the floor's own database accounts for one)."
        )

    async def postgres_available(self) -> bool:
        """Whether the PostgreSQL server answers; a missing default server skips its rows (with a note),
        a server named with --postgres-url or ASKCALL_BENCH_POSTGRES_URL must answer."""
        try:
            self.postgres_version = await server_version(self.opts.postgres_url)
        except (OSError, TimeoutError, asyncpg.PostgresError) as error:
            reason = f"PostgreSQL at {redact_url(self.opts.postgres_url)} cannot be reached ({error})"
            if self.opts.postgres_url_given:
                raise BenchError(reason) from error
            say(f"{reason}: skipping the PostgreSQL rows")
            self.report.notes.append(f"{reason}: no PostgreSQL rows in this run (see --postgres-url).")
            return False
        return True

    def stop_checks(self) -> None:
        for name, code, log in self.stopped:
            self.report.checks.append(
                Check(f"{name} stops cleanly on SIGTERM", code == 0, f"exit code {code}; log {log}")
            )


def parameters(opts: Options) -> str:
    return (
        f"Parameters: {opts.reps} repetition(s); figure 1: {opts.ack_requests} commands at c=1, "
        f"{2 * opts.ack_requests} at c=16, fake Pilot Status delay {opts.pilot_delay:g} s; figure 2: "
        f"{opts.ingest_events:,} events; figure 3: {opts.answers} answers at {opts.answer_rate:g}/s with "
        f"{opts.duplicate_share:.0%} redeliveries; figure 4: {opts.lookup_rows:,} rows, {opts.lookups:,} lookups."
    )


async def run(opts: Options, command: str) -> int:
    work = opts.workdir or Path(tempfile.mkdtemp(prefix="askcall-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    info = machine()
    bench = Bench(opts, work)
    try:
        await bench.run()
    except BenchError as error:
        say(f"FAILED: {error}")
        say(f"logs kept in {work}")
        return 2
    bench.report.notes.insert(0, parameters(opts))
    if bench.postgres_version:
        info["postgresql"] = f"{bench.postgres_version} at {redact_url(opts.postgres_url)}"
    text = render(bench.report, info, command)
    print(text)
    if opts.results is not None:
        opts.results.write_text(text)
        say(f"results written to {opts.results}")
    if opts.keep or not bench.report.correct:
        say(f"workdir kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    if not bench.report.correct:
        say("correctness check(s) failed")
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    opts = parse_args(args)
    return asyncio.run(run(opts, shlex.join(["python", "-m", "bench", *args])))
