"""The invariant checker finds each kind of broken log, and names the first row."""

from __future__ import annotations

import pytest

from lamport.errors import LogError
from lamport.invariants import check, violations


@pytest.fixture(scope="module")
def run(exp4_run):
    result, _ = exp4_run
    return result.metadata, result.logs


def mutated(run, machine, index, **changes):
    metadata, logs = run
    logs = [list(log) for log in logs]
    logs[machine][index] = logs[machine][index]._replace(**changes)
    return metadata, logs


def first_receive(logs, machine):
    return next(i for i, e in enumerate(logs[machine]) if e.event == "RECEIVE")


def test_clean_run_passes(run):
    assert violations(*run) == []
    check(*run)


def test_clock_that_does_not_increase(run):
    meta, logs = mutated(run, 2, 5, clock=run[1][2][4].clock)
    found = violations(meta, logs)
    assert found[0].startswith("machine-2.csv line 7: clock")


def test_wrong_jump(run):
    found = violations(*mutated(run, 1, 3, jump=5))
    assert found[0].startswith("machine-1.csv line 5: jump 5 but clock went")


def test_receive_not_above_message_clock(run):
    index = first_receive(run[1], 0)
    event = run[1][0][index]
    found = violations(*mutated(run, 0, index, msg_clock=event.clock))
    assert any("not above message clock" in v for v in found)


def test_receive_of_unknown_message(run):
    index = first_receive(run[1], 1)
    found = violations(*mutated(run, 1, index, msg_id="2:9999"))
    assert any("which no machine sent" in v for v in found)


def test_duplicate_receive_and_conservation(run):
    meta, logs = run
    logs = [list(log) for log in logs]
    index = first_receive(logs, 1)
    logs[1][index + 1 :] = [
        e._replace(
            event="RECEIVE",
            msg_id=logs[1][index].msg_id,
            peer=logs[1][index].peer,
            msg_clock=logs[1][index].msg_clock,
        )
        if i == 0
        else e
        for i, e in enumerate(logs[1][index + 1 :])
    ]
    found = violations(meta, logs)
    assert any("received twice" in v for v in found)


def test_tick_count(run):
    meta, logs = run
    short = [log[:-2] if m == 0 else log for m, log in enumerate(logs)]
    found = violations({**meta, "queued_at_end": None}, short)
    assert any("machine-0.csv: 58 ticks, expected 60" in v for v in found)
    assert (
        violations(
            {**meta, "backend": "realtime", "queued_at_end": None},
            [log[:-1] if m == 0 else log for m, log in enumerate(logs)],
        )
        == []
    )


def test_conservation(run):
    meta, logs = run
    queued = list(meta["queued_at_end"])
    queued[0] += 1
    found = violations({**meta, "queued_at_end": queued}, logs)
    assert found and "conservation broken" in found[0]


def test_check_raises_with_first_row(run):
    with pytest.raises(LogError, match=r"machine-2\.csv line 7"):
        check(*mutated(run, 2, 5, clock=run[1][2][4].clock))


def test_interrupted_run_is_held_to_stopped_at(run):
    meta, logs = run
    cut = [[e for e in log if e.t <= 20.5] for log in logs]
    stopped = {**meta, "backend": "realtime", "interrupted": True, "stopped_at": 20.5}
    stopped["queued_at_end"] = None
    assert [len(log) for log in cut] == [20, 61, 123]
    assert violations(stopped, cut) == []
    assert violations({**stopped, "interrupted": False}, cut)[0].startswith(
        "machine-0.csv: 20 ticks"
    )
