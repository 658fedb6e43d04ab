"""lamport.analysis: loading runs and sweeps; statistics against hand-computed values."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from lamport.analysis import (
    GROWING,
    STABLE,
    drift_frame,
    load,
    load_run,
    load_sweep,
    machine_stats,
    queue_verdict,
    rate_correlation,
    rate_correlations,
    slope,
    sweep_rows,
    sweep_stats,
)
from lamport.analysis.load import Sweep
from lamport.errors import LogError
from lamport.result import RunResult
from lamport.schema import COLUMNS

# A hand-made run: machine 0 ticks at 1 /s, machine 1 at 4 /s, for 2 s. Machine 1
# sends to 0 at t = 0.25 (clock 1), 0.5 (clock 2) and 1.25 (clock 5).
# Machine 0 takes 1:1 at t = 1 (clock max(0,1)+1 = 2, 1:2 still queued) and 1:2
# at t = 2 (clock 3, 1:3 still queued); 1:3 is queued at the end.
TINY_ROWS = {
    0: [
        (1.0, 1.0, 0, 1, "RECEIVE", 2, 2, 1, "1", 1, "1:1"),
        (2.0, 2.0, 0, 2, "RECEIVE", 3, 1, 1, "1", 2, "1:2"),
    ],
    1: [
        (0.25, 0.25, 1, 1, "SEND", 1, 1, 0, "0", 1, "1:1"),
        (0.5, 0.5, 1, 2, "SEND", 2, 1, 0, "0", 2, "1:2"),
        (0.75, 0.75, 1, 3, "INTERNAL", 3, 1, 0, "", "", ""),
        (1.0, 1.0, 1, 4, "INTERNAL", 4, 1, 0, "", "", ""),
        (1.25, 1.25, 1, 5, "SEND", 5, 1, 0, "0", 5, "1:3"),
        (1.5, 1.5, 1, 6, "INTERNAL", 6, 1, 0, "", "", ""),
        (1.75, 1.75, 1, 7, "INTERNAL", 7, 1, 0, "", "", ""),
        (2.0, 2.0, 1, 8, "INTERNAL", 8, 1, 0, "", "", ""),
    ],
}
TINY_META = {
    "backend": "des",
    "experiment": None,
    "name": "tiny",
    "seed": 0,
    "rates": [1, 4],
    "p_send": 0.3,
    "duration": 2,
    "latency": 0.001,
    "start_epoch": 0.0,
    "version": "0.1.0",
    "queued_at_end": [1, 0],
}


def write_tiny(path: Path, rows: dict[int, list[tuple]] | None = None, meta: dict | None = None):
    path.mkdir(parents=True, exist_ok=True)
    for machine, events in (rows or TINY_ROWS).items():
        with open(path / f"machine-{machine}.csv", "w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(COLUMNS)
            writer.writerows(events)
    (path / "run.json").write_text(json.dumps(meta or TINY_META))
    return path


@pytest.fixture
def tiny(tmp_path) -> RunResult:
    return load_run(write_tiny(tmp_path / "tiny"))


@pytest.fixture(scope="module")
def exp4(tmp_path_factory) -> RunResult:
    from lamport.config import experiment
    from lamport.des import simulate

    out = tmp_path_factory.mktemp("exp4") / "run"
    # aligned phases: ticks coincide at every whole second, as the drift story needs
    simulate(experiment(4).config(seed=1, phase="aligned")).write(out)
    return load_run(out)


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory) -> Sweep:
    from lamport.des.sweep import sweep

    out = tmp_path_factory.mktemp("sweep") / "sweep"
    sweep([1, 3, 4, 9], seeds=4, jobs=1, out=out)
    return load_sweep(out)


def test_tiny_counts_clocks_and_jumps(tiny):
    stats = machine_stats(tiny).set_index("machine")
    assert list(stats["ticks"]) == [2, 8]
    assert list(stats["n_receive"]) == [2, 0]
    assert list(stats["n_send"]) == [0, 3]
    assert list(stats["n_internal"]) == [0, 5]
    assert list(stats["final_clock"]) == [3, 8]
    # one definition of the clock rate: final clock / duration
    assert stats.loc[0, "clock_rate"] == pytest.approx(1.5)
    assert stats.loc[1, "clock_rate"] == pytest.approx(4.0)
    # the least-squares slope keeps its own name: (1, 2), (2, 3) for machine 0; 4 t for 1
    assert stats.loc[0, "clock_slope"] == pytest.approx(1.0)
    assert stats.loc[1, "clock_slope"] == pytest.approx(4.0)
    # machine 0's jumps are 2 and 1: p95 interpolates 1 + 0.95 (2 - 1)
    assert stats.loc[0, "mean_jump"] == pytest.approx(1.5)
    assert stats.loc[0, "p95_jump"] == pytest.approx(1.95)
    assert stats.loc[0, "max_jump"] == 2
    assert stats.loc[0, "share_jump_gt1"] == pytest.approx(0.5)
    assert stats.loc[1, "mean_jump"] == 1.0
    assert stats.loc[1, "share_jump_gt1"] == 0.0


def test_tiny_drift_on_the_common_grid(tiny):
    drift = drift_frame(tiny)
    gap0 = drift[drift["machine"] == 0]
    assert list(gap0["t"]) == [0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
    assert list(gap0["clock"]) == [0, 0, 0, 0, 2, 2, 2, 2, 3]
    assert list(gap0["leader"]) == [0, 1, 2, 3, 4, 5, 6, 7, 8]
    assert list(gap0["drift"]) == [0, 1, 2, 3, 2, 3, 4, 5, 5]
    assert list(gap0["hold"]) == [0.25] * 8 + [0.0]
    stats = machine_stats(tiny).set_index("machine")
    assert stats.loc[0, "drift_end"] == 5
    assert stats.loc[0, "drift_max"] == 5
    # equal holds: plain least squares of gaps 0,1,2,3,2,3,4,5 on k = 0..7 is 26/42 per
    # step of 0.25 s, so 52/21 per second
    assert stats.loc[0, "drift_slope"] == pytest.approx(52 / 21)
    assert (stats.loc[1, ["drift_end", "drift_max", "drift_slope"]] == 0).all()


def test_tiny_queues(tiny):
    stats = machine_stats(tiny).set_index("machine")
    assert stats.loc[0, "mean_queue"] == 1.0
    assert stats.loc[0, "max_queue"] == 1
    assert stats.loc[0, "final_queue"] == 1  # queued_at_end, not the last logged queue
    assert stats.loc[0, "queue_growth"] == pytest.approx(0.5)  # final queue / duration
    assert stats.loc[0, "queue_slope"] == pytest.approx(0.0)
    assert list(stats["queue_verdict"]) == [STABLE, STABLE]
    assert rate_correlation(stats) == pytest.approx(1.0)


def test_a_run_in_memory_and_on_disk_is_one_type(exp4_run):
    from lamport.result import RunResult

    result, path = exp4_run
    loaded = load_run(path)
    assert type(result) is RunResult and type(loaded) is RunResult
    assert result.path == path and loaded.path == path
    assert loaded.config == result.config
    assert loaded.queued_at_end == result.queued_at_end
    assert loaded.n_machines == result.n_machines == 3
    assert loaded.events.equals(result.events)
    # every analysis function takes the run, in memory or on disk, or its directory
    for run in (result, loaded, path, str(path)):
        assert list(machine_stats(run)["final_queue"]) == [38, 1, 0]


def test_machine_stats_of_a_fresh_simulation():
    from lamport.config import experiment
    from lamport.des import simulate

    stats = machine_stats(simulate(experiment(4).config(seed=1)))
    assert list(stats["ticks"]) == [60, 180, 360]
    with pytest.raises(TypeError, match="expected a run or a run directory"):
        machine_stats(42)


def test_slope_and_verdict_rules():
    assert slope([0, 1, 2], [1, 3, 5]) == pytest.approx(2.0)
    # weights: a long hold at 0 pulls the line flat
    assert slope([0, 1], [0, 1], [3, 1]) == pytest.approx(1.0)
    assert math.isnan(slope([1], [1]))
    assert math.isnan(slope([2, 2], [1, 5]))
    assert queue_verdict(0.5, 30) == GROWING
    assert queue_verdict(0.05, 30) == STABLE  # at the threshold: not clearly growing
    assert queue_verdict(0.5, 2) == STABLE  # too few messages left to call it growth


def test_rate_correlation_undefined_for_equal_rates():
    import pandas as pd

    frame = pd.DataFrame({"rate": [3, 3, 3], "clock_rate": [3.0, 3.1, 2.9]})
    assert math.isnan(rate_correlation(frame))
    assert math.isnan(rate_correlation(frame.iloc[:1]))


def test_exp4_matches_summary_and_drift_story(exp4):
    from lamport.summary import summarize

    stats = machine_stats(exp4).set_index("machine")
    summary = summarize(exp4.metadata, exp4.logs)
    for row in summary:
        m = row["machine"]
        for key in ("ticks", "n_internal", "n_send", "n_receive", "final_clock", "max_jump"):
            assert stats.loc[m, key] == row[key], key
        assert stats.loc[m, "mean_jump"] == pytest.approx(row["mean_jump"])
        assert stats.loc[m, "final_queue"] == row["final_queue"]
        assert stats.loc[m, "max_queue"] == row["max_queue"]
        assert stats.loc[m, "drift_end"] == row["drift_end"]
    assert list(stats["ticks"]) == [60, 180, 360]
    # the 1 tick/s machine falls behind and its queue grows; the 6 tick/s machine leads
    assert stats.loc[0, "drift_slope"] > 1.0
    assert list(stats["queue_verdict"]) == [GROWING, STABLE, STABLE]
    assert stats.loc[2, "drift_max"] == 0
    assert stats.loc[2, "clock_rate"] == pytest.approx(6.0)
    for row in summary:  # the same clock rate and queue growth as a sweep's summary
        assert stats.loc[row["machine"], "clock_rate"] == pytest.approx(row["clock_rate"])
        assert stats.loc[row["machine"], "queue_growth"] == pytest.approx(
            row["final_queue"] / row["duration"]
        )
    assert rate_correlation(stats) > 0.5


def test_drift_leader_is_max_clock_at_every_instant(exp4):
    drift = drift_frame(exp4)
    wide = drift.pivot(index="t", columns="machine", values="clock")
    leader = drift[drift["machine"] == 0].set_index("t")["leader"]
    assert (wide.max(axis=1) == leader).all()
    assert (drift["drift"] >= 0).all()
    # a step function: each machine's clock on the grid never decreases
    assert (np.diff(wide.to_numpy(), axis=0) >= 0).all()


def test_realtime_run_loads(tmp_path, exp4):
    """A realtime run: same schema, jittered times, speed instead of latency."""
    rng = np.random.default_rng(0)
    rows = {}
    for machine, events in enumerate(exp4.logs):
        jitter = np.sort(rng.uniform(0, 0.004, len(events)))
        rows[machine] = [
            tuple("" if v is None else v for v in e._replace(t=e.t + j, wall=1e9 + e.t + j))
            for e, j in zip(events, jitter, strict=True)
        ]
    meta = dict(exp4.metadata, backend="realtime", speed=1.0, start_epoch=1e9)
    meta.pop("latency")
    run = load(write_tiny(tmp_path / "rt", rows, meta))
    assert isinstance(run, RunResult)
    assert run.title == "exp 4 big-differences — realtime — seed 1"
    stats = machine_stats(run)
    assert list(stats["final_clock"]) == list(machine_stats(exp4)["final_clock"])
    drift = drift_frame(run)
    assert len(drift) > len(drift_frame(exp4))  # times no longer coincide


def test_load_rejects_non_runs(tmp_path):
    with pytest.raises(LogError, match="neither a run directory"):
        load(tmp_path)
    with pytest.raises(LogError, match="missing: no such directory"):
        load(tmp_path / "missing")


def test_load_missing_log_names_file(tmp_path):
    path = write_tiny(tmp_path / "run")
    (path / "machine-1.csv").unlink()
    with pytest.raises(LogError, match=r"machine-1\.csv: cannot read"):
        load_run(path)


def test_load_malformed_row_names_file_and_line(tmp_path):
    path = write_tiny(tmp_path / "run")
    log = path / "machine-0.csv"
    log.write_text(log.read_text().replace("2.0,2.0,0,2,RECEIVE,3", "2.0,2.0,0,2,RECEIVE,x"))
    with pytest.raises(LogError, match=r"machine-0\.csv: line 3: malformed row"):
        load_run(path)


def test_load_invariant_break_names_file_and_first_row(tmp_path):
    rows = {m: list(events) for m, events in TINY_ROWS.items()}
    rows[1][3] = (1.0, 1.0, 1, 4, "INTERNAL", 9, 6, 0, "", "", "")  # clock jumps 3 -> 9
    path = write_tiny(tmp_path / "run", rows)
    with pytest.raises(LogError) as info:
        load_run(path)
    message = str(info.value)
    assert message.startswith(f"{path / 'machine-1.csv'} line 6: ")
    assert "\n" not in message
    # the unchecked loader still reads it, for post-mortems
    assert load_run(path, validate=False).n_machines == 2


def test_sweep_loads_and_aggregates(small_sweep):
    assert small_sweep.experiments == [1, 3, 4, 9]
    assert small_sweep.seeds == [0, 1, 2, 3]
    assert small_sweep.title == "sweep — des — 4 experiments × 4 seeds"
    rows = sweep_rows(small_sweep)
    assert len(rows) == 4 * 4 * 3
    assert (rows["queue_growth"] == rows["final_queue"] / rows["duration"]).all()
    all_stats = sweep_stats(small_sweep, rows)
    assert all_stats["rate"].dtype == "float64"
    assert all_stats["machine"].dtype == "Int64"
    stats = all_stats[~all_stats["random_rates"]].set_index(["experiment", "machine"])
    for (exp, machine), row in stats.iterrows():
        values = rows[(rows["experiment"] == exp) & (rows["machine"] == machine)]["final_queue"]
        assert row["final_queue"] == pytest.approx(values.mean())
        # Student's t with 3 degrees of freedom
        assert row["final_queue_ci"] == pytest.approx(3.1824 * values.std() / 2)
        assert row["seeds"] == row["samples"] == 4
    assert stats.loc[(4, 0), "rate"] == 1.0
    assert stats.loc[(4, 0), "growing_share"] == 1.0
    assert stats.loc[(9, 2), "growing_share"] == 0.0
    # experiment 1 draws its rates per seed: grouped by rate, every machine of that rate pooled
    random = all_stats[all_stats["experiment"] == 1]
    assert random["random_rates"].all() and random["machine"].isna().all()
    exp1 = rows[rows["experiment"] == 1]
    assert sorted(random["rate"]) == sorted(exp1["rate"].unique())
    assert random["samples"].sum() == len(exp1)
    for _, row in random.iterrows():
        values = exp1[exp1["rate"] == row["rate"]]["drift_end"]
        assert row["drift_end"] == pytest.approx(values.mean())
        assert row["samples"] == len(values)
    corr = rate_correlations(rows).set_index("experiment")["correlation"]
    assert math.isnan(corr[3])  # equal rates
    assert corr[9] > 0.9
    assert 0 in corr.index


def test_sweep_bad_inputs(tmp_path, small_sweep):
    with pytest.raises(LogError, match=r"no sweep\.json"):
        load_sweep(tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "sweep.json").write_text("{not json")
    with pytest.raises(LogError, match=r"sweep\.json: malformed"):
        load_sweep(bad)
    (bad / "sweep.json").write_text(json.dumps(small_sweep.metadata))
    with pytest.raises(LogError, match=r"summary\.csv: cannot read"):
        load_sweep(bad)
    text = (small_sweep.path / "summary.csv").read_text().splitlines()
    (bad / "summary.csv").write_text("\n".join([text[0].replace("max_jump", "mj"), *text[1:]]))
    with pytest.raises(LogError, match=r"missing column.*max_jump"):
        load_sweep(bad)
    broken = text[4].split(",")
    broken[9] = "lots"  # final_clock
    (bad / "summary.csv").write_text("\n".join([*text[:4], ",".join(broken), *text[5:]]))
    with pytest.raises(LogError, match=r"summary\.csv: line 5: final_clock 'lots' is not a number"):
        load_sweep(bad)


def test_sweep_in_memory_has_numeric_dtypes():
    from lamport.analysis import as_sweep
    from lamport.des import sweep

    result = sweep([4], seeds=2, jobs=1)
    loaded = as_sweep(result)
    assert loaded.path is None and not loaded.has_events
    assert loaded.summary["rate"].dtype == "float64"
    assert loaded.summary["final_queue"].dtype == "int64"
    stats = sweep_stats(result)
    assert list(stats["rate"]) == [1.0, 3.0, 6.0]
    assert list(stats["machine"]) == [0, 1, 2]


@pytest.mark.parametrize("keep", ["csv", "parquet"])
def test_sweep_with_kept_logs(tmp_path, keep):
    from lamport.des.sweep import sweep

    out = sweep([4], seeds=2, jobs=1, out=tmp_path / "sweep", keep_logs=keep).out
    loaded = load(out)
    assert isinstance(loaded, Sweep)
    if keep == "csv":
        assert len(loaded.run_dirs) == 2
        run = load_run(loaded.run_dirs[1])
        assert run.metadata["seed"] == 1
        assert not loaded.has_events
    else:
        events = loaded.events()
        assert set(events["seed"]) == {0, 1} and set(events["experiment"]) == {4}
        assert len(events) == 2 * (60 + 180 + 360)
