"""Issue 19's targets as rows of the results table (bench/figures/ack.py, bench/figures/replies.py): each row's
target and verdict follow from the numbers it is given, on SQLite and on PostgreSQL, and figure 3's rate grows with
the deployment's processes. No timing: the numbers are made up."""

from __future__ import annotations

import contextlib
from typing import Any

from bench.figures.ack import Runs, ack_rows
from bench.figures.replies import FLOOR_LABEL, rate_of, reply_rows
from bench.processes import Deployment
from bench.questions import WorkQuestions
from bench.report import Report, Row, cpu_row, render, table, targets_summary


def run(p50: float, p99: float) -> dict[str, Any]:
    return {"p50_ms": p50, "p99_ms": p99}


def runs(ack_c1: float, ack_c16_p99: float, *, pbr_c1: float = 1.0, default_c1: float = 11.0) -> Runs:
    """Three repetitions per server and load; the median is the middle one."""
    every: Runs = {}
    loads = {
        "askcall": {"1": (ack_c1, 9.0), "16": (20.0, ack_c16_p99), "20/s": (2.0, 4.0)},
        "bolt-pbr": {"1": (pbr_c1, 2.0), "16": (3.0, 7.0), "20/s": (1.5, 2.5)},
        "bolt-default": {"1": (default_c1, 12.0), "16": (12.0, 15.0)},
        "aiohttp": {"1": (0.4, 0.8), "16": (2.0, 5.0)},
    }
    for name, by_load in loads.items():
        for mode, (p50, p99) in by_load.items():
            every[name, mode] = [run(p50 + 5, p99 + 5), run(p50, p99), run(p50 - 0.1, p99 - 0.1)]
    return every


def by_label(rows: list[Row]) -> dict[str, Row]:
    return {r.label: r for r in rows}


def deployment(replicas: int) -> Deployment:
    label = f"PostgreSQL, {replicas} replica{'s' if replicas > 1 else ''}"
    children: list[Any] = [None] * replicas
    return Deployment(label, "postgresql", children, [], WorkQuestions(), contextlib.AsyncExitStack())


def test_sqlite_ack_rows_hold_c1_to_twice_bolt_pbr_and_c16_p99_to_100_ms() -> None:
    rows = by_label(ack_rows(runs(2.0, 100.0), "20/s", postgres=False))

    c1 = rows["ack p50, c=1 — vs Bolt pbr=True"]
    assert (c1.askcall, c1.floor, c1.target, c1.met) == (2.0, 1.0, "≤ 2×", True)
    default = rows["ack p50, c=1 — vs default Bolt"]
    assert (default.floor, default.target, default.met) == (11.0, "≤ 0.1×", False)
    tail = rows["ack p99, c=16 — vs Bolt pbr=True"]
    assert (tail.askcall, tail.floor, tail.target, tail.met) == (100.0, 7.0, "≤ 100 ms", True)
    assert rows["ack p50, open loop 20/s — vs Bolt pbr=True"].met is None  # context only


def test_ack_rows_miss_just_above_the_targets() -> None:
    rows = by_label(ack_rows(runs(2.01, 100.01), None, postgres=False))
    assert rows["ack p50, c=1 — vs Bolt pbr=True"].met is False
    assert rows["ack p99, c=16 — vs Bolt pbr=True"].met is False
    assert not any("open loop" in label for label in rows)  # not run: no row


def test_postgres_ack_rows_name_the_deployment_and_compare_with_the_shared_floors() -> None:
    rows = ack_rows(runs(3.0, 80.0, pbr_c1=1.0), "20/s", postgres=True, suffix=" — PostgreSQL, 1 replica")
    labelled = by_label(rows)

    assert all(r.label.endswith(" — PostgreSQL, 1 replica") for r in rows)
    assert not any("default Bolt" in r.label for r in rows)  # that target is SQLite's
    c1 = labelled["ack p50, c=1 — vs Bolt pbr=True — PostgreSQL, 1 replica"]
    assert (c1.ratio, c1.target, c1.met) == (3.0, "≤ 2×", False)
    tail = labelled["ack p99, c=16 — vs Bolt pbr=True — PostgreSQL, 1 replica"]
    assert (tail.askcall, tail.met) == (80.0, True)


