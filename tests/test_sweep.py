"""Sweeps: summary.csv, independence from the number of jobs, kept logs."""

from __future__ import annotations

import csv
import json

import pandas as pd
import pytest

from lamport.config import experiment
from lamport.des import simulate, sweep
from lamport.errors import ConfigError
from lamport.summary import SUMMARY_COLUMNS, mean_ci, summarize, t_quantile_975

SPEC_COLUMNS = [
    "experiment",
    "seed",
    "machine",
    "rate",
    "p_send",
    "ticks",
    "n_internal",
    "n_send",
    "n_receive",
    "final_clock",
    "final_queue",
    "max_queue",
    "mean_jump",
    "max_jump",
]


def test_sweep_writes_summary_with_spec_columns(tmp_path):
    result = sweep(experiments=[2, 4], seeds=5, out=tmp_path / "sw", jobs=1)
    with open(tmp_path / "sw" / "summary.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[: len(SPEC_COLUMNS)] == SPEC_COLUMNS
    assert len(rows) == 2 * 5 * 3
    assert {(int(r["experiment"]), int(r["seed"])) for r in rows} == {
        (e, s) for e in (2, 4) for s in range(5)
    }
    meta = json.loads((tmp_path / "sw" / "sweep.json").read_text())
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
    queues = [r["final_queue"] for r in result.rows if r["machine"] == 0]
    mean, half = mean_ci(queues)
    assert agg[0]["final_queue"] == pytest.approx(mean)
    assert agg[0]["final_queue_ci"] == pytest.approx(half)
    assert half > 0


def test_t_quantile():
    assert t_quantile_975(1) == pytest.approx(12.706, abs=1e-3)
    assert t_quantile_975(9) == pytest.approx(2.262, abs=1e-3)
    assert t_quantile_975(30) == pytest.approx(2.042, abs=1e-3)
    assert t_quantile_975(99) == pytest.approx(1.984, abs=1e-3)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_keep_logs(tmp_path, fmt):
    sweep(experiments=[3], seeds=2, out=tmp_path / "sw", keep_logs=fmt, jobs=1)
    if fmt == "csv":
        runs = sorted(p.name for p in (tmp_path / "sw" / "runs").iterdir())
        assert runs == ["exp03-uniform-seed0", "exp03-uniform-seed1"]
    else:
        frame = pd.read_parquet(tmp_path / "sw" / "events.parquet")
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


def test_summary_columns_cover_spec():
    assert list(SUMMARY_COLUMNS[: len(SPEC_COLUMNS)]) == SPEC_COLUMNS
