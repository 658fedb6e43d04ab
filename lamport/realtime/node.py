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
    the measured model time ``(now - start) x speed`` (SPEC section 3), never
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
from typing import NamedTuple

from lamport.config import RunConfig, latency_sampler
from lamport.core import Event, Message, Uniform, link_stream, machine_class, machine_streams
from lamport.realtime.framing import encode_message
from lamport.realtime.options import RealtimeOptions
from lamport.realtime.transport import Transport

__all__ = ["Node", "NodeReport", "Progress"]

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


class Node:
    """Machine ``machine`` of a run: build it (the listener is bound at once), then :meth:`run`.

    ``draw`` is the machine's stream of uniform draws (default: stream
    ``machine`` of :func:`~lamport.core.machine_streams` for the run's seed);
    ``sink`` is called with every event as it happens (the cluster writes
    the log with it). ``secret`` is the run's secret (:mod:`.auth`): only
    machines holding it become peers. ``listener`` is a socket already bound
    for this machine (default: bind ``host`` on ``base_port + machine``, or a
    free port). Raise NetworkError if the machine's port is in use.
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
        self.machine = machine_class(config.clock)(machine, n, config.p_send, draw)
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
        self._delay: Callable[[float, Message], float] | None = None
        if options.latency > 0:
            self._delay = _extra_latency(config, options, machine)
        self._start: float | None = None
        self._go = threading.Event()

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
            report.drained = transport.wait_drained(drain_by, hurry)
        finally:
            transport.close()
            report.queued = self.queued
            report.dropped = list(transport.dropped)
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
        for when in self.config.tick_units(self.index):
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
                send(encode_message(outgoing.message), outgoing.recipients)
        return None


def _extra_latency(
    config: RunConfig, options: RealtimeOptions, machine: int
) -> Callable[[float, Message], float]:
    """When an arrival (monotonic stamp, message) may be taken: stamp plus a draw of its
    link's latency stream, and no earlier than the link's previous message (FIFO)."""
    sample = latency_sampler(options.latency_dist, options.latency, options.latency_spread)
    senders = [i for i in range(config.n_machines) if i != machine]
    draws = {i: link_stream(config.seed, i, machine) for i in senders}
    last = dict.fromkeys(draws, 0.0)
    speed = options.speed

    def ready_at(stamp: float, message: Message) -> float:
        sender = message.sender
        when = last[sender] = max(stamp + sample(draws[sender]()) / speed, last[sender])
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


def _sleep_until(when: float, stop: threading.Event) -> None:
    """Sleep until the monotonic time ``when``, or until ``stop`` is set."""
    while (left := when - time.monotonic()) > 0 and not stop.is_set():
        time.sleep(min(left, STOP_POLL))
