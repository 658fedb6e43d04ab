"""The invariants every log must satisfy (docs/spec.md, the invariants), checked on a whole run.

:func:`violations` lists every broken invariant; :func:`check` raises a
LogError naming the file and the first offending row. Both take the run's
metadata and its logs by machine id, as :func:`lamport.logs.read_run` returns
them or as a backend produces them.

The clock condition (a happened before b implies C(a) < C(b)) is checked on
the edges that generate happened-before: consecutive events of one machine,
and each SEND with its RECEIVE. C increases along every edge, so it increases
along every chain of edges, which is the clock condition itself.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from fractions import Fraction
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from lamport.backend import backend_of
from lamport.core import EVENT_KINDS, INTERNAL, RECEIVE, SEND, STATE_CHANGES, Event
from lamport.errors import ConfigError, LogError
from lamport.faults import Window, fault_from_table
from lamport.plan import Plan
from lamport.schema import RUN_FILE, log_name

if TYPE_CHECKING:
    from lamport.faults import Drop


class Violation(str):
    """One broken invariant, phrased as ``machine-<id>.csv line <n>: <what>``."""


def _where(machine: int, index: int) -> str:
    return f"{log_name(machine)} line {index + 2}"


@lru_cache(maxsize=4096)  # a run has few distinct peer cells; a million-event check asks each often
def _recipients(peer: str, sender: int, n: int) -> tuple[int, ...] | None:
    """The machines a SEND's ``peer`` cell names, or None unless they are distinct others,
    each written in plain decimal (``1``, not ``01``: a receive names its sender so)."""
    parts = peer.split("+")
    if not all(part.isascii() and part.isdigit() and str(int(part)) == part for part in parts):
        return None
    ids = [int(part) for part in parts]
    if len(set(ids)) != len(ids) or any(i == sender or i >= n for i in ids):
        return None
    return tuple(ids)


def expected_ticks(rate: float, duration: float) -> int:
    """floor(rate x duration), on exact fractions."""
    return math.floor(Fraction(rate).limit_denominator(1_000_000) * Fraction(duration))


def timing_slack(metadata: Mapping[str, Any], rate: float, duration: float) -> int:
    """How far the timing model lets a machine's tick count stray from floor(rate x duration).

    Aligned phases without drift or jitter (and every run recorded before phases
    existed): 0. Otherwise the first tick falls anywhere in the first period, so
    the count is floor(rate x duration) when rate x duration is whole and within
    one otherwise; jitter may push the last tick past the end (one less); drift
    changes the true rate by up to ``drift_ppm`` parts per million (that many
    ticks more or less over the run, rounded up).
    """
    drift = float(metadata.get("drift_ppm") or 0)
    jitter = float(metadata.get("jitter") or 0)
    if metadata.get("phase", "aligned") == "aligned" and not drift and not jitter:
        return 0
    exact = Fraction(rate).limit_denominator(1_000_000) * Fraction(duration)
    slack = 0 if exact.denominator == 1 and not drift and not jitter else 1
    return slack + math.ceil(float(exact) * drift * 1e-6)


def _windows(metadata: Mapping[str, Any], machine: int) -> list[Window]:
    """The machine's windows in the run's fault plan (``run.json``'s ``faults`` tables);
    a table that is no fault is left to the reader that refuses it."""
    found = []
    for table in metadata.get("faults") or ():
        try:
            fault = fault_from_table(table)
        except ConfigError:
            continue
        found += [w for w in fault.windows() if w.machine == machine]
    return found


def downtime_ticks(metadata: Mapping[str, Any], machine: int, until: float | None = None) -> int:
    """How many of the machine's scheduled ticks its windows remove (a crash's, ...; 0
    without any): the ticks at instants in [at, at + duration), on the run's timing grid
    (:meth:`lamport.plan.Plan.downtime_ticks`); with ``until`` (a run stopped early),
    only those before that model time."""
    if not _windows(metadata, machine):
        return 0
    from lamport.config import RunConfig

    return Plan(RunConfig.from_metadata(metadata)).downtime_ticks(machine, until)


def _fault_row(
    metadata: Mapping[str, Any], machine: int, index: int, e: Event, previous: int, ticks: int
) -> list[Violation]:
    """The problems of a state change's row (CRASH, RESTART, ...: :data:`STATE_CHANGES`):
    it is no tick (its ``tick`` is the ticks so far), it keeps the clock, except that a
    change that may forget it (a RESTART) sets it to 0 when its window says ``reset``."""
    where = _where(machine, index)
    found = []
    if e.tick != ticks:
        found.append(Violation(f"{where}: {e.event} at tick {e.tick}, expected {ticks}"))
    resets = STATE_CHANGES[e.event].resets
    reset = resets and any(w.reset for w in _windows(metadata, machine))
    if e.clock != previous and not (reset and e.clock == 0):
        found.append(Violation(f"{where}: {e.event} changes the clock {previous} -> {e.clock}"))
    if e.jump != e.clock - previous:
        found.append(Violation(f"{where}: jump {e.jump} but clock went {previous} -> {e.clock}"))
    return found


#: A SEND by message id: (its machine, its row, the row).
_Sends = dict[str, tuple[int, int, Event]]


def _own_machine(machine: int, index: int, e: Event) -> list[Violation]:
    """Each row of a machine's log names that machine."""
    if e.machine != machine:
        return [
            Violation(
                f"{_where(machine, index)}: machine column {e.machine} in machine {machine}'s log"
            )
        ]
    return []


