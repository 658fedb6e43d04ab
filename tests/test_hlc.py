"""Hybrid logical clocks (``--clock hlc``): the core's rules, their guarantees over random
DES runs with drift, the check that catches a corrupted hlc_l, the CLI and the report."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from lamport.check import check_logs, check_run, physical_clocks
from lamport.config import RunConfig
from lamport.core import RECEIVE, SEND, TICK_KINDS, HybridClock, machine_class
from lamport.des import simulate
from lamport.logs import read_run


def test_send_and_local_rule():
    clock = HybridClock(0, 2)
    clock.local(100)  # physical time ahead: l takes it, c starts again
    assert clock.wire() == (100, 0)
    clock.local(100)  # physical time has not moved on: the counter orders the events
    clock.local(90)  # nor when it reads behind l
    assert clock.cells() == (100, 2)


@pytest.mark.parametrize(
    ("mine", "carried", "physical", "after"),
    [
        ((100, 3), (100, 5), 50, (100, 6)),  # l == l_m: max(c, c_m) + 1
        ((100, 3), (80, 9), 50, (100, 4)),  # l alone is the largest: c + 1
        ((80, 3), (100, 9), 50, (100, 10)),  # l_m alone: c_m + 1
        ((80, 3), (90, 9), 120, (120, 0)),  # physical time ahead of both: c = 0
    ],
)
def test_receive_rule_cases(mine, carried, physical, after):
    clock = HybridClock(0, 2)
    clock.l, clock.c = mine
    clock.receive(carried, physical)
    assert clock.wire() == after


def test_hlc_machine_carries_the_pair_and_keeps_lamport_rules():
    a = machine_class("hlc")(0, 2, 1.0, lambda: 0.0)  # sends to machine 1 every free tick
    b = machine_class("hlc")(1, 2, 0.0, lambda: 0.5)  # never sends
    e1, out = a.tick(0.5, 0.5)
    assert (e1.event, e1.hlc_l, e1.hlc_c) == (SEND, 500_000, 0)
    assert out is not None and out.message.hlc == (500_000, 0)
    b.physical = lambda t: int(t * 1_000_000) - 100_000  # b's clock runs 0.1 s late
    b.deliver(out.message)
    e2, _ = b.tick(0.6, 0.6)
    assert (e2.event, e2.clock, e2.hlc_l, e2.hlc_c) == (RECEIVE, 2, 500_000, 1)


def test_lamport_columns_are_those_of_a_lamport_run():
    config = RunConfig(rates=(2, 3, 5), p_send=0.5, duration=20.0, seed=3, drift_ppm=300)
    plain = simulate(config)
    hybrid = simulate(config.with_(clock="hlc"))
    assert [[tuple(e)[:11] for e in log] for log in hybrid.logs] == [
        [tuple(e) for e in log] for log in plain.logs
    ]


def _guarantees(run) -> None:
    """HLC's guarantees, asserted directly on a run (independently of the check)."""
    clocks = physical_clocks(run.metadata)
    sent = {}
    for machine, events in enumerate(run.logs):
        previous = None
        for e in events:
            if e.event not in TICK_KINDS:
                continue
            readings = [clock(e.t) for clock in clocks]
            physical = readings[machine]
            assert e.hlc_l >= physical
            assert e.hlc_l - physical <= max(readings) - min(readings)
            if previous is not None:
                assert e.hlc_l >= previous[0] and (e.hlc_l, e.hlc_c) > previous
            previous = (e.hlc_l, e.hlc_c)
            if e.event == SEND:
                sent[e.msg_id] = previous
    for events in run.logs:
        for e in events:
            if e.event == RECEIVE:
                assert (e.hlc_l, e.hlc_c) > sent[e.msg_id]


@given(
    rates=st.lists(st.integers(1, 8), min_size=2, max_size=4),
    p_send=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
    drift_ppm=st.sampled_from([0.0, 50.0, 1000.0, 20000.0]),
    phase=st.sampled_from(["aligned", "random"]),
)
def test_hlc_guarantees_hold_on_random_runs_with_drift(rates, p_send, seed, drift_ppm, phase):
    config = RunConfig(
        rates=tuple(rates),
        p_send=p_send,
        duration=6.0,
        seed=seed,
        clock="hlc",
        drift_ppm=drift_ppm,
        phase=phase,
    )
    note(repr(config))
    run = simulate(config)
    _guarantees(run)
    report = check_logs(run.metadata, run.logs)
    assert report.ok, report.problems