def test_cpu_rows_have_no_floor_and_a_target_only_when_given() -> None:
    met = cpu_row("1", "CPU per command (ack + background work)", 3.0, 3.0)
    assert (met.askcall, met.floor, met.ratio, met.target, met.met) == (3.0, None, None, "≤ 3 ms", True)
    assert cpu_row("1", "CPU per command", 3.2, 3.0).met is False
    context = cpu_row("3", "CPU per answer, summed over 2 processes", 5.0, None)
    assert (context.target, context.met) == ("—", None)


def test_one_process_is_held_to_p50_p99_and_cpu_per_answer() -> None:
    p50, p99, cpu = reply_rows(100.0, " — PostgreSQL, 1 replica", 1, 9.0, 51.0, 1.0, 2.0, 1.5)

    assert p50.label == "webhook → thread reply p50 @100/s — PostgreSQL, 1 replica"
    assert (p50.target, p50.met, p50.floor_label) == ("≤ 10 ms", True, FLOOR_LABEL)
    assert (p99.target, p99.met) == ("≤ 50 ms", False)
    assert (cpu.label, cpu.askcall, cpu.target, cpu.met) == (
        "CPU per answer (webhook, reply, parent update) — PostgreSQL, 1 replica",
        1.5,
        "≤ 2 ms",
        True,
    )


def test_two_replicas_are_held_to_p99_at_their_rate_only() -> None:
    p50, p99, cpu = reply_rows(200.0, " — PostgreSQL, 2 replicas", 2, 30.0, 50.0, 1.0, 2.0, 4.0)

    assert p50.label == "webhook → thread reply p50 @200/s — PostgreSQL, 2 replicas"
    assert (p50.target, p50.met) == ("—", None)
    assert (p99.label, p99.target, p99.met) == (
        "webhook → thread reply p99 @200/s — PostgreSQL, 2 replicas",
        "≤ 50 ms",
        True,
    )
    assert cpu.met is None and cpu.label.endswith("summed over 2 processes")


def test_figure_3_offers_each_process_the_base_rate() -> None:
    assert rate_of(deployment(1), 100.0) == 100.0
    assert rate_of(deployment(2), 100.0) == 200.0


def test_the_table_groups_rows_by_figure_in_measured_order() -> None:
    rows = [
        Row("1", "ack, SQLite", 1.0, 1.0, "ms"),
        Row("3", "reply, SQLite", 1.0, 1.0, "ms"),
        Row("1", "ack, PostgreSQL", 1.0, 1.0, "ms"),
        Row("2", "ingest, PostgreSQL", 1.0, 1.0, "ev/s"),
    ]
    labels = [line.split(" | ")[1] for line in table(rows).splitlines()[2:]]
    assert labels == ["ack, SQLite", "ack, PostgreSQL", "ingest, PostgreSQL", "reply, SQLite"]


def test_the_summary_counts_the_targets_met_and_missed() -> None:
    rows = [
        cpu_row("3", "CPU per answer", 2.5, 2.0),
        cpu_row("1", "CPU per command", 2.5, 3.0),
        Row("1", "ack p99, c=1", 9.0, 1.0, "ms"),  # no target: not counted
        Row("1", "ack p99, c=16", 120.0, 7.0, "ms", "≤ 100 ms", False),
    ]
    assert targets_summary(rows) == "Targets met: 1 of 3; 2 missed (met? **no**)."
    report = Report(rows=rows[1:2])
    assert "Targets met: 1 of 1.\n" in render(report, {}, "python -m bench --quick")
