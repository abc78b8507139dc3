"""Statistics for experiments, pure Python (no Django, no numpy).

Everything an experiment's results page needs: two-proportion z-test and
Welch's t-test with 95% intervals for the absolute and relative lift, the
Bayesian chance to beat control (Beta-binomial for rates, normal for means),
the sample-ratio-mismatch chi-square test and the sample size a plan needs.
The special functions (Student t, chi-square) are the textbook continued
fractions and series (Numerical Recipes §6.2, §6.4); tests check every figure
against scipy and statsmodels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

_NORMAL = NormalDist()
_EPS = 3e-16
_TINY = 1e-300


def normal_cdf(x: float) -> float:
    return _NORMAL.cdf(x)


def normal_ppf(p: float) -> float:
    return _NORMAL.inv_cdf(p)


# --- special functions ---------------------------------------------------------------


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction for the incomplete beta function (modified Lentz)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def gammaincc(a: float, x: float) -> float:
    """The regularized upper incomplete gamma function Q(a, x)."""
    if x <= 0.0:
        return 1.0
    log_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1.0:  # series for P(a, x)
        term = total = 1.0 / a
        ap = a
        for _ in range(10_000):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * _EPS:
                break
        return max(0.0, 1.0 - total * math.exp(log_front))
    b = x + 1.0 - a  # continued fraction for Q(a, x)
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = b + an / c
        c = c if abs(c) > _TINY else _TINY
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return math.exp(log_front) * h


def t_cdf(t: float, df: float) -> float:
    t2 = t * t
    # Near t = 0, x = df / (df + t²) is close to 1 and 1 - x loses its digits:
    # use the mirror I_x(a, b) = 1 - I_{1-x}(b, a) with 1 - x computed directly.
    if t2 < df:
        tail = 0.5 * (1.0 - betainc(0.5, df / 2.0, t2 / (df + t2)))
    else:
        tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t2))
    return 1.0 - tail if t > 0 else tail


def t_ppf(p: float, df: float) -> float:
    """Inverse of t_cdf by bisection (monotone, so it cannot miss)."""
    if not 0.0 < p < 1.0:
        raise ValueError("p must be in (0, 1)")
    lo, hi = -1.0, 1.0
    while t_cdf(lo, df) > p:
        lo *= 2.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12:
            break
    return (lo + hi) / 2.0


def chi2_sf(x: float, k: float) -> float:
    return gammaincc(k / 2.0, x / 2.0)


# --- tests and intervals ---------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """Variant against control: lift with 95% intervals and the test's p-value."""

    control: float  # rate or mean
    variant: float
    abs_lift: float
    abs_low: float
    abs_high: float
    rel_lift: float | None  # None when control is 0
    rel_low: float | None
    rel_high: float | None
    statistic: float
    p_value: float
    chance_to_beat: float

    @property
    def significant(self) -> bool:
        return self.p_value < 0.05

    def as_dict(self) -> dict[str, float | None]:
        return {
            "control": self.control,
            "variant": self.variant,
            "abs_lift": self.abs_lift,
            "abs_ci": [self.abs_low, self.abs_high],
            "rel_lift": self.rel_lift,
            "rel_ci": [self.rel_low, self.rel_high] if self.rel_low is not None else None,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "chance_to_beat": self.chance_to_beat,
        }


