"""The pause fault (``pause M at T for D``): the machine stops ticking and keeps its clock,
its queue and its links; PAUSE and RESUME rows; in the DES and on threads, checked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from test_faults import _config as fault_config
from test_faults import _ticks

from lamport.check import check_logs
from lamport.config import RunConfig
from lamport.core import PAUSE, RECEIVE, RESUME, STATE_CHANGES, TICK_KINDS
from lamport.des.model import simulate, simulate_summary
from lamport.errors import ConfigError
from lamport.faults import Pause, fault_from_table, fault_table, fault_text, parse_fault
from lamport.invariants import violations
from lamport.plan import Plan


def _config(*faults: str, **changes: object) -> RunConfig:
    """test_faults' configuration (three machines, 20 s, aligned), sending a little more."""
    return fault_config(*faults, **{"p_send": 0.6, **changes})


def test_pause_parses_and_reads_back() -> None:
    fault = parse_fault("pause 1 at 2 for 3")
    assert fault == Pause(1, 2.0, 3.0)
    assert fault_text(fault) == "pause 1 at 2 for 3"
    assert fault_table(fault) == {"kind": "pause", "machine": 1, "at": 2, "duration": 3}
    assert fault_from_table(fault_table(fault)) == fault


def test_pause_rows_are_state_changes_that_keep_everything() -> None:
    pause, resume = STATE_CHANGES[PAUSE], STATE_CHANGES[RESUME]
    assert (pause.ticks, pause.loses, pause.until) == (False, "", RESUME)
    assert (resume.ticks, resume.loses, resume.resets) == (True, "", False)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pause 3 at 2 for 3", "no machine 3"),
        ("pause 1 at 19 for 3", "outside the run"),
        ("pause 1 at 2 for 0", "more than 0 s"),
        ("pause one at 2 for 3", "malformed"),
    ],
)
def test_bad_pauses_are_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _config(text)


def test_a_pause_overlapping_a_crash_of_the_same_machine_is_refused() -> None:
    with pytest.raises(ConfigError, match="overlaps 'crash 1 at 4 for 3'"):
        _config("crash 1 at 4 for 3", "pause 1 at 6 for 3")
    assert _config("crash 1 at 4 for 3", "pause 2 at 6 for 3").faults  # another machine


@pytest.mark.parametrize(
    "text",
    [
        "crash \u0661 at 10 for 5",  # ARABIC-INDIC DIGIT ONE
        "pause 1 at \u0661\u0660 for 5",
        "partition 0|\u0661,2 at 1 for 2",
        "crash 1 at 10 for \uff15",  # FULLWIDTH DIGIT FIVE
        "delay 0->\u0662 +1 at 1 for 2",
    ],
)
def test_fault_numbers_are_ascii_digits(text: str) -> None:
    with pytest.raises(ConfigError, match="malformed"):
        parse_fault(text)
    with pytest.raises(ConfigError, match="malformed"):
        fault_from_table({"fault": text})


def test_the_plan_lists_each_machines_pauses() -> None:
    plan = Plan(_config("pause 1 at 2 for 3", "crash 2 at 4 for 1", "pause 1 at 10 for 2"))
    pauses = plan.windows(1, PAUSE)
    assert [(w.at, w.until) for w in pauses] == [(2.0, 5.0), (10.0, 12.0)]
    assert [(w.start, w.end) for w in pauses] == [
        (2 * plan.units, 5 * plan.units),
        (10 * plan.units, 12 * plan.units),
    ]
    assert plan.windows(2, PAUSE) == []
    assert [(s.when, s.change.event) for s in plan.steps(1)] == [
        (2 * plan.units, PAUSE),
        (5 * plan.units, RESUME),
        (10 * plan.units, PAUSE),
        (12 * plan.units, RESUME),
    ]
    # machine 1 ticks twice a second: a pause of 3 s and one of 2 s remove 10 ticks
    assert plan.downtime_ticks(1) == 10
    assert plan.downtime_ticks(1, until=11) == 8


