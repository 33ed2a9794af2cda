"""95 % confidence intervals of the figures the project reports: success rates and means over seeds or episodes."""

from __future__ import annotations

import statistics

from scipy import stats

CONFIDENCE = 0.95


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a success rate: unlike the normal approximation it stays inside [0, 1] and does
    not collapse to a point at 0/n or n/n, which small evaluations hit often."""
    if not 0 <= successes <= n or n < 1:
        raise ValueError(f"need 0 <= successes <= n and n >= 1, got {successes}/{n}")
    interval = stats.binomtest(successes, n).proportion_ci(confidence, method="wilson")
    return float(interval.low), float(interval.high)


def mean_interval(values: list[float], confidence: float = CONFIDENCE) -> tuple[float, tuple[float, float] | None]:
    """The mean of ``values`` and its Student-t interval (None for a single value, whose spread is unknown)."""
    mean = statistics.mean(values)
    if len(values) < 2:
        return mean, None
    if statistics.stdev(values) == 0:
        return mean, (mean, mean)
    low, high = stats.t.interval(confidence, len(values) - 1, loc=mean, scale=stats.sem(values))
    return mean, (float(low), float(high))
