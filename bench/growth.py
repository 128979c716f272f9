"""Does a quantity sampled over a soak keep growing? A leak test that warm-up and noise do not trip.

A series "keeps growing" when the second half of the samples still rises, along a robust line, by more
than both an absolute tolerance and three times the series' own noise over that half. Robust: the line is
Theil–Sen (the median of the slopes between every pair of samples), so a few spikes (a GC pause, a burst
of deliveries) neither make nor hide a trend, and the noise is the median absolute deviation around that
line. Only the second half decides: a process that grows while its caches and pools fill and then levels
off passes; one that still grows at the end, at whatever rate, fails. The first half's slope is reported
next to it, to tell a steady leak (the same slope in both halves) from a warm-up still going on.

Pure functions of the samples handed in; fewer than `MIN_POINTS` samples are not enough to say (never
"growing").
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

MIN_POINTS = 8
MAD_TO_SIGMA = 1.4826  # the MAD of normally distributed noise times this is its standard deviation


@dataclass(frozen=True)
class Growth:
    """The verdict on one series, and what it rests on (units of the series, per second for slopes)."""

    growing: bool
    first_slope: float
    last_slope: float
    rise: float  # the second half's slope times its duration
    noise: float  # robust standard deviation of the second half around its line
    threshold: float  # what `rise` had to exceed: max(tolerance, 3 × noise)

    def describe(self, unit: str) -> str:
        return (
            f"rose {self.rise:+.1f} {unit} over the second half (limit {self.threshold:.1f} {unit}: the tolerance "
            f"or 3× its noise of {self.noise:.1f} {unit}); slope {self.first_slope * 60:+.2f} {unit}/min in the "
            f"first half, {self.last_slope * 60:+.2f} {unit}/min in the second"
        )


def theil_sen(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """(slope, intercept) of the Theil–Sen line through `points` (time, value): robust to outliers."""
    slopes = [(y2 - y1) / (x2 - x1) for i, (x1, y1) in enumerate(points) for x2, y2 in points[i + 1 :] if x2 != x1]
    slope = statistics.median(slopes) if slopes else 0.0
    intercept = statistics.median([y - slope * x for x, y in points]) if points else 0.0
    return slope, intercept


def keeps_growing(points: Sequence[tuple[float, float]], tolerance: float) -> Growth:
    """Whether the series `points` (time in seconds, value), in time order, still grows in its second half
    by more than `tolerance` (its unit) and more than three times its noise there."""
    if len(points) < MIN_POINTS:
        return Growth(False, 0.0, 0.0, 0.0, 0.0, tolerance)
    middle = len(points) // 2
    first, last = points[:middle], points[middle:]
    first_slope, _ = theil_sen(first)
    last_slope, intercept = theil_sen(last)
    residuals = [y - (intercept + last_slope * x) for x, y in last]
    center = statistics.median(residuals)
    noise = MAD_TO_SIGMA * statistics.median([abs(r - center) for r in residuals])
    rise = last_slope * (last[-1][0] - last[0][0])
    threshold = max(tolerance, 3 * noise)
    return Growth(rise > threshold, first_slope, last_slope, rise, noise, threshold)