def two_proportion_ztest(c1: int, n1: int, c2: int, n2: int) -> tuple[float, float]:
    """Pooled two-sided z-test of p2 = p1 (statsmodels' proportions_ztest)."""
    if n1 <= 0 or n2 <= 0:
        return 0.0, 1.0
    pooled = (c1 + c2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0
    z = (c2 / n2 - c1 / n1) / se
    return z, 2 * normal_cdf(-abs(z))


def proportion_diff_ci(c1: int, n1: int, c2: int, n2: int, level: float = 0.95) -> tuple[float, float]:
    """Wald interval for p2 - p1 (unpooled)."""
    p1, p2 = c1 / n1, c2 / n2
    z = normal_ppf(0.5 + level / 2)
    half = z * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    return p2 - p1 - half, p2 - p1 + half


def proportion_ratio_ci(c1: int, n1: int, c2: int, n2: int, level: float = 0.95) -> tuple[float, float] | None:
    """Log interval for p2 / p1 (Katz); None when either side has no conversions."""
    if c1 == 0 or c2 == 0:
        return None
    p1, p2 = c1 / n1, c2 / n2
    z = normal_ppf(0.5 + level / 2)
    se = math.sqrt(1 / c1 - 1 / n1 + 1 / c2 - 1 / n2)
    log_ratio = math.log(p2 / p1)
    return math.exp(log_ratio - z * se), math.exp(log_ratio + z * se)


def welch_ttest(m1: float, v1: float, n1: int, m2: float, v2: float, n2: int) -> tuple[float, float, float]:
    """Welch's unequal-variance t-test of m2 = m1: (t, degrees of freedom, two-sided p)."""
    if n1 < 2 or n2 < 2:
        return 0.0, 1.0, 1.0
    s1, s2 = v1 / n1, v2 / n2
    se2 = s1 + s2
    if se2 == 0:
        return 0.0, float(n1 + n2 - 2), 1.0
    t = (m2 - m1) / math.sqrt(se2)
    df = se2 * se2 / (s1 * s1 / (n1 - 1) + s2 * s2 / (n2 - 1))
    return t, df, 2 * t_cdf(-abs(t), df)


def beta_chance_to_beat(a1: float, b1: float, a2: float, b2: float) -> float:
    """P(X2 > X1) for X1 ~ Beta(a1, b1), X2 ~ Beta(a2, b2), integer a's and b's.

    Evan Miller's closed form, a sum of a2 terms; the sum runs over the smaller
    side (P(X2 > X1) = 1 - P(X1 > X2)), and past 20,000 terms the normal
    approximation is exact to far more digits than we show."""

    def lbeta(x: float, y: float) -> float:
        return math.lgamma(x) + math.lgamma(y) - math.lgamma(x + y)

    def closed(a1: float, b1: float, a2: float, b2: float) -> float:
        base = lbeta(a1, b1)
        total = 0.0
        for i in range(int(a2)):
            total += math.exp(lbeta(a1 + i, b1 + b2) - math.log(b2 + i) - lbeta(1 + i, b2) - base)
        return min(1.0, max(0.0, total))

    if min(a1, a2) <= 20_000:
        return closed(a1, b1, a2, b2) if a2 <= a1 else 1.0 - closed(a2, b2, a1, b1)
    mean1, mean2 = a1 / (a1 + b1), a2 / (a2 + b2)
    var1 = a1 * b1 / ((a1 + b1) ** 2 * (a1 + b1 + 1))
    var2 = a2 * b2 / ((a2 + b2) ** 2 * (a2 + b2 + 1))
    return normal_cdf((mean2 - mean1) / math.sqrt(var1 + var2))


def compare_rates(c1: int, n1: int, c2: int, n2: int) -> Comparison:
    """Variant (c2 of n2) against control (c1 of n1)."""
    p1 = c1 / n1 if n1 else 0.0
    p2 = c2 / n2 if n2 else 0.0
    z, p = two_proportion_ztest(c1, n1, c2, n2)
    low, high = proportion_diff_ci(c1, n1, c2, n2) if n1 and n2 else (0.0, 0.0)
    ratio = proportion_ratio_ci(c1, n1, c2, n2) if n1 and n2 else None
    return Comparison(
        control=p1,
        variant=p2,
        abs_lift=p2 - p1,
        abs_low=low,
        abs_high=high,
        rel_lift=(p2 / p1 - 1) if p1 else None,
        rel_low=ratio[0] - 1 if ratio else None,
        rel_high=ratio[1] - 1 if ratio else None,
        statistic=z,
        p_value=p,
        # Uniform Beta(1, 1) prior.
        chance_to_beat=beta_chance_to_beat(c1 + 1, n1 - c1 + 1, c2 + 1, n2 - c2 + 1),
    )


def compare_means(m1: float, v1: float, n1: int, m2: float, v2: float, n2: int) -> Comparison:
    """Variant (mean m2, sample variance v2, n2 users) against control (m1, v1, n1)."""
    t, df, p = welch_ttest(m1, v1, n1, m2, v2, n2)
    diff = m2 - m1
    se = math.sqrt(v1 / n1 + v2 / n2) if n1 and n2 else 0.0
    half = t_ppf(0.975, df) * se if n1 >= 2 and n2 >= 2 else 0.0
    rel = rel_low = rel_high = None
    if m1 and m2 and n1 and n2:
        rel = m2 / m1 - 1
        # Delta method on the ratio of two independent means.
        ratio_se = abs(m2 / m1) * math.sqrt(v1 / (n1 * m1 * m1) + v2 / (n2 * m2 * m2))
        z = normal_ppf(0.975)
        rel_low, rel_high = rel - z * ratio_se, rel + z * ratio_se
    return Comparison(
        control=m1,
        variant=m2,
        abs_lift=diff,
        abs_low=diff - half,
        abs_high=diff + half,
        rel_lift=rel,
        rel_low=rel_low,
        rel_high=rel_high,
        statistic=t,
        p_value=p,
        # Flat prior: the posterior of the difference is normal around it.
        chance_to_beat=normal_cdf(diff / se) if se else 0.5,
    )


# --- sample ratio mismatch and planning ---------------------------------------------------

SRM_ALPHA = 0.001


@dataclass(frozen=True)
class SrmResult:
    chi2: float
    p_value: float
    expected: list[float]

    @property
    def mismatch(self) -> bool:
        return self.p_value < SRM_ALPHA


def srm_check(observed: Sequence[int], weights: Sequence[float]) -> SrmResult:
    """Pearson chi-square of the observed split against the planned weights."""
    total = sum(observed)
    weight_sum = sum(weights)
    if total == 0 or weight_sum <= 0 or len(observed) < 2:
        return SrmResult(0.0, 1.0, [0.0 for _ in observed])
    expected = [total * w / weight_sum for w in weights]
    chi2 = sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True) if e > 0)
    return SrmResult(chi2, chi2_sf(chi2, len(observed) - 1), expected)


