"""Happened-before from any run's logs: vector clocks, the clock condition, concurrency.

Lamport's clocks order events consistently with causality (if a happened before
b then C(a) < C(b)) but the converse fails: C(a) < C(b) says nothing about
whether a could have influenced b. Vector clocks (Fidge 1988, Mattern 1989)
characterize happened-before exactly: a -> b iff VC(a) <= VC(b) and a != b.

Derived vector clocks
    A run's logs name every message (``msg_id``), so the happened-before graph
    is in them: program order on each machine, and an edge from each SEND to
    every RECEIVE carrying its ``msg_id``. :func:`vector_clocks` computes every
    event's vector clock exactly from that graph, for any run of any backend,
    old ones included. Component j of an event's clock is the number of
    machine j's events that happened before it or are it.

How it is computed
    Component i of machine i's k-th event (k from 1) is k. Any other component
    j only changes at a RECEIVE, where it becomes the larger of its value and
    the SEND's component j; between receives it stays. So a machine's matrix is
    the running maximum (``numpy.maximum.accumulate``) of a sparse matrix that
    holds, at each RECEIVE, the vector clock of its SEND. Only the vector clocks
    of the SENDs need a pass in causal order; that pass touches sends and
    receives only, in plain Python, and blocks a machine at a RECEIVE whose
    SEND has not been reached yet.

Event kinds other than SEND and RECEIVE (INTERNAL, and any kind added later)
are local events: program order only.

Concurrency metrics (:func:`concurrency`)
    Over pairs of events on *different* machines (pairs on one machine are
    always ordered by program order, so they only dilute the figures):

    * ``concurrent_share``: the share of pairs that are concurrent (neither
      happened before the other);
    * ``invented_share``: among pairs with C(a) < C(b), the share that are
      causally unrelated: the order Lamport clocks impose that causality does
      not.

    Both are exact: pairs are counted, not sampled. For the pair (machine i,
    machine j), the number of i's events that happened before a j event b is
    ``VC(b)[i]``, and the number of i's events with a smaller Lamport clock is
    found by binary search in i's clocks, which increase along the log. The cost
    is O(N x E log E) for E events on N machines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lamport.core import RECEIVE, SEND, Event

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "Causality",
    "ClockBreak",
    "Concurrency",
    "analyze",
    "carried_clocks",
    "clock_condition",
    "concurrency",
    "happened_before",
    "messages",
    "topological_order",
    "vector_clocks",
]


@dataclass
class Causality:
    """A run's happened-before graph, solved: every event's vector clock.

    ``clocks[i]`` is machine i's matrix of vector clocks, one row per event in
    log order, one column per machine (``int64``). ``unresolved`` lists, as
    (machine, index), the RECEIVEs whose SEND could not come first: a message
    received before it was sent, so the logs hold a cycle (such an edge is left
    out of the vector clocks).
    """

    clocks: list[np.ndarray]
    unresolved: list[tuple[int, int]] = field(default_factory=list)

    @property
    def n_machines(self) -> int:
        return len(self.clocks)

    def of(self, machine: int, index: int) -> list[int]:
        """The vector clock of ``machine``'s ``index``-th event (from 0)."""
        return [int(x) for x in self.clocks[machine][index]]


#: One machine's sends and receives: their log indexes, message ids, whether each
#: is a SEND, and their model times.
_Steps = tuple[list[int], list[str], list[bool], list[float]]
#: Per machine, the log indexes of its resolved RECEIVEs and their SENDs' vector clocks.
_Received = list[tuple[list[int], list[list[int]]]]