def _tick_number(machine: int, index: int, e: Event, ticks: int) -> list[Violation]:
    """A tick's row numbers it: the first tick is 1, then one more each tick."""
    if e.tick != ticks:
        return [Violation(f"{_where(machine, index)}: tick {e.tick}, expected {ticks}")]
    return []


def _known_kind(machine: int, index: int, e: Event) -> list[Violation]:
    """A tick is one of the event kinds docs/spec.md names."""
    if e.event not in EVENT_KINDS:
        return [Violation(f"{_where(machine, index)}: unknown event kind {e.event!r}")]
    return []


def _clock_grows(machine: int, index: int, e: Event, previous: int) -> list[Violation]:
    """Clocks grow (invariant 1): above the previous row's clock, ``jump`` the difference."""
    found = []
    if e.clock <= previous:
        found.append(
            Violation(
                f"{_where(machine, index)}: clock {e.clock} does not exceed previous {previous}"
            )
        )
    if e.jump != e.clock - previous:
        found.append(
            Violation(
                f"{_where(machine, index)}: jump {e.jump} but clock went {previous} -> {e.clock}"
            )
        )
    return found


def _queue_counts(machine: int, index: int, e: Event) -> list[Violation]:
    """A queue length is never negative."""
    if e.queue < 0:
        return [Violation(f"{_where(machine, index)}: negative queue {e.queue}")]
    return []


def _send_row(machine: int, index: int, e: Event, n: int, sends: _Sends) -> list[Violation]:
    """A SEND names other machines, carries its own clock and a message id never sent
    before; it is recorded in ``sends`` for the receives to match."""
    found = []
    if _recipients(e.peer, machine, n) is None:
        found.append(
            Violation(
                f"{_where(machine, index)}: SEND to {e.peer!r}, which names no other machines"
            )
        )
    if e.msg_clock != e.clock:
        found.append(
            Violation(
                f"{_where(machine, index)}: SEND carries {e.msg_clock}, not its clock {e.clock}"
            )
        )
    if e.msg_id in sends:
        found.append(Violation(f"{_where(machine, index)}: message id {e.msg_id} sent twice"))
    sends[e.msg_id] = (machine, index, e)
    return found


def _tick_row(machine: int, index: int, e: Event, previous: int, ticks: int) -> list[Violation]:
    """The invariants of one tick's row: the tick's number, its kind, the clock, the queue."""
    return [
        *_tick_number(machine, index, e, ticks),
        *_known_kind(machine, index, e),
        *_clock_grows(machine, index, e, previous),
        *_queue_counts(machine, index, e),
    ]


def _takes_when_queued(machine: int, index: int, e: Event, left: int) -> list[Violation]:
    """A machine takes a message on every tick at which its queue is not empty: a draw
    (INTERNAL or SEND) happens only on a tick with an empty queue, and leaves it empty.

    ``left`` is the queue the row before left (0 before the first). Between two rows the
    queue only grows (messages arrive; a crash empties it and its row logs 0; a pause
    keeps it, and its rows log what it keeps), so a tick after a row that left messages
    queued found them there, however the arrivals fell around it (in real time one may
    arrive in the very instant of a tick): as far as the logs show it, such a tick is a
    RECEIVE.
    """
    if e.event not in (INTERNAL, SEND):
        return []
    where = _where(machine, index)
    found = []
    if left > 0:
        found.append(
            Violation(
                f"{where}: {e.event} with {left} message{'s' * (left != 1)} queued (line "
                f"{index + 1} left {left}): a machine with a non-empty queue takes a message"
            )
        )
    if e.queue != 0:
        found.append(
            Violation(
                f"{where}: {e.event} leaves queue {e.queue}: a draw happens only on a tick "
                "with an empty queue, and takes nothing from it"
            )
        )
    return found


