"""The SimPy model: machines of :mod:`lamport.core` on a discrete-event clock.

Time base
    SimPy time is an integer count of units of ``1/U`` second. ``U`` is a
    multiple of the model's timing grid (:attr:`lamport.config.RunConfig.grid`:
    the lcm of the rates' numerators, times 10^6 (1 us) under random or given
    phases, drift or jitter) and of the latency's denominator (times 10^6
    again under a latency distribution). Every tick time of the schedule
    (:meth:`~lamport.config.RunConfig.tick_units`: phase, drifted period and
    jitter, each rounded down to the grid) and every delay is a whole number
    of units, so ticks that coincide in model time coincide exactly and no
    float period is ever accumulated. Aligned phases without drift or jitter
    need no fine grid: machine i's k-th tick lies at exactly ``k U / r_i``.

Simultaneous ticks
    One loop, the metronome, walks the merged tick schedule. At each
    instant it ticks every machine due then, in ascending machine id. Messages
    sent at an instant are handed to the network after all ticks of that
    instant, so no machine sees at instant t what another did at t: the order
    of simultaneous ticks changes only the order of rows, never a clock. With
    random phases almost no ticks coincide, and an instant usually holds one
    machine. Without drift or jitter the schedule repeats every
    ``lcm(periods)`` and the metronome replays one cycle; otherwise it merges
    the machines' own schedules.

Network
    A message sent at instant t arrives at ``t + d``: ``d`` is the latency
    (default a constant 1 ms, see :data:`lamport.config.DEFAULT_LATENCY`), or
    a draw of the latency distribution from the link's own stream
    (:func:`lamport.core.link_stream`), rounded down to the grid. A message
    never overtakes an earlier one on its link (FIFO, as TCP): it arrives no
    earlier than its predecessor. Arrivals are SimPy timeouts, and the
    metronome delivers every arrival due by an instant before that instant's
    ticks, so a message that arrives at the very instant a machine ticks is
    already in its queue at that tick; the metronome only hands control to
    SimPy when an arrival is due by the next instant. Messages
    still in flight when the run ends count as queued: they have left the
    sender and sit in the recipient's inbound buffer (docs/spec.md's conservation law
    then holds exactly).

Faults
    A fault plan (:attr:`lamport.config.RunConfig.faults`, :mod:`lamport.faults`)
    is compiled once on the time base (:class:`lamport.plan.Plan`) and driven
    here, exactly, on the same whole units: the plan's state changes at their
    instants (:data:`lamport.core.STATE_CHANGES` says whether a machine ticks
    and whether it loses what it holds), each message's fate at its send. A
    pause is a window in which the machine does not tick and keeps its queue
    and what arrives (PAUSE and RESUME rows). A crash of machine i in
    [at, at + d) happens before anything else at instant ``at``: messages that
    arrived earlier and wait in its queue are lost, a CRASH row is logged, and
    the machine neither ticks nor keeps an arriving message until instant
    ``at + d``, where a RESTART row (clock kept, or 0 with ``reset``) comes
    before the arrivals and ticks of that instant. A partition loses, at its
    send, a message sent in its window across the cut; loss draws one number
    per message and recipient from the link's loss stream
    (:func:`lamport.core.loss_stream`), so turning it on shifts no other draw;
    a delay adds its extra to messages sent on its link in its window, FIFO
    still kept. Every lost message is a :class:`lamport.faults.Drop` (the
    rows of ``network.csv``) and counts as ``dropped`` for its recipient.
    Under a plan every message goes through the per-link network below.

Summaries only
    :func:`simulate_summary` runs this very model with no record kept: the
    machines tick by :meth:`lamport.core.Machine.tally_tick` (the one tick of
    the core, which :meth:`~lamport.core.Machine.tick` wraps to build its
    record) and count what a summary needs, and arrivals wait on a plain heap
    (:class:`_Agenda`; a deque, :class:`_Fifo`, under a constant latency
    without a plan) that hands them out in exactly the order SimPy's event
    queue would: by instant, then by posting. Every feature (phases, drift,
    jitter, latency distributions, fault plans) takes the same code, so the
    rows are :func:`lamport.summary.summarize`'s of :func:`simulate`'s records;
    the full-record path keeps SimPy. A vector-clock run is summarized on
    Lamport machines: its Lamport columns are the same and no summary column
    reads a vector.
"""

