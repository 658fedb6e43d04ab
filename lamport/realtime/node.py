"""One machine of a real-time run: its core Machine, its transport, and its tick loop.

A :class:`Node` shares nothing with the other nodes but sockets: it is given
its machine id, the run's model and options, the peers' addresses, a start
instant and a stop event, and it hands back what it did (:class:`NodeReport`).
It runs in a thread today and would run unchanged in a process of its own.

Time
    Each tick is due at an absolute deadline on the monotonic clock: ``start``
    plus its model time over ``speed``, the model's schedule
    (:meth:`lamport.config.RunConfig.tick_units`: the machine's start phase,
    its drifted period, its jitter), the same instants the DES ticks at. The
    tick thread waits for it: no drift from sleeping a period after the work,
    no busy-waiting, and a wake-up within :data:`STOP_POLL` on a stop request.
    A late tick runs at once, so a machine ticks as often as the schedule
    says; its lateness (actual minus due time) is recorded. The log's ``t`` is
    the measured model time ``(now - start) x speed`` (docs/spec.md, the log schema), never
    before the scheduled one; ``wall`` is ``time.time()``.

Which messages a tick sees
    A tick takes the messages that had arrived by its *scheduled* instant
    (the transport stamps arrivals on the monotonic clock); later ones wait
    for the next tick. So what a tick sees does not depend on how late its
    thread woke up, and a message sent at an instant is never seen by another
    machine's tick due at that same instant: the DES's rule for simultaneous
    ticks, here a consequence of real time. Machine i draws from stream i of
    :func:`lamport.core.machine_streams`, as in the DES. An extra latency
    (``options.latency``) holds each arrival back by a draw of its link's
    stream (:func:`lamport.core.link_stream`), never past a later message of
    the same link.

Faults
    A fault plan (:mod:`lamport.faults`), compiled by :class:`lamport.plan.Plan`
    on the run's grid, is played on the same schedule: a tick due in a window
    (a crash's, a pause's) does not happen; a pause keeps the queue and what
    arrives, which the first tick after it takes; the crash (a CRASH row at the
    crash's model time) loses the queue and whatever had arrived, a tick
    instant inside the window loses what arrived since, and the restart (a
    RESTART row, clock kept or reset) is applied at the first tick instant
    after the window, losing what arrived before the window's end. A
    partition or loss decides at the send, with the DES's loss streams
    (:func:`lamport.core.loss_stream`); a delay holds the link's arrivals
    back by its extra while their arrival lies in its window. Every loss is a
    :class:`lamport.faults.Drop` of the node's report (and, in a process, a
    row of its ``drops-<id>.csv``). Under ``--real-crash`` a node does not
    play its own crashes: it halts before its first tick in the window and
    the launcher kills it (:class:`NodeFaults`, :mod:`.process`).

End
    After its last tick or on a stop request the node ends the sending side
    of its links and reads on until every peer has ended theirs (bounded by
    a drain timeout, or cut short by ``hurry``); whatever arrived and was not
    taken counts as queued, so sent = received + queued holds across the run.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from lamport.config import RunConfig, latency_sampler
from lamport.core import (
    CRASH,
    STATE_CHANGES,
    Event,
    Machine,
    Message,
    Uniform,
    clock_kind,
    link_stream,
    loss_stream,
    machine_streams,
    physical_clock,
)
from lamport.faults import Drop
from lamport.plan import Plan
from lamport.realtime.framing import encode_message
from lamport.realtime.options import RealtimeOptions
from lamport.realtime.transport import Transport

__all__ = ["Node", "NodeFaults", "NodeReport", "Progress", "crashes_of"]

#: How often a node waiting to connect or start looks at the stop event and its orders, in seconds.
POLL = 0.05
_NEVER = object()  # a sentinel no draw equals
#: Wall seconds after the run's scheduled end before a node that ticked to the end drains.
DRAIN_DELAY = 0.05
#: Longest sleep of a tick thread between two looks at the stop event, in seconds.
STOP_POLL = 0.05


class Progress(NamedTuple):
    """One machine's state as the live display shows it."""

    machine: int
    rate: float
    tick: int
    ticks: int
    clock: int
    queue: int


