"""Fixed-bucket duration histograms and the percentiles read from them.

No Django import: the middleware, the flush job and the read side all share
these few functions. Bucket upper bounds are in milliseconds; the last bucket
is open-ended. A percentile is located in its bucket exactly and then
interpolated linearly inside that bucket, so the reported value is never off by
more than the width of the bucket that holds the true value (see docs/ops.md).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence

BUCKETS_MS: tuple[float, ...] = (
    5,
    10,
    25,
    50,
    75,
    100,
    150,
    250,
    400,
    600,
    1000,
    1500,
    2500,
    4000,
    6000,
    10000,
    math.inf,
)


def bucket_index(duration_ms: float) -> int:
    """The first bucket whose upper bound is >= the duration."""
    return bisect.bisect_left(BUCKETS_MS, duration_ms)


def empty() -> list[int]:
    return [0] * len(BUCKETS_MS)


def merge(histograms: Iterable[Sequence[int]]) -> list[int]:
    total = empty()
    for hist in histograms:
        for i, count in enumerate(hist[: len(total)]):
            total[i] += count
    return total


def bucket_bounds(index: int) -> tuple[float, float]:
    lower = 0.0 if index == 0 else float(BUCKETS_MS[index - 1])
    return lower, float(BUCKETS_MS[index])


def percentile(hist: Sequence[int], q: float, *, low: float | None = None, high: float | None = None) -> float | None:
    """The q-quantile (0 < q <= 1) of the durations counted in `hist`.

    `low`/`high` are the observed minimum and maximum; they clamp the answer
    and give the open-ended last bucket an upper edge.
    """
    total = sum(hist)
    if total == 0:
        return None
    rank = q * total  # the rank-th smallest value, 1-based, fractional
    cumulative = 0
    for index, count in enumerate(hist):
        if count == 0:
            continue
        if cumulative + count >= rank:
            lower, upper = bucket_bounds(index)
            if math.isinf(upper):
                upper = high if high is not None else lower
            if low is not None:
                lower = max(lower, min(low, upper))
            if high is not None:
                upper = min(upper, max(high, lower))
            fraction = (rank - cumulative) / count
            return round(lower + (upper - lower) * fraction, 2)
        cumulative += count
    return high


def bucket_width_at(value_ms: float) -> float:
    """Width of the bucket holding `value_ms` (the precision of a percentile there)."""
    lower, upper = bucket_bounds(bucket_index(value_ms))
    return upper - lower
