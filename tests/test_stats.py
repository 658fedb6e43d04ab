"""lamport.stats: one percentile and one confidence interval for every figure."""

from __future__ import annotations

import math

import hypothesis.strategies as st
import numpy as np
import pandas as pd
import pytest
from hypothesis import given

from lamport.stats import (
    ci_half_width,
    mean_ci,
    percentile,
    percentile_rank,
    percentiles,
    t_quantile_975,
)

finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False)


def test_percentile_interpolates_between_ranks():
    values = [4, 1, 3, 2]  # sorted 1 2 3 4, ranks 0..3
    assert percentile(values, 0) == 1
    assert percentile(values, 100) == 4
    assert percentile(values, 50) == 2.5  # rank 1.5
    assert percentile(values, 99) == pytest.approx(3.97)  # rank 2.97
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError, match="outside"):
        percentile(values, 101)


def test_percentiles_names_its_keys():
    assert percentiles(range(101)) == {"p50": 50, "p99": 99, "max": 100}
    assert percentiles([1, 2], (5,)) == {"p5": pytest.approx(1.05)}


@given(st.lists(finite, min_size=1, max_size=50), st.floats(min_value=0, max_value=100))
def test_percentile_is_numpys_linear_definition(values, q):
    ours = percentile(values, q)
    assert min(values) <= ours <= max(values)
    assert ours == pytest.approx(float(np.percentile(values, q)), rel=1e-9, abs=1e-6)


@given(st.lists(finite, min_size=1, max_size=30), st.floats(0, 100), st.floats(0, 100))
def test_percentile_is_monotone_in_q(values, a, b):
    low, high = sorted((a, b))
    assert percentile(values, low) <= percentile(values, high)


def test_t_quantiles_match_the_table_and_approach_the_normal():
    assert t_quantile_975(1) == 12.7062
    # exact values: 2.306004 (8), 2.262157 (9), 2.085963 (20), 2.042272 (30)
    for df, exact in ((8, 2.306004), (9, 2.262157), (20, 2.085963), (30, 2.042272)):
        assert t_quantile_975(df) == pytest.approx(exact, abs=3e-5)
    assert t_quantile_975(10**6) == pytest.approx(1.95996, abs=1e-4)
    with pytest.raises(ValueError):
        t_quantile_975(0)


def test_mean_ci_by_hand():
    mean, half = mean_ci([1.0, 2.0, 3.0])  # s = 1, n = 3, t(2) = 4.3027
    assert mean == 2.0
    assert half == pytest.approx(4.3027 / math.sqrt(3))
    assert mean_ci([5.0])[0] == 5.0 and math.isnan(mean_ci([5.0])[1])
    assert all(math.isnan(x) for x in mean_ci([]))


def test_ci_half_width_is_the_same_for_numbers_and_series():
    std = pd.Series([1.0, 2.0, 0.5], index=[10, 11, 12])
    n = pd.Series([3, 1, 100], index=[10, 11, 12])
    half = ci_half_width(std, n)
    assert list(half.index) == [10, 11, 12]
    assert half[10] == ci_half_width(1.0, 3) == mean_ci([1.0, 2.0, 3.0])[1]
    assert math.isnan(half[11])
    assert half[12] == pytest.approx(t_quantile_975(99) * 0.5 / 10)


def test_percentile_rank_counts_ties_half():
    values = [1, 2, 2, 3, 10]
    assert percentile_rank(values, 0) == 0 and percentile_rank(values, 11) == 100
    assert percentile_rank(values, 2) == 40  # one below, two equal: (1 + 1) / 5
    assert percentile_rank(values, 2.5) == 60
    with pytest.raises(ValueError, match="no values"):
        percentile_rank([], 1)
