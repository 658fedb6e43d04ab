"""``python -m lamport.des``: output, exit statuses and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from lamport.config import RunConfig, experiment
from lamport.des import simulate
from lamport.des.options import DesOptions
from lamport.invariants import violations
from lamport.logs import read_run
from lamport.schema import RUN_FILE


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
    # After the table, the answers: the sweep report's own sentences, one per experiment
    from lamport.analysis import load_sweep, rate_correlations, sweep_rows, sweep_stats
    from lamport.report.grid import findings

    sweep = load_sweep(tmp_path / "s")
    rows = sweep_rows(sweep)
    expected = findings(sweep_stats(sweep, rows), rate_correlations(rows), rows)
    assert len(expected) == 3 and expected[0].startswith("Exp 4 big-differences")
    text = " ".join(out.stdout.split())  # the console wraps long sentences
    assert "Answers (as the sweep report gives them):" in text
    for sentence in expected:
        assert f"- {' '.join(sentence.split())}" in text
    tail = out.stdout.splitlines()[-2:]
    assert (
        tail[0]
        == f"the full report (tables, predictions, figures): lamport report {tmp_path / 's'}"
    )
    assert tail[1].startswith("the lab's questions answered at length: ")
    assert tail[1].endswith("experiments/RESULTS.md") and "experiments/RESULTS.md" in tail[1]
    results = tail[1].split(": ", 1)[1]
    assert (tmp_path / results).is_file() or Path(results).is_file()
    quiet = cli("sweep", "--seeds", "3", "--exp", "4", "--out", str(tmp_path / "q"), "--quiet")
    assert quiet.returncode == 0 and quiet.stdout == ""


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


def snapshot(directory):
    return {p.relative_to(directory): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def test_different_runs_land_in_different_default_folders(tmp_path):
    commands = [
        ("exp", "4", "--seed", "1"),
        ("exp", "4", "--seed", "2"),
        ("exp", "4", "--seed", "1", "--duration", "30"),
        ("exp", "4", "--seed", "1", "--latency", "0.005"),
        ("run", "--rates", "1,3,6"),
        ("run", "--rates", "1,3,6.5", "--p-send", "0.25"),
    ]
    for command in commands:
        out = cli(*command, "--quiet", cwd=tmp_path)
        assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "runs" / "des").iterdir()) == [
        "exp04-big-differences-seed1",
        "exp04-big-differences-seed1-d30",
        "exp04-big-differences-seed1-lat0.005",
        "exp04-big-differences-seed2",
        "rates1-3-6-p0.3-seed0",
        "rates1-3-6.5-p0.25-seed0",
    ]
    meta = json.loads((tmp_path / "runs/des/rates1-3-6.5-p0.25-seed0/run.json").read_text())
    assert meta["rates"] == [1, 3, 6.5] and meta["p_send"] == 0.25


def test_the_same_command_twice_replaces_its_own_output(tmp_path):
    assert cli("exp", "9", "--quiet", cwd=tmp_path).returncode == 0
    run = tmp_path / "runs" / "des" / "exp09-high-comm-extreme-seed0"
    first = snapshot(run)
    (run / "stray.txt").write_text("from the first run")
    out = cli("exp", "9", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert f"logs: {run.relative_to(tmp_path)}" in out.stdout
    assert snapshot(run) == first  # replaced: byte-identical logs, the stray file gone


def test_out_holding_a_different_run_is_refused_without_force(tmp_path):
    target = tmp_path / "r"
    assert cli("exp", "4", "--seed", "1", "--out", str(target), "--quiet").returncode == 0
    before = snapshot(target)
    for command in (
        ("exp", "4", "--seed", "2"),
        ("exp", "5", "--seed", "1"),
        ("exp", "4", "--seed", "1", "--duration", "59"),
        ("run", "--rates", "1,3,6"),
    ):
        out = cli(*command, "--out", str(target))
        assert out.returncode == 2 and out.stdout == ""
        assert out.stderr.strip().splitlines() == [
            f"error: --out {target} holds a different run "
            "(des, exp 4, seed 1, 60 s); use --force to replace it"
        ]
        assert snapshot(target) == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # no staging left behind
    out = cli("run", "--rates", "1,3,6", "--out", str(target), "--force", "--quiet")
    assert out.returncode == 0, out.stderr
    meta = json.loads((target / "run.json").read_text())
    assert meta["experiment"] is None and meta["rates"] == [1, 3, 6]


def test_sweeps_land_apart_and_refuse_a_different_sweep(tmp_path):
    for command in (("--seeds", "2", "--exp", "4", "9"), ("--seeds", "3", "--exp", "4")):
        assert cli("sweep", *command, "--jobs", "1", "--quiet", cwd=tmp_path).returncode == 0
    sweeps = tmp_path / "runs" / "des"
    assert sorted(p.name for p in sweeps.iterdir()) == ["sweep-exp4-9-s2", "sweep-exp4-s3"]
    before = snapshot(sweeps / "sweep-exp4-s3")
    out = cli(
        "sweep", "--seeds", "2", "--exp", "4", "--out", "runs/des/sweep-exp4-s3", cwd=tmp_path
    )
    assert out.returncode == 2
    assert "holds a different run (des, sweep of exp 4, 3 seeds); use --force" in out.stderr
    assert snapshot(sweeps / "sweep-exp4-s3") == before
    out = cli(
        "sweep", "--seeds", "2", "--exp", "4", "--out", "runs/des/sweep-exp4-s3", "--force",
        "--quiet", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads((sweeps / "sweep-exp4-s3" / "sweep.json").read_text())["seeds"] == [0, 1]


def test_realtime_refuses_a_different_run_before_starting(tmp_path):
    assert cli("exp", "4", "--out", str(tmp_path / "r"), "--quiet").returncode == 0
    before = snapshot(tmp_path / "r")
    out = subprocess.run(
        [sys.executable, "-m", "lamport.realtime", "exp", "4", "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "holds a different run (des, exp 4" in out.stderr
    assert snapshot(tmp_path / "r") == before


def test_quiet_report_prints_nothing(tmp_path):
    out = cli("exp", "4", "--duration", "5", "--out", str(tmp_path / "r"), "--quiet", "--report")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and out.stderr == ""
    assert (tmp_path / "r" / "report.html").is_file()


def test_help_tells_the_truth():
    sweep_help = cli("sweep", "--help").stdout
    assert "%%" not in sweep_help and "95% CI" in sweep_help
    assert "runs/des/sweep-<all|expN-M-...>-s<K>" in sweep_help
    run_help = " ".join(cli("run", "--help").stdout.split())
    assert "(default: 60)" in run_help and "the experiment's" not in run_help
    assert "runs/des/rates<R1>-<R2>-...-p<P>-seed<S>" in run_help
    exp_help = " ".join(cli("exp", "--help").stdout.split())
    assert "runs/des/exp<NN>-<name>-seed<S>" in exp_help
    assert "%%" not in cli("--help").stdout


def test_report_of_a_missing_directory_says_so(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "lamport.report", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert out.stderr.strip() == f"error: {tmp_path / 'nope'}: no such directory"


# -- rerun -------------------------------------------------------------------------------


def logs_of(directory):
    """A run directory's files, run.json aside (its version and options are compared apart)."""
    return {name: data for name, data in snapshot(directory).items() if name.name != RUN_FILE}