def sample_size_rates(baseline: float, mde_relative: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Users per variant to detect a relative change in a rate (Cohen's h, two-sided)."""
    target = min(max(baseline * (1 + mde_relative), 1e-9), 1 - 1e-9)
    baseline = min(max(baseline, 1e-9), 1 - 1e-9)
    h = abs(2 * math.asin(math.sqrt(target)) - 2 * math.asin(math.sqrt(baseline)))
    if h == 0:
        return 0
    return math.ceil(2 * ((normal_ppf(1 - alpha / 2) + normal_ppf(power)) / h) ** 2)


def sample_size_means(
    baseline_mean: float, std: float, mde_relative: float, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Users per variant to detect a relative change in a mean (normal approximation)."""
    delta = abs(baseline_mean * mde_relative)
    if delta == 0 or std <= 0:
        return 0
    return math.ceil(2 * ((normal_ppf(1 - alpha / 2) + normal_ppf(power)) * std / delta) ** 2)


def mean_variance(total: float, total_sq: float, n: int) -> tuple[float, float]:
    """Mean and sample variance from a count, a sum and a sum of squares."""
    if n == 0:
        return 0.0, 0.0
    mean = total / n
    if n < 2:
        return mean, 0.0
    return mean, max(0.0, (total_sq - n * mean * mean) / (n - 1))
