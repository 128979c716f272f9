"""`python -m bench`: the options, the order the figures run in, the report and the exit status.

The `bench` process only orchestrates (bench/processes.py starts and stops every other process) and sits
idle while load runs. Order: the helpers (fakes, floors, load generator); AskCall on SQLite for figures
1, 2, 3 and 5; for each `--postgres-replicas` number, AskCall on a fresh PostgreSQL database for figure 1
(1 replica only; the floors' runs come from SQLite's), 2 and 3 (at N × `--answer-rate` with N replicas);
then, with every server stopped, figure 4. The table goes to stdout (and `--results`, with the
PNG charts of bench/charts.py next to it).

`--soak SECONDS` runs the soak instead (bench/soak.py): mixed load on PostgreSQL with 2 replicas, its
report to stdout and `--results` (default bench/SOAK.md); exit 1 also when RSS or the outbox keeps growing.

Exit status: 0 when every correctness check passed, 1 when one failed (a lost or doubled reply, a
refused webhook, an event stored twice, an AskCall process that did not exit 0 on SIGTERM…), 2 when the
bench itself could not run. A missed performance target never changes it.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import shlex
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import asyncpg

from bench.charts import render_report_charts
from bench.common import WORKSPACES, say
from bench.context import Context, Options
from bench.figures.ack import AckLatency
from bench.figures.correlation import CorrelationLookup
from bench.figures.ingest import Ingest
from bench.figures.memory import PeakMemory
from bench.figures.replies import Replies
from bench.processes import DEFAULT_ADMIN_URL, PYTHON, REPO, BenchError, Processes, Servers, make_workdir
from bench.questions import checkpoints, server_version
from bench.report import Check, Report, cpu_section, machine, python_speed_ns, render
from bench.soak import Soak, draw, growth_verdicts, reply_windows, soak_markdown
from bot.config import redact_url


def parse_args(argv: Sequence[str] | None) -> Options:
    """The command line as `Options`; the counts of a full run, or of `--quick`, unless given."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark AskCall against its floors (bare aiohttp, Bolt, aiosqlite) in one run.",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run (< ~60 s): 1 repetition, small counts")
    parser.add_argument("--reps", type=int, help="repetitions per measurement; medians are reported (default 3)")
    parser.add_argument("--ack-requests", type=int, help="figure 1: commands per run at c=1; c=16 sends 2x (500)")
    parser.add_argument(
        "--workspaces",
        type=int,
        default=WORKSPACES,
        help=f"figure 1's variant: installed workspaces in multi-workspace mode ({WORKSPACES:,}; 0 skips it)",
    )
    parser.add_argument("--ingest-events", type=int, help="figure 2: webhooks per repetition (10000)")
    parser.add_argument("--answers", type=int, help="figure 3: seeded requests answered per repetition (1000)")
    parser.add_argument(
        "--answer-rate",
        type=float,
        default=100.0,
        help="figure 3: webhooks per second per process; N replicas get N times it (100)",
    )
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
        help="PostgreSQL rows of figures 1 (1 replica), 2 and 3: how many `askcall serve` processes share the "
        "database, one deployment per number (default 1,2; 0 skips PostgreSQL)",
    )
    parser.add_argument(
        "--postgres-url",
        help="a PostgreSQL server's admin URL; the bench creates and drops its databases there "
        f"(default $ASKCALL_BENCH_POSTGRES_URL or {DEFAULT_ADMIN_URL})",
    )
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite deployment (and figure 5)")
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
    parser.add_argument(
        "--soak",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="instead of the figures: SECONDS of mixed load on PostgreSQL with 2 replicas, watched for growing RSS "
        "and outbox depth (exit 1 if either keeps growing); writes bench/SOAK.md unless --results",
    )
    parser.add_argument("--soak-rate", type=float, default=10.0, help="the soak's /askcall commands per second (10)")
    args = parser.parse_args(argv)

    def pick(value: int | None, full: int, quick: int) -> int:
        return value if value is not None else (quick if args.quick else full)

    phases = frozenset(int(p) for p in args.phases.split(",") if p.strip())
    if not phases <= {1, 2, 3, 4, 5}:
        parser.error("--phases takes figure numbers 1-5")
    default_results = REPO / "bench" / ("SOAK.md" if args.soak > 0 else "RESULTS.md")
    results = args.results if args.results is not None else (None if args.quick else default_results)
    replicas = tuple(sorted({int(r) for r in args.postgres_replicas.split(",") if r.strip() and int(r) > 0}))
    given = args.postgres_url or os.environ.get("ASKCALL_BENCH_POSTGRES_URL")
    return Options(
        quick=args.quick,
        reps=pick(args.reps, 3, 1),
        ack_requests=pick(args.ack_requests, 500, 100),
        workspaces=args.workspaces,
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
        soak=args.soak,
        soak_rate=args.soak_rate,
    )