def analyze(logs: Sequence[Sequence[Event]]) -> Causality:
    """Build the happened-before graph of a run and compute every vector clock.

    ``logs[i]`` is machine i's events in log order, as :func:`lamport.logs.read_run`
    or a backend returns them. Malformed logs (unknown message ids, duplicate
    ids, a receive before its send) do not raise: the edge is left out (a
    duplicate id means its first SEND, machines in id order) and a receive that
    cannot follow its send is listed in ``unresolved``; :mod:`lamport.check`
    says what is wrong.
    """
    import numpy as np

    n = len(logs)
    steps: list[_Steps] = []
    sender_of: dict[str, int] = {}
    n_sends = 0
    for machine, events in enumerate(logs):
        kinds = [e.event for e in events]
        rows = [i for i, kind in enumerate(kinds) if kind in (SEND, RECEIVE)]
        is_send = [kinds[i] == SEND for i in rows]
        step_ids = [events[i].msg_id for i in rows]
        sent = dict.fromkeys(m for m, send in zip(step_ids, is_send, strict=True) if send)
        n_sends += sum(is_send)
        clash = sent.keys() & sender_of.keys()  # the first SEND of a duplicate id wins
        sender_of.update((msg_id, machine) for msg_id in sent if msg_id not in clash)
        steps.append((rows, step_ids, is_send, [events[i].t for i in rows]))

    received = None
    if n_sends == len(sender_of):  # no duplicate ids: the fast path applies
        received = _in_time_order(steps, sender_of)
    unresolved: list[tuple[int, int]] = []
    if received is None:
        received = _depth_first(steps, sender_of, unresolved)

    clocks = []
    for machine, events in enumerate(logs):
        matrix = np.zeros((len(events), n), dtype=np.int64)
        at, merged = received[machine]
        if at:
            matrix[np.array(at, dtype=np.int64)] = np.array(merged, dtype=np.int64)
            np.maximum.accumulate(matrix, axis=0, out=matrix)
        matrix[:, machine] = np.arange(1, len(events) + 1)
        clocks.append(matrix)
    return Causality(clocks, unresolved)


def _in_time_order(steps: list[_Steps], sender_of: dict[str, int]) -> _Received | None:
    """The vector clocks of the SENDs, walking every machine's steps merged by model time.

    A backend's logs nearly always list a SEND at an earlier model time than its
    RECEIVE, so one flat pass does. Return None if a RECEIVE comes before its SEND
    in that order (the general pass then decides).
    """
    import numpy as np

    n = len(steps)
    # A per-machine running maximum of t keeps program order even if t steps back.
    times = np.concatenate(
        [np.maximum.accumulate(np.asarray(t, dtype=np.float64)) for *_, t in steps] or [np.zeros(0)]
    )
    machines = np.concatenate([np.full(len(s[0]), m, dtype=np.int64) for m, s in enumerate(steps)])
    order = np.lexsort((machines, times)).tolist()  # stable: program order within a machine
    flat_rows = [row for s in steps for row in s[0]]
    flat_ids = [i for s in steps for i in s[1]]
    flat_send = [x for s in steps for x in s[2]]
    machine_of = machines.tolist()

    send_vc: dict[str, list[int]] = {}
    current = [[0] * n for _ in range(n)]
    received: _Received = [([], []) for _ in range(n)]
    walk = zip(
        [machine_of[k] for k in order],
        [flat_ids[k] for k in order],
        [flat_send[k] for k in order],
        [flat_rows[k] for k in order],
        strict=True,
    )
    get = send_vc.get
    for machine, msg_id, is_send, row in walk:
        if is_send:
            cur = current[machine]
            cur[machine] = row + 1
            send_vc[msg_id] = cur.copy()
            continue
        vc = get(msg_id)
        if vc is None:
            if msg_id in sender_of:
                return None  # received before it was sent, in time order
            continue
        current[machine] = list(map(max, current[machine], vc))
        at, merged = received[machine]
        at.append(row)
        merged.append(vc)
    return received


def _depth_first(
    steps: list[_Steps], sender_of: dict[str, int], unresolved: list[tuple[int, int]]
) -> _Received:
    """The vector clocks of the SENDs, for any logs: run a machine until a RECEIVE
    whose SEND is not reached yet, then the machine that can unblock it. A chain of
    waits that comes back to where it started is a cycle: that RECEIVE's edge is left
    out and appended to ``unresolved``."""
    n = len(steps)
    send_vc: dict[str, list[int]] = {}
    received: _Received = [([], []) for _ in range(n)]
    current = [[0] * n for _ in range(n)]
    position = [0] * n

    def blocker(machine: int) -> str | None:
        """The id of the message ``machine`` waits for, if its next step is such a RECEIVE."""
        rows, ids, is_send, _ = steps[machine]
        p = position[machine]
        if p == len(rows) or is_send[p] or ids[p] in send_vc or ids[p] not in sender_of:
            return None
        return ids[p]

    stack = list(range(n - 1, -1, -1))
    while stack:
        machine = stack[-1]
        rows, ids, is_send, _ = steps[machine]
        p = position[machine]
        cur = current[machine]
        at, merged = received[machine]
        blocked = None
        while p < len(rows):
            msg_id = ids[p]
            if is_send[p]:
                cur[machine] = rows[p] + 1
                if msg_id not in send_vc and sender_of[msg_id] == machine:
                    send_vc[msg_id] = cur.copy()
            else:
                vc = send_vc.get(msg_id)
                if vc is not None:
                    cur = list(map(max, cur, vc))
                    at.append(rows[p])
                    merged.append(vc)
                elif msg_id in sender_of:
                    blocked = sender_of[msg_id]
                    break  # its SEND is not reached yet
            p += 1
        current[machine] = cur
        position[machine] = p
        if blocked is None:
            stack.pop()
            continue
        chain = {machine}
        waits_for: str | None = ""
        while waits_for is not None:
            waits_for = blocker(blocked)
            if waits_for is None:
                stack.append(blocked)
            elif blocked in chain:
                unresolved.append((blocked, steps[blocked][0][position[blocked]]))
                position[blocked] += 1
                waits_for = None
            else:
                chain.add(blocked)
                blocked = sender_of[waits_for]
    return received


