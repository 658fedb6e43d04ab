"""The protocol core, with no backend: the rules, the event choice, purity, and a
Hypothesis state machine that checks the clock condition against vector clocks."""

from __future__ import annotations

import math
import subprocess
import sys

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from memnet import InMemoryNetwork

from lamport import causality
from lamport.core import (
    INTERNAL,
    RECEIVE,
    SEND,
    Event,
    Machine,
    advance_clock,
    choose_action,
    draws,
    machine_streams,
    message,
    receive_clock,
)

# --- the rules, one at a time -------------------------------------------------


@pytest.mark.parametrize(
    ("local", "message_clock", "after"), [(0, 0, 1), (5, 2, 6), (2, 5, 6), (7, 7, 8)]
)
def test_receive_rule_is_one_past_the_larger_clock(local, message_clock, after):
    assert receive_clock(local, message_clock) == after
    assert advance_clock(local) == local + 1


def test_internal_event_increments_clock():
    net = InMemoryNetwork(3)
    event = net.tick(0, u=0.99)
    assert (event.event, event.clock, event.jump, event.queue) == (INTERNAL, 1, 1, 0)
    assert (event.peer, event.msg_clock, event.msg_id) == ("", None, "")


def test_send_increments_then_stamps_the_new_clock():
    net = InMemoryNetwork(3)
    net.tick(0, u=0.99)  # clock 1
    event = net.tick(0, u=0.0)  # send to the first other machine
    assert (event.event, event.clock, event.msg_clock, event.peer, event.msg_id) == (
        SEND,
        2,
        2,
        "1",
        "0:1",
    )
    assert net.in_flight == [(1, message(0, 1, 2))]


@pytest.mark.parametrize(
    ("u", "recipients"),
    [(0.0, [1]), (0.099, [1]), (0.1, [2]), (0.199, [2]), (0.2, [1, 2]), (0.299, [1, 2])],
)
def test_classic_die_for_three_machines(u, recipients):
    net = InMemoryNetwork(3, p_send=0.3)
    event = net.tick(0, u=u)
    assert event.event == SEND
    assert [r for r, _ in net.in_flight] == recipients


def test_send_to_both_is_one_event_with_one_clock():
    net = InMemoryNetwork(3)
    event = net.tick(1, u=0.25)
    assert event.peer == "0+2" and event.clock == 1
    assert [m.clock for _, m in net.in_flight] == [1, 1]
    assert {m.msg_id for _, m in net.in_flight} == {"1:1"}
    assert net.machines[1].clock == 1


def test_receive_takes_one_message_and_jumps_past_it():
    net = InMemoryNetwork(3)
    for _ in range(5):
        net.tick(2, u=0.99)
    net.tick(2, u=0.25)  # clock 6, to 0 and 1
    net.tick(1, u=0.25)  # clock 1, to 0 and 2
    net.deliver(0)  # 2 -> 0
    net.deliver(1)  # 1 -> 0 (index 1 after the pop: 1's message to 0)
    event = net.tick(0, u=0.0)
    assert (event.event, event.clock, event.jump, event.queue) == (RECEIVE, 7, 7, 1)
    assert (event.peer, event.msg_clock, event.msg_id) == ("2", 6, "2:1")
    event = net.tick(0, u=0.0)
    # The message from 1 carries clock 1 < local 7: the clock still rises by one.
    assert (event.clock, event.jump, event.queue, event.peer) == (8, 1, 0, "1")


def test_busy_machine_draws_nothing():
    net = InMemoryNetwork(3)
    net.tick(1, u=0.0)
    net.deliver(0)
    net.tick(0, u=0.0)
    assert net.draws[0].taken == 0
    net.tick(0, u=0.99)
    assert net.draws[0].taken == 1


def test_machine_rejects_bad_arguments():
    with pytest.raises(ValueError, match="at least two"):
        Machine(0, 1, 0.3, lambda: 0.5)
    with pytest.raises(ValueError, match="outside"):
        Machine(3, 3, 0.3, lambda: 0.5)
    with pytest.raises(ValueError, match="p_send"):
        Machine(0, 3, 1.5, lambda: 0.5)


