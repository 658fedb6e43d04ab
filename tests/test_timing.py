"""The timing model: start phases, drift, jitter and latency distributions, in both backends.

Aligned phases reproduce the golden logs (``tests/test_golden.py`` runs with
them); here: what random phases change, that both backends tick the same
schedule, FIFO per link under every latency distribution, that jitter leaves
the action draws alone, the tick-count invariant, and bad input.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from lamport.cli import default_out
from lamport.config import LATENCY_DISTS, RunConfig, experiment, latency_sampler
from lamport.core import INTERNAL, RECEIVE, SEND, jitter_stream, machine_streams, setup_block
from lamport.des import simulate
from lamport.des.options import DesOptions
from lamport.errors import ConfigError
from lamport.invariants import expected_ticks, violations

# -- phases -------------------------------------------------------------------------------


def test_random_phases_in_experiment_3_give_jumps_above_one():
    """Equal rates: aligned ticks are lock-step (every jump 1, clock = tick count);
    random phases let a message read after its sender's tick lift the reader."""
    exp = experiment(3)
    aligned = simulate(exp.config(seed=0, phase="aligned"))
    assert {e.jump for log in aligned.logs for e in log} == {1}
    assert [log[-1].clock for log in aligned.logs] == [180, 180, 180]
    jumps_above_one = 0
    for seed in range(5):
        result = simulate(exp.config(seed=seed))
        jumps = [e.jump for log in result.logs for e in log if e.event == RECEIVE]
        jumps_above_one += sum(j > 1 for j in jumps)
        assert max(jumps) >= 2
        # the clocks still move together, but ahead of the tick count
        finals = [log[-1].clock for log in result.logs]
        assert min(finals) > 180 and max(finals) - min(finals) < 20
    assert jumps_above_one > 20


def test_phases_are_drawn_from_the_setup_stream_after_the_rates():
    config = experiment(1).config(seed=7)
    draws = setup_block(7, 3, "phases")
    for machine, (u, rate) in enumerate(zip(draws, config.rates, strict=True)):
        assert 0 < config.phases[machine] <= 1 / rate
        assert config.phases[machine] == pytest.approx(u / rate, abs=1e-6)
    setup, _ = machine_streams(7, 3)
    assert setup_block(7, 3, "rates") == [setup() for _ in range(3)]
    # the same seed, the same phases; another seed, others
    assert experiment(1).config(seed=7).phases == config.phases
    assert experiment(1).config(seed=8).phases != config.phases


def test_des_ticks_at_phase_plus_whole_periods_exactly():
    config = RunConfig(rates=(3, 2.5, 1.7), duration=20, seed=5)
    result = simulate(config)
    for machine, log in enumerate(result.logs):
        phase = Fraction(config.phase_units[machine], config.grid)
        period = 1 / Fraction(config.rates[machine]).limit_denominator(10**6)
        for e in log:
            assert e.t == float(phase + (e.tick - 1) * period)
        assert len(log) == config.ticks(machine)
    assert violations(result.metadata, result.logs) == []


def test_run_json_records_the_timing_and_rebuilds_it(tmp_path):
    config = experiment(8).config(seed=2, drift_ppm=50, jitter=0.01)
    result = simulate(config, DesOptions(latency_dist="lognormal", latency_spread=0.002))
    metadata = json.loads((result.write(tmp_path / "r") / "run.json").read_text())
    assert metadata["phase"] == "random"
    assert metadata["phases"] == list(config.phases)
    assert metadata["drift_ppm"] == 50 and metadata["jitter"] == 0.01
    assert all(abs(d) <= 50 for d in metadata["drifts_ppm"])
    assert metadata["latency_dist"] == "lognormal" and metadata["latency_spread"] == 0.002
    assert RunConfig.from_metadata(metadata) == config
    explicit = config.with_(phase=(0.1, 0.2, 1 / 6))
    assert RunConfig.from_metadata(explicit.metadata()) == explicit
    assert explicit.metadata()["phase"] == "explicit"


def test_a_run_json_from_before_phases_rebuilds_aligned():
    config = experiment(4).config(seed=1, phase="aligned")
    old = {k: v for k, v in simulate(config).metadata.items() if k not in config.metadata()}
    old.update({k: config.metadata()[k] for k in ("rates", "p_send", "duration", "seed")})
    rebuilt = RunConfig.from_metadata(old)
    assert rebuilt.phase == "aligned" and rebuilt.drift_ppm == 0 and rebuilt.jitter == 0
    assert simulate(rebuilt).logs == simulate(config).logs


# -- the real-time backend plays the same schedule ----------------------------------------