def messages(logs: Sequence[Sequence[Event]]) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Every delivered message as ((sender, SEND index), (recipient, RECEIVE index)).

    In the recipients' log order; a RECEIVE of an id no machine sent is left
    out, and a duplicate id means its first SEND.
    """
    send_at: dict[str, tuple[int, int]] = {}
    for machine, events in enumerate(logs):
        for index, e in enumerate(events):
            if e.event == SEND:
                send_at.setdefault(e.msg_id, (machine, index))
    found = []
    for machine, events in enumerate(logs):
        for index, e in enumerate(events):
            if e.event == RECEIVE and e.msg_id in send_at:
                found.append((send_at[e.msg_id], (machine, index)))
    return found


def carried_clocks(logs: Sequence[Sequence[Event]]) -> list[np.ndarray] | None:
    """The vector clocks the logs carry (``--clock vector``: events with a ``vc``
    field), one int64 matrix per machine like :func:`vector_clocks`; None if they
    carry none.

    Raise ValueError, naming the machine log and line, if only some logs carry
    them or a cell does not have one component per machine.
    """
    import numpy as np

    from lamport.schema import log_name, parse_vc

    n = len(logs)
    carrying = [bool(events) and hasattr(events[0], "vc") for events in logs]
    if not any(carrying):
        return None
    found = []
    for machine, events in enumerate(logs):
        if events and not carrying[machine]:
            raise ValueError(f"{log_name(machine)}: no vc column, but other logs have one")
        rows = []
        for index, e in enumerate(events):
            vc = parse_vc(e.vc)  # type: ignore[attr-defined]
            if len(vc) != n:
                raise ValueError(
                    f"{log_name(machine)} line {index + 2}: vc {e.vc!r} has {len(vc)} "  # type: ignore[attr-defined]
                    f"components, the run has {n} machines"
                )
            rows.append(vc)
        found.append(np.array(rows, dtype=np.int64).reshape(len(events), n))
    return found


def vector_clocks(logs: Sequence[Sequence[Event]]) -> list[np.ndarray]:
    """Every event's vector clock: ``result[i][k]`` is machine i's k-th event's (from 0)."""
    return analyze(logs).clocks


