"""The fault plan (lamport.faults): parsing, validation, run.json, CLI; the DES applying it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lamport.check import check_logs
from lamport.config import RunConfig, load_experiment
from lamport.core import CRASH, RECEIVE, RESTART, SEND, TICK_KINDS
from lamport.des.model import simulate, simulate_summary
from lamport.errors import ConfigError
from lamport.faults import (
    DROP_REASONS,
    Crash,
    Delay,
    Loss,
    Partition,
    fault_from_table,
    fault_table,
    fault_text,
    parse_fault,
)
from lamport.invariants import violations
from lamport.schema import SUMMARY_COLUMNS

REPO = Path(__file__).resolve().parent.parent


# -- the plan as data ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("crash 1 at 10 for 5", Crash(1, 10.0, 5.0, False)),
        ("crash 1 at 10 for 5 reset", Crash(1, 10.0, 5.0, True)),
        ("partition 0|1,2 at 20 for 10", Partition(((0,), (1, 2)), 20.0, 10.0)),
        ("loss 0.05", Loss(0.05)),
        ("delay 0->2 +0.5 at 30 for 5", Delay(0, 2, 0.5, 30.0, 5.0)),
    ],
)
def test_parse_fault_and_back(text: str, fault: object) -> None:
    assert parse_fault(text) == fault
    assert fault_text(fault) == text  # type: ignore[arg-type]
    assert fault_from_table(fault_table(fault)) == fault  # type: ignore[arg-type]


def test_table_may_hold_the_string() -> None:
    assert fault_from_table({"fault": "loss 0.5"}) == Loss(0.5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("crash 3 at 10 for 5", "no machine 3"),
        ("crash 1 at 50 for 20", "outside the run"),
        ("crash 1 at 10 for 0", "more than 0 s"),
        ("loss 1.5", r"outside \[0, 1\]"),
        ("loss -0.1", r"outside \[0, 1\]"),
        ("crash one at 10 for 5", "malformed"),
        ("partition 0|1 at 1 for 2", "groups must split"),
        ("partition 0,1,2 at 1 for 2", "groups must split"),
        ("partition 0|1|1,2 at 1 for 2", "groups must split"),
        ("delay 0->0 +1 at 1 for 2", "two different machines"),
        ("explode 1", "malformed"),
    ],
)
def test_bad_faults_are_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        RunConfig(rates=(1, 2, 3), duration=60, faults=(text,))
    assert "fault '" in str(info.value)


def test_overlapping_crashes_of_one_machine_are_refused() -> None:
    with pytest.raises(ConfigError, match="overlaps"):
        RunConfig(rates=(1, 2, 3), faults=("crash 1 at 10 for 5", "crash 1 at 14 for 5"))
    # back to back, or on different machines, is fine
    RunConfig(rates=(1, 2, 3), faults=("crash 1 at 10 for 5", "crash 1 at 15 for 5"))
    RunConfig(rates=(1, 2, 3), faults=("crash 1 at 10 for 5", "crash 2 at 12 for 5"))


def test_metadata_round_trip() -> None:
    plan = ("crash 1 at 10 for 5 reset", "partition 0|1,2 at 20 for 10", "loss 0.05")
    config = RunConfig(rates=(1, 2, 3), faults=plan)
    metadata = config.metadata()
    assert metadata["faults"][0] == {
        "kind": "crash",
        "machine": 1,
        "at": 10,
        "duration": 5,
        "reset": True,
    }
    assert RunConfig.from_metadata(metadata) == config
    assert "faults" not in RunConfig(rates=(1, 2)).metadata()


def test_experiment_file_faults(tmp_path: Path) -> None:
    path = tmp_path / "crashy.toml"
    path.write_text(
        'name = "crashy"\nrates = [1, 2, 3]\np_send = 0.3\nduration = 30\n'
        '[[faults]]\nkind = "crash"\nmachine = 2\nat = 5\nduration = 5\n'
        '[[faults]]\nfault = "loss 0.1"\n',
        encoding="utf-8",
    )
    config = load_experiment(path).config(seed=1, faults=(parse_fault("crash 0 at 1 for 1"),))
    assert config.faults == (Crash(2, 5.0, 5.0), Loss(0.1), Crash(0, 1.0, 1.0))
    path.write_text(
        'name = "bad"\nrates = [1, 2]\np_send = 0.3\n[[faults]]\nkind = "crash"\nmachine = 5\n'
        "at = 1\nduration = 1\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="no machine 5"):
        load_experiment(path)


def _des(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lamport.des", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
        timeout=120,
    )


@pytest.mark.parametrize(
    "fault",
    ["crash 7 at 1 for 1", "loss 2", "crash 1 at 59 for 5", "partition 0|2 at 1 for 1", "nope"],
)
def test_cli_bad_fault_is_one_line_exit_2(tmp_path: Path, fault: str) -> None:
    done = _des("run", "--rates", "1,2,3", "--fault", fault, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "fault" in done.stderr
    assert not (tmp_path / "runs").exists()


def test_cli_default_directory_names_the_plan(tmp_path: Path) -> None:
    done = _des(
        "run",
        "--rates",
        "1,2",
        "--duration",
        "10",
        "--fault",
        "crash 1 at 2 for 3",
        "--quiet",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    (run,) = (tmp_path / "runs" / "des").iterdir()
    assert run.name.startswith("rates1-2-p0.3-seed0-d10-faults")


# -- the DES applying the plan ---------------------------------------------------------------


def _config(*faults: str, **changes: object) -> RunConfig:
    values: dict[str, object] = {
        "rates": (1, 2, 4),
        "p_send": 0.5,
        "duration": 20,
        "seed": 3,
        "phase": "aligned",
        "faults": faults,
    }
    values.update(changes)
    return RunConfig(**values)  # type: ignore[arg-type]


def _ticks(events: list) -> list:
    return [e for e in events if e.event in TICK_KINDS]


def test_crash_removes_its_ticks_and_loses_its_messages() -> None:
    result = simulate(_config("crash 1 at 10 for 5"))
    log = result.logs[1]
    ticks = _ticks(log)
    assert len(ticks) == 40 - 10  # ticks at 10.0, 10.5, ..., 14.5 are gone
    assert not [e for e in ticks if 10 <= e.t < 15]
    assert [e.tick for e in ticks] == list(range(1, 31))
    crash, restart = (e for e in log if e.event in (CRASH, RESTART))
    assert (crash.event, crash.t, crash.tick, crash.queue, crash.jump) == (CRASH, 10.0, 19, 0, 0)
    assert (restart.event, restart.t, restart.clock, restart.jump) == (
        RESTART,
        15.0,
        crash.clock,
        0,
    )
    assert {d.reason for d in result.dropped} == {"crash"}
    assert all(d.recipient == 1 and 10 <= d.t < 15 for d in result.dropped)
    assert result.metadata["dropped"] == [0, len(result.dropped), 0]
    assert result.metadata["dropped_by_reason"]["crash"] == len(result.dropped) > 0
    assert violations(result.metadata, result.logs) == []  # conservation and ticks less downtime
    assert check_logs(result.metadata, result.logs).ok


def test_reset_crash_breaks_the_clock_condition(tmp_path: Path) -> None:
    result = simulate(_config("crash 1 at 10 for 5 reset"))
    restart = next(e for e in result.logs[1] if e.event == RESTART)
    assert restart.clock == 0 and restart.jump < 0
    assert violations(result.metadata, result.logs) == []
    report = check_logs(result.metadata, result.logs)
    assert report.problems and all("clock condition broken" in p for p in report.problems)
    result.write(tmp_path / "run")
    done = subprocess.run(
        [sys.executable, "-m", "lamport", "check", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 1 and "machine-1.csv" in done.stdout
    assert "clock condition broken" in done.stdout


def test_partition_loses_exactly_the_messages_across_the_cut() -> None:
    result = simulate(_config("partition 0|1,2 at 5 for 10"))
    side = {0: 0, 1: 1, 2: 1}
    crossing = [
        (e.msg_id, int(r))
        for log in result.logs
        for e in log
        if e.event == SEND and 5 <= e.t < 15
        for r in e.peer.split("+")
        if side[e.machine] != side[int(r)]
    ]
    assert crossing
    assert sorted((d.msg_id, d.recipient) for d in result.dropped) == sorted(crossing)
    assert {d.reason for d in result.dropped} == {"partition"}
    assert violations(result.metadata, result.logs) == []


def _actions(events: list) -> list[tuple[str, str]]:
    return [(e.event, e.peer) for e in events if e.event in ("INTERNAL", SEND)]


def test_loss_draws_apart_from_the_actions() -> None:
    plain = simulate(_config())
    total = simulate(_config("loss 1"))
    some = simulate(_config("loss 0.3"))
    assert not any(e.event == RECEIVE for log in total.logs for e in log)
    sent = sum(len(e.peer.split("+")) for log in total.logs for e in log if e.event == SEND)
    assert len(total.dropped) == sent and {d.reason for d in total.dropped} == {"loss"}
    assert (
        0
        < len(some.dropped)
        < sum(len(e.peer.split("+")) for log in some.logs for e in log if e.event == SEND)
    )
    for machine in range(3):
        # Each machine draws from the same stream whatever is lost: its actions are
        # one sequence, cut where its run ran out of empty-queue ticks.
        runs = [_actions(r.logs[machine]) for r in (plain, some, total)]
        shortest = min(len(a) for a in runs)
        assert runs[0][:shortest] == runs[1][:shortest] == runs[2][:shortest]
        assert len(runs[2]) == len(_ticks(total.logs[machine]))  # loss 1: every tick draws
    for result in (some, total):
        assert violations(result.metadata, result.logs) == []


def test_delay_holds_one_link_back_in_order() -> None:
    result = simulate(_config("delay 2->1 +2 at 5 for 5"))
    sent_at = {e.msg_id: e.t for e in result.logs[2] if e.event == SEND}
    got = [e for e in result.logs[1] if e.event == RECEIVE and e.peer == "2"]
    delayed = [e for e in got if 5 <= sent_at[e.msg_id] < 10]
    assert delayed and all(e.t - sent_at[e.msg_id] >= 2.001 for e in delayed)
    order = [int(e.msg_id.split(":")[1]) for e in got]
    assert order == sorted(order)  # FIFO kept on the link
    assert result.dropped == [] and result.metadata["dropped"] == [0, 0, 0]
    assert violations(result.metadata, result.logs) == []


PLAN = ("crash 2 at 3 for 4", "partition 0,1|2 at 12 for 3", "loss 0.2", "delay 1->0 +1 at 2 for 9")


def test_replay_is_byte_identical(tmp_path: Path) -> None:
    for name in ("a", "b"):
        simulate(_config(*PLAN)).write(tmp_path / name)
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert "network.csv" in files
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_loaded_run_keeps_the_plan_and_drops(tmp_path: Path) -> None:
    from lamport.analysis import load_run

    result = simulate(_config(*PLAN))
    result.write(tmp_path / "run")
    loaded = load_run(tmp_path / "run")
    assert loaded.config == result.config
    assert loaded.dropped == result.dropped


@pytest.mark.parametrize("clock", ["lamport", "vector"])
def test_summary_path_equals_full_path(clock: str) -> None:
    config = _config(*PLAN, "crash 0 at 15 for 2 reset", clock=clock)
    assert simulate_summary(config) == simulate(config).summary()


def test_summary_counts_drops_per_machine_and_reason(tmp_path: Path) -> None:
    config = _config("crash 1 at 10 for 5", "loss 0.2", "partition 0|1,2 at 15 for 5")
    result = simulate(config)
    rows = result.summary()
    for row in rows:
        mine = [d for d in result.dropped if d.recipient == row["machine"]]
        assert row["dropped"] == len(mine) == result.metadata["dropped"][row["machine"]]
        for reason in DROP_REASONS:
            assert row[f"dropped_{reason}"] == sum(d.reason == reason for d in mine)
    assert sum(r["dropped_loss"] for r in rows) > 0 and rows[1]["dropped_crash"] > 0
    assert sum(r["dropped_partition"] for r in rows) > 0
    assert simulate_summary(config) == rows  # the summaries-only path counts them too
    result.write(tmp_path / "run")  # and a run read back from disk
    from lamport.analysis import load_run

    assert load_run(tmp_path / "run").summary() == rows
    plain = simulate(_config()).summary()
    assert all(r[c] == 0 for r in plain for c in SUMMARY_COLUMNS if c.startswith("dropped"))


def test_real_crash_needs_processes() -> None:
    from lamport.realtime.options import RealtimeOptions

    with pytest.raises(ConfigError, match="--real-crash needs --processes"):
        RealtimeOptions(real_crash=True)
    assert RealtimeOptions(processes=True, real_crash=True).real_crash


def test_threaded_backend_plays_the_plan(tmp_path: Path) -> None:
    from lamport.analysis import load_run
    from lamport.realtime.cluster import Cluster
    from lamport.realtime.options import RealtimeOptions

    plan = ("crash 1 at 10 for 5", "loss 0.1", "partition 0|1,2 at 30 for 10")
    config = _config(*plan, duration=40)
    result = Cluster(config, RealtimeOptions(speed=20), out=tmp_path / "run").run()
    des = simulate(config)
    log = result.logs[1]
    assert [e.event for e in log if e.event in (CRASH, RESTART)] == [CRASH, RESTART]
    assert not [e for e in _ticks(log) if 10 <= e.t < 15]
    # the schedule is the DES's: the same ticks, the crash window's removed
    assert [len(_ticks(x)) for x in result.logs] == [len(_ticks(x)) for x in des.logs]
    assert [len(_ticks(x)) for x in result.logs] == [40, 70, 160]
    assert result.dropped and {d.reason for d in result.dropped} <= {"crash", "partition", "loss"}
    partitioned = [d for d in result.dropped if d.reason == "partition"]
    assert partitioned and all(30 <= d.t < 40 for d in partitioned)
    assert all(10 <= d.t <= 15 and d.recipient == 1 for d in result.dropped if d.reason == "crash")
    loaded = load_run(tmp_path / "run")  # docs/spec.md's invariants, conservation with the drops
    assert loaded.dropped == sorted(result.dropped, key=lambda d: (d.t, d.sender))
    assert sum(loaded.metadata["dropped"]) >= len(result.dropped)


def test_threaded_backend_falls_in_the_des_band_under_a_plan(tmp_path: Path) -> None:
    """Experiment 5 with a crash and lossy links, on threads at speed 20: final clocks,
    queues and lost messages per machine within the DES's 1st..99th percentile over
    40 seeds (tests/bands.py), every invariant holding. Aligned phases, as in
    test_realtime.py's band test, and for the same reason."""
    from bands import des_band

    from lamport.realtime.cluster import Cluster
    from lamport.realtime.options import RealtimeOptions

    plan = tuple(parse_fault(f) for f in ("crash 1 at 10 for 5", "loss 0.1"))
    exp = load_experiment(REPO / "experiments" / "05-small-differences.toml")

    def config(seed: int) -> RunConfig:
        return exp.config(seed, phase="aligned").with_(faults=plan)

    band = des_band(config, ["final_clock", "final_queue", "dropped", "n_receive"], range(40))
    result = Cluster(config(band.seed), RealtimeOptions(speed=20), out=tmp_path / "run").run()
    assert violations(result.metadata, result.logs) == []  # conservation with the drops
    band.check(result.summary())
    assert {d.reason for d in result.dropped} == {"crash", "loss"}