def _machine_log(
    metadata: Mapping[str, Any], machine: int, events: Sequence[Event], n: int, sends: _Sends
) -> tuple[list[Violation], int]:
    """One machine's log row by row, in order: its problems and how many ticks it has."""
    found: list[Violation] = []
    previous = 0
    left = 0
    ticks = 0
    for index, e in enumerate(events):
        found += _own_machine(machine, index, e)
        if e.event in STATE_CHANGES:
            found += _fault_row(metadata, machine, index, e, previous, ticks)
        else:
            ticks += 1
            found += _tick_row(machine, index, e, previous, ticks)
            found += _takes_when_queued(machine, index, e, left)
            if e.event == SEND:
                found += _send_row(machine, index, e, n, sends)
        previous = e.clock
        left = e.queue
    return found, ticks


def _tick_count(
    metadata: Mapping[str, Any], machine: int, ticks: int, tick_tolerance: int
) -> list[Violation]:
    """Tick count (invariant 5): floor(rate x duration) less the ticks spent down, within
    the tolerance; a run stopped early (Ctrl-C, SIGTERM) ticked until it stopped."""
    duration = metadata.get("duration")
    if metadata.get("interrupted") and metadata.get("stopped_at") is not None:
        duration = metadata["stopped_at"]
        tick_tolerance = max(tick_tolerance, 1)
    if duration is None:
        return []
    rate = metadata["rates"][machine]
    want = expected_ticks(rate, duration)
    allowed = tick_tolerance + timing_slack(metadata, rate, duration)
    stopped = metadata.get("stopped_at") if metadata.get("interrupted") else None
    down = downtime_ticks(metadata, machine, stopped)
    if abs(ticks - (want - down)) > allowed:
        return [
            Violation(
                f"{log_name(machine)}: {ticks} ticks, expected {want - down}"
                + (f" +- {allowed}" if allowed else "")
                + (f" ({want} less {down} while down)" if down else "")
            )
        ]
    return []


def _receive_row(
    machine: int, index: int, e: Event, sends: _Sends, received: set[tuple[str, int]]
) -> list[Violation]:
    """Receives move forward and messages match (invariants 2 and 3): above the message's
    clock, received once, and sent to this machine by the machine it names with the
    clock it carries. The receive is recorded in ``received``."""
    where = _where(machine, index)
    found = []
    if e.msg_clock is None or e.clock <= e.msg_clock:
        found.append(
            Violation(f"{where}: RECEIVE clock {e.clock} not above message clock {e.msg_clock}")
        )
    if (e.msg_id, machine) in received:
        found.append(Violation(f"{where}: message {e.msg_id} received twice"))
    received.add((e.msg_id, machine))
    send = sends.get(e.msg_id)
    if send is None:
        found.append(Violation(f"{where}: RECEIVE of {e.msg_id}, which no machine sent"))
        return found
    sender, _, s = send
    if str(machine) not in s.peer.split("+"):
        found.append(Violation(f"{where}: {e.msg_id} was sent to {s.peer}, not to {machine}"))
    if e.peer != str(sender):
        found.append(Violation(f"{where}: peer {e.peer!r} but {e.msg_id} came from {sender}"))
    if e.msg_clock != s.msg_clock:
        found.append(
            Violation(f"{where}: message clock {e.msg_clock} but {e.msg_id} carried {s.msg_clock}")
        )
    return found


def _fifo_per_link(
    logs: Sequence[Sequence[Event]],
    sends: _Sends,
    n: int,
    dropped: Sequence[int],
    lost: Collection[tuple[str, int]] | None,
) -> list[Violation]:
    """FIFO per link: the messages one machine receives from one sender are received in
    the order they were sent, and none is overtaken.

    A RECEIVE of a message sent before one already received on its link broke the order.
    A message never received (nor lost) while a later one on its link was received was
    overtaken: it cannot still be queued or in flight at the end. ``lost`` holds the
    (message id, recipient) pairs lost on the way (``network.csv``). A recipient that
    lost more (``dropped``, from ``run.json``) than ``lost`` names (all of them without
    ``lost``; the real-time backends count messages a broken link lost, which have no
    row) is checked for order only. Receives that match no SEND to their machine are
    :func:`_receive_row`'s.
    """
    found: list[Violation] = []
    latest: dict[tuple[int, int], tuple[int, int, str]] = {}  # link: sender row, line, id
    taken: dict[tuple[str, int], int] = {}  # (message id, recipient): its RECEIVE's row
    for machine, events in enumerate(logs):
        for index, e in enumerate(events):
            if e.event != RECEIVE:
                continue
            send = sends.get(e.msg_id)
            if send is None or machine not in (_recipients(send[2].peer, send[0], n) or ()):
                continue
            sender, row, _ = send
            taken.setdefault((e.msg_id, machine), index)
            last = latest.get((sender, machine))
            if last is not None and row < last[0]:
                found.append(
                    Violation(
                        f"{_where(machine, index)}: RECEIVE of {e.msg_id} after {last[2]} "
                        f"({_where(machine, last[1])}), which machine {sender} sent after it: "
                        "FIFO per link broken"
                    )
                )
            else:
                latest[(sender, machine)] = (row, index, e.msg_id)
    listed = [0] * n
    for _, recipient in lost or ():
        if 0 <= recipient < n:
            listed[recipient] += 1
    named = [listed[r] >= dropped[r] if lost is not None else not dropped[r] for r in range(n)]
    on_link: dict[tuple[int, int], list[tuple[int, str]]] = {}
    for sender, row, s in sends.values():
        for recipient in _recipients(s.peer, sender, n) or ():
            if named[recipient]:
                on_link.setdefault((sender, recipient), []).append((row, s.msg_id))
    skipped: list[tuple[int, int, Violation]] = []
    for (sender, recipient), sent in on_link.items():
        missing: list[tuple[int, str]] = []
        for row, msg_id in sorted(sent):
            at = taken.get((msg_id, recipient))
            if at is None:
                if lost is None or (msg_id, recipient) not in lost:
                    missing.append((row, msg_id))
                continue
            for earlier, hidden in missing:
                skipped.append(
                    (
                        recipient,
                        at,
                        Violation(
                            f"{_where(recipient, at)}: RECEIVE of {msg_id}, but {hidden} "
                            f"({_where(sender, earlier)}), sent before it on the link from "
                            f"machine {sender}, was never received nor lost: FIFO per link "
                            "broken"
                        ),
                    )
                )
            missing = []
    return found + [v for *_, v in sorted(skipped, key=lambda x: (x[0], x[1]))]