def test_des_pause_stops_ticks_and_keeps_clock_and_queue() -> None:
    config = _config("pause 1 at 5 for 6")
    result = simulate(config)
    plain = simulate(_config())
    log = result.logs[1]
    changes = [e for e in log if e.event not in TICK_KINDS]
    assert [(e.event, e.t) for e in changes] == [(PAUSE, 5.0), (RESUME, 11.0)]
    paused, resumed = changes
    # no tick in [5, 11); the others run on
    assert not [e for e in _ticks(log) if 5 <= e.t < 11]
    assert len(_ticks(log)) == len(_ticks(plain.logs[1])) - 12
    assert [len(_ticks(x)) for x in (result.logs[0], result.logs[2])] == [20, 80]
    # the clock is kept, messages arriving meanwhile wait in the queue: none is lost
    assert resumed.clock == paused.clock and resumed.jump == paused.jump == 0
    assert resumed.tick == paused.tick
    assert resumed.queue > paused.queue
    assert result.dropped == []
    assert result.metadata["dropped"] == [0, 0, 0]
    # the first tick after the pause takes a message off the queue
    first = _ticks(log)[resumed.tick]
    assert first.event == RECEIVE and first.t == 11.0
    assert violations(result.metadata, result.logs) == []
    assert check_logs(result.metadata, result.logs, result.dropped).problems == []


def test_a_pause_is_a_crash_that_keeps_its_queue() -> None:
    """Same windows: the crash loses what the pause keeps; the ticks removed are the same."""
    paused = simulate(_config("pause 1 at 5 for 6"))
    crashed = simulate(_config("crash 1 at 5 for 6"))
    assert [len(_ticks(x)) for x in paused.logs] == [len(_ticks(x)) for x in crashed.logs]
    lost = [d for d in crashed.dropped if d.reason == "crash"]
    assert lost and not paused.dropped


def test_summaries_only_agree_under_a_pause() -> None:
    config = _config("pause 0 at 3 for 4", "pause 2 at 3.1 for 0.2", "loss 0.1")
    result = simulate(config)
    assert simulate_summary(config) == result.summary()


def test_a_pause_the_logs_do_not_show_is_a_tick_count_violation() -> None:
    result = simulate(_config())
    claimed = {**result.metadata, "faults": [fault_table(Pause(1, 5.0, 6.0))]}
    found = violations(claimed, result.logs)
    assert any("machine-1.csv: 40 ticks, expected 28" in v for v in found)


def test_threads_pause_a_machine(tmp_path: Path) -> None:
    from lamport.analysis import load_run
    from lamport.realtime.cluster import Cluster
    from lamport.realtime.options import RealtimeOptions

    config = _config("pause 1 at 5 for 6", duration=16)
    result = Cluster(config, RealtimeOptions(speed=10), out=tmp_path / "run").run()
    des = simulate(config)
    log = result.logs[1]
    changes = [e for e in log if e.event not in TICK_KINDS]
    assert [(e.event, e.t) for e in changes] == [(PAUSE, 5.0), (RESUME, 11.0)]
    assert changes[0].clock == changes[1].clock
    assert changes[1].queue > 0  # what arrived while paused waits, counted as the DES does
    assert not [e for e in _ticks(log) if 5 <= e.t < 11]
    # the schedule is the DES's: the same ticks, the pause's removed; nothing lost
    assert [len(_ticks(x)) for x in result.logs] == [len(_ticks(x)) for x in des.logs]
    assert result.dropped == []
    loaded = load_run(tmp_path / "run")
    assert check_logs(loaded.metadata, loaded.logs, loaded.dropped).problems == []