def happened_before(a: Sequence[int], b: Sequence[int]) -> bool:
    """True if the event with vector clock ``a`` happened before the one with ``b``."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and list(a) != list(b)


def topological_order(causality: Causality) -> list[tuple[int, int]]:
    """Every event as (machine, index), in an order consistent with happened-before.

    Sorted by the sum of the vector clock's components (it grows along every
    happened-before edge), then machine, then index.
    """
    import numpy as np

    if not causality.clocks:
        return []
    sums = np.concatenate([m.sum(axis=1) for m in causality.clocks])
    machines = np.concatenate(
        [np.full(len(m), i, dtype=np.int64) for i, m in enumerate(causality.clocks)]
    )
    indexes = np.concatenate([np.arange(len(m), dtype=np.int64) for m in causality.clocks])
    order = np.lexsort((indexes, machines, sums))
    return list(zip(machines[order].tolist(), indexes[order].tolist(), strict=True))


@dataclass(frozen=True)
class ClockBreak:
    """An event b whose Lamport clock does not exceed that of an event a that happened
    before it: ``(machine, index)`` of each, and both clocks."""

    machine: int
    index: int
    clock: int
    before_machine: int
    before_index: int
    before_clock: int


def _lamport(logs: Sequence[Sequence[Event]]) -> list[np.ndarray]:
    import numpy as np

    return [np.fromiter((e.clock for e in events), np.int64, len(events)) for events in logs]


def clock_condition(
    logs: Sequence[Sequence[Event]], causality: Causality | None = None
) -> list[ClockBreak]:
    """Every event whose Lamport clock breaks the clock condition, in machine and log order.

    For event b, the events of machine j that happened before it are j's first
    ``VC(b)[j]`` events (``VC(b)[i] - 1`` on b's own machine i). b satisfies the
    clock condition iff C(b) exceeds the largest Lamport clock among them: a
    running maximum per machine makes that one lookup per (event, machine).
    The break names the earlier event holding that largest clock.
    """
    import numpy as np

    causality = analyze(logs) if causality is None else causality
    lamport = _lamport(logs)
    n = len(logs)
    # Running maximum of each machine's clocks, and where it was reached, with a
    # leading sentinel below every clock so that "no event before" looks it up.
    lowest = np.iinfo(np.int64).min
    best = []
    where = []
    for clocks in lamport:
        padded = np.concatenate(([lowest], clocks))
        running = np.maximum.accumulate(padded)
        best.append(running)
        # index of the event holding the running maximum (its latest reach)
        idx = np.arange(len(padded))
        holder = np.where(padded == running, idx, 0)
        where.append(np.maximum.accumulate(holder) - 1)
    found: list[ClockBreak] = []
    for machine in range(n):
        vc = causality.clocks[machine]
        if not len(vc):
            continue
        mine = lamport[machine]
        bound = np.full(len(mine), lowest, dtype=np.int64)
        holder_machine = np.zeros(len(mine), dtype=np.int64)
        holder_index = np.zeros(len(mine), dtype=np.int64)
        for j in range(n):
            seen = vc[:, j] - (1 if j == machine else 0)
            value = best[j][seen]
            larger = value > bound
            bound = np.where(larger, value, bound)
            holder_machine = np.where(larger, j, holder_machine)
            holder_index = np.where(larger, where[j][seen], holder_index)
        for k in np.flatnonzero(mine <= bound).tolist():
            j, a = int(holder_machine[k]), int(holder_index[k])
            found.append(ClockBreak(machine, k, int(mine[k]), j, a, int(lamport[j][a])))
    return found


@dataclass(frozen=True)
class Concurrency:
    """How much order Lamport clocks invent in one run (pairs on different machines).

    ``pairs``: unordered pairs of events on different machines; ``related``: those
    ordered by happened-before; ``clock_ordered``: those whose Lamport clocks
    differ (C(a) < C(b) for one way round); ``invented``: the clock-ordered pairs
    that are causally unrelated.
    """

    events: int
    pairs: int
    related: int
    clock_ordered: int
    invented: int

    @property
    def concurrent(self) -> int:
        return self.pairs - self.related

    @property
    def concurrent_share(self) -> float:
        """Share of cross-machine pairs that are concurrent (NaN without pairs)."""
        return self.concurrent / self.pairs if self.pairs else float("nan")

    @property
    def invented_share(self) -> float:
        """Among cross-machine pairs with C(a) < C(b), the share causally unrelated."""
        return self.invented / self.clock_ordered if self.clock_ordered else float("nan")


def concurrency(logs: Sequence[Sequence[Event]], causality: Causality | None = None) -> Concurrency:
    """Count the run's cross-machine pairs: concurrent ones, and Lamport order without cause.

    Exact for logs that satisfy the clock condition and whose clocks increase
    along each machine (every log ``lamport check`` passes). On a log that
    breaks them, a happened-before pair with C(a) >= C(b) is not counted as
    clock-ordered.
    """
    import numpy as np

    causality = analyze(logs) if causality is None else causality
    lamport = _lamport(logs)
    n = len(logs)
    sizes = [len(c) for c in lamport]
    pairs = sum(sizes[i] * sizes[j] for i in range(n) for j in range(i + 1, n))
    related = 0
    clock_ordered = 0
    related_ordered = 0
    sorted_clocks = [np.sort(c) for c in lamport]
    for b in range(n):
        if not sizes[b]:
            continue
        vc = causality.clocks[b]
        mine = lamport[b]
        for a in range(n):
            if a == b or not sizes[a]:
                continue
            before = vc[:, a]  # a's events that happened before each of b's events
            related += int(before.sum())
            smaller = np.searchsorted(sorted_clocks[a], mine, side="left")
            clock_ordered += int(smaller.sum())
            # a's clocks increase along its log, so its first VC(b)[a] events have
            # clocks below C(b) exactly when there are that many smaller clocks.
            related_ordered += int(np.minimum(before, smaller).sum())
    return Concurrency(sum(sizes), pairs, related, clock_ordered, clock_ordered - related_ordered)
