"""``python -m lamport.des``: output, exit statuses and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from lamport.invariants import violations
from lamport.logs import read_run


def cli(*args, cwd=None):
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "lamport.des", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def test_exp_twice_gives_identical_files_that_pass_every_invariant(tmp_path):
    for name in ("a", "b"):
        out = cli("exp", "4", "--seed", "1", "--out", str(tmp_path / name))
        assert out.returncode == 0, out.stderr
        assert "big-differences" in out.stdout and "final clock" in out.stdout
    for file in ("machine-0.csv", "machine-1.csv", "machine-2.csv", "run.json"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()
    meta, logs = read_run(tmp_path / "a")
    assert violations(meta, logs) == []
    # Running again over an earlier run replaces it.
    assert cli("exp", "4", "--seed", "1", "--out", str(tmp_path / "a")).returncode == 0


def test_run_custom_rates(tmp_path):
    out = cli(
        "run",
        "--rates",
        "2,5,1,4",
        "--p-send",
        "0.5",
        "--duration",
        "10",
        "--out",
        str(tmp_path / "r"),
        "--quiet",
    )
    assert out.returncode == 0 and out.stdout == ""
    meta, logs = read_run(tmp_path / "r")
    assert meta["rates"] == [2, 5, 1, 4] and [len(log) for log in logs] == [20, 50, 10, 40]


def test_sweep_prints_the_table(tmp_path):
    out = cli("sweep", "--seeds", "3", "--exp", "4", "9", "--out", str(tmp_path / "s"))
    assert out.returncode == 0, out.stderr
    assert "big-differences" in out.stdout and "high-comm-extreme" in out.stdout
    assert "±" in out.stdout and "18 runs" not in out.stdout and "6 runs" in out.stdout
    assert (tmp_path / "s" / "summary.csv").is_file()


BAD = [
    (["exp", "12"], "unknown experiment 12"),
    (["exp", "0"], "must be >= 1"),
    (["exp", "4", "--seed", "x"], "not an integer"),
    (["exp", "4", "--seed", "1.5"], "not an integer"),
    (["exp", "4", "--duration", "0"], "positive"),
    (["exp", "4", "--duration", "-3"], "positive"),
    (["run", "--rates", "1,0,3"], "not a positive number"),
    (["run", "--rates", "1,x"], "not a number"),
    (["run", "--rates", "3"], "at least two"),
    (["run", "--rates", "1,2", "--p-send", "1.5"], "outside [0, 1]"),
    (["run", "--rates", "6,6", "--duration", "1e8"], "run too large"),
    (["sweep", "--seeds", "0"], "must be >= 1"),
    (["sweep", "--exp", "99", "--seeds", "1"], "unknown experiment 99"),
    (["frobnicate"], "invalid choice"),
    ([], "required"),
]


@pytest.mark.parametrize(("args", "message"), BAD)
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path):
    out = (
        cli(*args, "--out", str(tmp_path / "x")) if args and args[0] != "frobnicate" else cli(*args)
    )
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "x").exists()
    assert not any(tmp_path.iterdir())


def test_unwritable_out_leaves_nothing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    out = cli("exp", "4", "--out", str(blocker / "run"))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "not writable" in out.stderr or "not a directory" in out.stderr
    out = cli("exp", "4", "--out", str(tmp_path))  # non-empty, not a run
    assert out.returncode == 2 and "not empty" in out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_parent(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    out = cli("exp", "4", "--out", str(ro / "run"))
    assert out.returncode == 2 and "not writable" in out.stderr


def test_malformed_experiment_file(tmp_path):
    (tmp_path / "01-x.toml").write_text("number = 1\nname = 'x'\nrates = [1, 2\n")
    env = {**os.environ, "LAMPORT_EXPERIMENTS": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "lamport.des", "exp", "1", "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 2 and "malformed TOML" in out.stderr and "01-x.toml" in out.stderr
    assert not (tmp_path / "o").exists()


def test_help_explains_every_flag():
    for command in ("exp", "run", "sweep", "bench"):
        out = cli(command, "--help")
        assert out.returncode == 0
        for line in out.stdout.splitlines():
            if line.strip().startswith("--") and "  " in line.strip():
                assert len(line.strip().split("  ", 1)[1].strip()) > 3, line


def test_run_json_is_valid(tmp_path):
    cli("exp", "9", "--seed", "3", "--out", str(tmp_path / "r"), "--quiet")
    meta = json.loads((tmp_path / "r" / "run.json").read_text())
    assert meta["experiment"] == 9 and meta["seed"] == 3 and meta["backend"] == "des"
