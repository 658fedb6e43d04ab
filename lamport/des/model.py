"""The SimPy model: machines of :mod:`lamport.core` on a discrete-event clock.

Time base
    SimPy time is an integer count of units of ``1/U`` second, where ``U`` is the
    least common multiple of the rates' numerators (rates taken as exact
    fractions) and of the latency's denominator. Machine i's k-th tick lies at
    exactly ``k * U / r_i`` units, so ticks that coincide in model time (all
    integer rates tick at every whole second) coincide exactly: no float
    periods are ever accumulated.

Simultaneous ticks
    One SimPy process, the metronome, walks the merged tick schedule. At each
    instant it ticks every machine due then, in ascending machine id. Messages
    sent at an instant are handed to the network after all ticks of that
    instant, so no machine sees at instant t what another did at t: the order
    of simultaneous ticks changes only the order of rows, never a clock.

Network
    Every message sent at instant t arrives at ``t + latency`` (default 1 ms,
    see :data:`lamport.config.DEFAULT_LATENCY`), FIFO per link. Arrivals are
    SimPy events scheduled with URGENT priority, so a message that arrives at
    the very instant a machine ticks is already in its queue at that tick.
    Messages still in flight when the run ends count as queued: they have left
    the sender and sit in the recipient's inbound buffer (SPEC's conservation
    law then holds exactly).
"""

from __future__ import annotations

import gc
import math
from collections import deque
from collections.abc import Callable
from dataclasses import asdict
from fractions import Fraction
from pathlib import Path
from typing import Any

import simpy
from simpy.events import URGENT
from simpy.events import Event as SimEvent

from lamport import __version__
from lamport.config import RunConfig, exact_rate
from lamport.core import Event, Machine, Message, machine_class, machine_streams
from lamport.des.options import DesOptions
from lamport.des.size import MAX_TICKS, check_size  # noqa: F401 (MAX_TICKS: its old home)
from lamport.result import RunResult
from lamport.summary import MachineTally, summarize_tallies


def time_base(config: RunConfig, options: DesOptions | None = None) -> int:
    """Units per model second: every tick time and the latency are whole units."""
    latency = (options or DesOptions()).latency
    units = Fraction(latency).limit_denominator(1_000_000).denominator
    for rate in config.rates:
        units = math.lcm(units, exact_rate(rate).numerator)
    return units


def tick_pattern(periods: list[int], end: int) -> list[tuple[int, list[int]]]:
    """The instants of one schedule cycle (``lcm(periods)`` units, or less if the run
    ends first) and the machines due at each, in ascending id.

    Machine i ticks at every multiple of ``periods[i]``; the pattern repeats every
    cycle, so the metronome replays it instead of searching for the next tick.
    """
    span = min(math.lcm(*periods), end)
    due: dict[int, list[int]] = {}
    for machine, period in enumerate(periods):
        for when in range(period, span + 1, period):
            due.setdefault(when, []).append(machine)
    return sorted(due.items())


class _Arrival(SimEvent):
    """A batch of messages reaching their recipients, scheduled URGENT.

    Built the way SimPy's own Timeout is: an event already triggered with a
    value, handed to the environment's schedule with a delay. Every arrival
    has the same latency, so arrivals happen in the order they were made and
    ``pending`` (oldest first) holds exactly the batches still in flight.
    """

    def __init__(
        self,
        env: simpy.Environment,
        delay: int,
        batch: list[tuple[int, Message]],
        delivers: list[Callable[[Message], None]],
        pending: deque[_Arrival],
    ) -> None:
        self.env = env
        self.callbacks = [self._arrive]
        self._value = batch
        self._ok = True
        self._delivers = delivers
        self._pending = pending
        pending.append(self)
        env.schedule(self, URGENT, delay)

    def _arrive(self, _event: SimEvent) -> None:
        self._pending.popleft()
        delivers = self._delivers
        for recipient, message in self._value:
            delivers[recipient](message)