def parameters(opts: Options) -> str:
    return (
        f"Parameters: {opts.reps} repetition(s); figure 1: {opts.ack_requests} commands at c=1, "
        f"{2 * opts.ack_requests} at c=16, fake Pilot Status delay {opts.pilot_delay:g} s; figure 2: "
        f"{opts.ingest_events:,} events; figure 3: {opts.answers} answers at {opts.answer_rate:g}/s per process with "
        f"{opts.duplicate_share:.0%} redeliveries; figure 4: {opts.lookup_rows:,} rows, {opts.lookups:,} lookups."
    )


async def postgres_available(opts: Options, report: Report) -> str:
    """The PostgreSQL server's version, or "" when the default server does not answer (its rows are
    left out, with a note); a server named with --postgres-url or ASKCALL_BENCH_POSTGRES_URL must answer."""
    try:
        return await server_version(opts.postgres_url)
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        reason = f"PostgreSQL at {redact_url(opts.postgres_url)} cannot be reached ({error})"
        if opts.postgres_url_given:
            raise BenchError(reason) from error
        say(f"{reason}: skipping the PostgreSQL rows")
        report.notes.append(f"{reason}: no PostgreSQL rows in this run (see --postgres-url).")
        return ""


async def on_deployments(opts: Options, processes: Processes, servers: Servers, report: Report) -> str:
    """Figures 1, 2, 3 and 5 on SQLite, 1 (1 replica), 2 and 3 on each PostgreSQL deployment; returns the
    PostgreSQL version ("" when not used)."""
    ctx = Context(opts, processes.work, servers, report)
    ingest, replies = Ingest(ctx), Replies(ctx)  # for every deployment: the relay floor runs once per repetition
    ack = AckLatency(ctx)  # keeps the one-workspace figure for the many-workspaces variant
    phases = opts.phases
    if opts.sqlite:
        dep = await processes.start_sqlite(servers)
        async with dep.stack:
            if 1 in phases:
                await ack.measure(dep)
            if 2 in phases:
                await ingest.measure(dep)
            if 3 in phases:
                await replies.measure(dep)
            PeakMemory(ctx).measure(dep)
        if 1 in phases and opts.workspaces > 0:
            dep = await processes.start_many_workspaces(servers, opts.workspaces)
            async with dep.stack:
                await ack.measure_many(dep, opts.workspaces)
    if not (phases & {1, 2, 3} and opts.postgres_replicas):
        return ""
    version = await postgres_available(opts, report)
    if not version:
        return ""
    for replicas in opts.postgres_replicas:
        dep = await processes.start_postgres(replicas, opts.postgres_url, servers)
        async with dep.stack:  # stops the processes, then drops the database
            before, started = await checkpoints(opts.postgres_url), time.monotonic()
            if 1 in phases and replicas == 1:
                await ack.measure(dep)
            if 2 in phases:
                await ingest.measure(dep)
            if 3 in phases:
                await replies.measure(dep)
            ran = await checkpoints(opts.postgres_url) - before
        # The server is shared: other clients' CREATE/DROP DATABASE (a test suite's fresh database per
        # test) each force a checkpoint, which stalls every commit while it flushes.
        report.notes.append(
            f"{dep.label}: the PostgreSQL server ran {ran} checkpoints during its figures "
            f"({ran / (time.monotonic() - started):.1f}/s; dropping the floor's own database accounts for one)."
        )
    return version


async def measure(opts: Options, work: Path, report: Report) -> str:
    """Every figure `opts.phases` asks for, into `report`; returns the PostgreSQL version ("" when not used)."""
    version = ""
    if opts.phases & {1, 2, 3, 5}:
        processes = Processes(work, opts.askcall_command, profile=opts.profile, note=report.notes.append)
        try:
            servers = await processes.start_servers()
            version = await on_deployments(opts, processes, servers, report)
        finally:
            await processes.stop()
            report.checks += [
                Check(f"{name} stops cleanly on SIGTERM", code == 0, f"exit code {code}; log {log}")
                for name, code, log in processes.stopped
            ]
        report.details += cpu_section(report.cpu)
    if 4 in opts.phases:
        await CorrelationLookup(opts, work, report).measure()
    return version