def _rewrite_cell(path, line: int, column: str, value: str) -> None:
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    rows[line - 1][rows[0].index(column)] = value
    with open(path, "w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def test_check_catches_a_corrupted_hlc_l(tmp_path):
    config = RunConfig(rates=(2, 3, 5), p_send=0.5, duration=10.0, seed=1, clock="hlc")
    simulate(config.with_(drift_ppm=500)).write(tmp_path / "run")
    report = check_run(tmp_path / "run")
    assert report.ok and report.hlc
    assert "hybrid logical clocks keep their guarantees" in report.summary()
    log = tmp_path / "run" / "machine-1.csv"
    _rewrite_cell(log, 4, "hlc_l", "0")  # third event: hlc_l back to 0
    problems = check_run(tmp_path / "run").problems
    assert any(
        "machine-1.csv line 4: hlc_l 0 is below the machine's physical time" in p for p in problems
    ), problems
    _rewrite_cell(log, 4, "hlc_l", "9000000")  # 9 s in the future: past any clock offset
    problems = check_run(tmp_path / "run").problems
    assert any("machine-1.csv line 4: hlc_l runs" in p and "largest offset" in p for p in problems)
    assert any("machine-1.csv line 5: hlc_l decreases" in p for p in problems)


def test_des_cli_writes_the_hlc_columns(tmp_path):
    out = tmp_path / "run"
    args = ["run", "--rates", "1,3,6", "--clock", "hlc", "--drift-ppm", "200", "--duration", "10"]
    done = subprocess.run(
        [sys.executable, "-m", "lamport.des", *args, "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    header = (out / "machine-0.csv").read_text().splitlines()[0]
    assert header.endswith(",msg_id,hlc_l,hlc_c")
    metadata, logs = read_run(out)
    assert metadata["clock"] == "hlc"
    assert all(hasattr(e, "hlc_l") for log in logs for e in log)
    assert check_run(out).ok


@pytest.mark.parametrize("drift_ppm", [0, 20_000])
def test_threads_run_hlc_and_check_passes(tmp_path, drift_ppm):
    """On threads each machine's physical time is its own wall clock (the log's t) with
    the model's drift; the pair travels in every frame and lamport check holds it to
    the guarantees the DES's runs keep."""
    from lamport.realtime.cluster import Cluster
    from lamport.realtime.options import RealtimeOptions

    config = RunConfig(
        rates=(2, 3, 6), p_send=0.6, duration=8.0, seed=4, clock="hlc", drift_ppm=drift_ppm
    )
    out = tmp_path / "run"
    result = Cluster(config, RealtimeOptions(speed=8), out=out).run()
    ticks = [e for log in result.logs for e in log if e.event in TICK_KINDS]
    assert ticks and all(hasattr(e, "hlc_l") for e in ticks)
    clocks = physical_clocks(result.metadata)
    assert all(e.hlc_l >= clocks[e.machine](e.t) for e in ticks)
    sends = {e.msg_id: e for e in ticks if e.event == SEND}
    receives = [e for e in ticks if e.event == RECEIVE]
    assert receives
    for e in receives:  # the receive's pair is above the pair its message carried
        assert (e.hlc_l, e.hlc_c) > (sends[e.msg_id].hlc_l, sends[e.msg_id].hlc_c)
    report = check_run(out)
    assert report.ok and report.hlc, report.problems


def test_the_realtime_cli_runs_hlc(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "lamport.realtime", "run", "--rates", "2,4", "--duration", "3"]
    done = subprocess.run(
        [*cmd, "--speed", "6", "--clock", "hlc", "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert read_run(out)[0]["clock"] == "hlc"
    assert check_run(out).ok


def test_report_says_how_far_l_runs_ahead():
    from lamport.report.run import hlc_blocks

    config = RunConfig(rates=(1, 4, 8), p_send=0.6, duration=20.0, seed=2, drift_ppm=1000)
    blocks = hlc_blocks(simulate(config.with_(clock="hlc")))
    sentence = blocks[1].text
    assert sentence.startswith("Hybrid logical clocks: l ran ahead of the machine's own physical")
    assert "largest offset between the machines' physical clocks" in sentence
    assert [row[0] for row in blocks[2].rows] == ["0", "1", "2"]
    assert hlc_blocks(simulate(config)) == []  # a Lamport run has no such section


def test_default_run_directory_names_the_kind():
    from lamport.backend import get_backend
    from lamport.cli import default_out

    backend = get_backend("des")
    config = RunConfig(rates=(1, 2), p_send=0.3, duration=5.0)
    names = {
        clock: default_out(backend, config.with_(clock=clock), backend.make_options()).name
        for clock in ("lamport", "vector", "hlc")
    }
    assert names["vector"] == names["lamport"] + "-vc"
    assert names["hlc"] == names["lamport"] + "-hlc"
