"""Sweeps: summary.csv, independence from the number of jobs, kept logs."""

from __future__ import annotations

import csv
import importlib
import json

import pandas as pd
import pytest

from lamport.config import experiment
from lamport.des import simulate, sweep
from lamport.des.grid import task_seeds
from lamport.des.sweep import aggregate
from lamport.errors import ConfigError
from lamport.schema import (
    EVENTS_FILE,
    RUNS_DIR,
    SUMMARY_COLUMNS,
    SUMMARY_FILE,
    SWEEP_FILE,
    SWEEP_METRICS,
)
from lamport.stats import mean_ci
from lamport.summary import summarize

sweep_module = importlib.import_module("lamport.des.sweep")


def test_sweep_writes_summary_with_spec_columns(tmp_path):
    result = sweep(experiments=[2, 4], seeds=5, out=tmp_path / "sw", jobs=1)
    with open(tmp_path / "sw" / SUMMARY_FILE) as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == SUMMARY_COLUMNS  # docs/spec.md's first (tests/test_schema.py)
    assert len(rows) == 2 * 5 * 3
    assert {(int(r["experiment"]), int(r["seed"])) for r in rows} == {
        (e, s) for e in (2, 4) for s in range(5)
    }
    meta = json.loads((tmp_path / "sw" / SWEEP_FILE).read_text())
    assert meta["experiments"] == [2, 4] and meta["seeds"] == [0, 1, 2, 3, 4]
    assert result.n_events == 5 * (360 + 240 + 240 + 60 + 180 + 360)


def test_sweep_rows_equal_single_runs_whatever_the_jobs():
    one = sweep(experiments=[1, 9], seeds=6, jobs=1)
    two = sweep(experiments=[1, 9], seeds=6, jobs=2)
    assert one.rows == two.rows
    direct = summarize(*_run(9, 3))
    assert [r for r in one.rows if r["experiment"] == 9 and r["seed"] == 3] == direct


def _run(number, seed):
    result = simulate(experiment(number).config(seed=seed))
    return result.metadata, result.logs


def test_sweep_aggregate_ci():
    result = sweep(experiments=[4], seeds=20, jobs=1)
    agg = {row["machine"]: row for row in result.aggregated}
    for machine in range(3):
        members = [r for r in result.rows if r["machine"] == machine]
        for metric in SWEEP_METRICS:
            mean, half = mean_ci([float(r[metric]) for r in members])
            assert agg[machine][metric] == pytest.approx(mean)
            assert agg[machine][f"{metric}_ci"] == pytest.approx(half, nan_ok=True)
        assert agg[machine]["seeds"] == agg[machine]["n"] == 20
        assert agg[machine]["rate"] == [1, 3, 6][machine]
    assert agg[0]["final_queue_ci"] > 0


def row(experiment, seed, machine, rate, queue):
    return {
        "experiment": experiment,
        "seed": seed,
        "machine": machine,
        "rate": rate,
        "p_send": 0.3,
        "name": "x",
        **{metric: queue for metric in SWEEP_METRICS},
    }


def test_aggregate_groups_seed_drawn_rates_by_rate_and_fixed_rates_by_machine():
    rows = [
        # experiment 1: rates drawn per seed, so machine 0 is rate 2 once and rate 5 once
        row(1, 0, 0, 2.0, 10),
        row(1, 0, 1, 5.0, 0),
        row(1, 1, 0, 5.0, 2),
        row(1, 1, 1, 2.0, 14),
        # experiment 4: fixed rates
        row(4, 0, 0, 1.0, 30),
        row(4, 0, 1, 3.0, 1),
        row(4, 1, 0, 1.0, 40),
        row(4, 1, 1, 3.0, 3),
    ]
    agg = aggregate(rows)
    assert [(a["experiment"], a["machine"], a["rate"], a["n"]) for a in agg] == [
        (1, None, 2.0, 2),
        (1, None, 5.0, 2),
        (4, 0, 1.0, 2),
        (4, 1, 3.0, 2),
    ]
    assert agg[0]["final_queue"] == 12 and agg[1]["final_queue"] == 1
    assert agg[0]["final_queue_ci"] == pytest.approx(mean_ci([10, 14])[1])
    assert agg[2]["final_queue"] == 35