def test_realtime_and_des_record_the_same_phases(tmp_path):
    from lamport.realtime.cluster import run

    config = experiment(3).config(seed=4, duration=6)
    rt = run(config, speed=12, out=tmp_path / "rt")
    des = simulate(config)
    rt_json = json.loads((tmp_path / "rt" / "run.json").read_text())
    assert rt_json["phase"] == des.metadata["phase"] == "random"
    assert rt_json["phases"] == des.metadata["phases"] == list(config.phases)
    for machine in range(3):
        first = rt.logs[machine][0]
        # measured model time: never before the phase, at most 0.25 wall seconds late
        assert config.phases[machine] - 1e-9 <= first.t < config.phases[machine] + 3.0
        assert len(rt.logs[machine]) == len(des.logs[machine]) == config.ticks(machine)
    assert violations(rt.metadata, rt.logs) == []


def test_realtime_extra_latency_holds_messages_back_in_order(tmp_path):
    from lamport.realtime.cluster import run_backend
    from lamport.realtime.options import RealtimeOptions

    config = RunConfig(rates=(4, 4, 6), p_send=0.9, duration=6, seed=1, jitter=0.01)
    options = RealtimeOptions(speed=6, latency=0.05, latency_dist="uniform")
    result = run_backend(config, options, out=tmp_path / "rt")
    assert violations(result.metadata, result.logs) == []
    sent = {e.msg_id: e.t for log in result.logs for e in log if e.event == SEND}
    receives = [e for log in result.logs for e in log if e.event == RECEIVE]
    assert receives
    low = 0.05 - 0.05 / 2 * math.sqrt(3)  # the uniform's lower end, model seconds
    for e in receives:
        assert e.t >= sent[e.msg_id] + low - 1e-6
    _assert_fifo(result.logs)
    assert result.metadata["latency_dist"] == "uniform"


# -- latency distributions ----------------------------------------------------------------


def _assert_fifo(logs):
    """Every recipient takes each sender's messages in the order they were sent."""
    for log in logs:
        last: dict[str, int] = {}
        for e in log:
            if e.event == RECEIVE:
                sender, seq = e.msg_id.split(":")
                assert int(seq) > last.get(sender, 0), e
                last[sender] = int(seq)


@settings(max_examples=40, deadline=None)
@given(
    dist=st.sampled_from(LATENCY_DISTS),
    mean=st.sampled_from([0.0, 0.001, 0.05, 0.3]),
    spread_share=st.sampled_from([None, 0.0, 0.2, 0.5]),
    rates=st.lists(st.integers(1, 6), min_size=2, max_size=4),
    p_send=st.sampled_from([0.3, 0.9, 1.0]),
    seed=st.integers(0, 2**32),
)
def test_fifo_per_link_under_every_latency_distribution(
    dist, mean, spread_share, rates, p_send, seed
):
    spread = None
    if spread_share is not None and dist in ("uniform", "lognormal"):
        spread = spread_share * mean
    options = DesOptions(latency=mean, latency_dist=dist, latency_spread=spread)
    config = RunConfig(rates=tuple(rates), p_send=p_send, duration=8, seed=seed)
    result = simulate(config, options)
    _assert_fifo(result.logs)
    sent = {e.msg_id: e.t for log in result.logs for e in log if e.event == SEND}
    for log in result.logs:
        for e in log:
            if e.event == RECEIVE:
                assert e.t > sent[e.msg_id]
    assert violations(result.metadata, result.logs) == []


@pytest.mark.parametrize("dist", LATENCY_DISTS)
def test_latency_samplers_have_the_mean_and_spread_asked_for(dist):
    import numpy as np

    spread = 0.004 if dist in ("uniform", "lognormal") else None
    sample = latency_sampler(dist, 0.01, spread)
    draws = np.random.default_rng(1).random(40_000)
    delays = np.array([sample(float(u)) for u in draws])
    assert (delays >= 0).all()
    assert delays.mean() == pytest.approx(0.01, rel=0.03)
    want = {"constant": 0.0, "uniform": 0.004, "exponential": 0.01, "lognormal": 0.004}[dist]
    assert delays.std() == pytest.approx(want, rel=0.06, abs=1e-9)


def test_a_latency_distribution_changes_no_action_draw():
    config = experiment(8).config(seed=3)
    constant = simulate(config)
    spread = simulate(config, DesOptions(latency=0.02, latency_dist="exponential"))
    assert _actions(constant) != [] and _prefix_equal(_actions(constant), _actions(spread))


# -- drift and jitter ---------------------------------------------------------------------


def _actions(result):
    """Per machine, the actions of its drawing ticks in order: what its draws decided."""
    return [[(e.event, e.peer) for e in log if e.event in (INTERNAL, SEND)] for log in result.logs]


def _prefix_equal(a, b):
    return all(
        x[: min(len(x), len(y))] == y[: min(len(x), len(y))] for x, y in zip(a, b, strict=True)
    )