from __future__ import annotations

import functools
import gc
import heapq
import itertools
import math
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import simpy
from simpy.events import Timeout

from lamport.config import FINE_GRID, RunConfig, latency_sampler
from lamport.core import (
    LAMPORT_KIND,
    Event,
    Machine,
    Message,
    Outgoing,
    clock_kind,
    link_stream,
    machine_streams,
    physical_clock,
)
from lamport.des.options import DesOptions
from lamport.des.size import check_size
from lamport.faults import Drop
from lamport.plan import Plan, exact, run_metadata
from lamport.result import RunResult
from lamport.summary import machine_tally, summarize_tallies

_Due = TypeVar("_Due")


def time_base(config: RunConfig, options: DesOptions | None = None) -> int:
    """Units per model second: every tick time and every delay are whole units."""
    options = options or DesOptions()
    units = exact(options.latency).denominator
    units = math.lcm(units, config.grid)
    if options.latency_dist != "constant":
        units = math.lcm(units, FINE_GRID)
    return units


def tick_pattern(
    periods: list[int], end: int, offsets: list[int] | None = None
) -> list[tuple[int, list[int]]]:
    """The instants of one schedule cycle (``lcm(periods)`` units, or less if the run
    ends first) and the machines due at each, in ascending id.

    Machine i ticks at ``offsets[i] + m periods[i]`` (m = 0, 1, ...; the offset, its
    phase, lies in 1 .. periods[i], default the period itself: aligned ticks). The
    pattern repeats every cycle, so the metronome replays it instead of searching
    for the next tick.
    """
    span = min(math.lcm(*periods), end)
    if offsets is None:
        offsets = periods
    due: dict[int, list[int]] = {}
    for machine, (period, offset) in enumerate(zip(periods, offsets, strict=True)):
        for when in range(offset, span + 1, period):
            due.setdefault(when, []).append(machine)
    return sorted(due.items())


def cycles(
    config: RunConfig, units: int, prepare: Callable[[list[int]], _Due]
) -> Iterator[tuple[int, list[tuple[int, _Due]]]]:
    """The merged tick schedule in SimPy units, as ``(base, pattern)`` pairs: the instants
    ``base + offset`` for each ``(offset, due)`` of the pattern, in order, with
    ``prepare`` applied to the machines due then (in ascending id). The caller stops at
    the run's end.

    When the schedule repeats (no drift, no jitter) one pattern serves every cycle and
    ``prepare`` runs once per entry; otherwise each instant is a pattern of its own.
    """
    scale = units // config.grid
    end = config.end_units * scale
    n = config.n_machines
    if config.periodic:
        periods = [int(config.period_units(i)) * scale for i in range(n)]
        offsets = [phase * scale for phase in config.phase_units]
        pattern = [(when, prepare(due)) for when, due in tick_pattern(periods, end, offsets)]
        span = math.lcm(*periods)
        for base in range(0, end, span):
            yield base, pattern
        return
    ticks = heapq.merge(*[_labelled(config.tick_units(i, scale), i) for i in range(n)])
    for when, group in itertools.groupby(ticks, key=lambda tick: tick[0]):
        yield when, [(0, prepare([i for _, i in group]))]


