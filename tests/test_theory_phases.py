"""Tests of lamport.theory's clock rates under start phases: the deficit chain.

Random start phases make every logical clock run faster than the machines tick
(docs/theory.md, "Why three clocks ticking three times a second run at 3.4").
The chain is checked against known values, against lock-step, against itself
under scaling, and against the DES mean over enough seeds that the confidence
interval is well inside the tolerance.
"""

from __future__ import annotations

from fractions import Fraction
from statistics import fmean, stdev

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lamport.config import RunConfig, experiment
from lamport.des.model import simulate_summary
from lamport.errors import ConfigError
from lamport.theory import (
    STABLE,
    clock_rates,
    config_clock_rates,
    predict,
    predict_config,
)

#: The issue's bound for the DES mean clock rate, and the widest 95% CI half-width
#: (relative) a comparison may have to count: well inside the tolerance.
TOLERANCE = 0.03
WIDEST_CI = 0.01
SEEDS = 40
DURATION = 60.0


def test_experiment_3_clocks_run_at_about_3_4():
    # DES, 100 seeds, random phases: 3.373 (p_send 0.3) and 3.398 (0.9).
    assert clock_rates([3, 3, 3], 0.3) == pytest.approx([3.378] * 3, abs=0.002)
    assert clock_rates([3, 3, 3], 0.9) == pytest.approx([3.396] * 3, abs=0.002)


def test_aligned_phases_give_the_lock_step_prediction():
    # The figures of the fluid model before phases: c_i = max(r_i, f_i max_j c_j).
    assert clock_rates([3, 3, 3], 0.3, phase="aligned") == [3.0, 3.0, 3.0]
    assert clock_rates([1, 3, 6], 0.3, phase="aligned") == [4.0, 6.0, 6.0]
    assert clock_rates([5, 3, 2], 0.6, phase="aligned") == [5.0, 5.0, 4.375]
    assert clock_rates([5, 3, 2], 0.9, phase="aligned") == pytest.approx([5, 5, 10 / 3])


rate_lists = st.lists(st.integers(1, 8), min_size=2, max_size=6)
probabilities = st.sampled_from([0.0, 0.1, 0.3, 0.6, 0.9, 1.0])


@given(rate_lists, probabilities)
def test_aligned_is_lock_step_for_any_run(rates, p_send):
    predictions = predict(rates, p_send, phase="aligned")
    assert [m.clock_rate for m in predictions] == [m.lockstep_clock_rate for m in predictions]


def test_the_chain_in_lock_step_is_the_tick_count():
    # Phases given one by one, aligned: the chain itself finds no lift.
    assert clock_rates([3, 3, 3], 0.9, phase=[1 / 3] * 3) == [3.0, 3.0, 3.0]
    assert clock_rates([2, 2], 0.5, phase=[0.5, 0.5]) == [2.0, 2.0]


def test_config_and_rates_give_the_same_clock_rates():
    config = experiment(7).config(seed=0)
    assert config_clock_rates(config) == clock_rates([3, 3, 3], 0.9)
    aligned = experiment(7).config(seed=0, phase="aligned")
    assert config_clock_rates(aligned) == [3.0, 3.0, 3.0]
    assert [m.clock_rate for m in predict_config(config)] == config_clock_rates(config)


three_rates = st.lists(st.integers(1, 6), min_size=3, max_size=3)


@settings(max_examples=10, deadline=None)
@given(three_rates, st.sampled_from([0.1, 0.3, 0.5, 0.7, 0.9]))
def test_random_phases_never_slow_a_clock(rates, p_send):
    for m in predict(rates, p_send):
        assert m.clock_rate >= m.lockstep_clock_rate * (1 - 1e-9)


@settings(max_examples=5, deadline=None)
@given(three_rates, st.sampled_from([0.3, 0.6, 0.9]), st.integers(2, 4))
def test_without_latency_the_chain_scales_with_the_rates(rates, p_send, factor):
    # Only the order of ticks and arrivals matters then, and it does not change.
    base = clock_rates(rates, p_send, latency=0.0)
    scaled = clock_rates([r * factor for r in rates], p_send, latency=0.0)
    assert scaled == pytest.approx([c * factor for c in base], rel=1e-6)


def test_latency_and_phase_are_checked():
    with pytest.raises(ConfigError):
        clock_rates([1, 2], 0.3, latency=-1)
    with pytest.raises(ConfigError):
        clock_rates([1, 2], 0.3, phase="lockstep")
    with pytest.raises(ConfigError):
        clock_rates([1, 2], 0.3, phase=[0.1])


@st.composite
def stable_runs(draw):
    """The chain's domain where a 60 s mean is a long-run rate: three machines, integer
    rates 1..6 with the slowest at least half the fastest, p_send 0.3..0.9, every queue
    stable and at most 80% loaded (a slower or busier machine lags the top clock by
    order-1/T terms the long-run rate leaves out, docs/theory.md)."""
    rates = draw(three_rates)
    p_send = draw(st.sampled_from([0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]))
    assume(2 * min(rates) >= max(rates))
    predictions = predict(rates, p_send, duration=DURATION)
    assume(all(m.verdict == STABLE and m.receive_share <= 0.8 for m in predictions))
    return rates, p_send, predictions


@settings(max_examples=4, deadline=None)
@given(stable_runs())
def test_clock_rates_match_the_des_mean(run):
    rates, p_send, predictions = run
    observed: list[list[float]] = [[] for _ in rates]
    for seed in range(SEEDS):
        config = RunConfig(rates=tuple(rates), p_send=p_send, duration=DURATION, seed=seed)
        for row in simulate_summary(config):
            observed[row["machine"]].append(row["final_clock"] / DURATION)
    for m, values in zip(predictions, observed, strict=True):
        mean = fmean(values)
        half_width = 1.96 * stdev(values) / len(values) ** 0.5  # 95% CI, normal
        assert half_width <= WIDEST_CI * mean, (rates, p_send, m.machine, half_width)
        assert abs(mean - m.clock_rate) <= TOLERANCE * m.clock_rate, (
            rates,
            p_send,
            m.machine,
            m.clock_rate,
            mean,
        )


def test_long_schedules_are_played_on_rounded_rates():
    # 3 and 3.001 ticks a second repeat only every 1000 s: the chain rounds the ratio
    # and, for random phases, that is the average over the phases they pass through.
    assert clock_rates([3, Fraction(3001, 1000), 3], 0.3) == pytest.approx(
        clock_rates([3, 3, 3], 0.3), rel=1e-3
    )
