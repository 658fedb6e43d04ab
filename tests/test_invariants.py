"""The invariant checker finds each kind of broken log, and names the first row; it never
flags a real run (any configuration, the DES or real time)."""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, assume, given, settings

from lamport import causality
from lamport.check import check_logs
from lamport.config import RunConfig
from lamport.core import INTERNAL, RECEIVE, SEND, TICK_KINDS
from lamport.des import simulate
from lamport.des.options import DesOptions
from lamport.errors import LogError
from lamport.faults import parse_fault
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


# -- FIFO per link and a machine with a non-empty queue takes a message (issue 22) ---------
#
# Two edits the checker once missed, generated as classes: any two receives on one link
# swapped, and any RECEIVE turned INTERNAL while the logs show its queue non-empty, each
# with every clock (and vector clock) recomputed so that only the invariant it breaks is
# left to find it. And the other way round: no real run, of any configuration or backend,
# is ever flagged.

#: The problems a reset crash brings on purpose (the clock condition it breaks).
ON_PURPOSE = ("reset", "clock condition", "carried vector clock")


def recomputed(logs):
    """The logs with every clock, jump and message clock recomputed by Lamport's rules
    along happened-before (and every vc cell derived from it), or None if the edited
    logs hold a cycle. Fault-free logs only."""
    solved = causality.analyze(logs)
    if solved.unresolved:
        return None
    send_at = {
        e.msg_id: (m, i) for m, log in enumerate(logs) for i, e in enumerate(log) if e.event == SEND
    }
    out = [list(log) for log in logs]
    for machine, index in causality.topological_order(solved):
        e = out[machine][index]
        before = out[machine][index - 1].clock if index else 0
        if e.event == RECEIVE:
            sm, si = send_at[e.msg_id]
            carried = out[sm][si].clock
            clock = max(before, carried) + 1
            e = e._replace(clock=clock, jump=clock - before, msg_clock=carried)
        else:
            clock = before + 1
            e = e._replace(clock=clock, jump=1)
            if e.event == SEND:
                e = e._replace(msg_clock=clock)
        if hasattr(e, "vc"):
            e = e._replace(vc=" ".join(map(str, solved.of(machine, index))))
        out[machine][index] = e
    return out


RUNS = st.builds(
    lambda rates, p_send, seed, clock, phase: simulate(
        RunConfig(rates=rates, p_send=p_send, duration=15, seed=seed, clock=clock, phase=phase)
    ),
    st.tuples(*[st.sampled_from([1, 2, 3, 4, 6])] * 3),
    st.sampled_from([0.6, 0.9, 1.0]),
    st.integers(0, 10**6),
    st.sampled_from(["lamport", "vector"]),
    st.sampled_from(["random", "aligned"]),
)
SLOW = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _problems(metadata, logs):
    return check_logs(metadata, logs, []).problems


@SLOW
@given(result=RUNS, data=st.data())
def test_any_swap_of_two_receives_on_one_link_is_caught(result, data):
    logs = result.logs
    links = {}
    for m, log in enumerate(logs):
        for i, e in enumerate(log):
            if e.event == RECEIVE:
                links.setdefault((int(e.peer), m), []).append(i)
    links = {k: v for k, v in links.items() if len(v) >= 2}
    assume(links)
    sender, m = data.draw(st.sampled_from(sorted(links)))
    first, second = sorted(
        data.draw(st.lists(st.sampled_from(links[sender, m]), min_size=2, max_size=2, unique=True))
    )
    edited = [list(log) for log in logs]
    a, b = edited[m][first], edited[m][second]
    edited[m][first] = a._replace(msg_id=b.msg_id, msg_clock=b.msg_clock)
    edited[m][second] = b._replace(msg_id=a.msg_id, msg_clock=a.msg_clock)
    edited = recomputed(edited)
    assume(edited is not None)  # the later message's send came after the first receive
    found = violations(result.metadata, edited)
    assert found, "a swap on a link went unnoticed"
    assert all("FIFO per link broken" in v for v in found), found
    # the next receive on the link finds the later message b already taken
    after = next(i for i in links[sender, m] if i > first)
    taken = edited[m][after].msg_id
    assert found[0].startswith(
        f"machine-{m}.csv line {after + 2}: RECEIVE of {taken} after {b.msg_id}"
    )
    assert [p for p in _problems(result.metadata, edited)] == found