@dataclass
class NodeReport:
    """What a node did: its events, what it left queued and unsent, and its timing."""

    machine: int
    events: list[Event] = field(default_factory=list)
    #: Messages arrived and not taken: core queue, held back for the next tick, inbox.
    queued: int = 0
    #: Messages it could not send, by recipient.
    dropped: list[int] = field(default_factory=list)
    #: Actual minus due time of each tick, wall seconds.
    lateness: list[float] = field(default_factory=list)
    #: Monotonic time each of its messages was handed to the sockets, by message id.
    sent_at: dict[str, float] = field(default_factory=dict)
    #: (message id, monotonic time) of each message it decoded.
    arrived: list[tuple[str, float]] = field(default_factory=list)
    #: True if every peer's stream was read to its end.
    drained: bool = False
    #: Model time at which a stop request ended its ticking; None if it ticked to the end.
    stopped_at: float | None = None
    #: Why it never started (set-up failed), or None.
    error: str | None = None
    #: The messages the fault plan lost at its sends and arrivals.
    lost: list[Drop] = field(default_factory=list)
    #: The ids of the messages counted in ``queued``.
    queued_ids: list[str] = field(default_factory=list)


class Counted:
    """A stream of draws that counts the draws it gave: a process started again after a
    real crash skips as many, and goes on where the killed one stopped."""

    __slots__ = ("draw", "taken")

    def __init__(self, draw: Uniform) -> None:
        self.draw = draw
        self.taken = 0

    def __call__(self) -> float:
        self.taken += 1
        return self.draw()

    def skip(self, count: int) -> None:
        """Spend ``count`` draws."""
        for _ in range(count):
            self()


class NodeFaults:
    """The run's :class:`~lamport.plan.Plan` as one machine drives it (see the module
    docstring), on the run's timing grid: its state changes, the fate of its sends, the
    delays of its incoming links. ``sink``, if given, is called with every Drop as it
    happens.

    With ``real`` (``--real-crash``, :mod:`.launcher`) the machine's own crashes are the
    launcher's to play: the node halts before its first tick in its next crash window
    (:attr:`halt_at`) and waits for its SIGKILL. A process started again after the
    ``resume``-th crash of the machine (0-based, in time order) skips the ticks before
    that crash's end (:attr:`resume_at`) and writes its CRASH row (at the crash's model
    time, wall time ``killed_wall``) and its RESTART row at the first tick instant after
    the window, as a simulated crash does.
    """

    def __init__(
        self,
        config: RunConfig,
        machine: int,
        *,
        real: bool = False,
        resume: int | None = None,
        killed_wall: float | None = None,
        sink: Callable[[Drop], None] | None = None,
    ) -> None:
        plan = self.plan = Plan(config)
        self.machine = machine
        self.grid = config.grid
        self.lost: list[Drop] = []
        self.sink = sink
        #: Grid units at which the node halts for its real crash; None: never.
        self.halt_at: int | None = None
        #: Grid units before which a restarted process does not tick.
        self.resume_at = 0
        self._crash_wall = killed_wall
        steps = plan.steps(machine)
        if real:  # the machine's crashes are real: the launcher's, but the one resumed
            crash = STATE_CHANGES[CRASH]
            own = plan.windows(machine, CRASH)
            mine = {crash.event, crash.until}
            kept = []
            first = 0
            if resume is not None:
                span = own[resume]
                self.resume_at = span.end
                first = resume + 1
            for step in steps:
                if step.change.event not in mine:
                    if step.when >= self.resume_at:  # the killed process played the others
                        kept.append(step)
                elif resume is not None and (
                    (step.when, step.change) in ((span.start, span.opens), (span.end, span.closes))
                ):
                    kept.append(step)
            steps = kept
            if first < len(own):
                self.halt_at = own[first].start
        #: The machine's state changes still to come, in order.
        self.changes = deque(steps)
        self.loss_draws = {
            r: Counted(loss_stream(config.seed, machine, r))
            for r in range(config.n_machines)
            if r != machine and plan.drawn(machine, r)
        }
        for r, stream in self.loss_draws.items():
            plan.loss_draws[(machine, r)] = stream
        #: Whether an incoming link of the machine has an extra delay.
        self.delays = any(plan.has_delay(j, machine) for j in range(config.n_machines))

    @property
    def ticking(self) -> bool:
        """Whether the machine ticks now (False inside a window)."""
        return self.plan.ticking[self.machine]

    @property
    def losing(self) -> str:
        """Why what arrives for the machine now is lost ("": it is kept)."""
        return self.plan.losing[self.machine]

    def _drop(self, drop: Drop) -> None:
        self.lost.append(drop)
        if self.sink is not None:
            self.sink(drop)

    def recipients(self, when: int, message: Message, recipients: Sequence[int]) -> list[int]:
        """The recipients a message sent at ``when`` (grid units) still goes to; log the rest."""
        kept = []
        t = when / self.grid
        fate = self.plan.fate
        me = self.machine
        for r in recipients:
            reason, _ = fate(me, r, when)
            if reason:
                self._drop(Drop(t, me, r, message.msg_id, reason))
            else:
                kept.append(r)
        return kept

    def extra(self, sender: int, model_t: float) -> float:
        """Extra model seconds for an arrival from ``sender`` at model time ``model_t``."""
        return self.plan.delay(sender, self.machine, model_t * self.grid) / self.grid

    def lose(self, t: float, messages: Sequence[Message], reason: str) -> None:
        for message in messages:
            self._drop(Drop(t, message.sender, self.machine, message.msg_id, reason))

    def apply(
        self,
        when: int,
        machine: Machine,
        arrived: Callable[[float], list[Message]],
        sink: Callable[[Event], None],
        settle: Callable[[float], None] | None = None,
        after: float = 0.0,
    ) -> None:
        """Change the machine's state by ``when`` (grid units): ``arrived(t)`` takes the
        messages that arrived before model time t, lost if the state the machine enters
        or leaves loses them; otherwise ``settle(t)``, if given, queues them as a tick
        would, so the row counts them; ``sink`` takes the rows (CRASH, RESTART, ...).

        ``after`` is the model time of the machine's last row: a tick that ran late (a
        loaded machine) may have logged a time past the change's instant, and a log's
        times never go back, so the change's row then takes the late tick's time."""
        while self.changes and self.changes[0].when <= when:
            step = self.changes.popleft()
            t = max(step.when / self.grid, after)
            wall = time.time()
            if not step.change.ticks and self._crash_wall is not None:
                wall, self._crash_wall = self._crash_wall, None
            if settle is not None and not (step.change.loses or self.losing):
                settle(t)
            record, lost = machine.change(step.change, t, wall, step.reset)
            reason = self.plan.enter(step)
            if reason:
                self.lose(t, [*lost, *arrived(t)], reason)
            sink(record)