def test_a_real_experiment_1_sweep_is_grouped_by_rate():
    result = sweep(experiments=[1], seeds=10, jobs=1)
    drawn = sorted({r["rate"] for r in result.rows})
    assert [a["rate"] for a in result.aggregated] == drawn
    assert sum(a["n"] for a in result.aggregated) == 10 * 3
    assert all(a["machine"] is None for a in result.aggregated)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_keep_logs(tmp_path, fmt):
    sweep(experiments=[3], seeds=2, out=tmp_path / "sw", keep_logs=fmt, jobs=1)
    if fmt == "csv":
        runs = sorted(p.name for p in (tmp_path / "sw" / RUNS_DIR).iterdir())
        assert runs == ["exp03-uniform-seed0", "exp03-uniform-seed1"]
    else:
        frame = pd.read_parquet(tmp_path / "sw" / EVENTS_FILE)
        assert len(frame) == 2 * 540 and set(frame["seed"]) == {0, 1}
        assert list(frame.columns[:2]) == ["experiment", "seed"]


def test_bad_sweep_arguments():
    with pytest.raises(ConfigError, match="unknown experiment 42"):
        sweep(experiments=[42], seeds=1)
    with pytest.raises(ConfigError, match="seeds"):
        sweep(seeds=0)
    with pytest.raises(ConfigError, match="duration"):
        sweep(experiments=[2], seeds=1, duration=-1)
    with pytest.raises(ConfigError, match="run too large"):
        sweep(experiments=[2], seeds=1, duration=1e7)
    with pytest.raises(ConfigError, match="keep-logs"):
        sweep(experiments=[2], seeds=1, keep_logs="xml")


def test_a_huge_seed_count_is_streamed_not_allocated():
    import tracemalloc

    seen = []

    def stop(done, total):
        seen.append((done, total))
        raise KeyboardInterrupt

    tracemalloc.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            sweep(experiments=[2, 3], seeds=10**9, jobs=1, progress=stop)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The first chunk of the grid's engine: a task's worth of seeds of experiment 2.
    grid = sweep_module.sweep_grid([2, 3], 10**9)
    assert seen == [(task_seeds(grid, 1), 2 * 10**9)]
    assert 100 < seen[0][0] < 1000
    assert peak < 30_000_000  # a list of 10**9 seeds alone would be 8 GB


