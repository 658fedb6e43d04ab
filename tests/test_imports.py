"""lamport import: students' log shapes read back, Lamport's rules checked on them, and
bad input refused in one line."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapes import SHAPES, write_shape
from student import simulate as student_run

from lamport.analysis import load_run
from lamport.check import check_run
from lamport.config import RunConfig
from lamport.des import simulate
from lamport.errors import LogError
from lamport.imports import import_logs
from lamport.schema import RUN_FILE


def _des(rates=(1, 3, 6), p_send=0.3, duration=20.0, seed=3):
    return simulate(RunConfig(rates=tuple(rates), p_send=p_send, duration=duration, seed=seed))


def _import(run, shape, folder, **kw):
    paths, names = write_shape(run, shape, folder)
    if "time" in SHAPES[shape][2]:
        kw.setdefault("rates", run.rates)
    return import_logs(paths, folder / f"run-{shape}", **kw), names


def _column(run, name):
    return [[getattr(e, name) for e in log] for log in run.logs]


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_each_shape_reads_back_the_same_events(shape, tmp_path):
    run = _des()
    imported, names = _import(run, shape, tmp_path)
    absent = SHAPES[shape][2]
    assert imported.metadata["backend"] == "import"
    assert _column(imported, "event") == _column(run, "event")
    assert _column(imported, "clock") == _column(run, "clock")
    assert _column(imported, "jump") == _column(run, "jump")
    if "receive_from" not in absent:
        assert _column(imported, "peer") == _column(run, "peer")
        assert imported.metadata["import"]["matching"] == "fifo"
        # FIFO matching recovers the sender's n-th send as <sender>:<n>, lamport's own ids
        assert _column(imported, "msg_id") == _column(run, "msg_id")
    else:
        assert imported.metadata["import"]["matching"] == "none"
        assert "receive_from" in imported.metadata["absent"]
    if not absent & {"queue", "queue_send"}:
        assert _column(imported, "queue") == _column(run, "queue")
    else:
        assert all(
            (e.queue is None and e.event != "RECEIVE") or e.queue == o.queue
            for log, orig in zip(imported.logs, run.logs, strict=True)
            for e, o in zip(log, orig, strict=True)
        )
    assert [name.lower() for name in imported.metadata["import"]["ids"]] == [
        n.lower() for n in names
    ] or imported.metadata["import"]["ids"] == ["0", "1", "2"]
    assert imported.metadata["rates"] == [1.0, 3.0, 6.0]
    if "time" not in absent:
        # times relative to the earliest event, to the logged precision (1 ms or finer)
        first = min(log[0].t for log in run.logs)
        for log, orig in zip(imported.logs, run.logs, strict=True):
            assert all(abs(e.t - (o.t - first)) < 1.5e-3 for e, o in zip(log, orig, strict=True))
    # the directory reads back through the one loader, with the same events
    loaded = load_run(imported.path)
    assert _column(loaded, "clock") == _column(run, "clock")
    assert check_run(imported.path).ok


@settings(max_examples=12, deadline=None)
@given(
    shape=st.sampled_from(sorted(SHAPES)),
    rates=st.lists(st.integers(1, 6), min_size=3, max_size=3),
    p_send=st.sampled_from([0.2, 0.3, 0.6, 0.9]),
    seed=st.integers(0, 10_000),
)
def test_round_trip_keeps_the_figures(tmp_path_factory, shape, rates, p_send, seed):
    """Any run, written in any shape and imported back, gives the same clocks and kinds,
    so the same final clocks, jumps and counts."""
    run = _des(rates, p_send, 8.0, seed)
    folder = tmp_path_factory.mktemp("shape")
    imported, _ = _import(run, shape, folder, rates=run.rates)
    assert _column(imported, "event") == _column(run, "event")
    assert _column(imported, "clock") == _column(run, "clock")
    mine, theirs = imported.summary(), run.summary()
    for a, b in zip(mine, theirs, strict=True):
        for key in ("n_internal", "n_send", "n_receive", "final_clock", "max_jump", "ticks"):
            assert a[key] == b[key], key


# -- Lamport's rules, broken the ways real implementations break them ----------------------

#: bug -> (shape that can show it, words the check must say)
BUGS = {
    "receive_no_plus1": ("labelled", "max(local + 1, message) with no further +1"),
    "old_clock_in_message": ("csv_header", "the clock from before the send's increment"),
    "send_twice": ("sentences", "raised twice on a send"),
}
#: Lines before a machine's first event, by shape.
HEAD_LINES = {"labelled": 1, "csv_header": 2, "sentences": 0}


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_check_names_each_broken_rule_at_its_line(bug, tmp_path):
    shape, words = BUGS[bug]
    run = student_run([2, 3, 5], 0.6, 20.0, seed=11, bug=bug)
    assert run.first_bug is not None
    imported, _ = _import(run, shape, tmp_path, rates=run.rates)
    report = check_run(imported.path)
    assert not report.ok
    machine, index = run.first_bug
    line = HEAD_LINES[shape] + index + 1
    where = f"{shape}-{machine}.log line {line}:"
    named = [p for p in report.problems if words in p]
    assert named, report.problems[:5]
    # the first break of the rule is named at the line of the student's first buggy event
    assert any(p.startswith(where) for p in named), (where, named[:3])
    out = subprocess.run(
        [sys.executable, "-m", "lamport", "check", str(imported.path)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1
    assert words in out.stdout


def test_a_correct_student_run_passes(tmp_path):
    run = student_run([2, 3, 5], 0.6, 20.0, seed=11)
    imported, _ = _import(run, "csv_header", tmp_path)
    report = check_run(imported.path)
    assert report.ok, report.problems[:3]
    assert any("max(local, message) + 1" in rule for rule in report.checked or [])


def test_a_log_of_clocks_before_each_update_is_diagnosed(tmp_path):
    run = student_run([2, 3, 5], 0.6, 30.0, seed=4, bug="log_before")
    imported, _ = _import(run, "labelled", tmp_path, rates=run.rates)
    problems = check_run(imported.path).problems
    notes = [p for p in problems if "reads as each event's clock before its update" in p]
    assert [p.split(":")[0] for p in notes] == [
        "labelled-0.log",
        "labelled-1.log",
        "labelled-2.log",
    ]
    assert problems[:3] == notes  # the cause comes before the breaks it explains


def test_unlogged_internal_events_accuse_no_send(tmp_path):
    """A log that never records internal events shows jumps on sends that are no break."""
    run = _des(p_send=0.3)
    paths, _ = write_shape(run, "csv_header", tmp_path)
    for path in paths:
        kept = [line for line in path.read_text().splitlines() if ",INTERNAL," not in line]
        path.write_text("\n".join(kept) + "\n")
    imported = import_logs(paths, tmp_path / "out")
    assert "internal" in imported.metadata["absent"]
    report = check_run(imported.path)
    assert report.ok, report.problems[:3]
    assert any("exactly 1" in rule for rule in report.not_checked)


def test_lines_that_never_carry_a_clock_are_skipped_and_counted(tmp_path):
    run = _des()
    imported, _ = _import(run, "noisy", tmp_path)
    info = imported.metadata["import"]
    assert info["unparsed_lines"] == 0
    assert sum(info["lines_without_clock"].values()) == sum(
        1 for log in run.logs for k in range(len(log)) if k % 7 == 3
    )
    assert _column(imported, "msg_clock") == _column(run, "msg_clock")


def test_rules_the_fields_do_not_allow_are_named(tmp_path):
    run = _des()
    imported, _ = _import(run, "bars_no_sender", tmp_path)
    report = check_run(imported.path)
    assert report.ok
    assert any(
        "receives do not name their sender" in r or "cannot be matched" in r
        for r in report.not_checked
    )
    text = report.summary()
    assert "not checkable:" in text


def test_a_receive_no_send_accounts_for(tmp_path):
    run = _des()
    paths, _ = write_shape(run, "csv_header", tmp_path)
    lines = paths[1].read_text().splitlines()
    # machine 1 logs one more receive from machine 0 than machine 0 ever sent it
    last = lines[-1].split(",")
    clock = int(last[2]) + 1
    lines.append(f"{float(last[0]) + 0.3:.6f},RECEIVE,{clock},0,0,0")
    paths[1].write_text("\n".join(lines) + "\n")
    imported = import_logs(paths, tmp_path / "out")
    problems = check_run(imported.path).problems
    assert any(
        p.startswith(f"csv_header-1.log line {len(lines)}:") and "no send can account" in p
        for p in problems
    ), problems


# -- names, rates, one file for all --------------------------------------------------------


def test_one_file_whose_lines_name_their_machine(tmp_path):
    run = _des()
    lines = []
    for log in run.logs:
        for e in log:
            peer = {
                "SEND": f" to vm_{e.peer.replace('+', ' and vm_')}",
                "RECEIVE": f" from vm_{e.peer}",
            }
            lines.append(
                (
                    e.t,
                    f"t={e.t:.4f} node=vm_{e.machine} {e.event.lower()}{peer.get(e.event, '')} "
                    f"clock={e.clock} queue={e.queue}",
                )
            )
    path = tmp_path / "all.log"
    path.write_text("\n".join(text for _, text in sorted(lines)) + "\n")
    imported = import_logs([path], tmp_path / "out")
    assert imported.metadata["import"]["ids"] == ["vm_0", "vm_1", "vm_2"]
    assert _column(imported, "clock") == _column(run, "clock")
    assert _column(imported, "peer") == _column(run, "peer")


def test_rates_given_win_over_the_log_and_inferred_are_marked(tmp_path):
    run = _des()
    paths, _ = write_shape(run, "semicolons", tmp_path)
    inferred = import_logs(paths, tmp_path / "a")
    assert inferred.metadata["import"]["rates_from"] == ["inferred"] * 3
    given_ = import_logs(paths, tmp_path / "b", rates=[2, 3, 4], p_send=0.3)
    assert given_.metadata["rates"] == [2.0, 3.0, 4.0]
    assert given_.metadata["import"]["rates_from"] == ["given"] * 3
    assert given_.metadata["import"]["p_send_from"] == "given"
    paths, _ = write_shape(run, "labelled", tmp_path)
    logged = import_logs(paths, tmp_path / "c")
    assert logged.metadata["import"]["rates_from"] == ["log"] * 3
    record = json.loads((tmp_path / "c" / RUN_FILE).read_text())
    assert [len(f["sha256"]) for f in record["import"]["files"]] == [64] * 3


def test_ids_map_sends_and_receives(tmp_path):
    run = _des()
    paths, _ = write_shape(run, "semicolons", tmp_path)  # names 1, 2, 3
    imported = import_logs(paths, tmp_path / "out", ids=["1", "2", "3"])
    assert _column(imported, "peer") == _column(run, "peer")


# -- bad input: one line, exit 2, nothing written -----------------------------------------


def _cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "lamport", "import", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


def _refused(result, out, words):
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert words in result.stderr
    assert not out.exists()


def test_bad_input_is_one_line_and_writes_nothing(tmp_path):
    run = _des()
    paths, _ = write_shape(run, "csv_header", tmp_path)
    other, _ = write_shape(run, "labelled", tmp_path)
    out = tmp_path / "out"
    binary = tmp_path / "binary.log"
    binary.write_bytes(bytes(range(256)) * 8)
    empty = tmp_path / "empty.log"
    empty.write_text("")
    junk = tmp_path / "junk.log"
    junk.write_text("\n".join(f"hello world {i}" for i in range(50)) + "\n")
    _refused(_cli(binary, *paths[1:], "--out", out), out, "binary")
    _refused(_cli(empty, *paths[1:], "--out", out), out, "empty")
    _refused(_cli(paths[0], other[1], paths[2], "--out", out), out, "one format")
    _refused(_cli(*paths, "--ids", "a,b", "--out", out), out, "--ids lists 2")
    _refused(_cli(*paths, "--rates", "1,2", "--out", out), out, "--rates lists 2")
    _refused(_cli(paths[0], paths[0], paths[1], "--out", out), out, "given twice")
    _refused(_cli(paths[0], tmp_path, paths[1], "--out", out), out, "not a regular file")
    _refused(_cli(*paths, "--format", "xml", "--out", out), out, "--format")
    _refused(_cli(junk, junk.with_name("junk2.log"), "--out", out), out, "no such file")
    junk.with_name("junk2.log").write_text(junk.read_text())
    _refused(_cli(junk, junk.with_name("junk2.log"), "--out", out), out, "no column is the event")


def test_two_files_claiming_one_machine_are_refused(tmp_path):
    run = _des()
    paths, _ = write_shape(run, "labelled", tmp_path)  # "Starting machine A with rate=1"
    text = paths[1].read_text().replace("Starting machine B", "Starting machine A", 1)
    paths[1].write_text(text)
    out = tmp_path / "out"
    _refused(_cli(*paths, "--out", out), out, "both say they are machine 'A'")


def test_unparsable_lines_are_counted_named_and_refused_when_most(tmp_path):
    run = _des()
    paths, _ = write_shape(run, "labelled", tmp_path)
    lines = paths[2].read_text().splitlines()
    lines[5] = lines[5].replace("clock=", "clock=x")
    lines[9] = lines[9].replace("clock=", "clock=99999999999999999999")
    paths[2].write_text("\n".join(lines) + "\n")
    imported = import_logs(paths, tmp_path / "out")
    info = imported.metadata["import"]
    assert info["unparsed_lines"] == 2
    assert info["first_unparsed"][0].startswith("labelled-2.log line 6:")
    assert "2^63" in info["first_unparsed"][1]
    cut = len(lines) * 3 // 4
    bad = [line.replace("clock=", "clock=x") for line in lines[:cut]] + lines[cut:]
    paths[2].write_text("\n".join(bad) + "\n")
    with pytest.raises(LogError, match="do not parse"):
        import_logs(paths, tmp_path / "out2")
    assert not (tmp_path / "out2").exists()


def test_report_compare_and_export_take_an_imported_run(tmp_path):
    run = _des(duration=30.0)
    imported, _ = _import(run, "python_logging", tmp_path)
    path = imported.path
    out = subprocess.run(
        [sys.executable, "-m", "lamport", "report", str(path)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    text = (path / "report.md").read_text()
    assert "What the logs held" in text and "Lamport's rules" in text
    assert "sends carry no queue length" in text
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "lamport",
            "export",
            str(path),
            "--format",
            "perfetto",
            "--output",
            str(tmp_path / "trace.json"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    trace = json.loads((tmp_path / "trace.json").read_text())
    assert trace


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_lines_read_by_their_shapes_plan_read_as_alone(shape, tmp_path):
    """Lines of one shape are read by the plan of the first (lamport.imports.auto._Reader):
    every line reads exactly as the full reading of that line alone."""
    from lamport.imports.auto import _read_line, _Reader

    run = student_run([2, 3, 5], 0.6, 10.0, seed=7)
    paths, _ = write_shape(run, shape, tmp_path)
    read = _Reader()
    lines = [line for path in paths for line in path.read_text().splitlines() if line.strip()]
    for line in lines:
        try:
            alone = _read_line(line)
        except ValueError:
            continue
        assert read(line) == alone, line
    assert len(read.plans) < len(lines) / 3  # lines share their plans


def test_numbers_are_ascii_digits(tmp_path):
    """A clock in another script's digits (١٧) is no number: the line does not parse."""
    run = _des()
    paths, _ = write_shape(run, "labelled", tmp_path)
    lines = paths[0].read_text().splitlines()
    lines[3] = re.sub(r"clock=\d+", "clock=١٧", lines[3])
    paths[0].write_text("\n".join(lines) + "\n")
    imported = import_logs(paths, tmp_path / "out")
    assert imported.metadata["import"]["unparsed_lines"] == 1
    assert imported.metadata["import"]["first_unparsed"][0].startswith("labelled-0.log line 4:")
    csv_paths, _ = write_shape(run, "csv_header", tmp_path)
    rows = csv_paths[1].read_text().splitlines()
    cells = rows[5].split(",")
    cells[2] = "١٧"
    rows[5] = ",".join(cells)
    csv_paths[1].write_text("\n".join(rows) + "\n")
    imported = import_logs(csv_paths, tmp_path / "out2")
    assert imported.metadata["import"]["first_unparsed"] == [
        "csv_header-1.log line 6: clock '١٧' is not an integer"
    ]