@SLOW
@given(result=RUNS, data=st.data())
def test_any_receive_turned_internal_while_the_logs_show_a_queue_is_caught(result, data):
    """The queue is shown non-empty at the tick when the row before left messages queued,
    or the edited row keeps its own queue count; or a later message on the receive's link
    was received (the hidden one was overtaken)."""
    logs = result.logs
    shown = []
    for m, log in enumerate(logs):
        for i, e in enumerate(log):
            if e.event != RECEIVE:
                continue
            later = any(x.event == RECEIVE and x.peer == e.peer for x in log[i + 1 :])
            left = log[i - 1].queue if i else 0
            for keep in (False, True):
                if left or later or (keep and e.queue):
                    shown.append((m, i, keep))
    assume(shown)
    m, i, keep = data.draw(st.sampled_from(shown))
    edited = [list(log) for log in logs]
    e = edited[m][i]
    edited[m][i] = e._replace(
        event=INTERNAL, peer="", msg_clock=None, msg_id="", queue=e.queue if keep else 0
    )
    edited = recomputed(edited)
    assert edited is not None
    queued = list(result.metadata["queued_at_end"])
    queued[m] += 1  # the message claimed as still queued: conservation holds
    metadata = {**result.metadata, "queued_at_end": queued}
    found = violations(metadata, edited)
    assert found, "a hidden receive went unnoticed"
    assert all(
        "a machine with a non-empty queue takes a message" in v
        or "a draw happens only on a tick with an empty queue" in v
        or "FIFO per link broken" in v
        for v in found
    ), found
    here = f"machine-{m}.csv line {i + 2}: INTERNAL"
    assert any(v.startswith(here) for v in found) or any(f"but {e.msg_id} (" in v for v in found)


def test_a_hidden_receive_names_the_line_and_the_queue():
    result = simulate(RunConfig(rates=(1, 6, 6), p_send=0.9, duration=10, seed=2, phase="aligned"))
    log = result.logs[0]
    i = next(i for i, e in enumerate(log) if i and e.event == RECEIVE and log[i - 1].queue > 0)
    edited = [list(x) for x in result.logs]
    edited[0][i] = log[i]._replace(event=INTERNAL, peer="", msg_clock=None, msg_id="", queue=0)
    edited = recomputed(edited)
    queued = list(result.metadata["queued_at_end"])
    queued[0] += 1
    found = violations({**result.metadata, "queued_at_end": queued}, edited)
    left = log[i - 1].queue
    assert found[0] == (
        f"machine-0.csv line {i + 2}: INTERNAL with {left} message{'s' * (left != 1)} queued "
        f"(line {i + 1} left {left}): a machine with a non-empty queue takes a message"
    )


def test_an_overtaken_message_names_both_receives():
    result = simulate(RunConfig(rates=(6, 4, 4), p_send=0.3, duration=10, seed=5, phase="aligned"))
    log = result.logs[0]
    i = next(
        i
        for i, e in enumerate(log)
        if e.event == RECEIVE
        and log[i - 1].queue == 0
        and e.queue == 0
        and any(x.event == RECEIVE and x.peer == e.peer for x in log[i + 1 :])
    )
    j = next(
        j for j in range(i + 1, len(log)) if log[j].event == RECEIVE and log[j].peer == log[i].peer
    )
    edited = [list(x) for x in result.logs]
    edited[0][i] = log[i]._replace(event=INTERNAL, peer="", msg_clock=None, msg_id="")
    edited = recomputed(edited)
    queued = list(result.metadata["queued_at_end"])
    queued[0] += 1
    found = violations({**result.metadata, "queued_at_end": queued}, edited)
    sender = int(log[i].peer)
    send_line = next(k for k, e in enumerate(result.logs[sender]) if e.msg_id == log[i].msg_id) + 2
    assert found == [
        f"machine-0.csv line {j + 2}: RECEIVE of {log[j].msg_id}, but {log[i].msg_id} "
        f"(machine-{sender}.csv line {send_line}), sent before it on the link from machine "
        f"{sender}, was never received nor lost: FIFO per link broken"
    ]