def test_a_huge_sweep_on_the_command_line_starts_and_stops_at_once(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "sw"
    command = ["sweep", "--seeds", "1000000000", "--exp", "2", "--jobs", "2", "--out", str(out)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "lamport.des", *command],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list(tmp_path.glob(".sw.partial-*/summary.csv")):
        time.sleep(0.05)
    time.sleep(1.0)  # rows are streaming into the staged summary.csv
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and err.strip() == "interrupted"
    assert not out.exists() and not list(tmp_path.glob(".sw.*"))


def test_a_sweep_too_large_to_keep_its_rows_streams_them(tmp_path, monkeypatch):
    kept = sweep(experiments=[1, 4], seeds=7, out=tmp_path / "kept", jobs=2)
    monkeypatch.setattr(sweep_module, "KEEP_ROWS_RUNS", 0)
    streamed = sweep(experiments=[1, 4], seeds=7, out=tmp_path / "streamed", jobs=2)
    assert streamed.rows == []
    assert (tmp_path / "kept" / SUMMARY_FILE).read_text() == (
        tmp_path / "streamed" / SUMMARY_FILE
    ).read_text()
    assert len(streamed.aggregated) == len(kept.aggregated)
    for a, b in zip(streamed.aggregated, kept.aggregated, strict=True):
        assert a.keys() == b.keys()
        for key, value in b.items():
            if isinstance(value, float):
                assert a[key] == pytest.approx(value, rel=1e-9, nan_ok=True), key
            else:
                assert a[key] == value, key


def test_sweep_json_names_a_huge_seed_range_without_listing_it(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep_module, "LISTED_SEEDS", 3)
    sweep(experiments=[2], seeds=5, out=tmp_path / "sw", jobs=1)
    meta = json.loads((tmp_path / "sw" / SWEEP_FILE).read_text())
    assert meta["seeds"] == {"first": 0, "count": 5}


def test_a_sweep_is_a_grid_over_experiment_and_seed_stored_as_its_dataset(tmp_path):
    from lamport.des.grid import read_dataset

    out = tmp_path / "sw"
    result = sweep(experiments=[4, 1], seeds=5, out=out, jobs=2)
    summary = pd.read_csv(out / SUMMARY_FILE)
    dataset = read_dataset(out)
    # cell i is the i-th experiment given; the rows are summary.csv's, in its order
    assert dict(zip(dataset["cell"], dataset["experiment"], strict=True)) == {0: 4, 1: 1}
    ordered = dataset.sort_values(["cell", "seed", "machine"], ignore_index=True)
    assert sorted(ordered.columns) == sorted(["cell", *SUMMARY_COLUMNS])
    assert len(summary) == len(ordered) == len(result.rows) == 2 * 5 * 3
    for column in SUMMARY_COLUMNS:
        got, want = ordered[column].tolist(), summary[column].tolist()
        assert got == pytest.approx(want, nan_ok=True) if column != "name" else got == want
    meta = json.loads((out / SWEEP_FILE).read_text())
    assert meta["factors"] == ["experiment"] and meta["cells"] == 2 and meta["runs"] == 10
    assert meta["experiments"] == [4, 1] and meta["seeds"] == [0, 1, 2, 3, 4]
    assert 1 <= meta["chunk_seeds"] <= 5


def test_sweep_json_and_grid_json_come_from_one_builder(tmp_path):
    from lamport.des.grid import grid_metadata, run_grid
    from lamport.schema import GRID_JSON

    sweep(experiments=[2], seeds=2, out=tmp_path / "sw", jobs=1)
    grid_file = tmp_path / "g.toml"
    grid_file.write_text('name = "g"\nduration = 2\nseeds = 2\n[factors]\nexperiment = [2, 4]\n')
    run_grid(grid_file, tmp_path / "g", jobs=1)
    swept = json.loads((tmp_path / "sw" / SWEEP_FILE).read_text())
    gridded = json.loads((tmp_path / "g" / GRID_JSON).read_text())
    shared = list(grid_metadata(sweep_module.sweep_grid([2], 2)))
    assert list(swept)[: len(shared) - 1] == list(gridded)[: len(shared) - 1] == shared[:-1]
    assert swept["factors"] == gridded["factors"] == ["experiment"]


def test_a_grid_of_catalogue_experiments_gives_the_sweeps_rows(tmp_path):
    from lamport.des.grid import run_grid

    grid_file = tmp_path / "g.toml"
    grid_file.write_text('name = "g"\nseeds = 3\n[factors]\nexperiment = [9, 4]\n')
    frame = run_grid(grid_file, tmp_path / "g", jobs=2).frame()
    swept = sweep(experiments=[9, 4], seeds=3, jobs=1)
    assert frame[list(SUMMARY_COLUMNS)].to_dict("records") == swept.rows


def test_a_faulted_sweep_replays_to_the_same_clocks(tmp_path):
    from lamport.des.rerun import replay_sweep

    plan = ["crash 1 at 10 for 5", "loss 0.1"]
    result = sweep(experiments=[4, 1], seeds=3, jobs=1, faults=plan, out=tmp_path / "sw")
    clocks: dict[tuple[int, int], dict[int, int]] = {}
    for row in result.rows:
        clocks.setdefault((row["experiment"], row["seed"]), {})[row["machine"]] = row["final_clock"]
    replayed = dict(replay_sweep(result.metadata, clocks))
    assert replayed.keys() == clocks.keys()
    assert all(run is not None for run in replayed.values())
    assert sum(len(run.dropped) for run in replayed.values()) > 0


def test_seeds_must_be_a_count_or_consecutive(tmp_path):
    assert sweep(experiments=[2], seeds=[3, 4, 5], jobs=1).rows == [
        row for row in sweep(experiments=[2], seeds=6, jobs=1).rows if row["seed"] >= 3
    ]
    with pytest.raises(ConfigError, match="consecutive"):
        sweep(experiments=[2], seeds=[1, 3], jobs=1)


def test_a_sweep_that_cannot_write_leaves_nothing_and_says_so_in_one_line(tmp_path):
    import os
    import resource
    import subprocess
    import sys
    from pathlib import Path

    def limit() -> None:  # files of at most 20 KB: summary.csv or a chunk outgrows it
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    root = Path(__file__).resolve().parent.parent
    command = ["sweep", "--seeds", "300", "--exp", "4", "9", "--jobs", "2", "--out", "sw"]
    done = subprocess.run(
        [sys.executable, "-m", "lamport.des", *command, "--quiet"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr == "error: --out sw: cannot write (file too large)\n"
    assert list(tmp_path.iterdir()) == []
