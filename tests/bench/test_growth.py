"""The soak's growth detector (bench/growth.py): a leak fails it, warm-up, noise and spikes do not."""

from __future__ import annotations

import random

import pytest

from bench.growth import MIN_POINTS, keeps_growing, theil_sen


def series(values: list[float], step: float = 5.0) -> list[tuple[float, float]]:
    return [(i * step, v) for i, v in enumerate(values)]


def noisy(level: float, count: int, spread: float, seed: int = 7) -> list[float]:
    rng = random.Random(seed)
    return [level + rng.uniform(-spread, spread) for _ in range(count)]


def test_theil_sen_finds_the_line_through_outliers() -> None:
    points = series([2.0 * i + 10 for i in range(20)], step=1.0)
    points[5] = (5.0, 500.0)  # a spike
    points[12] = (12.0, -300.0)
    slope, intercept = theil_sen(points)
    assert slope == pytest.approx(2.0)
    assert intercept == pytest.approx(10.0)


def test_a_steady_leak_keeps_growing() -> None:
    # 0.2 MB per 5 s sample, noise ±0.5 MB: +12 MB over the second half of 120 samples.
    values = [v + 0.2 * i for i, v in enumerate(noisy(80.0, 120, 0.5))]
    growth = keeps_growing(series(values), tolerance=5.0)
    assert growth.growing
    assert growth.rise == pytest.approx(0.2 / 5 * 295, rel=0.1)
    assert growth.first_slope == pytest.approx(growth.last_slope, rel=0.2)  # a leak: the same slope in both halves


def test_warm_up_that_levels_off_is_not_growth() -> None:
    warm = [60.0 + 20.0 * min(i, 55) / 55 for i in range(120)]  # grows for most of the first half, then flat
    values = [w + n for w, n in zip(warm, noisy(0.0, 120, 0.5), strict=True)]
    growth = keeps_growing(series(values), tolerance=5.0)
    assert not growth.growing
    assert growth.first_slope > 0.05 and abs(growth.last_slope) < 0.01


def test_spikes_on_a_flat_series_are_not_growth() -> None:
    values = noisy(3.0, 60, 2.0)
    for i in (35, 47, 55, 58):
        values[i] = 400.0  # bursts of deliveries near the end
    assert not keeps_growing(series(values), tolerance=20.0).growing


def test_growth_within_the_noise_or_the_tolerance_is_not_growth() -> None:
    within_tolerance = [80.0 + 0.01 * i for i in range(60)]  # +0.3 MB over the second half, tolerance 5 MB
    assert not keeps_growing(series(within_tolerance), tolerance=5.0).growing
    # +6 MB over the second half, but the series swings by ±20 MB: not beyond 3× its noise.
    rng = random.Random(3)
    within_noise = [80.0 + 0.2 * i + rng.gauss(0, 20) for i in range(60)]
    growth = keeps_growing(series(within_noise), tolerance=1.0)
    assert growth.threshold > 6.0 and not growth.growing


def test_an_outbox_that_fills_keeps_growing() -> None:
    values = [max(0.0, 10.0 * i - 50) for i in range(24)]  # a backlog building up at 2 deliveries a second
    growth = keeps_growing(series(values), tolerance=20.0)
    assert growth.growing
    assert "rose +" in growth.describe("deliveries")


def test_too_few_samples_say_nothing() -> None:
    values = [float(10 * i) for i in range(MIN_POINTS - 1)]
    growth = keeps_growing(series(values), tolerance=1.0)
    assert not growth.growing and growth.rise == 0.0
