"""Figure 4: correlation lookup, `Store.find_request_for_answer` p99 on a database of `--lookup-rows` requests.

The work runs in its own process (bench/lookup.py), after the servers have stopped: AskCall's schema
from its own migrations, rows bulk-inserted in one transaction (customers over two years, 100 heavy
ones), `--lookups` random lookups through the Store (aiosqlite). Floor: the very statements the Store
ran, through the sqlite3 module. Read-only measurement: no correctness check of its own; the bench
exits 2 if the process fails.
"""

from __future__ import annotations

from pathlib import Path

from bench.common import say
from bench.context import Options
from bench.processes import PYTHON, run_once
from bench.report import Report, Row


class CorrelationLookup:
    """Figure 4; needs no server, only the options, the workdir and the report."""

    def __init__(self, opts: Options, work: Path, report: Report) -> None:
        self.opts = opts
        self.work = work
        self.report = report

    async def measure(self) -> None:
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
        r = await run_once(self.work, "lookup", argv, within=1800)
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
