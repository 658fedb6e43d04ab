"""The SimPy backend: determinism, tick counts, ordering, latency, and every
invariant of docs/spec.md on the logs of all eleven experiments."""

from __future__ import annotations

import math
from fractions import Fraction

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from lamport.config import RunConfig, experiment
from lamport.core import RECEIVE, SEND
from lamport.des import simulate, time_base
from lamport.des.model import _simulate, simulate_summary, tick_pattern
from lamport.des.options import DesOptions
from lamport.faults import Crash, Delay, Loss, Partition
from lamport.invariants import violations
from lamport.logs import read_run


def files(directory):
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_same_seed_gives_identical_bytes(tmp_path, exp4_run):
    _, a = exp4_run  # aligned phases
    b = simulate(experiment(4).config(seed=1, phase="aligned")).write(tmp_path / "b")
    assert files(a) == files(b)
    assert sorted(files(a)) == ["machine-0.csv", "machine-1.csv", "machine-2.csv", "run.json"]
    c = simulate(experiment(4).config(seed=1)).write(tmp_path / "c")  # random phases
    d = simulate(experiment(4).config(seed=1)).write(tmp_path / "d")
    assert files(c) == files(d) != files(a)


def test_different_seeds_differ(exp4_run):
    a, _ = exp4_run
    b = simulate(experiment(4).config(seed=2))
    assert a.logs != b.logs


@pytest.mark.parametrize("number", range(1, 12))
def test_every_invariant_holds_on_the_catalogue(number, tmp_path):
    for seed in (0, 1, 2):
        result = simulate(experiment(number).config(seed=seed))
        assert violations(result.metadata, result.logs) == []
    # ... and on the files as written and read back.
    metadata, logs = read_run(result.write(tmp_path / "run"))
    assert violations(metadata, logs) == []
    assert logs == result.logs


@pytest.mark.parametrize(
    "rates", [(1, 3, 6), (2.5, 1.7, 3), (0.5, 6), (1, 2, 3, 4, 5), (6, 6, 6, 6)]
)
def test_ticks_are_floor_rate_times_duration(rates):
    config = RunConfig(rates=rates, p_send=0.5, duration=7.3, seed=3, phase="aligned")
    result = simulate(config)
    for machine, rate in enumerate(rates):
        assert len(result.logs[machine]) == math.floor(rate * 7.3 + 1e-9)
        # Tick k happens at exactly k / rate.
        for event in result.logs[machine]:
            assert event.t == pytest.approx(event.tick / rate, abs=1e-12)
    assert violations(result.metadata, result.logs) == []


def test_conservation_sent_equals_received_plus_queued():
    for number in (4, 9, 10):
        result = simulate(experiment(number).config(seed=5))
        for machine in range(3):
            sent_to = sum(
                e.peer.split("+").count(str(machine))
                for log in result.logs
                for e in log
                if e.event == SEND
            )
            received = sum(e.event == RECEIVE for e in result.logs[machine])
            assert sent_to == received + result.queued_at_end[machine]
        assert sum(result.queued_at_end) > 0  # these experiments do leave messages queued


def test_simultaneous_ticks_are_exact_and_ordered_by_machine_id():
    result = simulate(experiment(3).config(seed=0, duration=10, phase="aligned"))
    frame = result.events
    per_instant = frame.groupby("t")["machine"].apply(list)
    assert len(per_instant) == 30
    assert all(machines == [0, 1, 2] for machines in per_instant)
    # Equal rates: every clock moves in lockstep, whatever the traffic.
    assert [log[-1].clock for log in result.logs] == [30, 30, 30]


def test_time_base_is_integer_for_rational_rates():
    config = RunConfig(rates=(2.5, 1.7, 3))
    units = time_base(config, DesOptions(latency=0.001))
    for rate in config.rates:
        assert (units / rate) == int(units / rate)
    assert units * 0.001 == int(units * 0.001)


def test_tick_pattern_lists_each_instant_once():
    assert tick_pattern([6, 2, 1], 6) == [
        (1, [2]),
        (2, [1, 2]),
        (3, [2]),
        (4, [1, 2]),
        (5, [2]),
        (6, [0, 1, 2]),
    ]


@pytest.mark.parametrize("latency", [0.0, 0.001, 0.25])
def test_messages_arrive_after_the_latency(latency):
    config = RunConfig(rates=(1, 3, 6), p_send=0.9, duration=20)
    result = simulate(config, DesOptions(latency=latency))
    sent = {e.msg_id: e.t for log in result.logs for e in log if e.event == SEND}
    receives = [e for log in result.logs for e in log if e.event == RECEIVE]
    assert receives
    for e in receives:
        assert e.t >= sent[e.msg_id] + latency - 1e-12
        assert e.t > sent[e.msg_id]  # never at the instant it was sent
    assert violations(result.metadata, result.logs) == []


