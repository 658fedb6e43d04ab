"""The statistics lamport quotes, defined once.

Every summary, sweep table, report and benchmark takes its percentiles and
confidence intervals from here, so the same data always gives the same
figure wherever it is printed:

Percentile
    Linear interpolation between the closest ranks (Hyndman and Fan's
    definition 7, the default of numpy and pandas): with the values sorted as
    ``x[0] <= ... <= x[n-1]``, the q-th percentile lies at rank
    ``h = (n - 1) q / 100`` and is ``x[floor h] + (h - floor h) (x[floor h + 1] - x[floor h])``.
    The 0th percentile is the minimum, the 100th the maximum.

Percentile rank
    The inverse question, where a value stands among others: the share of
    the values below it plus half the share equal to it (the mid-rank), in
    percent.

Mean and confidence interval
    The sample mean and the half-width of its two-sided 95% confidence
    interval from Student's t: ``t(0.975, n - 1) s / sqrt(n)``, ``s`` the
    sample standard deviation (n - 1 in the denominator). One value has no
    interval: its half-width is NaN.

Plain Python on purpose: the real-time backend and the sweep workers use it
and must not pay for numpy or pandas. :func:`ci_half_width` also takes numpy
arrays and pandas Series, so vectorised analysis code shares the definition.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "ci_half_width",
    "mean_ci",
    "percentile",
    "percentile_rank",
    "percentiles",
    "t_quantile_975",
]

#: Exact 97.5% quantiles of Student's t for small degrees of freedom.
_T_TABLE = {1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764, 5: 2.5706, 6: 2.4469, 7: 2.3646}


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile (0 <= q <= 100) by linear interpolation; NaN if there are no values.

    Raise ValueError if q lies outside [0, 100].
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} outside [0, 100]")
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    value = ordered[low] + (rank - low) * (ordered[high] - ordered[low])
    # Clamped to its two ranks, so rounding can never break monotonicity in q.
    return min(max(value, ordered[low]), ordered[high])


def percentiles(values: Iterable[float], qs: Sequence[float] = (50, 99, 100)) -> dict[str, float]:
    """Several percentiles of one sample, keyed ``p50``, ``p99``, ``max`` (for q = 100)."""
    ordered = sorted(values)
    return {("max" if q == 100 else f"p{q:g}"): percentile(ordered, q) for q in qs}


def percentile_rank(values: Sequence[float], x: float) -> float:
    """Where ``x`` stands among ``values``, in percent: the share below it plus half the
    share equal to it. Raise ValueError if there are no values."""
    if not values:
        raise ValueError("percentile rank among no values")
    below = sum(v < x for v in values)
    equal = sum(v == x for v in values)
    return 100 * (below + equal / 2) / len(values)


def t_quantile_975(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` >= 1 degrees of freedom.

    Table values (to four places) for df <= 7, then the Cornish-Fisher
    expansion around the normal quantile to the fourth order, within 3e-5 of
    the exact value from df = 8 on.
    """
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df in _T_TABLE:
        return _T_TABLE[df]
    z = 1.959963984540054
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def _half_width(std: float, n: int) -> float:
    if n < 2 or math.isnan(std):
        return math.nan
    return t_quantile_975(n - 1) * std / math.sqrt(n)


def ci_half_width(std: Any, n: Any) -> Any:
    """Half-width of the 95% CI of a mean from the sample standard deviation and size.

    Takes numbers (NaN when n < 2) or, element-wise, numpy arrays and pandas
    Series of the same length.
    """
    if isinstance(n, int | float):
        return _half_width(float(std), int(n))
    # array-likes: one definition, applied element by element
    half = [_half_width(float(s), int(k)) for s, k in zip(std, n, strict=True)]
    if hasattr(n, "index"):  # a pandas Series keeps its index
        return type(n)(half, index=n.index, dtype="float64")
    return half


def mean_ci(values: Sequence[float]) -> tuple[float, float]:
    """Mean and half-width of its 95% confidence interval; (NaN, NaN) for no values."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = statistics.fmean(values)
    if n == 1:
        return mean, math.nan
    return mean, _half_width(statistics.stdev(values), n)
