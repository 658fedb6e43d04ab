"""The fault plan (lamport.faults): parsing, validation, run.json, CLI; the DES applying it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lamport.config import RunConfig, load_experiment
from lamport.errors import ConfigError
from lamport.faults import (
    Crash,
    Delay,
    Loss,
    Partition,
    fault_from_table,
    fault_table,
    fault_text,
    parse_fault,
)

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
