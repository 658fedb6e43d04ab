"""``lamport export --until SECONDS``: the first seconds of a run, a consistent cut, so the
dot drawing of a 60 s run works (the README's example) and any format can be cut short."""

from __future__ import annotations

import json

import pytest

from lamport import causality
from lamport.config import RunConfig, experiment
from lamport.core import RECEIVE, SEND, Event
from lamport.des import simulate
from lamport.errors import LogError, run_cli
from lamport.export import DOT_LIMIT, export_run, main, window


@pytest.fixture(scope="module")
def exp4(tmp_path_factory):
    """Experiment 4, seed 1, 60 s: 600 events, more than the dot export draws."""
    return simulate(experiment(4).config(seed=1)).write(tmp_path_factory.mktemp("w") / "exp4")


def test_dot_of_a_whole_60_s_run_is_refused_and_says_how_to_cut_it(exp4, tmp_path):
    with pytest.raises(LogError) as info:
        export_run(exp4, "dot", tmp_path / "x.dot")
    assert "600 events" in str(info.value) and "--until SECONDS" in str(info.value)
    assert not (tmp_path / "x.dot").exists()


def test_dot_of_the_first_ten_seconds(exp4, tmp_path, capsys):
    out = tmp_path / "exp4.dot"
    assert run_cli(main, [str(exp4), "--format", "dot", "--output", str(out), "--until", "10"]) == 0
    assert capsys.readouterr().out == f"dot: {out}\n"
    text = out.read_text()
    nodes = [line for line in text.splitlines() if "[label=" in line and "->" not in line]
    # rates 1, 3, 6: ticks at t <= 10 (random phases: 9 or 10 each), well under the limit
    assert 90 <= len(nodes) <= 100 < DOT_LIMIT
    from lamport.logs import read_logs

    logs = read_logs(exp4, 3)
    assert len(nodes) == sum(1 for events in logs for e in events if e.t <= 10)


def test_every_format_takes_the_window(exp4, tmp_path):
    perfetto = export_run(exp4, "perfetto", tmp_path / "p.json", until=5)
    slices = [e for e in json.loads(perfetto.read_text())["traceEvents"] if e["ph"] == "X"]
    assert slices and max(e["ts"] for e in slices) <= 5e6
    part = export_run(exp4, "shiviz", tmp_path / "s.log", until=5).read_text()
    whole = export_run(exp4, "shiviz", tmp_path / "all.log").read_text()
    assert 0 < len(part.splitlines()) < len(whole.splitlines()) / 5


def _event(machine: int, tick: int, t: float, kind: str, clock: int, peer="", msg_id="", mc=None):
    return Event(t, t, machine, tick, kind, clock, 1, 0, peer, mc, msg_id)


def test_the_window_is_a_consistent_cut():
    # machine 1 receives at t = 0.9 a message machine 0 sent at t = 1.1 (a late tick in
    # real time): a cut at 1.0 keeps the receive, so it keeps the send too.
    logs = [
        [
            _event(0, 1, 0.5, "INTERNAL", 1),
            _event(0, 2, 1.1, SEND, 2, "1", "m0-1"),
            _event(0, 3, 1.5, "INTERNAL", 3),
        ],
        [
            _event(1, 1, 0.9, RECEIVE, 3, "0", "m0-1", 2),
            _event(1, 2, 1.4, "INTERNAL", 4),
        ],
    ]
    cut = window(logs, 1.0)
    assert [len(events) for events in cut] == [2, 1]
    assert window(logs, 0.0) == [[], []]
    assert window(logs, 99) == [list(events) for events in logs]


@pytest.mark.parametrize("until", [0.3, 2.0, 7.5])
def test_windows_of_a_real_run_keep_every_receives_send(until):
    result = simulate(RunConfig(rates=(1, 4, 6), p_send=0.9, duration=10, seed=2))
    logs = [list(events) for events in result.logs]
    cut = window(logs, until)
    for full, part in zip(logs, cut, strict=True):
        assert part == full[: len(part)]  # a prefix of every log
        assert all(e.t <= until for e in part)
    for (sm, sk), (rm, rk) in causality.messages(logs):
        if rk < len(cut[rm]):
            assert sk < len(cut[sm])


def test_bad_windows_are_one_line_and_exit_2(exp4, tmp_path, capsys):
    for args, message in [
        (["--until", "-1"], "'-1' must be a number >= 0"),
        (["--until", "x"], "'x' is not a number"),
        (["--until", "0"], "no event of"),
    ]:
        argv = [str(exp4), "--format", "dot", "--output", str(tmp_path / "x.dot"), *args]
        with pytest.raises(SystemExit) as info:
            run_cli(main, argv)
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "x.dot").exists()