def crashes_of(config: RunConfig, machine: int) -> list[Any]:
    """The machine's crashes in the plan (the faults that open its CRASH windows), in
    time order."""
    own = [f for f in config.faults if any(w.machine == machine for w in f.windows())]
    crashes = [f for f in own if any(w.start == CRASH for w in f.windows())]
    return sorted(crashes, key=lambda c: c.at)


class Node:
    """Machine ``machine`` of a run: build it (the listener is bound at once), then :meth:`run`.

    ``draw`` is the machine's stream of uniform draws (default: stream
    ``machine`` of :func:`~lamport.core.machine_streams` for the run's seed);
    ``sink`` is called with every event as it happens (the cluster writes
    the log with it). ``secret`` is the run's secret (:mod:`.auth`): only
    machines holding it become peers. ``listener`` is a socket already bound
    for this machine (default: bind ``host`` on ``base_port + machine``, or a
    free port). ``faults`` is the plan as this node plays it (default: a
    :class:`NodeFaults` of the run's plan, if it has one). Raise NetworkError
    if the machine's port is in use.
    """

    def __init__(
        self,
        machine: int,
        config: RunConfig,
        options: RealtimeOptions,
        *,
        draw: Uniform | None = None,
        sink: Callable[[Event], None] | None = None,
        secret: bytes,
        host: str = "127.0.0.1",
        listener: socket.socket | None = None,
        faults: NodeFaults | None = None,
    ) -> None:
        n = config.n_machines
        if draw is None:
            draw = machine_streams(config.seed, n)[1][machine]
        # The stream's first call draws a block from numpy (about 50 us); take it now, not
        # at the first tick instant, which a hundred machines may share. Same sequence.
        draw = itertools.chain([draw()], iter(draw, _NEVER)).__next__
        self.index = machine
        self.config = config
        self.options = options
        self.rate = config.rates[machine]
        self.ticks = config.ticks(machine)
        kind = self.kind = clock_kind(config.clock)
        self.machine = kind.machine(machine, n, config.p_send, draw)
        if kind.physical:
            # The machine's physical clock: its own wall clock (the log's t, monotonic
            # seconds since the start times the speed) with the model's drift, in whole
            # microseconds: what lamport check reads for a run without a time base.
            physical = physical_clock(10**6, config.drift_units[machine])
            self.machine.physical = physical  # type: ignore[attr-defined]
        self.sink = sink
        port = 0 if options.base_port is None else options.base_port + machine
        self.transport = Transport(
            machine,
            n,
            port,
            options.connect_timeout,
            secret=secret,
            host=host,
            listener=listener,
        )
        self.held: deque[tuple[float, Message]] = deque()
        if faults is None and config.faults:
            faults = NodeFaults(config, machine)
        self.faults = faults
        self._delay: Callable[[float, Message], float] | None = None
        #: Each incoming link's latency stream, by sender (with an extra latency or a delay).
        self.latency_draws: dict[int, Counted] = {}
        if options.latency > 0 or (self.faults is not None and self.faults.delays):
            self.latency_draws = {
                i: Counted(link_stream(config.seed, i, machine)) for i in range(n) if i != machine
            }
            self._delay = _extra_latency(config, options, machine, self, self.latency_draws)
        self._start: float | None = None
        self._go = threading.Event()

    def restore(
        self,
        clock: int,
        ticks: int,
        sent: int,
        draws: int,
        vc: str = "",
        sent_to: Sequence[int] = (),
        latency: Sequence[int] = (),
    ) -> None:
        """Start from a saved state (a process restarted after a real crash): the clock,
        the ticks and messages so far, and as many draws of its streams spent: ``draws``
        of its actions, a loss draw per message sent to each machine (``sent_to``), and
        ``latency[j]`` of the latency stream of its link from machine j. ``vc`` is the
        clock the run's kind keeps beside the Lamport clock, as the integers of its
        :meth:`~lamport.core.Clock.wire` separated by spaces (a vector clock's ``vc``
        cell; ``l c`` of a hybrid logical clock)."""
        machine = self.machine
        machine.clock, machine.ticks, machine.sent = clock, ticks, sent
        for _ in range(draws):
            machine._draw()
        if vc and self.kind.clock is not None:  # the clock kept beside, as it was saved
            machine.beside.load(tuple(int(x) for x in vc.split()))  # type: ignore[attr-defined]
        if self.faults is not None:
            for r, stream in self.faults.loss_draws.items():
                stream.skip(sent_to[r] if r < len(sent_to) else 0)
        for j, stream in self.latency_draws.items():
            stream.skip(latency[j] if j < len(latency) else 0)

    def latency_taken(self) -> list[int]:
        """How many draws each incoming link's latency stream gave so far, by sender."""
        n = self.config.n_machines
        return [self.latency_draws[j].taken if j in self.latency_draws else 0 for j in range(n)]

    def stay_down(self, report: NodeReport) -> bool:
        """A process started again after a real crash and stopped before its restart: the
        machine stays down. Write the crash's CRASH row (the killed process never did), as a
        simulated crash would have; a run stopped before this process started stops at the
        crash. Return False if the process had restarted already."""
        faults = self.faults
        if faults is None or not faults.changes or faults.changes[0].change.ticks:
            return False
        at = faults.changes[0].when
        faults.apply(at, self.machine, lambda t: [], self._recorder(report))
        if report.stopped_at is None:
            report.stopped_at = at / self.config.grid
        return True

    @property
    def address(self) -> tuple[str, int]:
        """Where the node listens."""
        return self.transport.listener.getsockname()[:2]

    @property
    def port(self) -> int:
        return self.transport.port

    @property
    def queued(self) -> int:
        """Messages arrived and not yet received: core queue, held back, and inbox."""
        return len(self.machine.queue) + len(self.held) + len(self.transport.inbox)

    def progress(self) -> Progress:
        m = self.machine
        return Progress(self.index, self.rate, m.ticks, self.ticks, m.clock, self.queued)

    def begin(self, start: float | None) -> None:
        """Order the node to tick from the monotonic instant ``start`` on; None: give up."""
        self._start = start
        self._go.set()

    def cancel(self) -> None:
        """Tell a node that has not been started that it never will be."""
        if not self._go.is_set():
            self.begin(None)

    def close(self) -> None:
        """Release the sockets of a node that never ran."""
        self.transport.close()

    def run(
        self,
        addresses: Sequence[tuple[str, int]],
        deadline: float,
        stop: threading.Event,
        ready: Callable[[int, str | None], None],
        hurry: threading.Event | None = None,
        drain_timeout: float = 0.5,
    ) -> NodeReport:
        """The node's whole life, on the calling thread: connect, start, tick, drain.

        Connect to every peer by the monotonic ``deadline``, then call
        ``ready(machine, None)`` (or ``ready(machine, reason)`` if it cannot)
        and wait for :meth:`begin`. Tick until the end or ``stop``; drain for
        at most ``drain_timeout`` seconds after the end (``hurry`` cuts it).
        """
        report = NodeReport(self.index, dropped=[0] * self.config.n_machines)
        transport = self.transport
        try:
            transport.start(addresses, deadline)
            error = self._connect(deadline, stop)
            ready(self.index, error)
            if error is not None:
                report.error = error
                return report
            while not self._go.wait(POLL):
                if stop.is_set():
                    return report
            start = self._start
            if start is None:
                return report
            report.stopped_at = self._tick(start, stop, report)
            end = start + self.config.duration / self.options.speed
            if report.stopped_at is None:
                # Machines ticking late at the last instant would queue behind our drain.
                _sleep_until(end + DRAIN_DELAY, stop)
            transport.finish_sending()
            drain_by = time.monotonic() + drain_timeout
            if report.stopped_at is None:
                drain_by = max(drain_by, end + drain_timeout)
            # A stopped run waits for no peer's new process (it may never start).
            rejoins = report.stopped_at is None
            report.drained = transport.wait_drained(drain_by, hurry, rejoins)
        finally:
            transport.close()
            report.queued = self.queued
            report.queued_ids = [
                *(m.msg_id for m in self.machine.queue),
                *(m.msg_id for _, m in self.held),
                *(m.msg_id for _, m in transport.inbox),
            ]
            report.dropped = list(transport.dropped)
            if self.faults is not None:
                report.lost = self.faults.lost
            report.arrived = transport.arrived
        return report

    def _connect(self, deadline: float, stop: threading.Event) -> str | None:
        """Wait until every link is up; return why not, or None."""
        transport = self.transport
        while not transport.connected.wait(POLL):
            if transport.error is not None:
                return transport.error
            if stop.is_set():
                return "stopped"
            if self._go.is_set():
                return "cancelled"
            if time.monotonic() > deadline + 1.0:  # the transport says why before this
                return (
                    f"machine {self.index}: not connected within {self.options.connect_timeout:g} s"
                )
        return None

    def _tick(self, start: float, stop: threading.Event, report: NodeReport) -> float | None:
        """Tick to the end; return the model time of a stop request, or None."""
        machine = self.machine
        inbox = self.transport.inbox
        held = self.held
        deliver = machine.deliver
        events = report.events
        lateness = report.lateness
        sent_at = report.sent_at
        send = self.transport.send
        sink = self.sink
        speed = self.options.speed
        wall_grid = self.config.grid * speed  # schedule units per wall second
        delay = self._delay
        monotonic = time.monotonic
        sleep = time.sleep
        faults = self.faults
        record_row = self._recorder(report)

        def arrived(t: float) -> list[Message]:
            """Take every message that arrived before model time t (all, held ones too)."""
            by = start + t / speed
            taken = [m for _, m in held]
            held.clear()
            while inbox and inbox[0][0] < by:
                taken.append(inbox.popleft()[1])
            return taken

        def last_t() -> float:
            """The model time of the machine's last row (0 before any)."""
            return events[-1].t if events else 0.0

        def settle(t: float) -> None:
            """Queue what arrived before model time t, as a tick then would."""
            by = start + t / speed
            if delay is None:
                while inbox and inbox[0][0] < by:
                    held.append(inbox.popleft())
                while held and held[0][0] < by:
                    deliver(held.popleft()[1])
            else:
                _release_delayed(inbox, held, by, delay, deliver)

        for when in self.config.tick_units(self.index):
            if faults is not None:
                if when < faults.resume_at:  # a restarted process: not before its restart
                    continue
                if faults.halt_at is not None and when >= faults.halt_at:
                    # Crashes back to back: write the restart's rows at once (not at its
                    # instant, where the next kill races them); then no more ticks, the
                    # launcher's SIGKILL is on its way.
                    faults.apply(faults.halt_at, machine, arrived, record_row, after=last_t())
                    return _halt(start, speed, stop)
            due = start + when / wall_grid
            now = monotonic()
            while now < due:
                # A plain sleep is one system call; Event.wait is a dozen lines of Python and a
                # lock, which a hundred threads waking at one tick instant queue on.
                sleep(min(due - now, STOP_POLL))
                now = monotonic()
                if stop.is_set():
                    return (now - start) * speed
            if stop.is_set():
                return (now - start) * speed
            if faults is not None:
                faults.apply(when, machine, arrived, record_row, settle, last_t())
                if not faults.ticking:  # no tick; what arrived by now is lost or waits
                    if faults.losing:
                        t = when / self.config.grid
                        faults.lose(t, arrived(t), faults.losing)
                    continue
            if delay is None:
                while inbox:
                    held.append(inbox.popleft())
                while held and held[0][0] <= due:
                    deliver(held.popleft()[1])
            else:
                _release_delayed(inbox, held, due, delay, deliver)
            record, outgoing = machine.tick((now - start) * speed, time.time())
            lateness.append(now - due)
            events.append(record)
            if sink is not None:
                sink(record)
            if outgoing is not None:
                sent_at[outgoing.message.msg_id] = monotonic()
                recipients: Sequence[int] = outgoing.recipients
                if faults is not None:
                    recipients = faults.recipients(when, outgoing.message, recipients)
                if recipients:
                    send(encode_message(outgoing.message), recipients)
        if faults is not None and faults.changes:  # a restart (or crash) after the last tick
            end_units = self.config.end_units
            _sleep_until(start + end_units / wall_grid, stop)
            faults.apply(end_units, machine, arrived, record_row, after=last_t())
        return None

    def _recorder(self, report: NodeReport) -> Callable[[Event], None]:
        """Log one row: into the report's events and the sink."""
        sink = self.sink

        def record(row: Event) -> None:
            report.events.append(row)
            if sink is not None:
                sink(row)

        return record