def test_cli_runs_a_pause_and_refuses_a_non_ascii_digit(tmp_path: Path) -> None:
    run = [sys.executable, "-m", "lamport.des", "run", "--rates", "1,2,4", "--duration", "10"]
    done = subprocess.run(
        [*run, "--fault", "pause 1 at 2 for 3", "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    checked = subprocess.run(
        [sys.executable, "-m", "lamport", "check", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    refused = subprocess.run(
        [*run, "--fault", "crash \u0661 at 1 for 2", "--out", str(tmp_path / "bad")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "malformed" in lines[0] and "Traceback" not in refused.stderr
    assert not (tmp_path / "bad").exists()


def test_the_report_says_what_a_pause_did() -> None:
    from lamport.report.document import Bullets
    from lamport.report.faults import fault_blocks

    result = simulate(_config("pause 1 at 5 for 6", "crash 2 at 2 for 1"))
    (bullets,) = [b for b in fault_blocks(result) if isinstance(b, Bullets)]
    text = " ".join(bullets.items)
    assert "Machine 1 was paused from 5 s to 11 s: 12 scheduled ticks did not happen" in text
    assert "its queue was kept" in text and "its clock was kept at" in text
    assert "Machine 2 was down from 2 s to 3 s: 4 scheduled ticks did not happen" in text


@given(
    rates=st.lists(st.sampled_from([1, 2, 3, 5, 6]), min_size=2, max_size=4),
    p_send=st.sampled_from([0.3, 0.9]),
    seed=st.integers(0, 10_000),
    windows=st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 90), st.integers(1, 40), st.booleans()),
        max_size=4,
    ),
    phase=st.sampled_from(["aligned", "random"]),
)
@settings(max_examples=25, deadline=None)
def test_any_plan_of_pauses_and_crashes_keeps_the_invariants(
    rates, p_send, seed, windows, phase
) -> None:
    """Pauses and crashes anywhere (a tenth of a second apart): every invariant holds, a
    pause loses nothing, and the summaries-only path agrees with the full run."""
    plan: list[str] = []
    taken: dict[int, list[tuple[int, int]]] = {}
    for machine, at, length, pause in windows:
        machine %= len(rates)
        if any(at < b and a < at + length for a, b in taken.get(machine, [])):
            continue
        taken.setdefault(machine, []).append((at, at + length))
        kind = "pause" if pause else "crash"
        plan.append(f"{kind} {machine} at {at / 10:g} for {length / 10:g}")
    note(f"plan: {plan}")
    config = RunConfig(
        rates=tuple(rates), p_send=p_send, duration=14, seed=seed, phase=phase, faults=plan
    )
    result = simulate(config)
    assert violations(result.metadata, result.logs) == []
    assert all(d.reason == "crash" for d in result.dropped)
    crashed = {int(f.split()[1]) for f in plan if f.startswith("crash")}
    assert not {d.recipient for d in result.dropped} - crashed  # a pause loses nothing
    assert simulate_summary(config) == result.summary()


@pytest.mark.parametrize("fault", ["pause 1 at 2 for 3", "crash 1 at 2 for 3"])
def test_a_change_after_a_late_tick_keeps_the_log_in_time_order(fault: str) -> None:
    """On a loaded machine a real-time tick may run late and log a time past the next
    change's instant; the change's row then takes that time, so the log's times never go
    back (every reader refuses a log whose times do)."""
    from lamport.core import Machine, machine_streams
    from lamport.realtime.node import NodeFaults

    config = _config(fault)
    faults = NodeFaults(config, 1)
    machine = Machine(1, 3, config.p_send, machine_streams(config.seed, 3)[1][1])
    rows: list = []
    late = 2.46  # a tick due before 2 s that ran 0.5 s late
    opening = faults.changes[0].when
    faults.apply(opening, machine, lambda t: [], rows.append, after=late)
    assert [r.t for r in rows] == [late]
    faults.apply(faults.changes[0].when, machine, lambda t: [], rows.append, after=late)
    assert rows[1].t == 5.0  # the window's end, past the late tick: its own instant
