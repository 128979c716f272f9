"""The bench's charts (bench/charts.py) and how the report embeds them: PNG files next to RESULTS.md, named from
their titles, drawn from the raw samples the figures keep; matplotlib stays out of the app."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.charts import cdf_points, render_report_charts, slug, windows
from bench.report import Report, render

PNG = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[2]


def test_slugs_are_file_names_and_tell_charts_apart() -> None:
    one = slug("Figure 2 — webhook response latency, PostgreSQL, 1 replica")
    two = slug("Figure 2 — webhook response latency, PostgreSQL, 2 replicas")
    assert one == "figure-2-webhook-response-latency-postgresql-1-replica"
    assert one != two
    assert re.fullmatch(r"[a-z0-9-]+", slug("Figure 3 — webhook → thread reply latency, SQLite @100/s"))


def test_the_cdf_is_sorted_and_ends_at_one() -> None:
    xs, ys = cdf_points([3.0, 1.0, 2.0, 2.0])
    assert xs == [1.0, 2.0, 2.0, 3.0]
    assert ys == [0.25, 0.5, 0.75, 1.0]


def test_windows_give_the_p99_of_each_window_that_has_samples() -> None:
    points = [(0.1, 1.0), (0.5, 3.0), (0.9, 2.0), (2.2, 50.0)]
    assert windows(points, 1.0) == [(0.5, pytest.approx(2.98)), (2.5, 50.0)]


def test_the_report_draws_every_chart_next_to_itself_and_embeds_it(tmp_path: Path) -> None:
    report = Report()
    chart = "Figure 2 — webhook response latency, SQLite"
    report.cdf(chart, "c=16", "AskCall", [5.0, 6.0, 7.0, 40.0])
    report.cdf(chart, "c=16", "AskCall", [0.0, 8.0])  # a second repetition; a failed request has no latency
    report.cdf(chart, "c=16", "bare aiohttp handler", [1.0, 1.5, 2.0])
    report.timelines["Figure 3 — reply latency over time, SQLite"] = {"run 1": [(0.0, 3.0), (0.5, 4.0), (1.2, 9.0)]}
    assert report.cdfs[chart]["c=16"]["AskCall"] == [5.0, 6.0, 7.0, 40.0, 0.0, 8.0]

    report.charts = render_report_charts(report.cdfs, report.timelines, tmp_path)

    assert [name for _, name in report.charts] == [
        "chart-figure-2-webhook-response-latency-sqlite.png",
        "chart-figure-3-reply-latency-over-time-sqlite.png",
    ]
    for _, name in report.charts:
        assert (tmp_path / name).read_bytes().startswith(PNG)
    text = render(report, {}, "python -m bench")
    assert f"![{chart}](chart-figure-2-webhook-response-latency-sqlite.png)" in text


def test_a_report_without_charts_has_no_charts_section() -> None:
    assert "## Charts" not in render(Report(), {}, "python -m bench --quick")


def test_the_app_never_imports_matplotlib() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "bot").rglob("*.py")
        if re.search(r"^\s*(import|from)\s+matplotlib", path.read_text(), re.MULTILINE)
    ]
    assert offenders == []