def test_n_greater_than_three_broadcasts_to_everyone():
    net = InMemoryNetwork(5, p_send=0.9)
    event = net.tick(2, u=0.7)
    assert event.peer == "0+1+3+4"
    assert sorted(r for r, _ in net.in_flight) == [0, 1, 3, 4]


# --- the event choice ---------------------------------------------------------


@pytest.mark.parametrize("p_send", [0.0, 0.3, 0.6, 0.9, 1.0])
@pytest.mark.parametrize("n_peers", [2, 4])
def test_action_frequencies_match_p_send(p_send, n_peers):
    """Each of the N=3 actions has probability p/3 (for N>3: broadcast p/3, each
    single peer 2p/3/(N-1)), within 5 standard errors of a fixed-seed sample."""
    samples = 60_000
    u = np.random.default_rng(12345).random(samples)
    counts: dict[int | None, int] = {}
    for value in u.tolist():
        action = choose_action(value, p_send, n_peers)
        counts[action] = counts.get(action, 0) + 1
    expected = {-1: p_send / 3, None: 1 - p_send}
    for peer in range(n_peers):
        expected[peer] = 2 * p_send / 3 / n_peers
    assert set(counts) <= set(expected)
    for action, prob in expected.items():
        observed = counts.get(action, 0) / samples
        tolerance = 5 * math.sqrt(prob * (1 - prob) / samples) + 1e-12
        assert abs(observed - prob) <= tolerance, (action, observed, prob)


def test_choose_action_edges():
    assert choose_action(0.0, 0.3, 2) == 0
    single = 0.3 * 2 / 3
    assert choose_action(math.nextafter(single, 0), 0.3, 2) == 1
    assert choose_action(single, 0.3, 2) == -1
    assert choose_action(0.3, 0.3, 2) is None
    assert choose_action(0.999, 1.0, 2) == -1
    assert choose_action(0.0, 0.0, 2) is None


def test_draw_stream_is_block_size_independent():
    gen_a = np.random.Generator(np.random.PCG64(7))
    gen_b = np.random.Generator(np.random.PCG64(7))
    small, large = draws(gen_a, block=3), draws(gen_b, block=1024)
    assert [small() for _ in range(50)] == [large() for _ in range(50)]


def test_machine_streams_are_reproducible_and_distinct():
    setup_a, a = machine_streams(11, 3)
    setup_b, b = machine_streams(11, 3)
    first = [stream() for stream in a]
    assert first == [stream() for stream in b]
    assert len(set(first)) == 3
    assert setup_a() == setup_b()
    _, other = machine_streams(12, 3)
    assert [stream() for stream in other] != first


def test_machine_streams_are_spawns_children_whatever_the_blocks():
    children = np.random.SeedSequence(11).spawn(4)
    want = [np.random.Generator(np.random.PCG64(c)).random(40).tolist() for c in children]
    for block in (1024, [1, 7, 40]):
        setup, streams = machine_streams(11, 3, block)
        assert [setup() for _ in range(40)] == want[0]
        assert [[s() for _ in range(40)] for s in streams] == want[1:]


@settings(max_examples=60, deadline=None)
@given(
    p_send=st.sampled_from([0.0, 0.3, 0.8, 1.0]),
    schedule=st.lists(st.tuples(st.integers(0, 2), st.booleans()), max_size=60),
)
def test_tally_tick_counts_what_tick_records(p_send, schedule):
    """Two copies of a network, one ticked with records and one by tally_tick, send the
    same messages, and the tallies are what the records add up to."""
    nets, inboxes = [], []
    for _ in range(2):
        _, streams = machine_streams(5, 3)
        nets.append([Machine(i, 3, p_send, streams[i]) for i in range(3)])
        inboxes.append([[], [], []])
    logs: list[list[Event]] = [[], [], []]
    for machine, deliver_first in schedule:
        for net, inbox, recording in zip(nets, inboxes, (True, False), strict=True):
            if deliver_first:  # what was sent so far arrives before this tick
                for other, waiting in zip(net, inbox, strict=True):
                    other.queue.extend(waiting)
                    waiting.clear()
            if recording:
                record, outgoing = net[machine].tick(0.0, 0.0)
                logs[machine].append(record)
            else:
                outgoing = net[machine].tally_tick()
            if outgoing is not None:
                for recipient in outgoing.recipients:
                    inbox[recipient].append(outgoing.message)
    for log, tallied in zip(logs, nets[1], strict=True):
        receives = [e for e in log if e.event == RECEIVE]
        assert tallied.ticks == len(log)
        assert tallied.receives == len(receives)
        assert tallied.sent == sum(e.event == SEND for e in log)
        assert tallied.messages == sum(e.peer.count("+") + 1 for e in log if e.event == SEND)
        assert tallied.max_queue == max((e.queue for e in receives), default=0)
        assert tallied.max_jump == max((e.jump for e in log), default=1)
        assert tallied.clock == (log[-1].clock if log else 0)


