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
from lamport.core import Event, Machine, Message, machine_streams
from lamport.des.options import DesOptions
from lamport.errors import ConfigError
from lamport.result import RunResult
from lamport.summary import MachineTally, summarize_tallies

#: The largest run simulate() accepts: every record stays in memory (~250 bytes).
MAX_TICKS = 20_000_000

# Bytes per object, measured with tracemalloc on CPython 3.11 (64-bit) and rounded up:
#: one kept event record (its tuple, its two floats, a SEND's message id).
RECORD_BYTES = 250
#: one message waiting in a queue or in flight (its tuple and id, a deque slot, the
#: network batch's pair).
MESSAGE_BYTES = 160
#: each machine's send targets and peer labels: one entry per other machine, so N^2 for
#: the run (N = 1000 and 2000 measured 250 and 246 bytes per pair).
TARGET_BYTES = 250
#: the interpreter, numpy and SimPy before the first machine.
BASE_BYTES = 60_000_000
#: Above this many machines the queueing prediction (quadratic in N) is skipped and
#: every message a machine cannot take is counted as queued: an upper bound.
PREDICT_MACHINES = 200
#: Runs whose crude upper bound stays below this are accepted without an estimate.
SMALL_RUN_BYTES = 200_000_000


def estimate_memory(config: RunConfig, record: bool = True) -> dict[str, int]:
    """Bytes a run needs, by part: ``records`` (0 on the summaries-only path),
    ``queued`` (messages left in queues, from :func:`lamport.theory.predict`'s queue
    growth), ``machines`` (the N^2 send targets) and ``base``; ``total`` sums them.

    A slight overestimate: the queue of a machine on the stability boundary grows
    as a random walk, which the prediction leaves out, so it is counted as
    growing at a tenth of its arrival rate.
    """
    n = config.n_machines
    ticks = sum(config.ticks(i) for i in range(n))
    duration = float(config.duration)
    if n <= PREDICT_MACHINES:
        from lamport.theory import predict

        growth = sum(
            p.queue_growth if p.verdict != "critical" else 0.1 * p.arrival_rate
            for p in predict(config.rates, config.p_send)
        )
    else:
        growth = _queue_growth(config.rates, config.p_send)
    parts = {
        "records": ticks * RECORD_BYTES if record else 0,
        "queued": int(growth * duration * MESSAGE_BYTES),
        "machines": n * n * TARGET_BYTES,
        "base": BASE_BYTES,
    }
    parts["total"] = sum(parts.values())
    return parts


def _queue_growth(rates: tuple[float, ...], p_send: float) -> float:
    """Total queue growth (messages per second) of :func:`lamport.theory.predict`'s fixed
    point, in floats and O(N log N) for runs too large for its exact arithmetic: the
    saturated machines are the slowest ones, those with ``r_j <= q D``."""
    n = len(rates)
    q = p_send / 3 + (2 * p_send / 3) / (n - 1)
    ordered = sorted(rates, reverse=True)
    prefix = 0.0
    threshold = 0.0
    total = 0.0
    for k in range(1, n + 1):
        prefix += ordered[k - 1]
        total = prefix / (1 - q + k * q)
        threshold = q * total
        if ordered[k - 1] >= threshold >= (ordered[k] if k < n else 0.0):
            break
    growth = 0.0
    for rate in rates:
        draw = max((rate - threshold) / (1 - q), 0.0)
        growth += max(q * (total - draw) - rate, 0.0)
    return growth


def available_memory() -> int | None:
    """``MemAvailable`` from ``/proc/meminfo`` in bytes, or None where there is none."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _gb(size: float) -> str:
    return f"{size / 1e9:.2f} GB" if size >= 1e8 else f"{size / 1e6:.0f} MB"


def check_size(config: RunConfig, options: DesOptions | None = None, record: bool = True) -> None:
    """Raise ConfigError if the run would exceed :data:`MAX_TICKS` machine-ticks (with
    ``record``) or needs more memory than the machine has available (see
    :func:`estimate_memory`); the error gives the estimate. A run that could not need
    :data:`SMALL_RUN_BYTES` even if every message it sent stayed queued is not estimated."""
    total = sum(config.ticks(i) for i in range(config.n_machines))
    if record and total > MAX_TICKS:
        raise ConfigError(
            f"run too large: {total:,} machine-ticks (limit {MAX_TICKS:,}, a few GB of "
            "records); shorten --duration or lower the rates"
        )
    n = config.n_machines
    bound = (
        (total * RECORD_BYTES if record else 0)
        + n * n * TARGET_BYTES
        + config.p_send * (n + 1) / 3 * sum(config.rates) * config.duration * MESSAGE_BYTES
    )
    if bound < SMALL_RUN_BYTES:  # the common case: no prediction, no /proc read per run
        return
    estimate = estimate_memory(config, record)
    available = available_memory()
    if available is not None and estimate["total"] > available:
        parts = ", ".join(
            f"{name} {_gb(size)}"
            for name, size in estimate.items()
            if name not in ("total", "base") and size
        )
        raise ConfigError(
            f"run too large: needs about {_gb(estimate['total'])} ({parts}), "
            f"{_gb(available)} available; use fewer machines, a shorter --duration or "
            "lower rates"
        )


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
    machines = [Machine(i, n, config.p_send, draws[i]) for i in range(n)]
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
