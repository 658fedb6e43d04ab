"""A corrupted run directory is a one-line error or a run whose invariants hold, never a traceback.

A valid run directory is corrupted in many ways (cells altered, rows deleted,
duplicated, swapped or cut off, garbage bytes, run.json fields of the wrong
type or missing, files missing, empty or replaced by directories; headers with a
column too many, too few or out of order; times out of range or going back;
clocks of 2^63 or more or negative; numbers in other scripts' digits); loading it
must either raise one LamportError of one line, or succeed with every
invariant holding and the analysis able to summarise it.

One reader, one verdict: for every corrupted run, ``check``, ``export`` and
``report`` agree. What the reader refuses (an unreadable run) all three refuse
with the same line; a run that reads but breaks an invariant, ``export`` and
``report`` refuse with the same line and ``check`` names that problem among its
own; a run the reader accepts, all three accept.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lamport.analysis import load_run, machine_stats
from lamport.config import RunConfig, experiment
from lamport.des import simulate
from lamport.errors import LamportError
from lamport.invariants import violations
from lamport.schema import NETWORK_FILE, RUN_FILE

CELLS = ["", "x", "-1", "0", "nan", "inf", "1e309", "99999999999999999999", "1+1", "0+0",
         "2+2", "9", "٣", "SEND", "RECEIVE", "INTERNAL", "1:1", "0:1", " 1", "1.5",
         "1e308", "-1e308", str(2**63), str(2**63 - 1), str(-(2**63) - 1), str(2**64), "5.0",
         "+5", "1_0", "-0", "1e3", "1 ", "١٢", "0x5", "Infinity", "-nan"]  # fmt: skip
JSON_VALUES = [None, True, -1, 0, 1.5, math.nan, "x", "", [], [1], ["1", "2"], {}, [0, 0, 0],
               [-1, 0, 0], [1.5, 2, 3], [0, 0], [1, 3, 6, 2]]  # fmt: skip
JSON_KEYS = ["backend", "rates", "p_send", "duration", "seed", "queued_at_end", "experiment",
             "interrupted", "stopped_at", "dropped", "options", "name"]  # fmt: skip


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    result = simulate(experiment(4).config(seed=1, duration=8))
    return result.write(tmp_path_factory.mktemp("pristine") / "run")


@pytest.fixture(scope="module")
def faulted(tmp_path_factory):
    """A run under a fault plan: lost messages (network.csv), a crash and its restart."""
    from lamport.faults import parse_fault

    faults = [parse_fault("loss 0.2"), parse_fault("crash 1 at 2 for 1")]
    result = simulate(experiment(4).config(seed=1, duration=8, faults=faults))
    run = result.write(tmp_path_factory.mktemp("faulted") / "run")
    assert (run / NETWORK_FILE).is_file() and "CRASH" in (run / "machine-1.csv").read_text()
    return run


@pytest.fixture(scope="module")
def imported(pristine, tmp_path_factory):
    """The pristine run's logs imported back (``lamport import --format lamport``)."""
    from lamport.imports import import_logs

    logs = [pristine / f"machine-{m}.csv" for m in range(3)]
    return import_logs(logs, tmp_path_factory.mktemp("imported") / "run", fmt="lamport").path


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
                "header-extra",
                "header-missing",
                "header-reorder",
                "time-back",
                "time-huge",
            ]
        )
    )
    row = draw(st.integers(0, 400))
    other = draw(st.integers(0, 400))
    column = draw(st.integers(0, 12))
    cell = draw(st.sampled_from(CELLS) | st.text(max_size=6))
    garbage = draw(st.binary(min_size=1, max_size=12))
    fraction = draw(st.floats(0, 1))
    key = draw(st.sampled_from(JSON_KEYS))
    value = draw(st.sampled_from(JSON_VALUES))
    target = draw(st.sampled_from([f"machine-{machine}.csv", RUN_FILE, NETWORK_FILE]))

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
            data = path.read_bytes() if path.exists() else b""
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
            (run / target).unlink(missing_ok=True)
        elif kind == "empty":
            (run / target).write_bytes(b"")
        elif kind == "directory":
            (run / target).unlink(missing_ok=True)
            (run / target).mkdir()
        elif kind.startswith("header-"):
            rows = [line.rstrip("\n").split(",") for line in lines]
            width = len(rows[0])
            a, b = column % width, other % width
            for cells in rows:
                if kind == "header-extra":  # a column the schema does not have, filled in
                    cells.append("extra" if cells is rows[0] else cell.replace(",", ""))
                elif kind == "header-missing":
                    del cells[a]
                elif a != b:  # header-reorder: two columns swapped, header and rows alike
                    cells[a], cells[b] = cells[b], cells[a]
            log.write_text("".join(",".join(cells) + "\n" for cells in rows), encoding="utf-8")
        elif kind in ("time-back", "time-huge") and body:
            cells = lines[r].rstrip("\n").split(",")
            if kind == "time-huge":
                cells[0] = "1e308"
            else:  # an earlier time than the row above's
                cells[0] = repr(max(0.0, float(cells[0]) - 0.5 - fraction))
            lines[r] = ",".join(cells) + "\n"
            log.write_text("".join(lines), encoding="utf-8")

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


