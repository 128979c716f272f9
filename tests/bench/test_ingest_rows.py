"""Figure 2's rows on PostgreSQL (bench/figures/ingest.py): the target is against the fair floor, the no-HTTP floor
stays as context, and two replicas are compared with one."""

from __future__ import annotations

import contextlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench.figures.ingest import FAIR_FLOOR, OLD_FLOOR, Ingest
from bench.processes import Deployment
from bench.questions import WorkQuestions
from bench.report import Report


def deployment(replicas: int) -> Deployment:
    label = f"PostgreSQL, {replicas} replica{'s' if replicas > 1 else ''}"
    children: list[Any] = [None] * replicas
    return Deployment(label, "postgresql", children, [], WorkQuestions(), contextlib.AsyncExitStack())


def figure(report: Report) -> Ingest:
    ctx: Any = SimpleNamespace(opts=SimpleNamespace(ingest_events=10_000), report=report, work=Path("."))
    return Ingest(ctx)


def test_one_replica_is_held_to_the_fair_floor_and_two_to_one() -> None:
    report = Report()
    ingest = figure(report)
    ingest.rows(deployment(1), 1_600.0, 9_000.0, [], 2_000.0)
    ingest.rows(deployment(2), 2_400.0, 9_000.0, [], 2_100.0)

    fair, context, fair2, context2, scale = report.rows
    assert (fair.askcall, fair.floor, fair.floor_label, fair.target, fair.met) == (
        1_600.0,
        2_000.0,
        FAIR_FLOOR,
        "≥ 0.8×",
        True,
    )
    assert (context.floor, context.floor_label, context.met) == (9_000.0, OLD_FLOOR, None)
    assert fair2.met is None and context2.met is None  # the 0.8× target is for one process
    assert (scale.askcall, scale.floor, scale.target, scale.met) == (2_400.0, 1_600.0, "≥ 1.6×", False)


def test_below_four_fifths_of_the_fair_floor_misses_the_target() -> None:
    report = Report()
    figure(report).rows(deployment(1), 1_599.0, 9_000.0, [], 2_000.0)
    assert report.rows[0].met is False