def test_a_lost_message_is_not_overtaken():
    """A message lost on its link (network.csv) may be followed by received ones; one
    neither received nor listed as lost may not, unless the recipient lost messages that
    no row lists (a broken real-time link): its links are then held to their order only."""
    config = RunConfig(
        rates=(6, 6, 6), p_send=0.9, duration=10, seed=1, faults=(parse_fault("loss 0.3"),)
    )
    result = simulate(config)
    assert result.dropped
    assert violations(result.metadata, result.logs, drops=result.dropped) == []
    assert violations(result.metadata, result.logs) == []  # dropped counted: order only
    gone = result.dropped[0]

    def seq(msg_id: str) -> int:
        return int(msg_id.split(":")[1])

    later = [
        i
        for i, e in enumerate(result.logs[gone.recipient])
        if e.event == RECEIVE and int(e.peer) == gone.sender and seq(e.msg_id) > seq(gone.msg_id)
    ]
    assert later  # a later message on the lost one's link was received
    # the loss listed under another message's id: the lost one now looks overtaken
    other = next(
        e.msg_id
        for e in result.logs[gone.sender]
        if e.event == SEND and e.msg_id not in {d.msg_id for d in result.dropped}
    )
    renamed = [gone._replace(msg_id=other), *result.dropped[1:]]
    found = violations(result.metadata, result.logs, drops=renamed)
    assert any(f"but {gone.msg_id} (" in v and "FIFO per link broken" in v for v in found)
    # a row fewer than run.json counts: that recipient's links are held to order only
    assert violations(result.metadata, result.logs, drops=result.dropped[1:]) == []


FAULTS = st.sampled_from(
    [(), ("crash 1 at 2 for 2",), ("crash 0 at 1 for 3 reset",), ("partition 0|1,2 at 2 for 3",),
     ("loss 0.2",), ("delay 0->1 +0.8 at 1 for 3",), ("delay 2->0 +2 at 2 for 2", "loss 0.1"),
     ("pause 1 at 2 for 3",), ("pause 0 at 1 for 0.4", "crash 2 at 3 for 1"),
     ("pause 2 at 0 for 5", "pause 2 at 6 for 1")]
)  # fmt: skip


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rates=st.tuples(*[st.sampled_from([1, 2, 2.5, 3, 4, 6])] * 3),
    p_send=st.sampled_from([0.0, 0.3, 0.6, 0.9, 1.0]),
    seed=st.integers(0, 10**6),
    clock=st.sampled_from(["lamport", "vector", "hlc"]),
    phase=st.sampled_from(["random", "aligned"]),
    jitter=st.sampled_from([0.0, 0.05]),
    drift=st.sampled_from([0.0, 200.0]),
    latency=st.sampled_from([0.001, 0.2, 1.5]),
    dist=st.sampled_from(["constant", "uniform", "exponential", "lognormal"]),
    faults=FAULTS,
)
def test_no_real_des_run_is_flagged(
    rates, p_send, seed, clock, phase, jitter, drift, latency, dist, faults
):
    config = RunConfig(
        rates=rates, p_send=p_send, duration=20, seed=seed, clock=clock, phase=phase, jitter=jitter,
        drift_ppm=drift, faults=tuple(parse_fault(f) for f in faults),
    )  # fmt: skip
    result = simulate(config, DesOptions(latency=latency, latency_dist=dist))
    found = check_logs(result.metadata, result.logs, result.dropped).problems
    assert [p for p in found if not any(w in p for w in ON_PURPOSE)] == []
    assert violations(result.metadata, result.logs, drops=result.dropped) == []


def test_no_real_time_run_is_flagged():
    """Threads on the wall clock, with busy queues (a slow machine among fast ones), a
    crash and a pause of the slow machine (its queue grows while it waits): arrivals fall
    anywhere around the ticks, and the logs still show no draw on a queue and no link out
    of order."""
    from lamport.realtime import run as run_realtime

    config = RunConfig(
        rates=(6, 1, 6),
        p_send=0.9,
        duration=12,
        seed=4,
        faults=(parse_fault("crash 0 at 4 for 2"), parse_fault("pause 1 at 7 for 2")),
    )
    result = run_realtime(config, speed=12)
    assert max(e.queue for e in result.logs[1]) > 0  # the rule had something to check
    assert [e.event for e in result.logs[1] if e.event not in TICK_KINDS] == ["PAUSE", "RESUME"]
    assert check_logs(result.metadata, result.logs, result.dropped).problems == []
