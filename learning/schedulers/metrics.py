"""How well a scheduler predicts recall, the way the open srs-benchmark
(open-spaced-repetition/srs-benchmark) scores schedulers. Pure Python.

Each scored review is a `Prediction`: whether the student recalled the card
(`y`, 1 unless they pressed Again), the predicted probability `p`, the days
since the previous review, the review's number in the card's history and the
lapses before it.

- log loss: the mean of −(y·ln p + (1−y)·ln(1−p)), p clipped to [1e-6, 1−1e-6];
- RMSE (bins): reviews are grouped by binned days since the last review,
  binned review number and binned lapse count (srs-benchmark's geometric
  bins); the RMSE between each group's mean recall and mean prediction,
  weighted by the group's size;
- calibration: mean predicted vs actual recall in ten bins of prediction.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

EPSILON = 1e-6


@dataclass(frozen=True)
class Prediction:
    y: int
    p: float
    delta_t: float  # days since the previous review (> 0)
    i: int  # 1-based number of this review in the card's history
    lapses: int  # Again answers on earlier days before this review


def log_loss(predictions: Sequence[Prediction]) -> float:
    if not predictions:
        return math.nan
    total = 0.0
    for pred in predictions:
        p = min(1 - EPSILON, max(EPSILON, pred.p))
        total -= pred.y * math.log(p) + (1 - pred.y) * math.log(1 - p)
    return total / len(predictions)


def _geometric_bin(value: float, scale: float, base: float, digits: int) -> float:
    return round(scale * base ** math.floor(math.log(value) / math.log(base)), digits)


def bin_key(pred: Prediction) -> tuple[float, float, float]:
    """srs-benchmark's bins: days 2.48·3.62^k, review number 1.99·1.89^k,
    lapses 1.65·1.73^k (0 stays 0)."""
    return (
        _geometric_bin(pred.delta_t, 2.48, 3.62, 2),
        _geometric_bin(pred.i, 1.99, 1.89, 0),
        _geometric_bin(pred.lapses, 1.65, 1.73, 0) if pred.lapses else 0.0,
    )


def rmse_bins(predictions: Iterable[Prediction]) -> float:
    groups: dict[tuple[float, float, float], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for pred in predictions:
        group = groups[bin_key(pred)]
        group[0] += pred.y
        group[1] += pred.p
        group[2] += 1
    if not groups:
        return math.nan
    weight = sum(g[2] for g in groups.values())
    squared = sum(g[2] * (g[0] / g[2] - g[1] / g[2]) ** 2 for g in groups.values())
    return math.sqrt(squared / weight)


@dataclass(frozen=True)
class CalibrationBin:
    low: float
    high: float
    count: int
    predicted: float | None
    actual: float | None


def calibration(predictions: Iterable[Prediction], bins: int = 10) -> list[CalibrationBin]:
    sums = [[0.0, 0.0, 0] for _ in range(bins)]
    for pred in predictions:
        k = min(bins - 1, max(0, int(pred.p * bins)))
        sums[k][0] += pred.p
        sums[k][1] += pred.y
        sums[k][2] += 1
    out = []
    for k, (p_sum, y_sum, n) in enumerate(sums):
        out.append(
            CalibrationBin(
                low=k / bins,
                high=(k + 1) / bins,
                count=n,
                predicted=p_sum / n if n else None,
                actual=y_sum / n if n else None,
            )
        )
    return out
