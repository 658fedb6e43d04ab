"""``lamport export``: ShiViz parses with its own regex, every event has its host in its
clock and the order respects happened-before; Perfetto loads as JSON with one flow per
receive; dot for small runs only; bad input is one line and exit 2."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lamport import causality
from lamport.config import RunConfig
from lamport.core import RECEIVE, SEND
from lamport.des import simulate
from lamport.errors import LogError
from lamport.export import DOT_LIMIT, SHIVIZ_DELIMITER, SHIVIZ_REGEX, export_run, host
from lamport.faults import Crash, Delay, Loss, Partition
from lamport.logs import read_run

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    result = simulate(RunConfig(rates=(1, 3, 6), p_send=0.9, duration=6.0, seed=2))
    return result.write(tmp_path_factory.mktemp("export") / "run")


def _python_regex(shiviz_regex: str) -> re.Pattern[str]:
    """ShiViz's JavaScript named groups ``(?<name>`` in Python's spelling."""
    return re.compile(shiviz_regex.replace("(?<", "(?P<"))


def test_shiviz_parses_with_its_own_regex(run_dir, tmp_path):
    out = export_run(run_dir, "shiviz", tmp_path / "run.log")
    text = out.read_text()
    first, delimiter, body = text.split("\n", 2)
    assert first == SHIVIZ_REGEX and delimiter == ""
    pattern = _python_regex(first)
    assert set(pattern.groupindex) == {"host", "clock", "event", "kind", "msg_id"}
    # ShiViz turns every unnamed "(" into "(?:" (so an escaped one would break).
    assert not re.search(r"\\\(", first)
    matches = list(pattern.finditer(body))
    _, logs = read_run(run_dir)
    assert len(matches) == sum(len(x) for x in logs)
    # The matches tile the body: nothing is skipped between entries.
    assert "".join(m.group(0) + "\n" for m in matches) == body

    solved = causality.analyze(logs)
    seen = [0] * len(logs)
    machine_of = {host(m): m for m in range(len(logs))}
    for m in matches:
        clock = json.loads(m["clock"])
        machine = machine_of[m["host"]]
        assert m["host"] in clock, "ShiViz needs the host in its own clock"
        index = seen[machine]
        seen[machine] += 1
        # Per host in log order, with the derived vector clock (zeros left out).
        full = [clock.get(host(j), 0) for j in range(len(logs))]
        assert full == solved.of(machine, index)
        assert clock[m["host"]] == index + 1
        # Happened-before order: every component's event is already listed.
        for j, component in enumerate(full):
            assert seen[j] >= component
        e = logs[machine][index]
        assert m["host"] == f"m{machine}"
        assert m["kind"] == e.event and m["event"].startswith(e.event)
        assert m["msg_id"] == (e.msg_id if e.event in (SEND, RECEIVE) else "")


def _perfetto_rules(trace: dict, logs) -> None:
    """What Perfetto's JSON importer needs to draw the export as it is meant: no tid 0
    (it reads tid 0 as the pid, another machine's track); on each track, slices that never
    overlap (it moves a slice that partly overlaps another off its track); one slice per
    event; and each flow's ends inside the slice of its SEND and of its RECEIVE."""
    events = trace["traceEvents"]
    assert all(e.get("tid", 1) != 0 and e["pid"] == 1 for e in events)
    slices = [e for e in events if e["ph"] == "X"]
    assert len(slices) == sum(len(x) for x in logs)
    tracks: dict[int, list[dict]] = {}
    for e in slices:
        tracks.setdefault(e["tid"], []).append(e)
    named = {e["tid"] for e in events if e["name"] == "thread_name"}
    assert set(tracks) <= named
    for track in tracks.values():
        track.sort(key=lambda e: e["ts"])
        for before, after in itertools.pairwise(track):
            assert before["ts"] < after["ts"], (before, after)
            assert before["ts"] + before["dur"] <= after["ts"], (before, after)
        assert all(e["dur"] > 0 for e in track)

    def enclosing(tid: int, ts: float) -> dict:
        found = [e for e in tracks[tid] if e["ts"] <= ts < e["ts"] + e["dur"]]
        assert len(found) == 1, (tid, ts, found)
        return found[0]

    flows: dict[int, dict[str, dict]] = {}
    for e in events:
        if e["ph"] in "sf":
            flows.setdefault(e["id"], {})[e["ph"]] = e
    receives = sum(1 for x in logs for e in x if e.event == RECEIVE)
    assert len(flows) == receives
    for flow in flows.values():
        send = enclosing(flow["s"]["tid"], flow["s"]["ts"])
        receive = enclosing(flow["f"]["tid"], flow["f"]["ts"])
        assert flow["f"]["bp"] == "e"
        assert send["name"] == SEND and receive["name"] == RECEIVE
        assert send["args"]["msg_id"] == receive["args"]["msg_id"]
        assert flow["s"]["name"] == f"message {send['args']['msg_id']}"


def _executions(text: str) -> dict[str, str]:
    """Split a ShiViz file the way ShiViz does: line 2, anchored and multiline, splits the
    body; its ``trace`` group labels the executions."""
    _, delimiter, body = text.split("\n", 2)
    split = re.compile("^" + re.sub(r"\(\?<\w+>", "(?:", delimiter) + "$", re.M)
    labeled = _python_regex("^" + delimiter + "$")
    labels = [""] + [m["trace"] for m in re.compile(labeled.pattern, re.M).finditer(body)]
    parts = split.split(body)
    return {labels[i]: part for i, part in enumerate(parts) if part.strip()}


def test_several_runs_are_several_shiviz_executions(run_dir, tmp_path):
    other = simulate(RunConfig(rates=(2, 2), p_send=0.5, duration=3.0, seed=7))
    second = other.write(tmp_path / "second")
    out = tmp_path / "both.log"
    done = _cli(str(run_dir), str(second), "--format", "shiviz", "--output", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert text.split("\n", 2)[:2] == [SHIVIZ_REGEX, SHIVIZ_DELIMITER]
    executions = _executions(text)
    assert list(executions) == ["run", "second"]
    pattern = _python_regex(SHIVIZ_REGEX)
    for folder, part in zip((run_dir, second), executions.values(), strict=True):
        _, logs = read_run(folder)
        single = export_run(folder, "shiviz", tmp_path / "one.log").read_text()
        assert part.strip("\n") == single.split("\n", 2)[2].strip("\n")
        assert len(list(pattern.finditer(part))) == sum(len(x) for x in logs)


def test_a_sweeps_kept_runs_are_shiviz_executions(tmp_path):
    from lamport.des.sweep import sweep

    sweep([4], seeds=2, duration=3.0, out=tmp_path / "sweep", keep_logs="csv")
    out = tmp_path / "sweep.log"
    done = _cli(str(tmp_path / "sweep"), "--format", "shiviz", "--output", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    kept = sorted(p.name for p in (tmp_path / "sweep" / "runs").iterdir())
    assert len(kept) == 2 and list(_executions(out.read_text())) == kept
    done = _cli(str(tmp_path / "sweep"), "--format", "perfetto", "--output", "x", cwd=tmp_path)
    assert done.returncode == 2 and "--format shiviz only" in done.stderr


def test_perfetto_is_json_with_named_tracks_and_one_flow_per_receive(run_dir, tmp_path):
    out = export_run(run_dir, "perfetto", tmp_path / "run.json")
    trace = json.loads(out.read_text())
    events = trace["traceEvents"]
    _, logs = read_run(run_dir)
    names = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert names == {
        1: "machine 0 (1 tick/s)",
        2: "machine 1 (3 tick/s)",
        3: "machine 2 (6 tick/s)",
    }
    _perfetto_rules(trace, logs)
    slices = [e for e in events if e["ph"] == "X"]
    first = next(e for e in slices if e["tid"] == 3)
    assert first["ts"] == pytest.approx(logs[2][0].t * 1e6)
    assert first["dur"] == pytest.approx(0.5e6 / 6)
    assert first["args"]["clock"] == logs[2][0].clock


@pytest.mark.parametrize(
    "faults",
    [
        # a crash mid-tick, and the first tick right after the restart
        (Crash(2, 1.03, 0.51), Crash(0, 2.5, 1.0)),
        (Crash(1, 2.0, 1.5, True), Loss(0.2)),
        (Partition(((0,), (1, 2)), 1.0, 2.0), Delay(0, 1, 0.4, 0.5, 3.0)),
    ],
    ids=["crashes", "reset", "partition"],
)
@pytest.mark.parametrize("time", ["model", "logical"])
def test_perfetto_keeps_each_machine_on_its_track_through_faults(tmp_path, faults, time):
    config = RunConfig(rates=(2, 5, 6), p_send=0.7, duration=6.0, seed=5, faults=faults)
    run_dir = simulate(config).write(tmp_path / "run")
    _, logs = read_run(run_dir)
    out = export_run(run_dir, "perfetto", tmp_path / "run.json", time=time)
    _perfetto_rules(json.loads(out.read_text()), logs)


def test_perfetto_keeps_each_machine_on_its_track_in_real_time(tmp_path):
    """Late ticks on the wall clock, a crash and its restart: still no overlap."""
    from lamport.realtime import run

    config = RunConfig(
        rates=(6, 6, 5), p_send=0.8, duration=4.0, seed=1, jitter=0.15,
        faults=(Crash(1, 1.02, 0.6),),
    )  # fmt: skip
    result = run(config, speed=8, out=tmp_path / "rt")
    _, logs = read_run(tmp_path / "rt")
    assert any(e.event == "CRASH" for e in logs[1])
    out = export_run(tmp_path / "rt", "perfetto", tmp_path / "rt.json")
    _perfetto_rules(json.loads(out.read_text()), logs)
    assert result is not None


def test_perfetto_logical_time(run_dir, tmp_path):
    out = export_run(run_dir, "perfetto", tmp_path / "run.json", time="logical")
    trace = json.loads(out.read_text())
    slices = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert all(e["ts"] == e["args"]["clock"] * 1000 for e in slices)
    flows = {}
    for e in trace["traceEvents"]:
        if e["ph"] in "sf":
            flows.setdefault(e["id"], {})[e["ph"]] = e["ts"]
    assert all(f["s"] < f["f"] for f in flows.values())  # the clock condition, drawn


def test_dot_draws_every_event_and_message(run_dir, tmp_path):
    out = export_run(run_dir, "dot", tmp_path / "run.dot")
    text = out.read_text()
    _, logs = read_run(run_dir)
    assert text.startswith("digraph happened_before {") and text.rstrip().endswith("}")
    nodes = re.findall(r"^\s+m(\d+)_(\d+) \[label=", text, flags=re.M)
    assert len(nodes) == sum(len(x) for x in logs)
    sends_to = sum(len(e.peer.split("+")) for x in logs for e in x if e.event == SEND)
    dashed = text.count("style=dashed")
    receives = sum(1 for x in logs for e in x if e.event == RECEIVE)
    assert dashed == receives <= sends_to


def test_dot_refuses_a_large_run(tmp_path):
    big = simulate(RunConfig(rates=(6, 6), p_send=0.3, duration=DOT_LIMIT / 10, seed=0))
    with pytest.raises(LogError, match=r"too many to draw readably \(limit 400\)"):
        export_run(big.write(tmp_path / "big"), "dot", tmp_path / "big.dot")
    assert not (tmp_path / "big.dot").exists()


def _cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "lamport", "export", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def test_cli_writes_and_says_where(run_dir, tmp_path):
    done = _cli(str(run_dir), "--format", "shiviz", "--output", "x.log", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "shiviz: x.log"
    assert (tmp_path / "x.log").read_text().startswith(SHIVIZ_REGEX)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["NOPE", "--format", "shiviz", "--output", "x"], "NOPE: no such directory"),
        (["RUN", "--format", "svg", "--output", "x"], "invalid choice: 'svg'"),
        (["RUN", "--format", "shiviz", "--output", "no/such/x"], "no such directory no/such"),
        (["RUN", "--format", "shiviz", "--output", "."], "--output .: is a directory"),
        (["RUN", "--format", "dot", "--time", "logical", "--output", "x"], "perfetto only"),
        (["RUN", "--format", "shiviz"], "the following arguments are required: --output"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(run_dir, tmp_path, args, message):
    args = [str(run_dir) if a == "RUN" else a for a in args]
    done = _cli(*args, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_cli_corrupt_run_and_unwritable_output(run_dir, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("run.json", "machine-0.csv", "machine-1.csv", "machine-2.csv"):
        (broken / name).write_bytes((run_dir / name).read_bytes())
    (broken / "machine-1.csv").write_text("t,wall\n1,2\n")
    done = _cli(str(broken), "--format", "perfetto", "--output", "x.json", cwd=tmp_path)
    assert done.returncode == 2 and "machine-1.csv: header is not the log schema" in done.stderr
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root writes anywhere: /proc refuses even root
            if not Path("/proc/self").is_dir():
                pytest.skip("running as root without /proc")
            target, message = "/proc/lamport-export", "cannot write"
        else:
            target, message = str(locked / "x"), "is not writable"
        done = _cli(str(run_dir), "--format", "shiviz", "--output", target, cwd=tmp_path)
        assert done.returncode == 2 and message in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    finally:
        locked.chmod(0o700)