def test_jitter_changes_no_action_draw():
    config = experiment(7).config(seed=2)
    plain = simulate(config)
    jittered = simulate(config.with_(jitter=0.2))
    assert config.with_(jitter=0.2).phases == config.phases
    assert _prefix_equal(_actions(plain), _actions(jittered))
    assert [len(a) for a in _actions(jittered)] != [0, 0, 0]
    assert plain.logs != jittered.logs


def test_jitter_makes_each_tick_late_by_less_than_jitter_without_accumulating():
    config = RunConfig(rates=(3, 5), duration=30, seed=9, jitter=0.05)
    result = simulate(config)
    for machine, log in enumerate(result.logs):
        draws = jitter_stream(9, machine)
        period = 1 / config.rates[machine]
        for e in log:
            base = config.phases[machine] + (e.tick - 1) * period
            assert base - 1e-9 <= e.t < base + 0.05
            assert e.t == pytest.approx(base + math.floor(draws() * 0.05 * 1e6) / 1e6, abs=2e-6)


def test_drift_changes_each_true_rate_within_its_bound():
    config = RunConfig(rates=(2, 5, 3), duration=600, seed=4, drift_ppm=500)
    assert all(0 < abs(d) <= 500 for d in config.drifts_ppm)
    result = simulate(config)
    for machine, log in enumerate(result.logs):
        true_rate = config.rates[machine] * (1 + config.drifts_ppm[machine] * 1e-6)
        span = log[-1].t - log[0].t
        assert (len(log) - 1) / span == pytest.approx(true_rate, rel=1e-6)
    assert violations(result.metadata, result.logs) == []


@settings(max_examples=60, deadline=None)
@given(
    rates=st.lists(
        st.fractions(min_value=Fraction(1, 4), max_value=8, max_denominator=12),
        min_size=2,
        max_size=4,
    ),
    duration=st.fractions(min_value=Fraction(1, 2), max_value=12, max_denominator=10),
    phase=st.sampled_from(["random", "aligned"]),
    drift_ppm=st.sampled_from([0, 10, 1000]),
    jitter_share=st.sampled_from([0, 0.3, 0.9]),
    seed=st.integers(0, 2**32),
)
def test_tick_count_invariant_with_phases_drift_and_jitter(
    rates, duration, phase, drift_ppm, jitter_share, seed
):
    rates = tuple(float(r) for r in rates)
    jitter = jitter_share / (max(rates) * (1 + drift_ppm * 1e-6)) * 0.99
    config = RunConfig(
        rates=rates,
        duration=float(duration),
        seed=seed,
        phase=phase,
        drift_ppm=drift_ppm,
        jitter=jitter,
    )
    result = simulate(config)
    assert violations(result.metadata, result.logs) == []
    for machine, log in enumerate(result.logs):
        want = expected_ticks(rates[machine], float(duration))
        exact = Fraction(rates[machine]).limit_denominator(10**6) * Fraction(float(duration))
        whole = exact.denominator == 1  # as the invariant reads the float duration
        if phase == "aligned" and not drift_ppm and not jitter:
            assert len(log) == want
        elif whole and not drift_ppm and not jitter:
            assert len(log) == want  # a whole number of periods: any phase fits them all
        else:
            assert abs(len(log) - want) <= 1 + math.ceil(rates[machine] * duration * drift_ppm)
        if not jitter:
            assert len(log) == config.ticks(machine)


def test_the_invariant_catches_a_tick_count_beyond_the_slack():
    config = RunConfig(rates=(2.5, 3), duration=7.3, seed=1)
    result = simulate(config)
    cut = [log[:-2] for log in result.logs]
    metadata = dict(result.metadata, queued_at_end=None)
    assert any("ticks, expected" in v for v in violations(metadata, cut))