def _extra_latency(
    config: RunConfig,
    options: RealtimeOptions,
    machine: int,
    node: Node | None = None,
    draws: dict[int, Counted] | None = None,
) -> Callable[[float, Message], float]:
    """When an arrival (monotonic stamp, message) may be taken: stamp plus a draw of its
    link's latency stream (``draws``, by sender; default: fresh ones), plus a delay
    fault's extra, if the node has one, and no earlier than the link's previous message
    (FIFO)."""
    sample = latency_sampler(options.latency_dist, options.latency, options.latency_spread)
    if draws is None:
        senders = [i for i in range(config.n_machines) if i != machine]
        draws = {i: Counted(link_stream(config.seed, i, machine)) for i in senders}
    last = dict.fromkeys(draws, 0.0)
    speed = options.speed
    faults = node.faults if node is not None else None

    def ready_at(stamp: float, message: Message) -> float:
        sender = message.sender
        extra = 0.0
        if faults is not None and node is not None and node._start is not None:
            extra = faults.extra(sender, (stamp - node._start) * speed)
        when = max(stamp + (sample(draws[sender]()) + extra) / speed, last[sender])
        last[sender] = when
        return when

    return ready_at


def _release_delayed(
    inbox: deque[tuple[float, Message]],
    held: deque[tuple[float, Message]],
    due: float,
    delay: Callable[[float, Message], float],
    deliver: Callable[[Message], None],
) -> None:
    """Hold new arrivals back by their extra latency; deliver, in order of readiness,
    those ready by ``due``."""
    while inbox:
        stamp, message = inbox.popleft()
        held.append((delay(stamp, message), message))
    ready = sorted((entry for entry in held if entry[0] <= due), key=lambda entry: entry[0])
    if ready:
        waiting = [entry for entry in held if entry[0] > due]
        held.clear()
        held.extend(waiting)
        for _, message in ready:
            deliver(message)


def _halt(start: float, speed: float, stop: threading.Event) -> float:
    """Wait, without ticking, for the process to be killed (or stopped); the stop's model time."""
    while not stop.wait(STOP_POLL):
        pass
    return (time.monotonic() - start) * speed


def _sleep_until(when: float, stop: threading.Event) -> None:
    """Sleep until the monotonic time ``when``, or until ``stop`` is set."""
    while (left := when - time.monotonic()) > 0 and not stop.is_set():
        time.sleep(min(left, STOP_POLL))
