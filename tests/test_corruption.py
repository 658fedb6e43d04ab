"""A corrupted run directory is a one-line error or a run whose invariants hold, never a traceback.

A valid run directory is corrupted in many ways (cells altered, rows deleted,
duplicated, swapped or cut off, garbage bytes, run.json fields of the wrong
type or missing, files missing, empty or replaced by directories); loading it
must either raise one LamportError of one line, or succeed with every
invariant holding and the analysis able to summarise it.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lamport.analysis import load_run, machine_stats
from lamport.config import experiment
from lamport.des import simulate
from lamport.errors import LamportError
from lamport.invariants import violations
from lamport.schema import RUN_FILE

CELLS = ["", "x", "-1", "0", "nan", "inf", "1e309", "99999999999999999999", "1+1", "0+0",
         "2+2", "9", "٣", "SEND", "RECEIVE", "INTERNAL", "1:1", "0:1", " 1", "1.5"]  # fmt: skip
JSON_VALUES = [None, True, -1, 0, 1.5, math.nan, "x", "", [], [1], ["1", "2"], {}, [0, 0, 0],
               [-1, 0, 0], [1.5, 2, 3], [0, 0], [1, 3, 6, 2]]  # fmt: skip
JSON_KEYS = ["backend", "rates", "p_send", "duration", "seed", "queued_at_end", "experiment",
             "interrupted", "stopped_at", "dropped", "options", "name"]  # fmt: skip


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    result = simulate(experiment(4).config(seed=1, duration=8))
    return result.write(tmp_path_factory.mktemp("pristine") / "run")


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


@st.composite
def corruptions(draw):
    """A function that corrupts a copy of the run directory, and its name."""
    machine = draw(st.integers(0, 2))
    kind = draw(
        st.sampled_from(
            [
                "cell",
                "delete",
                "duplicate",
                "swap",
                "truncate",
                "garbage",
                "json",
                "json-missing",
                "json-garbage",
                "missing",
                "empty",
                "directory",
            ]
        )
    )
    row = draw(st.integers(0, 400))
    other = draw(st.integers(0, 400))
    column = draw(st.integers(0, 10))
    cell = draw(st.sampled_from(CELLS) | st.text(max_size=6))
    garbage = draw(st.binary(min_size=1, max_size=12))
    fraction = draw(st.floats(0, 1))
    key = draw(st.sampled_from(JSON_KEYS))
    value = draw(st.sampled_from(JSON_VALUES))
    target = draw(st.sampled_from([f"machine-{machine}.csv", RUN_FILE]))

    def corrupt(run: Path) -> None:
        log = run / f"machine-{machine}.csv"
        lines = _lines(log)
        body = len(lines) - 1
        r = 1 + row % body if body else 0
        if kind == "cell":
            cells = lines[r].rstrip("\n").split(",")
            cells[column % len(cells)] = cell.replace(",", "").replace("\n", "")
            lines[r] = ",".join(cells) + "\n"
        elif kind == "delete":
            del lines[r]
        elif kind == "duplicate":
            lines.insert(r, lines[r])
        elif kind == "swap":
            o = 1 + other % body if body else 0
            lines[r], lines[o] = lines[o], lines[r]
        if kind in ("cell", "delete", "duplicate", "swap"):
            log.write_text("".join(lines), encoding="utf-8")
        elif kind in ("truncate", "garbage"):
            path = run / target
            data = path.read_bytes()
            at = int(len(data) * fraction)
            path.write_bytes(data[:at] if kind == "truncate" else data[:at] + garbage + data[at:])
        elif kind in ("json", "json-missing"):
            metadata = json.loads((run / RUN_FILE).read_text())
            if kind == "json":
                metadata[key] = value
            else:
                metadata.pop(key, None)
            (run / RUN_FILE).write_text(json.dumps(metadata))
        elif kind == "json-garbage":
            (run / RUN_FILE).write_bytes(garbage)
        elif kind == "missing":
            (run / target).unlink()
        elif kind == "empty":
            (run / target).write_bytes(b"")
        elif kind == "directory":
            (run / target).unlink()
            (run / target).mkdir()

    return kind, corrupt


def _load_or_refuse(run: Path) -> str:
    """Load the run; return 'refused' or 'loaded'. Any other outcome fails the test."""
    try:
        loaded = load_run(run)
    except LamportError as exc:
        message = str(exc)
        assert message and "\n" not in message, repr(message)
        return "refused"
    assert violations(loaded.metadata, loaded.logs) == []
    machine_stats(loaded)
    return "loaded"


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(corruption=corruptions())
def test_a_corrupted_run_is_refused_in_one_line_or_holds(pristine, tmp_path, corruption):
    _, corrupt = corruption
    run = tmp_path / "run"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(pristine, run)
    corrupt(run)
    _load_or_refuse(run)


# Each case the hardening issue saw give a traceback or be accepted.
SEEN = {
    "send to x+y": ("cell", 1, "SEND", "x+y"),
    "send to a machine that does not exist": ("cell", 1, "SEND", "0+7"),
    "t = nan": ("cell", 1, None, "nan"),
    "a row with an extra cell": ("extra", 1, None, None),
    "rates are strings": ("json", "rates", ["1", "3", "6"]),
    "rates empty": ("json", "rates", []),
    "fewer rates than logs": ("json", "rates", [1, 3]),
    "queued_at_end not a list": ("json", "queued_at_end", 3),
    "no queued_at_end": ("json", "queued_at_end", ...),
    "p_send NaN": ("json", "p_send", math.nan),
}


@pytest.mark.parametrize("case", sorted(SEEN))
def test_every_case_seen_is_one_line_and_exit_2(pristine, tmp_path, case):
    run = tmp_path / "run"
    shutil.copytree(pristine, run)
    kind, *args = SEEN[case]
    if kind == "json":
        key, value = args
        metadata = json.loads((run / RUN_FILE).read_text())
        if value is ...:
            del metadata[key]
        else:
            metadata[key] = value
        (run / RUN_FILE).write_text(json.dumps(metadata))
    else:
        machine, event, value = args
        log = run / f"machine-{machine}.csv"
        lines = _lines(log)
        index = next(
            i for i, line in enumerate(lines[1:], 1) if event is None or f",{event}," in line
        )
        cells = lines[index].rstrip("\n").split(",")
        if kind == "extra":
            cells.append("1")
        elif event == "SEND":
            cells[8] = value
        else:
            cells[0] = value
        lines[index] = ",".join(cells) + "\n"
        log.write_text("".join(lines))
    assert _load_or_refuse(run) == "refused"
    out = subprocess.run(
        [sys.executable, "-m", "lamport.report", str(run), "--quiet"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and out.stderr.startswith("error: ")
    assert not (run / "report.md").exists()