def test_report_of_a_faulted_run(tmp_path: Path) -> None:
    from lamport.analysis import event_counts
    from lamport.report import write_report

    result = simulate(_config("crash 1 at 10 for 5 reset", "loss 0.1"))
    result.write(tmp_path / "run")
    write_report(tmp_path / "run")
    counts = event_counts(result)
    assert list(counts["ticks"]) == [20, 30, 80]  # the crash window removed 10 ticks
    md = (tmp_path / "run" / "report.md").read_text(encoding="utf-8")
    assert "## Faults" in md and "`crash 1 at 10 for 5 reset`; `loss 0.1`" in md
    assert "Machine 1 was down from 10 s to 15 s: 10 scheduled ticks did not happen" in md
    assert "its clock restarted at 0" in md and "holds for every machine" in md
    lost = [d for d in result.dropped if d.recipient == 1]
    row = f"| 1 | 30 | {sum(d.reason == 'crash' for d in lost)} | 0 |"
    assert row in md
    assert "Shaded: a crash window" in md


def test_sweep_adds_the_plan_to_every_run(tmp_path: Path) -> None:
    from lamport.des.sweep import default_sweep_out, sweep

    plan = ("crash 0 at 20 for 10",)
    faulted = sweep(experiments=[4], seeds=3, jobs=1, faults=plan, out=tmp_path / "sw")
    plain = sweep(experiments=[4], seeds=3, jobs=1)
    assert faulted.metadata["faults"] == list(plan)
    config = load_experiment(REPO / "experiments" / "04-big-differences.toml").config(1)
    want = simulate_summary(config.with_(faults=(parse_fault(plan[0]),)))
    rows = [r for r in faulted.rows if r["seed"] == 1]
    assert [r["ticks"] for r in rows] == [r["ticks"] for r in want] == [50, 180, 360]
    assert [r["final_clock"] for r in rows] == [r["final_clock"] for r in want]
    assert [r["ticks"] for r in plain.rows if r["seed"] == 1] == [60, 180, 360]
    assert default_sweep_out([4], 3, faults=plan).name.startswith("sweep-exp4-s3-faults")
    lost = [r["dropped_crash"] for r in faulted.rows if r["machine"] == 0]
    assert [r["dropped"] for r in faulted.rows if r["machine"] == 0] == lost
    assert all(n > 0 for n in lost) and not any(r["dropped"] for r in plain.rows)