# -- bad input, names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"phase": "sideways"}, "phase must be"),
        ({"phase": (0.1, 0.1)}, "2 phases for 3 machines"),
        ({"phase": (0.1, 0.1, 0.5)}, "outside (0, 1/rate]"),
        ({"phase": (0.0, 0.1, 0.1)}, "outside (0, 1/rate]"),
        ({"phase": (0.1, float("nan"), 0.1)}, "finite"),
        ({"drift_ppm": -1}, "drift_ppm"),
        ({"drift_ppm": float("inf")}, "drift_ppm"),
        ({"jitter": -0.1}, "jitter"),
        ({"jitter": float("nan")}, "jitter"),
        ({"jitter": 0.5}, "shortest tick period"),
    ],
)
def test_bad_timing_is_refused(changes, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("]", r"\]")):
        RunConfig(rates=(3, 3, 6), **changes)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"latency_dist": "gaussian"}, "unknown latency distribution"),
        ({"latency_spread": -1.0, "latency_dist": "uniform"}, "spread"),
        ({"latency_spread": float("nan"), "latency_dist": "lognormal"}, "spread"),
        ({"latency_spread": 0.001, "latency_dist": "exponential"}, "no spread"),
        ({"latency_spread": 0.001}, "no spread"),
        ({"latency": 0.001, "latency_spread": 0.001, "latency_dist": "uniform"}, "too wide"),
    ],
)
def test_bad_latency_is_refused(values, message):
    with pytest.raises(ConfigError, match=message):
        DesOptions(**values)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["exp", "3", "--phase", "0.1,0.2"], "2 phases for 3 machines"),
        (["exp", "3", "--phase", "0.1,0.2,0.9"], "outside (0, 1/rate]"),
        (["exp", "3", "--phase", "soon"], "--phase"),
        (["exp", "3", "--drift-ppm", "-5"], "--drift-ppm"),
        (["exp", "3", "--drift-ppm", "inf"], "--drift-ppm"),
        (["exp", "3", "--jitter", "nan"], "--jitter"),
        (["exp", "3", "--latency-dist", "pareto"], "--latency-dist"),
        (["exp", "3", "--latency-spread", "-1"], "--latency-spread"),
        (["run", "--rates", "1,2", "--jitter", "2"], "shortest tick period"),
    ],
)
@pytest.mark.parametrize("backend", ["des", "realtime"])
def test_bad_timing_on_the_command_line_is_one_line_and_exit_2(argv, message, backend, capsys):
    from lamport.errors import run_cli

    if backend == "des":
        from lamport.des.__main__ import main
    else:
        from lamport.realtime.__main__ import main
    try:
        code = run_cli(main, [*argv, "--quiet", "--out", "/nonexistent/never"])
    except SystemExit as exc:
        code = exc.code
    _, err = capsys.readouterr()
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err, err


def test_default_out_names_every_timing_setting():
    from lamport.backend import get_backend
    from lamport.realtime.options import RealtimeOptions

    des, realtime = get_backend("des"), get_backend("realtime")
    config = experiment(3).config(seed=1)
    base = "runs/des/exp03-uniform-seed1"
    assert str(default_out(des, config, DesOptions())) == base
    assert str(default_out(des, config.with_(phase="aligned"), DesOptions())) == base + "-aligned"
    named = default_out(des, config.with_(drift_ppm=20, jitter=0.01), DesOptions())
    assert str(named) == base + "-drift20-jit0.01"
    options = DesOptions(latency_dist="lognormal", latency_spread=0.0002)
    assert str(default_out(des, config, options)) == base + "-lognormal-spread0.0002"
    one = default_out(des, config.with_(phase=(0.1, 0.2, 0.3)), DesOptions())
    other = default_out(des, config.with_(phase=(0.1, 0.2, 0.25)), DesOptions())
    assert one != other and one.name.startswith("exp03-uniform-seed1-phases")
    assert default_out(realtime, config, RealtimeOptions(latency=0.01)).name.endswith("-lat0.01")


def test_cli_phase_aligned_gives_the_golden_run(tmp_path, capsys):
    from lamport.des.__main__ import main
    from lamport.errors import run_cli

    out = tmp_path / "a"
    assert run_cli(main, ["exp", "3", "--phase", "aligned", "--out", str(out), "--quiet"]) == 0
    expected = simulate(experiment(3).config(seed=0, phase="aligned")).write(tmp_path / "b")
    for name in ("machine-0.csv", "machine-1.csv", "machine-2.csv"):
        assert (out / name).read_bytes() == (expected / name).read_bytes()
    metadata = json.loads((out / "run.json").read_text())
    assert metadata["phase"] == "aligned" and metadata["phases"] == [1 / 3] * 3


def test_an_experiment_file_sets_the_timing(tmp_path):
    from lamport.config import load_experiment

    path = tmp_path / "lockstep.toml"
    path.write_text(
        'name = "lockstep"\nrates = [3, 3, 3]\np_send = 0.3\nphase = "aligned"\n'
        "drift_ppm = 20\njitter = 0.01\n",
        encoding="utf-8",
    )
    config = load_experiment(path).config(seed=2)
    assert (config.phase, config.drift_ppm, config.jitter) == ("aligned", 20, 0.01)
    assert load_experiment(path).config(seed=2, phase="random").phase == "random"
    path.write_text('name = "x"\nrates = [3, 6]\np_send = 0.3\nphase = [0.1, 0.15]\n')
    assert load_experiment(path).config().phases == pytest.approx((0.1, 0.15), abs=1e-6)
    path.write_text('name = "x"\nrates = [3, 6]\np_send = 0.3\nphase = [0.1]\n')
    with pytest.raises(ConfigError, match=r"lockstep.toml: .*1 phases for 2 machines"):
        load_experiment(path)
