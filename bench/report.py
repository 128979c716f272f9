"""The results table (stdout and bench/RESULTS.md) and the machine it was measured on."""

from __future__ import annotations

import datetime as dt
import math
import os
import platform
import sqlite3
import subprocess
import timeit
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

from bench.processes import REPO


@dataclass(frozen=True)
class Row:
    """One line of the results table. `ratio` is AskCall / floor; `met` None means no target."""

    figure: str
    label: str
    askcall: float | None
    floor: float | None
    unit: str
    target: str = "—"
    met: bool | None = None
    floor_label: str = ""

    @property
    def ratio(self) -> float | None:
        if self.askcall is None or not self.floor:
            return None
        return self.askcall / self.floor


def cpu_row(figure: str, label: str, cpu_ms: float, target_ms: float | None) -> Row:
    """A row for AskCall's CPU time per operation (no floor), held to `target_ms` when given."""
    if target_ms is None:
        return Row(figure, label, cpu_ms, None, "ms")
    return Row(figure, label, cpu_ms, None, "ms", f"≤ {target_ms:g} ms", cpu_ms <= target_ms)


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass
class Report:
    """Where every figure puts its results; `render` turns it into the markdown report."""

    rows: list[Row] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    details: list[str] = field(default_factory=list)  # markdown sections
    notes: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # AskCall CPU ms per operation, by figure (`cpu_section`)
    # The raw samples of the charts (bench/charts.py): latency CDFs, chart → panel → series → every latency (ms,
    # all repetitions); figure 3's reply latency over time, chart → series → (seconds since the run began, ms).
    cdfs: dict[str, dict[str, dict[str, list[float]]]] = field(default_factory=dict)
    timelines: dict[str, dict[str, list[tuple[float, float]]]] = field(default_factory=dict)
    charts: list[tuple[str, str]] = field(default_factory=list)  # (title, file name next to the report), rendered

    def cdf(self, chart: str, panel: str, series: str, values: list[float]) -> None:
        """Adds `values` (ms) to one series of a CDF chart (repetitions accumulate)."""
        self.cdfs.setdefault(chart, {}).setdefault(panel, {}).setdefault(series, []).extend(values)

    @property
    def correct(self) -> bool:
        return all(c.passed for c in self.checks)


def fmt(value: float | None, unit: str) -> str:
    if value is None or math.isnan(value):
        return "—"
    if unit == "ms":
        return f"{value:.2f} ms" if value < 100 else f"{value:.0f} ms"
    if unit == "ev/s":
        return f"{value:,.0f} ev/s"
    if unit == "MB":
        return f"{value:.1f} MB"
    return f"{value:g} {unit}"


def fmt_ratio(ratio: float | None) -> str:
    if ratio is None:
        return "—"
    return f"{ratio:.2f}×" if ratio < 10 else f"{ratio:.0f}×"


def verdict(met: bool | None) -> str:
    return "—" if met is None else ("yes" if met else "**no**")


def table(rows: list[Row]) -> str:
    """The figures table, grouped by figure number (each figure's rows in the order they were measured:
    SQLite, then each PostgreSQL deployment)."""
    lines = ["| # | figure | AskCall | floor | ratio | target | met? |", "|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda row: row.figure):
        floor = fmt(r.floor, r.unit) + (f" ({r.floor_label})" if r.floor_label and r.floor is not None else "")
        lines.append(
            f"| {r.figure} | {r.label} | {fmt(r.askcall, r.unit)} | {floor} | {fmt_ratio(r.ratio)} "
            f"| {r.target} | {verdict(r.met)} |"
        )
    return "\n".join(lines)


def targets_summary(rows: list[Row]) -> str:
    """How many of the rows' targets were met (the table marks each missed one **no**)."""
    held = [r for r in rows if r.met is not None]
    met = sum(1 for r in held if r.met)
    return f"Targets met: {met} of {len(held)}" + (
        f"; {len(held) - met} missed (met? **no**)." if met < len(held) else "."
    )


def checks_table(checks: list[Check]) -> str:
    lines = ["| check | passed? | detail |", "|---|---|---|"]
    lines += [f"| {c.name} | {'yes' if c.passed else '**NO**'} | {c.detail} |" for c in checks]
    return "\n".join(lines)


def cpu_section(cpu: dict[str, float]) -> list[str]:
    """The details section on AskCall's CPU time per operation (none when nothing was measured)."""
    if not cpu:
        return []
    return [
        "## AskCall CPU time per operation",
        "",
        "User + system CPU of the AskCall process(es) (all threads, /proc/<pid>/stat; summed over the "
        "processes of a deployment), from the start of a run until AskCall was idle again, divided by the "
        "operations of the run; medians of the runs. On one event loop this bounds what one process can "
        "sustain: 1000 ms ÷ CPU per operation.",
        "",
        "| operation | CPU | sustainable rate on one core |",
        "|---|---|---|",
        *[f"| {k} | {v:.2f} ms | {1000 / v:,.0f}/s |" for k, v in cpu.items() if v > 0],
        "",
    ]


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


SPEED_PROBE = "sum(range(100))"


def python_speed_ns() -> float:
    """This host's speed for pure Python now: the best of 5 timings of SPEED_PROBE, ns per run. Hosts (and one
    shared host over an hour) differ by tens of percent; the results say what the run met."""
    return min(timeit.repeat(SPEED_PROBE, number=100_000, repeat=5)) / 100_000 * 1e9


def machine() -> dict[str, str]:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines() if "model name" in line), ""
    )
    mem_kib = next(
        (int(line.split()[1]) for line in _read("/proc/meminfo").splitlines() if line.startswith("MemTotal")), 0
    )
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout
        dirty = subprocess.run(["git", "status", "--porcelain", "bot"], cwd=REPO, capture_output=True, text=True).stdout
        commit = head.strip() + (" + uncommitted changes in bot/" if dirty.strip() else "")
    except OSError:
        commit = "unknown"
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": f"{os.cpu_count()} ({cpu})" if cpu else str(os.cpu_count()),
        "memory": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{platform.system()} {platform.release()}",
        "sqlite": sqlite3.sqlite_version,
        "libraries": ", ".join(
            f"{p} {version(p)}" for p in ("aiohttp", "aiosqlite", "asyncpg", "slack-bolt", "slack-sdk")
        ),
        "askcall": commit,
        "python speed": f"{python_speed_ns():.0f} ns per `{SPEED_PROBE}` at the start (lower is faster)",
    }


def heading(title: str, command: str, info: dict[str, str]) -> list[str]:
    """A results file's first lines: its title, the command that made it and the machine it ran on."""
    return [
        f"# {title}",
        "",
        f"Command: `{command}`",
        "",
        "| machine | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in info.items()],
        "",
    ]


def render(report: Report, info: dict[str, str], command: str) -> str:
    lines = [
        *heading("AskCall benchmark results", command, info),
        "## Figures (medians of the repetitions)",
        "",
        table(report.rows),
        "",
        targets_summary(report.rows),
        "",
        "## Correctness under load",
        "",
        checks_table(report.checks),
        "",
    ]
    if report.notes:
        lines += ["## Notes", "", *[f"- {n}" for n in report.notes], ""]
    if report.charts:
        lines += ["## Charts", ""]
        lines += [f"### {title}\n\n![{title}]({name})\n" for title, name in report.charts]
    lines += report.details
    return "\n".join(lines).rstrip() + "\n"