def test_sweep_report_counts_the_lost_messages(tmp_path: Path) -> None:
    from lamport.des.sweep import sweep
    from lamport.report import write_report
    from lamport.stats import mean_ci

    plan = ("crash 0 at 20 for 10", "loss 0.1")
    result = sweep(experiments=[4], seeds=4, jobs=1, faults=plan, out=tmp_path / "sw")
    write_report(tmp_path / "sw")
    md = (tmp_path / "sw" / "report.md").read_text(encoding="utf-8")
    assert "## Lost messages" in md
    crash = [float(r["dropped_crash"]) for r in result.rows if r["machine"] == 0]
    mean, half = mean_ci(crash)
    assert "| 4 | 0 | 1 | 4 |" in md and f"{mean:.1f} ± {half:.1f}" in md
    plain = sweep(experiments=[4], seeds=2, jobs=1, out=tmp_path / "plain")
    write_report(tmp_path / "plain")
    assert plain.rows and "Lost messages" not in (tmp_path / "plain" / "report.md").read_text()


@pytest.mark.parametrize("name", ["slow-crash", "fast-reset", "partition-heavy", "lossy"])
def test_nemesis_experiments_load_and_conserve(name: str) -> None:
    config = load_experiment(REPO / "experiments" / "faults" / f"{name}.toml").config(0)
    assert config.faults
    result = simulate(config)
    assert violations(result.metadata, result.logs) == []
    assert result.dropped


