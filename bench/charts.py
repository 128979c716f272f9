"""The bench's PNG charts, drawn with matplotlib's Agg backend (no display) from the raw samples a run kept.

Latency CDFs of AskCall against its floors, one chart per figure and backend (`Report.cdfs`); figure 3's
reply latency over the run (`Report.timelines`); the soak's RSS, connections, outbox depth and p99 over
time (bench/soak.py). matplotlib comes with the `bench` extra only: the app never imports it, and this
module imports it only when it draws. Invariant: a chart is a pure function of the samples handed in;
each file name is derived from its title, so one run writes each chart once and RESULTS.md can embed it
by a path relative to itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import percentile

# Reply latency over time: the p99 is taken over windows of this many seconds (100 replies each at 100/s).
WINDOW_S = 1.0


def slug(title: str) -> str:
    """A file name for a chart: lowercase ASCII words joined by dashes, e.g. `figure-2-postgresql-1-replica`."""
    words = re.findall(r"[a-z0-9]+", title.lower().replace("=", "").replace("×", "x"))
    return "-".join(words)[:80] or "chart"


def cdf_points(values: Sequence[float]) -> tuple[list[float], list[float]]:
    """The empirical CDF of `values`: sorted values and the share of samples at or below each."""
    xs = sorted(values)
    n = len(xs)
    return xs, [(i + 1) / n for i in range(n)]


def windows(points: Sequence[tuple[float, float]], width: float) -> list[tuple[float, float]]:
    """(middle of the window, p99 of its values) for consecutive `width`-second windows that hold samples."""
    buckets: dict[int, list[float]] = {}
    for t, value in points:
        buckets.setdefault(int(t // width), []).append(value)
    return [((k + 0.5) * width, percentile(v, 99)) for k, v in sorted(buckets.items())]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def cdf_chart(title: str, panels: dict[str, dict[str, list[float]]], path: Path) -> None:
    """One panel per load, one line per server: the share of requests answered within x ms (log x)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 5.2), squeeze=False)
    for ax, (panel, series) in zip(axes[0], panels.items(), strict=True):
        for label, values in series.items():
            positive = [v for v in values if v > 0]
            if not positive:
                continue
            xs, ys = cdf_points(positive)
            p50, p99 = percentile(positive, 50), percentile(positive, 99)
            ax.step(xs, ys, where="post", label=f"{label} (p50 {p50:.2f}, p99 {p99:.2f} ms)")
        ax.set_xscale("log")
        ax.set_ylim(0, 1.01)
        ax.axhline(0.99, color="grey", linewidth=0.5, linestyle=":")
        ax.axhline(0.5, color="grey", linewidth=0.5, linestyle=":")
        ax.set_xlabel("latency, ms (log)")
        ax.set_ylabel("share of requests")
        ax.set_title(panel, fontsize=10)
        ax.grid(True, which="both", linewidth=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16))
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def timeline_chart(title: str, series: dict[str, list[tuple[float, float]]], path: Path) -> None:
    """Each reply's latency at the moment its webhook left, with the p99 of each 5-second window."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.8))
    for label, points in series.items():
        if not points:
            continue
        dots = ax.scatter([t for t, _ in points], [v for _, v in points], s=3, alpha=0.4, label=label)
        rolled = windows(points, WINDOW_S)
        ax.plot(
            [t for t, _ in rolled],
            [v for _, v in rolled],
            color=tuple(dots.get_facecolor()[0][:3]),  # the dots' colour, without their transparency
            linewidth=1.2,
            label=f"{label}: p99 per {WINDOW_S:g} s",
        )
    ax.set_yscale("log")
    ax.set_xlabel("seconds since the run's first webhook")
    ax.set_ylabel("webhook → thread reply, ms (log)")
    ax.grid(True, which="both", linewidth=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3)
    ax.set_title(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def lines_chart(title: str, panels: dict[str, tuple[str, dict[str, list[tuple[float, float]]]]], path: Path) -> None:
    """Stacked panels sharing the time axis: panel → (y-axis label, series → (seconds, value))."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 2.4 * len(panels)), sharex=True, squeeze=False)
    for ax, (panel, (unit, series)) in zip(axes[:, 0], panels.items(), strict=True):
        for label, points in series.items():
            ax.plot([t for t, _ in points], [v for _, v in points], linewidth=1, marker=".", markersize=3, label=label)
        ax.set_title(panel, fontsize=9)
        ax.set_ylabel(unit, fontsize=8)
        ax.grid(True, linewidth=0.3)
        if len(series) > 1:
            ax.legend(fontsize=7, loc="upper left")
    axes[-1, 0].set_xlabel("seconds since the soak began")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def render_report_charts(
    cdfs: dict[str, dict[str, dict[str, list[float]]]],
    timelines: dict[str, dict[str, list[tuple[float, float]]]],
    directory: Path,
) -> list[tuple[str, str]]:
    """Every chart of a run, as PNG files in `directory`; (title, file name) of each, in drawing order."""
    directory.mkdir(parents=True, exist_ok=True)
    drawn = []
    for title, panels in cdfs.items():
        name = f"chart-{slug(title)}.png"
        cdf_chart(title, panels, directory / name)
        drawn.append((title, name))
    for title, series in timelines.items():
        name = f"chart-{slug(title)}.png"
        timeline_chart(title, series, directory / name)
        drawn.append((title, name))
    return drawn
