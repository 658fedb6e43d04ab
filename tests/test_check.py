"""``lamport check``: each class of problem it claims to find, from hand-made bad logs;
the fast reader against the exact one; the CLI's output and exit statuses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lamport.check import check_logs, check_run, main
from lamport.config import RunConfig
from lamport.core import INTERNAL, RECEIVE, SEND, Event
from lamport.des import simulate
from lamport.errors import LogError, run_cli
from lamport.logs import read_logs, read_run
from lamport.schema import format_vc

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def run_dir(tmp_path):
    """A small DES run of heavy traffic, written to a fresh directory."""
    result = simulate(RunConfig(rates=(4, 2, 6), p_send=0.9, duration=5.0, seed=3, phase="aligned"))
    return result.write(tmp_path / "run")


def _rows(path: Path) -> list[list[str]]:
    return [line.split(",") for line in path.read_text().splitlines()]


def _write_rows(path: Path, rows: list[list[str]]) -> None:
    path.write_text("\n".join(",".join(r) for r in rows) + "\n")


def _edit(run_dir: Path, machine: int, edit) -> None:
    path = run_dir / f"machine-{machine}.csv"
    rows = _rows(path)
    edit(rows)
    _write_rows(path, rows)


COL = {name: i for i, name in enumerate(Event._fields)}


def _first(rows, kind):
    return next(i for i, r in enumerate(rows) if i and r[COL["event"]] == kind)


def test_a_good_run_is_ok(run_dir):
    report = check_run(run_dir)
    assert report.ok, report.problems
    assert report.machines == 3
    assert report.events == 4 * 5 + 2 * 5 + 6 * 5
    assert report.summary().startswith("ok: 3 machines, 60 events")


def test_fast_reader_reads_what_the_exact_reader_reads(run_dir):
    _metadata, exact = read_run(run_dir)
    fast = read_logs(run_dir, 3)
    assert fast == exact
    assert [type(x) for x in fast[0][0]] == [type(x) for x in exact[0][0]]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda rows: rows[3].pop(), "line 4: 10 cells, the header has 11"),
        (lambda rows: rows.insert(2, []), "line 3: 0 cells, the header has 11"),
        (lambda rows: rows[2].__setitem__(COL["t"], "nan"), "line 3: malformed row"),
        (lambda rows: rows[2].__setitem__(COL["clock"], "1.5"), "line 3: malformed row"),
        (lambda rows: rows[2].__setitem__(COL["msg_clock"], "x"), "line 3: malformed row"),
        (lambda rows: rows[0].__setitem__(0, "time"), "header is not the log schema"),
    ],
)
def test_unreadable_logs_are_one_line_naming_file_and_line(run_dir, damage, message):
    _edit(run_dir, 1, damage)
    with pytest.raises(LogError, match=message) as info:
        check_run(run_dir)
    assert "machine-1.csv" in str(info.value) and "\n" not in str(info.value)


def test_clock_that_does_not_increase(run_dir):
    def edit(rows):
        rows[3][COL["clock"]] = rows[2][COL["clock"]]

    _edit(run_dir, 0, edit)
    problems = check_run(run_dir).problems
    assert any("machine-0.csv line 4: clock" in p and "does not exceed" in p for p in problems)


def test_receive_of_an_unsent_message(run_dir):
    def edit(rows):
        rows[_first(rows, RECEIVE)][COL["msg_id"]] = "1:999"

    _edit(run_dir, 0, edit)
    assert any("RECEIVE of 1:999, which no machine sent" in p for p in check_run(run_dir).problems)


def test_message_received_twice(run_dir):
    def edit(rows):
        k = _first(rows, RECEIVE)
        later = next(i for i in range(k + 1, len(rows)) if rows[i][COL["event"]] == RECEIVE)
        for c in ("peer", "msg_clock", "msg_id"):
            rows[later][c and COL[c]] = rows[k][COL[c]]

    _edit(run_dir, 2, edit)
    assert any("received twice" in p for p in check_run(run_dir).problems)


def test_conservation_and_tick_count(run_dir):
    meta = json.loads((run_dir / "run.json").read_text())
    meta["queued_at_end"][1] += 5
    (run_dir / "run.json").write_text(json.dumps(meta))
    _edit(run_dir, 0, lambda rows: rows.pop())
    problems = check_run(run_dir).problems
    assert any("machine-1.csv: conservation broken" in p for p in problems)
    assert any("machine-0.csv: 19 ticks, expected 20" in p for p in problems)


def test_a_clock_reset_breaks_the_clock_condition(run_dir):
    """Machine 2's clock restarts from 0 halfway (a crash that lost its clock): every
    event until it climbs back breaks the clock condition, reported once, at the first."""

    def edit(rows):
        half = len(rows) // 2
        base = int(rows[half - 1][COL["clock"]])
        for r in rows[half:]:
            r[COL["clock"]] = str(int(r[COL["clock"]]) - base)
        rows[half][COL["jump"]] = str(int(rows[half][COL["clock"]]))

    _edit(run_dir, 2, edit)
    problems = check_run(run_dir).problems
    broken = [p for p in problems if "clock condition broken" in p]
    assert broken, problems
    assert broken[0].startswith(
        "machine-2.csv line 16: clock condition broken: machine-2.csv line 15 (clock 14)"
    )
    assert "more events after it break it too" in broken[0]


def test_receive_clock_not_above_its_send(run_dir):
    def edit(rows):
        k = _first(rows, RECEIVE)
        rows[k][COL["clock"]] = rows[k][COL["msg_clock"]]

    _edit(run_dir, 1, edit)
    problems = check_run(run_dir).problems
    assert any("not above message clock" in p for p in problems)
    assert any("machine-1.csv" in p and "clock condition broken" in p for p in problems)


def _event(machine, tick, kind, clock, peer="", msg_clock=None, msg_id="", jump=1):
    t = float(tick)
    return Event(t, t, machine, tick, kind, clock, jump, 0, peer, msg_clock, msg_id)


def test_a_message_received_before_it_is_sent():
    logs = [
        [_event(0, 1, RECEIVE, 2, "1", 1, "1:1", 2), _event(0, 2, SEND, 3, "1", 3, "0:1")],
        [_event(1, 1, RECEIVE, 4, "0", 3, "0:1", 4), _event(1, 2, SEND, 5, "0", 5, "1:1")],
    ]
    metadata = {"backend": "des", "rates": [1, 1], "duration": 2, "queued_at_end": [0, 0]}
    report = check_logs(metadata, logs)
    assert any("before its SEND in happened-before" in p for p in report.problems)


def test_carried_vector_clocks_are_compared_with_the_derived(run_dir):
    from lamport import causality

    _metadata, logs = read_run(run_dir)
    derived = causality.vector_clocks(logs)
    for machine in range(3):
        rows = _rows(run_dir / f"machine-{machine}.csv")
        rows[0].append("vc")
        for row, vc in zip(rows[1:], derived[machine], strict=True):
            row.append(format_vc(vc.tolist()))
        if machine == 1:
            rows[5][-1] = "9 9 9"
        _write_rows(run_dir / f"machine-{machine}.csv", rows)
    logs = read_logs(run_dir, 3)
    carried = causality.carried_clocks(logs)
    assert carried is not None and np.array_equal(carried[0], derived[0])
    assert logs == read_run(run_dir)[1]  # the fast and the exact reader agree on vc too
    report = check_run(run_dir)
    assert report.problems == [
        f"machine-1.csv line 6: carried vector clock [9,9,9] but happened-before gives "
        f"[{','.join(map(str, derived[1][4]))}]"
    ]


def test_an_extra_log_is_unreadable(run_dir):
    shutil.copy(run_dir / "machine-0.csv", run_dir / "machine-3.csv")
    with pytest.raises(LogError, match=r"machine-3\.csv but run\.json lists 3 machines"):
        check_run(run_dir)


def test_cli_ok_problems_and_limit(run_dir, capsys):
    assert run_cli(main, [str(run_dir)]) == 0
    assert capsys.readouterr().out.startswith("ok: 3 machines")

    def edit(rows):
        for r in rows[1:]:
            r[COL["jump"]] = "7"

    _edit(run_dir, 0, edit)
    assert run_cli(main, [str(run_dir), "--limit", "3"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 5
    assert out[0].startswith("machine-0.csv line 2: jump 7")
    assert out[3].startswith("... and ") and out[3].endswith(" more")
    assert "problems: 3 machines" in out[4]


def test_cli_reference_gives_the_same_output(run_dir, capsys):
    """--reference: the record-by-record checker alone, the same lines and exit status."""
    for damage in (None, "jump"):
        if damage:
            _edit(run_dir, 1, lambda rows: rows[3].__setitem__(COL["jump"], "9"))
        statuses, outputs = [], []
        for extra in ([], ["--reference"]):
            statuses.append(run_cli(main, [str(run_dir), *extra]))
            outputs.append(capsys.readouterr().out)
        assert statuses[0] == statuses[1] == (1 if damage else 0)
        assert outputs[0] == outputs[1]


def _cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "lamport", "check", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def test_cli_unreadable_input_is_one_line_exit_2(tmp_path, run_dir):
    missing = _cli(str(tmp_path / "nope"), cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [f"error: {tmp_path / 'nope'}: no such directory"]
    (run_dir / "run.json").write_text("{")
    broken = _cli(str(run_dir), cwd=tmp_path)
    assert broken.returncode == 2 and len(broken.stderr.strip().splitlines()) == 1
    assert "run.json: malformed" in broken.stderr
    good = _cli("--limit", "0", str(run_dir), cwd=tmp_path)
    assert good.returncode == 2 and "--limit" in good.stderr


def test_internal_events_only_run_is_ok(tmp_path):
    result = simulate(RunConfig(rates=(1, 2), p_send=0.0, duration=3.0, seed=0))
    report = check_run(result.write(tmp_path / "quiet"))
    assert report.ok and report.messages == 0
    assert all(e.event == INTERNAL for log in result.logs for e in log)


def test_vector_run_from_the_cli_checks_ok(tmp_path):
    """``--clock vector`` end to end: the run, its vc column, and ``lamport check``."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    made = subprocess.run(
        [sys.executable, "-m", "lamport", "des", "run", "--rates", "2,3,1", "--p-send", "0.8",
         "--duration", "6", "--clock", "vector", "--quiet"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    run_dir = tmp_path / "runs" / "des" / "rates2-3-1-p0.8-seed0-d6-vc"
    assert json.loads((run_dir / "run.json").read_text())["clock"] == "vector"
    assert (run_dir / "machine-2.csv").read_text().splitlines()[0].endswith(",vc")
    checked = _cli(str(run_dir), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "carried vector clocks equal the derived ones" in checked.stdout


def test_vector_run_without_or_with_partial_vc_column(tmp_path):
    result = simulate(RunConfig(rates=(3, 2), p_send=0.8, duration=4.0, seed=1, clock="vector"))
    path = result.write(tmp_path / "vc")
    assert check_run(path).ok
    # Drop machine 1's vc column: the logs disagree.
    rows = _rows(path / "machine-1.csv")
    _write_rows(path / "machine-1.csv", [r[:-1] for r in rows])
    assert check_run(path).problems == ["machine-1.csv: no vc column, but other logs have one"]
    # Drop every vc column: run.json still says vector.
    rows = _rows(path / "machine-0.csv")
    _write_rows(path / "machine-0.csv", [r[:-1] for r in rows])
    assert check_run(path).problems == [
        "run.json says clock 'vector' but the logs have no vc column"
    ]
    # A vc cell of the wrong size.
    fresh = result.write(tmp_path / "vc2")
    rows = _rows(fresh / "machine-0.csv")
    rows[3][-1] = "1 2 3"
    _write_rows(fresh / "machine-0.csv", rows)
    assert check_run(fresh).problems == [
        "machine-0.csv line 4: vc '1 2 3' has 3 components, the run has 2 machines"
    ]


@pytest.fixture
def faulted_dir(tmp_path):
    config = RunConfig(rates=(1, 2, 4), p_send=0.5, duration=20, seed=3, faults=("loss 0.2",))
    return simulate(config).write(tmp_path / "faulted")


def _network(run_dir: Path) -> list[str]:
    return (run_dir / "network.csv").read_text().splitlines()


def test_lost_messages_must_be_borne_out_by_the_logs(faulted_dir):
    assert check_run(faulted_dir).ok
    lines = _network(faulted_dir)
    assert len(lines) > 3
    _, logs = read_run(faulted_dir)
    received = next(e for events in logs for e in events if e.event == RECEIVE)
    forged = [
        lines[0],
        f"1.0,{received.peer},{received.machine},{received.msg_id},loss",  # received after all
        "2.0,0,1,0:999999,loss",  # never sent
        lines[1],
        lines[1],  # lost twice
    ]
    (faulted_dir / "network.csv").write_text("\n".join(forged) + "\n")
    problems = check_run(faulted_dir).problems
    assert any(f"line 2: {received.msg_id} is lost, but machine" in p for p in problems)
    assert any("line 3: 0:999999 was never sent to machine 1" in p for p in problems)
    assert any("line 5:" in p and "is lost twice" in p for p in problems)


def test_more_lost_messages_than_run_json_counts(faulted_dir):
    metadata = json.loads((faulted_dir / "run.json").read_text())
    metadata["dropped"] = [0] * len(metadata["dropped"])
    (faulted_dir / "run.json").write_text(json.dumps(metadata))
    problems = check_run(faulted_dir).problems
    assert any("lost messages to machine" in p and "counts 0 dropped" in p for p in problems)


@pytest.mark.parametrize("column", [1, 2])
def test_a_drop_naming_no_machine_is_one_line(faulted_dir, column):
    lines = _network(faulted_dir)
    cells = lines[1].split(",")
    cells[column] = "7"
    (faulted_dir / "network.csv").write_text("\n".join([lines[0], ",".join(cells)]) + "\n")
    role = "sender" if column == 1 else "recipient"
    with pytest.raises(LogError, match=rf"network.csv: line 2: .*{role} 7 is not a machine 0..2"):
        check_run(faulted_dir)
    from lamport.analysis import load_run

    with pytest.raises(LogError, match=f"{role} 7 is not a machine"):
        load_run(faulted_dir)


def test_a_reset_crash_on_a_vector_run_reports_the_cause_then_its_consequences(tmp_path):
    """A ``reset`` crash restarts the machine's vector clock too: every carried vector
    clock that follows from it differs from happened-before. The check names the restart
    first, then the clock condition, then one line for the carried clocks with a count."""
    from lamport.faults import Crash

    config = RunConfig(
        rates=(1, 3, 6), p_send=0.3, duration=40.0, seed=0, clock="vector",
        faults=(Crash(2, 20.0, 5.0, True),),
    )  # fmt: skip
    run_dir = simulate(config).write(tmp_path / "run")
    restart = next(
        line
        for line, row in enumerate(_rows(run_dir / "machine-2.csv"), start=1)
        if row[COL["event"]] == "RESTART"
    )
    problems = check_run(run_dir).problems
    assert len(problems) == 3, problems
    cause, condition, carried = problems
    assert cause.startswith(f"machine-2.csv line {restart}: RESTART with the clock reset")
    assert condition.startswith(f"machine-2.csv line {restart + 1}: clock condition broken")
    assert carried.startswith(f"machine-2.csv line {restart + 1}: carried vector clock [0,0,1]")
    assert f"(the reset at machine-2.csv line {restart})" in carried
    count = int(carried.split("; ")[1].split(" more carried")[0].replace(",", ""))
    assert count > 100
    per_machine = [int(part.split()[1]) for part in carried.rsplit("(", 1)[1].split(", ")]
    assert sum(per_machine) == count and len(per_machine) == 3
    # Without the grouping every mismatch was a line of its own: count + 1 of them.
    from lamport import causality

    _, logs = read_run(run_dir)
    ticks = [[e for e in x if e.event in ("INTERNAL", "SEND", "RECEIVE")] for x in logs]
    derived = causality.vector_clocks(ticks)
    logged = causality.carried_clocks(ticks)
    assert logged is not None
    assert (
        sum(int((a != b).any(axis=1).sum()) for a, b in zip(logged, derived, strict=True))
        == count + 1
    )


def test_one_problem_is_one_problem(run_dir, capsys):
    def edit(rows):
        rows[1][COL["jump"]] = "7"  # the first event's jump only

    _edit(run_dir, 0, edit)
    report = check_run(run_dir)
    assert len(report.problems) == 1
    assert report.summary().startswith("1 problem: 3 machines")
    assert run_cli(main, [str(run_dir)]) == 1
    assert capsys.readouterr().out.splitlines()[-1].startswith("1 problem: ")


def test_check_on_a_sweep_directory_says_it_is_a_sweep(tmp_path, capsys):
    from lamport.des.sweep import sweep

    out = sweep(experiments=[4], seeds=2, duration=5, jobs=1, out=tmp_path / "s").out
    with pytest.raises(LogError) as info:
        check_run(out)
    message = str(info.value)
    assert message.startswith(f"{out}: a sweep directory (sweep.json), not a run")
    assert f"lamport report {out}" in message and "--keep-logs csv" in message
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, [str(out)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "a sweep directory" in err and err.count("\n") == 1