def test_windows_off_the_grid_are_exact() -> None:
    # rates 1 and 2, aligned: ticks on half seconds; a window [10.2, 12.7) holds the
    # ticks at 10.5 .. 12.5 of machine 1 and 11, 12 of machine 0, whatever the time base
    for latency in (0.001, 0.0007):
        from lamport.des.options import DesOptions

        config = _config("crash 1 at 10.2 for 2.5", "crash 0 at 10.2 for 2.5", rates=(1, 2))
        result = simulate(config, DesOptions(latency=latency))
        assert [len(_ticks(x)) for x in result.logs] == [20 - 2, 40 - 5]
        assert violations(result.metadata, result.logs) == []


def test_downtime_before_a_stop_counts_only_the_ticks_before_it() -> None:
    from lamport.invariants import downtime_ticks

    metadata = _config("crash 1 at 10 for 5").metadata()
    assert downtime_ticks(metadata, 1) == 10  # 10.0, 10.5, ..., 14.5
    assert downtime_ticks(metadata, 1, until=12) == 4  # 10.0, 10.5, 11.0, 11.5
    assert downtime_ticks(metadata, 1, until=5) == 0


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_kept_sweep_logs_keep_the_lost_messages(tmp_path: Path, fmt: str) -> None:
    import pandas as pd

    from lamport.analysis import load_run
    from lamport.des.sweep import sweep
    from lamport.schema import EVENTS_FILE, NETWORK_COLUMNS, NETWORK_EVENTS_FILE, RUNS_DIR

    plan = ("crash 1 at 10 for 5", "loss 0.1")
    out = tmp_path / "sw"
    result = sweep(experiments=[3], seeds=2, jobs=1, faults=plan, out=out, keep_logs=fmt)
    lost = sum(r["dropped"] for r in result.rows)
    assert lost > 0
    if fmt == "csv":
        runs = [load_run(p) for p in sorted((out / RUNS_DIR).iterdir())]
        assert len(runs) == 2 and sum(len(r.dropped) for r in runs) == lost
        for run in runs:  # conservation, read back from the files
            assert violations(run.metadata, run.logs) == []
            assert run.summary() == [r for r in result.rows if r["seed"] == run.config.seed]
    else:
        network = pd.read_parquet(out / NETWORK_EVENTS_FILE)
        assert len(network) == lost and set(network["seed"]) == {0, 1}
        assert tuple(network.columns) == ("experiment", "seed", *NETWORK_COLUMNS)
        assert set(network["reason"]) == {"crash", "loss"}
        assert (out / EVENTS_FILE).is_file()