def _conservation(
    metadata: Mapping[str, Any], sends: _Sends, received_by: Sequence[int], n: int
) -> list[Violation]:
    """Conservation (invariant 4): messages sent to a machine = received + still queued at
    the end + lost (``run.json``'s ``dropped``). Unchecked without ``queued_at_end``."""
    queued = metadata.get("queued_at_end")
    if queued is None:
        return []
    dropped = metadata.get("dropped") or [0] * n
    sent_to = [0] * n
    for sender, _, s in sends.values():
        for peer in _recipients(s.peer, sender, n) or ():
            sent_to[peer] += 1
    return [
        Violation(
            f"{log_name(machine)}: conservation broken: {sent_to[machine]} "
            f"sent to it, {received_by[machine]} received, "
            f"{queued[machine]} queued at the end"
            + (f", {dropped[machine]} dropped" if dropped[machine] else "")
        )
        for machine in range(n)
        if sent_to[machine] != received_by[machine] + queued[machine] + dropped[machine]
    ]


def violations(
    metadata: Mapping[str, Any],
    logs: Sequence[Sequence[Event]],
    tick_tolerance: int | None = None,
    drops: Iterable[Drop] | None = None,
) -> list[Violation]:
    """Every violation of docs/spec.md's invariants in the run, first per check in log order.

    ``tick_tolerance`` is how far a machine's tick count may stray from
    floor(rate x duration); by default the tolerance the run's backend declares
    (:mod:`lamport.backend`: 0 for the DES, 1 for real time), plus what the
    run's timing model allows (:func:`timing_slack`: within one under random
    phases when rate x duration is not whole). A run that was interrupted is
    held to ``stopped_at`` instead of its duration, within one tick.
    ``drops`` (the rows of ``network.csv``) says which messages were lost, for
    FIFO per link; without it a machine that lost any is checked for order only.
    Raise LogError if the metadata names no known backend.
    """
    n = len(metadata["rates"])
    if len(logs) != n:
        return [Violation(f"{RUN_FILE} lists {n} machines but there are {len(logs)} logs")]
    if tick_tolerance is None:
        tick_tolerance = backend_of(metadata).tick_tolerance
    found: list[Violation] = []
    sends: _Sends = {}
    for machine, events in enumerate(logs):
        problems, ticks = _machine_log(metadata, machine, events, n, sends)
        found += problems
        found += _tick_count(metadata, machine, ticks, tick_tolerance)
    received: set[tuple[str, int]] = set()  # (msg_id, recipient): a broadcast is one message
    received_by = [0] * n
    for machine, events in enumerate(logs):
        for index, e in enumerate(events):
            if e.event == RECEIVE:
                received_by[machine] += 1
                found += _receive_row(machine, index, e, sends, received)
    dropped = metadata.get("dropped") or [0] * n
    lost = None if drops is None else {(d.msg_id, d.recipient) for d in drops}
    found += _fifo_per_link(logs, sends, n, dropped, lost)
    found += _conservation(metadata, sends, received_by, n)
    return found


def check(
    metadata: Mapping[str, Any],
    logs: Sequence[Sequence[Event]],
    tick_tolerance: int | None = None,
    drops: Iterable[Drop] | None = None,
) -> None:
    """Raise LogError naming the first broken invariant, if any (:func:`violations`'
    arguments)."""
    found = violations(metadata, logs, tick_tolerance, drops)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise LogError(f"{found[0]}{more}")