def test_message_arriving_at_a_tick_instant_is_received_then():
    """Latency 1/3 s with rates 3 and 3: a message sent at tick k arrives exactly at
    tick k+1 of the recipient, and the arrival, delivered before the ticks of its instant,
    puts it in the queue first."""
    config = RunConfig(rates=(3, 3), p_send=1.0, duration=2, seed=4, phase="aligned")
    result = simulate(config, DesOptions(latency=1 / 3))
    first_send = next(e for e in result.logs[0] if e.event == SEND)
    receive = next(
        e for e in result.logs[1] if e.event == RECEIVE and e.msg_id == first_send.msg_id
    )
    assert receive.tick == first_send.tick + 1


def test_wall_is_start_epoch_plus_t():
    config = experiment(2).config(seed=0, duration=5)
    result = simulate(config, DesOptions(start_epoch=1_700_000_000.0))
    for e in result.logs[0]:
        assert e.wall == pytest.approx(1_700_000_000.0 + e.t)
    assert result.metadata["start_epoch"] == 1_700_000_000.0
    assert result.metadata["options"] == {
        "latency": 0.001,
        "start_epoch": 1_700_000_000.0,
        "latency_dist": "constant",
        "latency_spread": None,
    }


def test_events_frame_has_schema_dtypes(exp4_run):
    result, _ = exp4_run
    frame = result.events
    assert list(frame.columns) == [
        "t",
        "wall",
        "machine",
        "tick",
        "event",
        "clock",
        "jump",
        "queue",
        "peer",
        "msg_clock",
        "msg_id",
    ]
    assert str(frame["msg_clock"].dtype) == "Int64" and str(frame["clock"].dtype) == "int64"
    assert len(frame) == result.n_events == 60 + 180 + 360


def test_run_metadata(exp4_run):
    result, path = exp4_run
    meta, _ = read_run(path)
    for key in (
        "backend",
        "experiment",
        "seed",
        "rates",
        "p_send",
        "duration",
        "latency",
        "start_epoch",
        "version",
        "queued_at_end",
    ):
        assert key in meta
    assert meta["backend"] == "des" and meta["rates"] == [1, 3, 6]
    assert meta["queued_at_end"] == result.queued_at_end


def test_summary_counts_add_up(exp4_run):
    result, _ = exp4_run
    for row in result.summary():
        assert row["n_internal"] + row["n_send"] + row["n_receive"] == row["ticks"]
        assert row["mean_jump"] == pytest.approx(row["final_clock"] / row["ticks"], abs=1e-6)
    rows = result.summary()
    assert [r["ticks"] for r in rows] == [60, 180, 360]
    assert rows[0]["final_queue"] > 10  # the slow machine falls behind (docs/spec.md, experiment 4)


@settings(max_examples=40, deadline=None)
@given(
    rates=st.lists(
        st.fractions(min_value=Fraction(1, 4), max_value=8, max_denominator=12),
        min_size=2,
        max_size=5,
    ),
    duration=st.fractions(min_value=Fraction(1, 2), max_value=12, max_denominator=10),
    p_send=st.sampled_from([0.0, 0.3, 0.9, 1.0]),
    latency=st.sampled_from([0.0, 0.001, 0.05, 0.4]),
    seed=st.integers(0, 2**32),
)
def test_any_rational_config_keeps_every_invariant(rates, duration, p_send, latency, seed):
    config = RunConfig(
        rates=tuple(float(r) for r in rates),
        p_send=p_send,
        duration=float(duration),
        seed=seed,
    )
    result = simulate(config, DesOptions(latency=latency))
    assert [len(log) for log in result.logs] == [config.ticks(i) for i in range(len(rates))]
    assert violations(result.metadata, result.logs) == []


# -- the summaries-only path ---------------------------------------------------------------
# simulate_summary ticks record-free on a plain heap (lamport.des.model._Agenda); it must
# give exactly simulate + summarize's rows, and the same metadata (queues, drops).


def _both_paths(config, options):
    """The rows and metadata of the summaries-only path and of the full-record one."""
    full = simulate(config, options)
    _, _, metadata = _simulate(config, options, None)
    return (simulate_summary(config, options), metadata), (full.summary(), full.metadata)