def test_a_real_crash_run_is_another_run_with_a_directory_of_its_own() -> None:
    from lamport.backend import get_backend
    from lamport.cli import default_out, run_identity
    from lamport.realtime import RealtimeOptions

    backend = get_backend("realtime")
    config = _config("crash 1 at 2 for 1")
    plain = RealtimeOptions(processes=True)
    real = RealtimeOptions(processes=True, real_crash=True)
    assert default_out(backend, config, real) == Path(
        f"{default_out(backend, config, plain)}-realcrash"
    )
    assert run_identity(backend, config, real)["real_crash"] is True
    assert "real_crash" not in run_identity(backend, config, plain)


def test_a_restarted_node_goes_on_with_its_latency_streams() -> None:
    from lamport.core import link_stream, message
    from lamport.realtime import RealtimeOptions
    from lamport.realtime.node import Node
    from lamport.realtime.process import SavedState

    config = _config()
    options = RealtimeOptions(latency=0.5, latency_dist="exponential")
    nodes = [Node(1, config, options, secret=b"s" * 32) for _ in range(2)]
    try:
        first, second = nodes
        msg = message(0, 1, 1)
        first._start = second._start = 0.0
        assert first._delay is not None and second._delay is not None
        for _ in range(5):
            first._delay(0.0, msg)  # five arrivals from machine 0 before the kill
        assert first.latency_taken() == [5, 0, 0]
        line = SavedState(latency=tuple(first.latency_taken())).line()
        second.restore(0, 0, 0, 0, latency=SavedState.parse(line).latency)
        again = link_stream(config.seed, 0, 1)()  # what a restart used to draw again
        assert second.latency_draws[0]() == first.latency_draws[0]() != again
    finally:
        for node in nodes:
            node.close()


