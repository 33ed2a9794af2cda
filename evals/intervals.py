"""95 % confidence intervals of the figures the project reports: success rates and means over seeds or episodes."""

from __future__ import annotations

import math
import statistics

from scipy import stats

CONFIDENCE = 0.95


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a success rate: unlike the normal approximation it stays inside [0, 1] and does
    not collapse to a point at 0/n or n/n, which small evaluations hit often."""
    if not 0 <= successes <= n or n < 1:
        raise ValueError(f"need 0 <= successes <= n and n >= 1, got {successes}/{n}")
    z = float(stats.norm.ppf((1 + confidence) / 2))
    p = successes / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


def mean_interval(values: list[float], confidence: float = CONFIDENCE) -> tuple[float, tuple[float, float] | None]:
    """The mean of ``values`` and its Student-t interval (None for a single value, whose spread is unknown)."""
    mean = statistics.mean(values)
    if len(values) < 2:
        return mean, None
    t = float(stats.t.ppf((1 + confidence) / 2, len(values) - 1))
    half = t * statistics.stdev(values) / math.sqrt(len(values))
    return mean, (mean - half, mean + half)
