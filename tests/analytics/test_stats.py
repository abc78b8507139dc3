"""analytics/stats.py against scipy and statsmodels (STYLE rule 14), fixed seeds."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from scipy import integrate
from scipy import stats as sps
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from analytics import stats

pytestmark = pytest.mark.django_db(False)  # pure module: no database


CASES = [(120, 1000, 150, 1000), (30, 400, 28, 380), (5000, 50000, 5150, 50000), (1, 20, 4, 25)]


@pytest.mark.parametrize(("c1", "n1", "c2", "n2"), CASES)
def test_z_test_and_intervals_match_statsmodels(c1: int, n1: int, c2: int, n2: int) -> None:
    result = stats.compare_rates(c1, n1, c2, n2)
    z, p = proportions_ztest([c2, c1], [n2, n1])
    assert result.statistic == pytest.approx(z, rel=1e-9)
    assert result.p_value == pytest.approx(p, rel=1e-7, abs=1e-12)
    low, high = confint_proportions_2indep(c2, n2, c1, n1, method="wald", compare="diff")
    assert (result.abs_low, result.abs_high) == (pytest.approx(low, abs=1e-10), pytest.approx(high, abs=1e-10))
    low, high = confint_proportions_2indep(c2, n2, c1, n1, method="log", compare="ratio")
    assert result.rel_low == pytest.approx(low - 1, abs=1e-9)
    assert result.rel_high == pytest.approx(high - 1, abs=1e-9)


def test_welch_matches_scipy_on_random_samples() -> None:
    rng = random.Random(7)
    for _ in range(20):
        a = [rng.gauss(3.0, 1.5) for _ in range(rng.randint(3, 300))]
        b = [rng.gauss(3.2, 2.5) for _ in range(rng.randint(3, 300))]
        m1, v1 = float(np.mean(a)), float(np.var(a, ddof=1))
        m2, v2 = float(np.mean(b)), float(np.var(b, ddof=1))
        result = stats.compare_means(m1, v1, len(a), m2, v2, len(b))
        ref = sps.ttest_ind(b, a, equal_var=False)
        assert result.statistic == pytest.approx(ref.statistic, rel=1e-9)
        assert result.p_value == pytest.approx(ref.pvalue, rel=1e-7)
        ci = ref.confidence_interval(0.95)
        assert result.abs_low == pytest.approx(ci.low, rel=1e-7)
        assert result.abs_high == pytest.approx(ci.high, rel=1e-7)


def test_special_functions_match_scipy() -> None:
    for df in (1, 2.5, 7, 30, 400):
        for t in (-6, -1.3, 0, 0.4, 2.2, 9):
            assert stats.t_cdf(t, df) == pytest.approx(sps.t.cdf(t, df), rel=1e-9, abs=1e-14)
        for p in (0.025, 0.5, 0.975, 0.999):
            assert stats.t_ppf(p, df) == pytest.approx(sps.t.ppf(p, df), rel=1e-8, abs=1e-7)
    for k in (1, 2, 3, 9):
        for x in (0.01, 1, 5, 20, 60):
            assert stats.chi2_sf(x, k) == pytest.approx(sps.chi2.sf(x, k), rel=1e-8, abs=1e-15)


@pytest.mark.parametrize(("c1", "n1", "c2", "n2"), [(40, 400, 55, 400), (3, 50, 2, 60), (900, 10000, 960, 10000)])
def test_chance_to_beat_matches_integration_and_a_seeded_simulation(c1: int, n1: int, c2: int, n2: int) -> None:
    got = stats.compare_rates(c1, n1, c2, n2).chance_to_beat
    a1, b1, a2, b2 = c1 + 1, n1 - c1 + 1, c2 + 1, n2 - c2 + 1
    exact, _ = integrate.quad(lambda x: sps.beta.pdf(x, a2, b2) * sps.beta.cdf(x, a1, b1), 0, 1, limit=200)
    assert got == pytest.approx(exact, abs=1e-6)
    rng = np.random.default_rng(12)
    draws = 400_000
    simulated = float(np.mean(rng.beta(a2, b2, draws) > rng.beta(a1, b1, draws)))
    assert got == pytest.approx(simulated, abs=0.003)  # 3 sd of a 400k-draw estimate


def test_chance_to_beat_normal_branch_for_huge_counts() -> None:
    got = stats.beta_chance_to_beat(30001, 70001, 30301, 69701)
    rng = np.random.default_rng(3)
    simulated = float(np.mean(rng.beta(30301, 69701, 400_000) > rng.beta(30001, 70001, 400_000)))
    assert got == pytest.approx(simulated, abs=0.003)


def test_srm_matches_scipy_chisquare_and_flags_a_skewed_split() -> None:
    balanced = stats.srm_check([5030, 4970], [50, 50])
    ref = sps.chisquare([5030, 4970], [5000, 5000])
    assert balanced.chi2 == pytest.approx(ref.statistic)
    assert balanced.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert not balanced.mismatch
    skewed = stats.srm_check([5200, 4800], [50, 50])
    assert skewed.p_value == pytest.approx(sps.chisquare([5200, 4800]).pvalue, rel=1e-9)
    assert skewed.mismatch
    three = stats.srm_check([810, 95, 95], [80, 10, 10])
    assert three.p_value == pytest.approx(sps.chisquare([810, 95, 95], [800, 100, 100]).pvalue, rel=1e-9)


def test_sample_size_matches_statsmodels() -> None:
    for baseline, mde in ((0.1, 0.1), (0.3, 0.05), (0.85, 0.02)):
        target = baseline * (1 + mde)
        h = 2 * math.asin(math.sqrt(target)) - 2 * math.asin(math.sqrt(baseline))
        ref = NormalIndPower().solve_power(effect_size=h, alpha=0.05, power=0.8, ratio=1.0)
        assert stats.sample_size_rates(baseline, mde) == pytest.approx(math.ceil(ref), abs=1)
    ref = NormalIndPower().solve_power(effect_size=0.1 * 4 / 2, alpha=0.05, power=0.8, ratio=1.0)
    assert stats.sample_size_means(4, 2, 0.1) == pytest.approx(math.ceil(ref), abs=1)


def test_no_data_gives_no_verdict_rather_than_an_error() -> None:
    result = stats.compare_rates(0, 0, 0, 0)
    assert result.p_value == 1.0 and result.rel_lift is None
    assert stats.compare_means(0, 0, 0, 0, 0, 0).p_value == 1.0
    assert not stats.srm_check([0, 0], [50, 50]).mismatch


def test_pure_module_has_no_django_import() -> None:
    with open(stats.__file__) as f:
        source = f.read()
    assert "django" not in source.lower().replace("no django", "")