def draw_charts(report: Report, directory: Path) -> None:
    """The run's PNG charts next to the results file (the report embeds them); a note when matplotlib,
    from the `bench` extra, is missing."""
    if importlib.util.find_spec("matplotlib") is None:
        report.notes.append("No charts: matplotlib is missing (pip install -e '.[bench]').")
        return
    say(f"drawing the charts in {directory}")
    report.charts = render_report_charts(report.cdfs, report.timelines, directory)


async def run(opts: Options, command: str) -> int:
    work = make_workdir(opts.workdir)
    info = machine()
    report = Report()
    try:
        postgres_version = await measure(opts, work, report)
        info["python speed"] += f", {python_speed_ns():.0f} ns at the end"
    except BenchError as error:
        say(f"FAILED: {error}")
        say(f"logs kept in {work}")
        return 2
    report.notes.insert(0, parameters(opts))
    if opts.results is not None:
        draw_charts(report, opts.results.parent)
    if postgres_version:
        info["postgresql"] = f"{postgres_version} at {redact_url(opts.postgres_url)}"
    text = render(report, info, command)
    print(text)
    if opts.results is not None:
        opts.results.write_text(text)
        say(f"results written to {opts.results}")
    if opts.keep or not report.correct:
        say(f"workdir kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    if not report.correct:
        say("correctness check(s) failed")
        return 1
    return 0


async def soak(opts: Options, command: str) -> int:
    """`--soak SECONDS`: the mixed load on PostgreSQL with 2 replicas (bench/soak.py); 1 when a check failed
    or RSS or the outbox depth keeps growing, with a `soak FAILED: …` line for each reason."""
    work = make_workdir(opts.workdir)
    info = machine()
    report = Report()
    processes = Processes(work, opts.askcall_command, profile=opts.profile, note=report.notes.append)
    try:
        servers = await processes.start_servers()
        version = await postgres_available(opts, report)
        if not version:
            raise BenchError("the soak needs PostgreSQL (see --postgres-url)")
        info["postgresql"] = f"{version} at {redact_url(opts.postgres_url)}"
        webhooks = await processes.start_loadgen("loadgen-webhooks")
        dep = await processes.start_postgres(2, opts.postgres_url, servers)
        async with dep.stack:
            say(f"soak: {opts.soak:g} s of mixed load at {opts.soak_rate:g} commands/s on {dep.label}")
            soaking = Soak(opts, dep, servers, webhooks)
            await soaking.run()
            checks, latencies = await soaking.checks()
    except BenchError as error:
        say(f"FAILED: {error}")
        say(f"logs kept in {work}")
        return 2
    finally:
        await processes.stop()
    checks += [
        Check(f"{name} stops cleanly on SIGTERM", code == 0, f"exit code {code}; log {log}")
        for name, code, log in processes.stopped
    ]
    verdicts = growth_verdicts(soaking.samples)
    reply_p99 = reply_windows(latencies)
    chart = None
    if opts.results is not None and importlib.util.find_spec("matplotlib") is not None:
        opts.results.parent.mkdir(parents=True, exist_ok=True)
        chart = "chart-soak.png"
        draw(soaking, reply_p99, opts.results.parent / chart)
    soaking.notes += report.notes
    text = soak_markdown(command, info, soaking, checks, verdicts, reply_p99, chart)
    print(text)
    if opts.results is not None:
        opts.results.write_text(text)
        say(f"results written to {opts.results}")
    failures = [f"{c.name}: {c.detail}" for c in checks if not c.passed]
    failures += [f"{what} keeps growing: {g.describe(unit)}" for what, unit, g in verdicts if g.growing]
    for failure in failures:
        say(f"soak FAILED: {failure}")
    if opts.keep or failures:
        say(f"workdir kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    if not failures:
        say("soak passed: every check held, no RSS or outbox growth")
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    opts = parse_args(args)
    command = shlex.join(["python", "-m", "bench", *args])
    return asyncio.run(soak(opts, command) if opts.soak > 0 else run(opts, command))