def _verdict(read) -> tuple[str, object]:
    """('refused', the one line) or ('accepted', what ``read`` returned)."""
    try:
        value = read()
    except LamportError as exc:
        message = str(exc)
        assert message and "\n" not in message, repr(message)
        return "refused", message
    return "accepted", value


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(corruption=corruptions())
@pytest.mark.parametrize("which", ["pristine", "faulted", "imported"])
def test_check_export_and_report_give_one_verdict(request, which, tmp_path, corruption):
    from lamport.analysis import load
    from lamport.check import check_run
    from lamport.export import export_run

    _, corrupt = corruption
    run = tmp_path / "run"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(request.getfixturevalue(which), run)
    corrupt(run)
    checked = _verdict(lambda: check_run(run))
    exported = _verdict(lambda: export_run(run, "shiviz", tmp_path / "x.log"))
    reported = _verdict(lambda: load(run))  # what write_report reads before it draws
    assert exported[0] == reported[0], (exported, reported)
    if f"(no {RUN_FILE})" in str(reported[1]):  # not a run at all: each names what it takes
        assert checked[0] == exported[0] == "refused"
        assert f"(no {RUN_FILE})" in str(checked[1]) and f"(no {RUN_FILE})" in str(exported[1])
        return
    if reported[0] == "refused":
        assert exported[1] == reported[1]
    if checked[0] == "refused":  # unreadable: all three refuse, with the same line
        assert reported == checked, (checked, reported)
    elif reported[0] == "refused":  # it reads but breaks an invariant: check names it
        report = checked[1]
        assert not report.ok
        first = re.sub(r" \(and \d+ more\)$", "", reported[1])
        assert any(first.endswith(problem) for problem in report.problems), (
            reported[1],
            report.problems[:5],
        )
    elif which != "imported":  # an imported run's rule breaks are check's to name only
        assert checked[1].ok, checked[1].problems  # nothing read but the invariants found


# The classes of issue 22 (one reader, one verdict): each refused by check, export and report
# alike, with one line, exit status 2 (check: 2 if unreadable, else 1 naming the problem).
VERDICTS = {
    "a header with an extra column": ("header", lambda cells: [*cells, "extra"], "unknown column"),
    "a header missing a column": ("header", lambda cells: cells[:-1], "header"),
    "a header out of order": ("header", lambda cells: [cells[1], cells[0], *cells[2:]], "header"),
    # (kind of row, which of them, column, new cell)
    "a time of 1e308 out of order": ("any", (0, 0, "1e308"), "t 1e+308 is outside"),
    "a time going back": ("any", (3, 0, "0.0001"), "times never go back"),
    "a clock of 2^63": ("any", (0, 5, str(2**63)), "clock 9223372036854775808 is outside"),
    "a negative clock": ("any", (0, 5, "-3"), "clock -3 is outside"),
    "a clock in Arabic-Indic digits": ("any", (0, 5, "٣"), "clock '٣' is not an integer"),
    "an integer written 5.0": ("any", (0, 3, "5.0"), "tick '5.0' is not an integer"),
    "a message clock of 2^64": ("RECEIVE", (0, 9, str(2**64)), "msg_clock 18446744073709551616"),
    "a jump with a space": ("any", (0, 6, " 1"), "jump ' 1' is not an integer"),
}


@pytest.mark.parametrize("case", sorted(VERDICTS))
def test_every_class_is_refused_by_check_export_and_report_alike(pristine, tmp_path, case):
    run = tmp_path / "run"
    shutil.copytree(pristine, run)
    kind, change, words = VERDICTS[case]
    log = run / "machine-1.csv"
    rows = [line.split(",") for line in log.read_text(encoding="utf-8").splitlines()]
    if kind == "header":
        rows[0] = change(rows[0])
    else:
        which, column, value = change
        at = [i for i, cells in enumerate(rows[1:], 1) if kind in ("any", cells[4])][which]
        rows[at][column] = value
    log.write_text("".join(",".join(cells) + "\n" for cells in rows), encoding="utf-8")
    lines = {}
    for command in (("check",), ("export", "--format", "perfetto", "-o", "x.json"), ("report",)):
        done = subprocess.run(
            [sys.executable, "-m", "lamport", command[0], str(run), *command[1:]],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=120,
        )
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        errors = done.stderr.strip().splitlines()
        assert len(errors) == 1 and errors[0].startswith("error: "), done.stderr
        lines[command[0]] = errors[0]
    assert lines["check"] == lines["export"] == lines["report"]
    assert words in lines["check"], lines["check"]
    assert not (tmp_path / "x.json").exists() and not (run / "report.md").exists()


@pytest.mark.parametrize(
    ("clock", "column"), [("vector", "vc"), ("hlc", "hlc_l"), ("hlc", "hlc_c")]
)
def test_a_clock_kind_cell_of_2_63_is_refused_alike(tmp_path, clock, column):
    config = RunConfig(rates=(1.0, 3.0, 6.0), p_send=0.5, duration=3.0, seed=1, clock=clock)
    run = simulate(config).write(tmp_path / "run")
    log = run / "machine-2.csv"
    rows = [line.split(",") for line in log.read_text(encoding="utf-8").splitlines()]
    at = rows[0].index(column)
    rows[2][at] = (rows[2][at].rsplit(" ", 1)[0] + " " if column == "vc" else "") + str(2**63)
    log.write_text("".join(",".join(cells) + "\n" for cells in rows), encoding="utf-8")
    lines = set()
    for command in (("check",), ("export", "--format", "shiviz", "-o", "x.log"), ("report",)):
        done = subprocess.run(
            [sys.executable, "-m", "lamport", command[0], str(run), *command[1:]],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=120,
        )
        assert done.returncode == 2, (command, done.stderr)
        lines.add(done.stderr)
    (line,) = lines
    assert line.count("\n") == 1 and f"line 3: malformed row ({column} " in line, line
    assert "2^63 or more" in line