@st.composite
def _faults(draw, n, duration):
    plan = []
    window = st.tuples(
        st.integers(0, 20).map(lambda k: duration * k / 20),
        st.integers(1, 10).map(lambda k: duration * k / 20),
    )
    for machine in draw(st.lists(st.integers(0, n - 1), unique=True, max_size=2)):
        at, length = draw(window)
        plan.append(
            Crash(machine, at, min(length, duration - at) or duration / 40, draw(st.booleans()))
        )
    if draw(st.booleans()):
        at, length = draw(window)
        cut = draw(st.integers(1, n - 1))
        order = draw(st.permutations(range(n)))
        groups = (tuple(sorted(order[:cut])), tuple(sorted(order[cut:])))
        plan.append(Partition(groups, at, min(length, duration - at) or duration / 40))
    if draw(st.booleans()):
        plan.append(Loss(draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))))
    if draw(st.booleans()):
        at, length = draw(window)
        sender, recipient = draw(st.permutations(range(n)))[:2]
        extra = draw(st.sampled_from([0.0, 0.01, 0.3, 2.0]))
        plan.append(
            Delay(sender, recipient, extra, at, min(length, duration - at) or duration / 40)
        )
    return tuple(f for f in plan if not hasattr(f, "at") or f.at + f.duration <= duration)


@st.composite
def _runs(draw):
    """A RunConfig and DesOptions over every feature the model has."""
    n = draw(st.integers(2, 4))
    rates = draw(
        st.lists(
            st.fractions(min_value=Fraction(1, 4), max_value=8, max_denominator=6),
            min_size=n,
            max_size=n,
        )
    )
    duration = float(draw(st.fractions(min_value=Fraction(1, 2), max_value=15, max_denominator=4)))
    phase = draw(st.sampled_from(["random", "aligned", "list"]))
    if phase == "list":
        phase = tuple(
            float(draw(st.fractions(min_value=Fraction(1, 100), max_value=Fraction(99, 100))) / r)
            for r in rates
        )
    drift = draw(st.sampled_from([0.0, 0.0, 20.0, 3000.0]))
    jitter = 0.0
    if draw(st.booleans()):
        jitter = draw(st.sampled_from([0.1, 0.5, 0.9])) / float(max(rates)) / (1 + drift / 1e6)
    config = RunConfig(
        rates=tuple(float(r) for r in rates),
        p_send=draw(st.sampled_from([0.0, 0.3, 0.7, 1.0])),
        duration=duration,
        seed=draw(st.integers(0, 2**32)),
        phase=phase,
        drift_ppm=drift,
        jitter=jitter,
        clock=draw(st.sampled_from(["lamport", "vector"])),
        faults=draw(_faults(n, duration)) if draw(st.booleans()) else (),
    )
    dist = draw(st.sampled_from(["constant", "constant", "uniform", "exponential", "lognormal"]))
    latency = draw(st.sampled_from([0.0, 0.001, 0.05, 0.4] if dist == "constant" else [0.01, 0.3]))
    return config, DesOptions(latency=latency, latency_dist=dist)


@settings(max_examples=150, deadline=None)
@given(run=_runs())
def test_summaries_only_path_equals_the_full_record_path(run):
    config, options = run
    summary, full = _both_paths(config, options)
    assert summary == full


@pytest.mark.parametrize(
    "changes, options",
    [
        ({}, DesOptions()),
        ({"phase": "aligned"}, DesOptions()),
        ({"phase": (0.5, 0.1, 1 / 6)}, DesOptions(latency=0.0)),
        ({"drift_ppm": 100.0, "jitter": 0.05}, DesOptions(latency=0.2)),
        ({"clock": "vector"}, DesOptions(latency_dist="lognormal", latency=0.1)),
        # a message arriving at the very instant of a crash, a restart and a tick
        ({"phase": "aligned", "faults": ("crash 1 at 1 for 1 reset",)}, DesOptions(latency=1 / 3)),
        (
            {"faults": ("partition 0|1,2 at 2 for 3", "loss 0.3", "delay 2->0 +1.5 at 1 for 4")},
            DesOptions(latency_dist="exponential", latency=0.05),
        ),
        # the run ends while messages are in flight (they count as queued)
        ({"phase": "aligned", "duration": 2.0}, DesOptions(latency=5.0)),
    ],
)
def test_summaries_only_path_examples(changes, options):
    config = RunConfig(rates=(1, 3, 6), p_send=0.5, duration=8, seed=7).with_(**changes)
    summary, full = _both_paths(config, options)
    assert summary == full
    assert summary[0][0]["ticks"] > 0