def test_a_crash_too_short_for_the_time_grid_loses_the_queue_and_no_tick() -> None:
    """Rates 1 and 8, aligned, latency 2 s: 8 units a second. A crash at 9.99 s for 1 ms
    holds no instant of that grid; it used to restart before its own crash and stay down
    to the end (9 ticks instead of 11, and the summaries-only path disagreeing)."""
    from lamport.des.options import DesOptions
    from lamport.realtime.cluster import Cluster
    from lamport.realtime.options import RealtimeOptions

    config = RunConfig(
        rates=(1, 8), p_send=0.5, duration=11.1, seed=5, phase="aligned",
        faults=(Crash(0, 9.99, 0.001),),
    )  # fmt: skip
    options = DesOptions(latency=2.0)
    result = simulate(config, options)
    rows = [(e.t, e.event) for e in result.logs[0] if e.event in (CRASH, RESTART)]
    assert rows == [(10.0, CRASH), (10.0, RESTART)]
    assert len(_ticks(result.logs[0])) == 11
    assert violations(result.metadata, result.logs) == []
    assert simulate_summary(config, options) == result.summary()
    threaded = Cluster(config, RealtimeOptions(speed=40, latency=2.0)).run()
    kinds = [e.event for e in threaded.logs[0] if e.event in (CRASH, RESTART)]
    assert kinds == [CRASH, RESTART] and len(_ticks(threaded.logs[0])) == 11
