"""A student's implementation of the exercise, written apart from lamport's core, with the
mistakes real implementations make (a flag each).

``simulate(rates, p_send, duration, seed, bug=...)`` returns what the shapes in
tests/shapes.py render: an object with ``logs`` (lamport Event records, as the
student's program would log them) and ``rates``. Bugs:

``receive_no_plus1``
    a receive sets the clock to max(local + 1, message), with no further +1;
``old_clock_in_message``
    a send carries the clock from before its increment;
``send_twice``
    a send raises the clock by 2 (incremented once per recipient, or twice);
``log_before``
    every line logs the clock from before the event's update (the rules hold, the log
    misleads).

The first buggy event after a machine's first one (whose clock before it no log
shows) is recorded in ``first_bug`` as (machine, index).
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field

from lamport.core import INTERNAL, RECEIVE, SEND, Event


@dataclass
class StudentRun:
    rates: list[float]
    logs: list[list[Event]]
    first_bug: tuple[int, int] | None = None
    n_machines: int = field(init=False)

    def __post_init__(self) -> None:
        self.n_machines = len(self.logs)


def simulate(
    rates: list[float], p_send: float, duration: float, seed: int, bug: str | None = None
) -> StudentRun:
    rng = random.Random(seed)
    n = len(rates)
    clock = [0] * n
    queue: list[list[tuple[int, int, str]]] = [[] for _ in range(n)]  # (sender, clock, id)
    sent = [0] * n
    ticks = [0] * n
    logs: list[list[Event]] = [[] for _ in range(n)]
    first_bug: tuple[int, int] | None = None
    agenda: list[tuple[float, int, int, object]] = []  # (time, order, kind 0 tick 1 arrival)
    order = 0
    for m in range(n):
        heapq.heappush(agenda, (rng.uniform(0, 1 / rates[m]), 0, order, ("tick", m)))
        order += 1
    while agenda:
        t, _, _, what = heapq.heappop(agenda)
        if t > duration:
            break
        if what[0] == "arrive":
            _, m, message = what
            queue[m].append(message)
            continue
        m = what[1]
        ticks[m] += 1
        heapq.heappush(agenda, (t + 1 / rates[m], 0, order, ("tick", m)))
        order += 1
        bugged = False
        if queue[m]:
            sender, msg_clock, msg_id = queue[m].pop(0)
            if bug == "receive_no_plus1":
                new = max(clock[m] + 1, msg_clock)
                bugged = new != max(clock[m], msg_clock) + 1
            else:
                new = max(clock[m], msg_clock) + 1
            record = (RECEIVE, new, str(sender), msg_clock, msg_id)
        else:
            u = rng.random()
            others = [i for i in range(n) if i != m]
            if u < p_send:
                to = (
                    [others[0]] if u < p_send / 3 else [others[1]] if u < 2 * p_send / 3 else others
                )
                before = clock[m]
                new = before + (2 if bug == "send_twice" else 1)
                carried = before if bug == "old_clock_in_message" else new
                bugged = bug in ("send_twice", "old_clock_in_message")
                sent[m] += 1
                msg_id = f"{m}:{sent[m]}"
                for r in to:
                    arrival = ("arrive", r, (m, carried, msg_id))
                    heapq.heappush(agenda, (t + 0.001, 1, order, arrival))
                    order += 1
                record = (SEND, new, "+".join(str(r) for r in to), carried, msg_id)
            else:
                new = clock[m] + 1
                record = (INTERNAL, new, "", None, "")
        event, new, peer, msg_clock, msg_id = record
        # a log's first line has no clock before it to compare with: not a visible break
        if bugged and first_bug is None and logs[m]:
            first_bug = (m, len(logs[m]))
        logged = clock[m] if bug == "log_before" else new
        jump = logged - (logs[m][-1].clock if logs[m] else 0)
        logs[m].append(
            Event(t, t, m, ticks[m], event, logged, jump, len(queue[m]), peer, msg_clock, msg_id)
        )
        clock[m] = new
    return StudentRun(list(rates), logs, first_bug)