def test_core_is_pure():
    """Importing the core loads no socket, threading, simpy, pandas or numpy."""
    code = (
        "import sys, lamport.core\n"
        "bad = {'socket', 'threading', 'simpy', 'pandas', 'numpy', 'random'} & set(sys.modules)\n"
        "print(','.join(sorted(bad)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# --- the clock condition, against vector clocks --------------------------------


class LamportNetwork(RuleBasedStateMachine):
    """N core machines on an in-memory network, ticked and delivered in any order.

    After every tick the vector clocks of all events so far are derived from the
    logs by :mod:`lamport.causality`; whenever event a happened before event b
    (vc(a) <= vc(b), a != b), Lamport's clock must satisfy C(a) < C(b).
    """

    @initialize(n=st.integers(2, 5), p_send=st.sampled_from([0.3, 0.6, 0.9, 1.0]))
    def setup(self, n, p_send):
        self.net = InMemoryNetwork(n, p_send)
        self.n = n
        self.logs: list[list[Event]] = [[] for _ in range(n)]
        note(f"{n} machines, p_send={p_send}")

    @rule(data=st.data(), u=st.floats(0, 1, exclude_max=True))
    def tick(self, data, u):
        i = data.draw(st.integers(0, self.n - 1), label="machine")
        machine = self.net.machines[i]
        before = machine.clock
        head = machine.queue[0] if machine.queue else None
        event = self.net.tick(i, u)
        note(f"tick {i}: {event.event} clock {event.clock} peer {event.peer!r}")
        assert event.clock > before
        assert event.jump == event.clock - before
        if event.event == RECEIVE:
            assert head is not None
            assert event.clock > head.clock and event.msg_clock == head.clock
        self.logs[i].append(event)
        solved = causality.analyze(self.logs)
        assert solved.unresolved == []
        mine = solved.of(i, len(self.logs[i]) - 1)
        assert mine[i] == len(self.logs[i])
        for m, events in enumerate(self.logs):
            for k, other in enumerate(events):
                if causality.happened_before(solved.of(m, k), mine):
                    assert other.clock < event.clock, (
                        f"happened-before {solved.of(m, k)} -> {mine} "
                        f"but C {other.clock} >= {event.clock}"
                    )
        assert causality.clock_condition(self.logs, solved) == []

    @precondition(lambda self: len(self.net.in_flight) > 0)
    @rule(data=st.data())
    def deliver(self, data):
        index = data.draw(st.integers(0, len(self.net.in_flight) - 1), label="message")
        recipient, msg = self.net.deliver(index)
        note(f"deliver {msg.msg_id} (clock {msg.clock}) to {recipient}")

    @invariant()
    def clocks_never_fall_below_events(self):
        if not hasattr(self, "logs"):
            return
        for i, machine in enumerate(self.net.machines):
            assert machine.clock >= len(self.logs[i])


TestLamportNetwork = LamportNetwork.TestCase


def test_pinned_jump_after_slow_reader():
    """A pinned example: a machine that has been idle receives a message from a far
    ahead sender; its clock jumps past the message and later events stay above."""
    net = InMemoryNetwork(2, p_send=1.0)
    for _ in range(9):
        net.tick(1, u=0.99)  # p_send=1.0: u=0.99 sends (broadcast) -- 9 messages to 0
    net.deliver(0)
    event = net.tick(0)
    assert (event.clock, event.jump, event.msg_clock) == (2, 2, 1)
    for _ in range(8):
        net.deliver(0)
    clocks = [net.tick(0).clock for _ in range(8)]
    assert clocks == [3, 4, 5, 6, 7, 8, 9, 10]