def instants(
    config: RunConfig, units: int, prepare: Callable[[list[int]], _Due]
) -> Iterator[tuple[int, _Due]]:
    """The merged tick schedule, one ``(instant, prepare(machines due))`` at a time, up to
    the run's end (see :func:`cycles`)."""
    end = config.end_units * (units // config.grid)
    for base, pattern in cycles(config, units, prepare):
        for offset, due in pattern:
            if base + offset > end:
                return
            yield base + offset, due


def _labelled(times: Iterator[int], machine: int) -> Iterator[tuple[int, int]]:
    return ((when, machine) for when in times)


#: Messages that arrive together: each with the recipients it arrives at, in order.
_Batch = list[Outgoing]
#: Where a machine's arrivals go: its queue's append, or a fault plan's check first.
_Deliver = Callable[[Message], None]


class _Arrivals(Protocol):
    """The model's queue of arrivals to come; instants are whole units. Three serve:
    :class:`_Agenda` (a heap), :class:`_Fifo` (a deque) and :class:`_SimPyAgenda`
    (SimPy's own queue), all handing batches out in the same order."""

    #: What :meth:`deliver` and :meth:`upcoming` return when nothing is left.
    never: float

    @property
    def now(self) -> int:
        """The instant of the last delivery (or of the end of :meth:`run`)."""

    def post(self, when: int, batch: _Batch) -> None:
        """Deliver ``batch`` at instant ``when`` (not before now)."""

    def deliver(self, until: int) -> float:
        """Deliver every batch due at or before ``until``; return the next one's instant."""

    def upcoming(self) -> float:
        """The instant of the next arrival (:attr:`never` if none is left)."""

    def run(self, until: int) -> None:
        """Deliver every batch due at or before ``until`` and stand at ``until``."""

    def batches(self) -> Iterator[_Batch]:
        """The batches still to arrive."""


class _Agenda:
    """The arrivals to come, on a plain heap: the summaries-only path's event queue.

    Entries are ``(time, insertion, batch)``. SimPy orders its queue by
    ``(time, priority, insertion)`` and every arrival has the same priority, so
    this heap hands out arrivals in exactly SimPy's order, without building an
    event object per batch. :class:`_SimPyAgenda` is the same contract on SimPy;
    :class:`_Fifo` serves a constant latency. ``delivers[i]`` takes machine i's
    arrivals.
    """

    def __init__(self, delivers: list[_Deliver]) -> None:
        #: ``queue[0][0]`` is the time of the next arrival.
        self.queue: Any = []
        self.now = 0
        self.delivers = delivers
        #: What :meth:`deliver` and :meth:`upcoming` return when nothing is left.
        self.never: float = math.inf
        self._insertions = itertools.count()
        self._pop: Callable[[], tuple[int, int, _Batch]] = functools.partial(
            heapq.heappop, self.queue
        )

    def post(self, when: int, batch: _Batch) -> None:
        """Deliver ``batch`` at instant ``when`` (units, not before now)."""
        heapq.heappush(self.queue, (when, next(self._insertions), batch))

    def deliver(self, until: int) -> float:
        """Deliver every batch due at or before instant ``until``, in order; return the
        instant of the next one (:attr:`never` if none is left)."""
        queue = self.queue
        pop = self._pop
        delivers = self.delivers
        while queue and queue[0][0] <= until:
            self.now, _, batch = pop()
            for message, recipients in batch:
                for recipient in recipients:
                    delivers[recipient](message)
        return queue[0][0] if queue else self.never

    def upcoming(self) -> float:
        """The instant of the next arrival (:attr:`never` if none is left)."""
        return self.queue[0][0] if self.queue else self.never

    def run(self, until: int) -> None:
        """Deliver every batch due at or before ``until`` (as ``Environment.run`` does)."""
        self.deliver(until)
        self.now = until

    def batches(self) -> Iterator[_Batch]:
        """The batches still to arrive."""
        return (entry[2] for entry in self.queue)


class _Fifo(_Agenda):
    """The agenda of a constant latency without a fault plan: batches arrive in the
    order they were posted (one send instant, one batch), so a deque serves."""

    def __init__(self, delivers: list[_Deliver]) -> None:
        super().__init__(delivers)
        self.queue = deque()
        self._pop = self.queue.popleft

    def post(self, when: int, batch: _Batch) -> None:
        self.queue.append((when, 0, batch))


class _SimPyAgenda:
    """:class:`_Agenda`'s contract on SimPy (the full-record path, whose logs the golden
    tests pin): each batch is a SimPy timeout carrying it, whose callback delivers it.

    Every arrival has the same priority, so SimPy hands them out by (time, insertion),
    the order :class:`_Agenda`'s heap keeps."""

    def __init__(self, delivers: list[_Deliver]) -> None:
        self.env = simpy.Environment()
        # The head of SimPy's event queue is read directly: Environment.peek() in its
        # place (the one private field left) costs 12-21% of the DES's throughput on the
        # high-communication experiments 9 and 10, measured in CPU time on this path
        # (best of 9, 6000 model seconds, constant and exponential latency).
        self.queue: list[Any] = self.env._queue
        self.delivers = delivers
        self.never: float = math.inf

    @property
    def now(self) -> int:
        return int(self.env.now)  # whole units: every delay is

    def post(self, when: int, batch: _Batch) -> None:
        self.env.timeout(when - self.env.now, batch).callbacks.append(self.land)

    def land(self, event: Any) -> None:
        """An arrival's callback: deliver its batch (the timeout's value)."""
        for message, recipients in event.value:
            for recipient in recipients:
                self.delivers[recipient](message)

    def deliver(self, until: int) -> float:
        queue = self.queue
        step = self.env.step
        while queue and queue[0][0] <= until:
            step()
        return self.upcoming()

    def upcoming(self) -> float:
        return self.queue[0][0] if self.queue else self.never

    def run(self, until: int) -> None:
        self.deliver(until)
        if until > self.env.now:
            self.env.run(until=until)  # the clock stands at ``until``

    def batches(self) -> Iterator[_Batch]:
        # SimPy leaves the run's stop event in the queue
        return (cast(_Batch, e.value) for _, _, _, e in self.queue if isinstance(e, Timeout))


class _Network:
    """Messages one by one: per-link latency draws, FIFO per link, a fault plan's
    losses and delays."""

    def __init__(
        self, config: RunConfig, options: DesOptions, units: int, agenda: _Arrivals
    ) -> None:
        self.seed = config.seed
        self.sample = latency_sampler(options.latency_dist, options.latency, options.latency_spread)
        self.units = units
        self.agenda = agenda
        self.draws: dict[tuple[int, int], Callable[[], float]] = {}
        self.last: dict[tuple[int, int], int] = {}
        #: A constant latency in whole units (a plan sends every message through here).
        self.constant = None
        if options.latency_dist == "constant":
            self.constant = int(exact(options.latency) * units)
        #: The fault plan, if any: it may lose a message at its send or delay it.
        self.faults: _Faults | None = None

    def send(self, now: int, recipient: int, message: Message) -> None:
        """Schedule one message sent at ``now`` (units) to ``recipient``."""
        link = (message.sender, recipient)
        extra = 0
        faults = self.faults
        if faults is not None:
            reason, extra = faults.plan.fate(message.sender, recipient, now)
            if reason:
                faults._drop(now / self.units, message, recipient, reason)
                return
        if self.constant is not None:
            delay = self.constant
        else:
            draw = self.draws.get(link)
            if draw is None:
                draw = self.draws[link] = link_stream(self.seed, *link)
            delay = max(math.floor(self.sample(draw()) * self.units), 0)  # rounding: never < 0
        delay += extra
        arrive = self.last[link] = max(now + delay, self.last.get(link, 0))
        self.agenda.post(arrive, [Outgoing(message, (recipient,))])


class _Faults:
    """The run's :class:`~lamport.plan.Plan` on SimPy units, driven (see the module
    docstring): it changes machines' states at their instants and loses what the plan
    says, and counts what was lost."""

    def __init__(
        self,
        config: RunConfig,
        units: int,
        start_epoch: float,
        machines: list[Machine],
        sinks: list[Callable[[Event], None]],
    ) -> None:
        self.plan = Plan(config, units)
        self.units = units
        self.start_epoch = start_epoch
        self.machines = machines
        self.sinks = sinks
        self.dropped: list[Drop] = []
        self.changes = deque(self.plan.steps())

    @property
    def next_change(self) -> float:
        """The instant of the next state change (units), inf if none is left."""
        return self.changes[0].when if self.changes else math.inf

    def apply(self, now: int, agenda: _Arrivals) -> None:
        """Change the states of the machines due by ``now``, each after the arrivals that
        land before it."""
        changes = self.changes
        while changes and changes[0].when <= now:
            step = changes.popleft()
            agenda.deliver(step.when - 1)  # whole units: the arrivals before the change
            t = step.when / self.units
            machine = step.machine
            record, lost = self.machines[machine].change(
                step.change, t, self.start_epoch + t, step.reset
            )
            self.plan.enter(step)  # nothing is in transit here: the agenda holds it
            self.sinks[machine](record)
            for message in lost:
                self._drop(t, message, machine, step.change.loses)

    def _drop(self, t: float, message: Message, recipient: int, reason: str) -> None:
        self.dropped.append(Drop(t, message.sender, recipient, message.msg_id, reason))

    def deliverer(self, machine: int, now: Callable[[], float]) -> Callable[[Message], None]:
        """Deliver to ``machine``, or lose the message if the machine's state loses it."""
        deliver = self.machines[machine].deliver
        losing = self.plan.losing

        def arrive(message: Message) -> None:
            reason = losing[machine]
            if reason:
                self._drop(now() / self.units, message, machine, reason)
            else:
                deliver(message)

        return arrive

    def guard(
        self, machine: int, tick: Callable[..., Any], sink: Callable[[Event], None] | None
    ) -> tuple[Callable[..., Any], Callable[[Event | None], None] | None]:
        """The machine's tick and sink (None for a tally tick: see :func:`_simulate`),
        skipping the ticks that fall while it does not tick."""
        ticking = self.plan.ticking
        if sink is None:

            def tally_tick() -> Any:
                return tick() if ticking[machine] else None

            return tally_tick, None

        def guarded_tick(t: float, wall: float) -> Any:
            return tick(t, wall) if ticking[machine] else (None, None)

        def guarded_sink(record: Event | None) -> None:
            if record is not None:
                sink(record)

        return guarded_tick, guarded_sink


def _discard(record: Event) -> None:
    """The sink of a fault row when no record is kept."""


def simulate(config: RunConfig, options: DesOptions | None = None) -> RunResult:
    """Run one configuration on the SimPy model and return its events.

    ``options`` sets the latency and start epoch (default :class:`DesOptions`).
    Raise ConfigError if the run would exceed :data:`lamport.des.size.MAX_TICKS` machine-ticks
    or cannot fit in the memory available (:func:`check_size`).
    """
    options = DesOptions() if options is None else options
    check_size(config, options)
    logs: list[list[Event]] = [[] for _ in range(config.n_machines)]
    dropped: list[Drop] = []
    _, queued, metadata = _simulate(config, options, [log.append for log in logs], dropped)
    return RunResult(config, logs, queued, metadata, dropped=dropped)


def simulate_summary(config: RunConfig, options: DesOptions | None = None) -> list[dict[str, Any]]:
    """Run one configuration and return only its summary rows, keeping no event record.

    The rows are exactly :func:`lamport.summary.summarize`'s of :func:`simulate`'s
    events: the machines tick by :meth:`lamport.core.Machine.tally_tick`, which counts
    what the summary needs and builds no record, so memory stays that of the machines
    and queues. Raise ConfigError as :func:`simulate` does.
    """
    options = DesOptions() if options is None else options
    check_size(config, options, record=False)
    dropped: list[Drop] = []
    machines, _, metadata = _simulate(config, options, None, dropped)
    return summarize_tallies(metadata, [machine_tally(m) for m in machines], dropped)


def _simulate(
    config: RunConfig,
    options: DesOptions,
    sinks: list[Callable[[Event], None]] | None,
    dropped: list[Drop] | None = None,
) -> tuple[list[Machine], list[int], dict[str, Any]]:
    """The model itself: ``sinks[i]`` takes every event record of machine i as it happens;
    with ``sinks`` None the machines keep tallies instead (:meth:`Machine.tally_tick`,
    no record, no vector clock: a summary reads none). ``dropped`` (if given) receives
    the messages a fault plan loses. Return the machines, what was left queued for each,
    and the run's metadata."""
    n = config.n_machines
    # A machine draws at most once per tick: all its draws in one block (the sequence
    # does not depend on the block size)
    slack = 1 + config.drift_ppm / 1e6
    blocks = [min(1024, math.ceil(r * config.duration * slack) + 2) for r in config.rates]
    _, draws = machine_streams(config.seed, n, blocks)
    kind = clock_kind(config.clock) if sinks is not None else LAMPORT_KIND
    machines = [kind.machine(i, n, config.p_send, draws[i]) for i in range(n)]
    units = time_base(config, options)
    if kind.physical:  # each machine's physical clock: model time with its drift
        for machine, drift in zip(machines, config.drift_units, strict=True):
            machine.physical = physical_clock(units, drift)  # type: ignore[attr-defined]
    latency = int(exact(options.latency) * units)
    start_epoch = options.start_epoch
    delivers: list[_Deliver] = [m.deliver for m in machines]
    faults = None
    if config.faults:
        kept: list[Callable[[Event], None]] = [_discard] * n if sinks is None else sinks
        faults = _Faults(config, units, start_epoch, machines, kept)
        delivers = [faults.deliverer(i, lambda: agenda.now) for i in range(n)]
    # Every message goes through the network under a latency distribution or a plan.
    one_by_one = options.latency_dist != "constant" or faults is not None
    # Arrivals wait on SimPy's event queue when records are kept, on a plain heap in
    # the same order when only a summary is (see _Agenda).
    agenda: _Arrivals
    if sinks is not None:
        agenda = _SimPyAgenda(delivers)
    else:
        agenda = _Agenda(delivers) if one_by_one else _Fifo(delivers)
    network = None
    if one_by_one:
        network = _Network(config, options, units, agenda)
        network.faults = faults
    post = agenda.post
    deliver = agenda.deliver
    upcoming = agenda.upcoming
    # "Nothing due" is an instant past the end: whole numbers compare fastest, and the
    # metronome looks at nothing later
    end = config.end_units * (units // config.grid)
    never = agenda.never = end + 1

    def metronome() -> None:
        # (tick, sink) per machine; a tally tick (sink None) takes no time and makes no record
        calls: list[tuple[Callable[..., Any], Callable[[Event], None] | None]]
        if sinks is None:
            calls = [(m.tally_tick, None) for m in machines]
        else:
            calls = [(m.tick, sink) for m, sink in zip(machines, sinks, strict=True)]
        if faults is not None:
            calls = [faults.guard(i, *calls[i]) for i in range(n)]
        next_arrival: float = never  # the earliest arrival the agenda holds
        next_change: float = never if faults is None else faults.next_change  # crash, restart
        for base, pattern in cycles(config, units, lambda ids: [calls[i] for i in ids]):
            for offset, due in pattern:
                now = base + offset
                if now > end:
                    return
                if next_change <= now:
                    faults.apply(now, agenda)  # type: ignore[union-attr]
                    next_change = faults.next_change  # type: ignore[union-attr]
                    next_arrival = upcoming()
                if next_arrival <= now:
                    # An arrival lands by this instant: it is delivered before the ticks.
                    next_arrival = deliver(now)
                if sinks is not None:
                    t = now / units
                    wall = start_epoch + t
                batch: _Batch | None = None
                for tick, sink in due:
                    if sink is None:
                        outgoing = tick()
                    else:
                        record, outgoing = tick(t, wall)
                        sink(record)
                    if outgoing is not None:
                        if batch is None:
                            batch = [outgoing]
                        else:
                            batch.append(outgoing)
                if batch is not None:
                    if network is None:
                        post(now + latency, batch)
                        if now + latency < next_arrival:
                            next_arrival = now + latency
                    else:
                        for message, recipients in batch:
                            for recipient in recipients:
                                network.send(now, recipient, message)
                        next_arrival = upcoming()  # all lost?

    # The run allocates one record per tick and no reference cycles; pausing the
    # cycle collector saves its repeated walks over the growing logs (~15%).
    paused = gc.isenabled()
    gc.disable()
    try:
        metronome()
        if faults is not None:  # crashes and restarts after the last tick
            faults.apply(end, agenda)
        # Deliver what lands by the run's end: arrivals due later stay in flight and
        # count as queued.
        agenda.run(end + 1)
    finally:
        if paused:
            gc.enable()
    in_flight = [0] * n
    for batch in agenda.batches():
        for _, recipients in batch:
            for recipient in recipients:
                in_flight[recipient] += 1
    queued = [len(m.queue) + in_flight[i] for i, m in enumerate(machines)]
    options_table = dict(vars(options))  # asdict's result for its flat fields, faster
    lost = faults.dropped if faults is not None else None
    metadata = run_metadata(
        "des",
        config,
        options_table,
        start_epoch=options.start_epoch,
        queued=queued,
        lost=lost,
        more={"time_base": units},
    )
    if lost is not None and dropped is not None:
        dropped.extend(lost)
    return machines, queued, metadata


def run(config: RunConfig, options: DesOptions, out: Path | None = None) -> RunResult:
    """The backend contract's entry point (:mod:`lamport.backend`): simulate, then write
    the run directory to ``out`` if given."""
    if out is not None:  # every log is open while the directory is written: count them too
        check_size(config, options, written=True)
    result = simulate(config, options)
    if out is not None:
        result.write(out)
    return result