def simulate(config: RunConfig, options: DesOptions | None = None) -> RunResult:
    """Run one configuration on the SimPy model and return its events.

    ``options`` sets the latency and start epoch (default :class:`DesOptions`).
    Raise ConfigError if the run would exceed :data:`MAX_TICKS` machine-ticks
    or cannot fit in the memory available (:func:`check_size`).
    """
    options = DesOptions() if options is None else options
    check_size(config, options)
    logs: list[list[Event]] = [[] for _ in range(config.n_machines)]
    _, queued, metadata = _simulate(config, options, [log.append for log in logs])
    return RunResult(config, logs, queued, metadata)


def simulate_summary(config: RunConfig, options: DesOptions | None = None) -> list[dict[str, Any]]:
    """Run one configuration and return only its summary rows, keeping no event record.

    The rows are exactly :func:`lamport.summary.summarize`'s of :func:`simulate`'s
    events: each machine's records are counted by a :class:`lamport.summary.MachineTally`
    as they happen and then dropped, so memory stays that of the machines and queues.
    Raise ConfigError as :func:`simulate` does.
    """
    options = DesOptions() if options is None else options
    check_size(config, options, record=False)
    tallies = [MachineTally() for _ in range(config.n_machines)]
    machines, _, metadata = _simulate(config, options, [tally.add for tally in tallies])
    return summarize_tallies(
        metadata,
        [
            tally.tally(m.ticks, m.sent, m.clock, len(m.queue))
            for tally, m in zip(tallies, machines, strict=True)
        ],
    )


def _simulate(
    config: RunConfig, options: DesOptions, sinks: list[Callable[[Event], None]]
) -> tuple[list[Machine], list[int], dict[str, Any]]:
    """The model itself: ``sinks[i]`` takes every event record of machine i as it happens
    (a log's append, or a summary's tally). Return the machines, what was left queued
    for each, and the run's metadata."""
    n = config.n_machines
    _, draws = machine_streams(config.seed, n)
    kind = machine_class(config.clock)
    machines = [kind(i, n, config.p_send, draws[i]) for i in range(n)]
    units = time_base(config, options)
    periods = [int(units / exact_rate(rate)) for rate in config.rates]
    latency = int(Fraction(options.latency).limit_denominator(1_000_000) * units)
    start_epoch = options.start_epoch
    env = simpy.Environment()
    delivers = [m.deliver for m in machines]
    pending: deque[_Arrival] = deque()

    end = math.floor(Fraction(config.duration) * units)

    def metronome() -> Any:
        due_at = [
            (when, [(machines[i].tick, sinks[i]) for i in due])
            for when, due in tick_pattern(periods, end)
        ]
        span = math.lcm(*periods)
        base = 0
        while base < end:
            for offset, due in due_at:
                now = base + offset
                if now > end:
                    return
                yield env.timeout(now - env.now)
                t = now / units
                wall = start_epoch + t
                batch: list[tuple[int, Message]] | None = None
                for tick, append in due:
                    record, outgoing = tick(t, wall)
                    append(record)
                    if outgoing is not None:
                        if batch is None:
                            batch = []
                        message = outgoing.message
                        for recipient in outgoing.recipients:
                            batch.append((recipient, message))
                if batch is not None:
                    _Arrival(env, latency, batch, delivers, pending)
            base += span

    env.process(metronome())
    # The run allocates one record per tick and no reference cycles; pausing the
    # cycle collector saves its repeated walks over the growing logs (~15%).
    paused = gc.isenabled()
    gc.disable()
    try:
        # Stop at the run's end: arrivals due later stay in flight and count as queued.
        env.run(until=end + 1)
    finally:
        if paused:
            gc.enable()
    in_flight = [0] * n
    for arrival in pending:
        for recipient, _ in arrival._value:
            in_flight[recipient] += 1
    queued = [len(m.queue) + in_flight[i] for i, m in enumerate(machines)]
    metadata = {
        "backend": "des",
        **config.metadata(),
        "options": asdict(options),
        # SPEC section 3 names these two at the top level too
        "latency": options.latency,
        "start_epoch": options.start_epoch,
        "time_base": units,
        "version": __version__,
        "queued_at_end": queued,
    }
    return machines, queued, metadata


def run(config: RunConfig, options: DesOptions, out: Path | None = None) -> RunResult:
    """The backend contract's entry point (:mod:`lamport.backend`): simulate, then write
    the run directory to ``out`` if given."""
    result = simulate(config, options)
    if out is not None:
        result.write(out)
    return result