def test_rerun_of_a_des_run_gives_byte_identical_files(tmp_path):
    original = tmp_path / "a"
    options = ("--latency", "0.004", "--start-epoch", "1700000000")
    made = cli("exp", "4", "--seed", "1", *options, "--out", str(original), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    again = cli("rerun", str(original), "--out", str(tmp_path / "b"), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert snapshot(tmp_path / "b") == snapshot(original)
    # the same summary as `exp` printed, only the logs line differs
    assert made.stdout.splitlines()[:-1] == again.stdout.splitlines()[:-1]
    assert again.stdout.splitlines()[-1].startswith(f"logs: {tmp_path / 'b'}")


def test_rerun_writes_to_the_default_folder_of_the_run(tmp_path):
    assert cli("exp", "9", "--seed", "2", "--out", "mine", "--quiet", cwd=tmp_path).returncode == 0
    out = cli("rerun", "mine", "--quiet", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout == "" and out.stderr == ""
    default = tmp_path / "runs" / "des" / "exp09-high-comm-extreme-seed2"
    assert snapshot(default) == snapshot(tmp_path / "mine")
    # the `lamport` command dispatches to the same main
    out = subprocess.run(
        [sys.executable, "-m", "lamport", "des", "rerun", "mine", "--out", "again", "--quiet"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert snapshot(tmp_path / "again") == snapshot(tmp_path / "mine")


def test_rerun_refuses_an_out_holding_a_different_run_without_force(tmp_path):
    for name, seed in (("a", "1"), ("b", "2")):
        assert (
            cli("exp", "4", "--seed", seed, "--out", name, "--quiet", cwd=tmp_path).returncode == 0
        )
    before = snapshot(tmp_path / "b")
    out = cli("rerun", "a", "--out", "b", cwd=tmp_path)
    assert out.returncode == 2 and "holds a different run (des, exp 4, seed 2" in out.stderr
    assert snapshot(tmp_path / "b") == before
    out = cli("rerun", "a", "--out", "b", "--force", "--quiet", "--report", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout == "" and out.stderr == ""
    assert (tmp_path / "b" / "report.html").is_file()
    rerun_files = {k: v for k, v in logs_of(tmp_path / "b").items() if k.suffix == ".csv"}
    assert rerun_files == logs_of(tmp_path / "a")


def test_rerun_api_gives_the_same_events(exp4_run, tmp_path):
    from lamport.des import rerun

    result, path = exp4_run
    again = rerun(path)
    assert again.logs == result.logs and again.metadata == result.metadata
    written = rerun(path, DesOptions(start_epoch=1000.0), out=tmp_path / "later")
    assert written.metadata["options"] == {
        "latency": 0.001,
        "start_epoch": 1000.0,
        "latency_dist": "constant",
        "latency_spread": None,
    }
    assert read_run(tmp_path / "later")[1] == written.logs
    assert written.logs[0][0].wall == result.logs[0][0].wall + 1000.0


@pytest.fixture(scope="module")
def realtime_run(tmp_path_factory):
    """A real run of the real-time backend: experiment 4, seed 2, 3 s at speed 20."""
    from lamport.backend import get_backend
    from lamport.realtime.options import RealtimeOptions

    config = experiment(4).config(seed=2, duration=3)
    out = tmp_path_factory.mktemp("realtime") / "rt"
    get_backend("realtime").run(config, RealtimeOptions(speed=20), out=out)
    return out


def test_a_realtime_run_is_replayed_on_the_des(realtime_run, tmp_path):
    recorded = json.loads((realtime_run / RUN_FILE).read_text())
    assert recorded["backend"] == "realtime" and recorded["options"]["speed"] == 20
    out = cli("rerun", str(realtime_run), "--out", "des", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == (
        f"{realtime_run}: a realtime run; replaying its model on the DES with the default "
        "DES options"
    )
    assert lines[1] == "des: experiment 4 (big-differences), seed 2, 3 s, p_send 0.3"
    meta, logs = read_run(tmp_path / "des")
    assert meta["backend"] == "des" and meta["options"] == asdict(DesOptions())
    for key in ("experiment", "name", "rates", "p_send", "duration", "seed"):
        assert meta[key] == recorded[key]
    expected = simulate(RunConfig.from_metadata(recorded))
    assert logs == expected.logs and [len(log) for log in logs] == [3, 9, 18]
    assert violations(meta, logs) == []


def test_a_realtime_run_replays_through_the_api(realtime_run):
    from lamport.des import rerun
    from lamport.des.rerun import replay

    plan = replay(realtime_run)
    assert plan.foreign and plan.made_by.name == "realtime" and plan.options == DesOptions()
    assert rerun(realtime_run).logs == simulate(plan.config).logs


def _write(path, text):
    path.mkdir()
    (path / RUN_FILE).write_text(text)
    return path


def test_rerun_errors_are_one_line_and_exit_2(tmp_path):
    good = {
        "backend": "des",
        "rates": [1, 2],
        "p_send": 0.3,
        "duration": 5,
        "seed": 0,
        "queued_at_end": [0, 0],
    }
    cases = {
        tmp_path / "missing": "no such directory",
        tmp_path / "empty": f"not a run directory (no {RUN_FILE})",
        _write(tmp_path / "broken", '{"rates": [1,'): "malformed",
        _write(tmp_path / "list", "[1, 2]"): "malformed (not a JSON object)",
        _write(tmp_path / "norates", '{"backend": "des"}'): "malformed (no rates list)",
        _write(tmp_path / "short", json.dumps({**good, "duration": None})): "no duration",
        _write(tmp_path / "one", json.dumps({**good, "rates": [1]})): "at least two machines",
        _write(tmp_path / "lat", json.dumps({**good, "options": {"latency": -1}})): "latency",
        _write(tmp_path / "who", json.dumps({**good, "backend": "carrier-pigeon"})): (
            "unknown backend 'carrier-pigeon'"
        ),
    }
    (tmp_path / "empty").mkdir()
    for directory, message in cases.items():
        out = cli("rerun", str(directory), "--out", str(tmp_path / "out"), cwd=tmp_path)
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 2 and out.stdout == "", directory
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
        assert str(directory.name) in lines[0] and "Traceback" not in out.stderr
        assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()


def test_report_prints_both_files_as_lamport_report_does(tmp_path):
    out = cli("exp", "4", "--duration", "5", "--out", str(tmp_path / "r"), "--report")
    assert out.returncode == 0, out.stderr
    run = tmp_path / "r"
    assert out.stdout.splitlines()[-1] == f"report: {run / 'report.md'}  {run / 'report.html'}"
    assert (run / "report.md").is_file() and (run / "report.html").is_file()


def test_list_shows_the_catalogue():
    out = cli("list")
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines() if "big-differences" in ln)
    assert line.split()[:6] == ["4", "big-differences", "1,", "3,", "6", "0.3"]
    assert line.rstrip().endswith("an order of magnitude apart: who drifts, and how fast?")
