"""How much a DES run needs, and refusing one the machine cannot hold, before it starts.

:func:`estimate_memory` adds up, in bytes, what a run holds at its peak, each part
linear in the number of machines N (a machine keeps its clock, queue, draw stream
and rate; a send's recipients are worked out when it happens, see
:class:`lamport.core.Machine`):

* ``records``: the kept event records (none on the summaries-only path), and the
  peer label of every send to all (N ids joined by ``+``, kept in its record);
* ``queued``: the messages left in queues at the end, from the queue growth
  :func:`lamport.theory.predict` gives (a float version of its fixed point above
  :data:`PREDICT_MACHINES`), the busy queues of stable machines and the backlog
  that every machine's first ticks leave before the first message lands; a queue
  slot is a pointer, and a message sent to all is one object that every queue
  shares;
* ``machines``: each machine and its queue, its place in the tick schedule, the
  draw streams of the machines that draw (the theory's drawing ticks), and under
  a latency distribution or a fault plan the streams of the links that carry a
  message; a vector clock adds N components per machine;
* ``base``: the interpreter, numpy and SimPy.

The constants are measured peaks (``benchmarks/bench_scale.py`` prints the
estimate beside the measured peak RSS). :func:`check_size` compares the total with
``MemAvailable`` from ``/proc/meminfo`` and raises a one-line ConfigError that
gives the estimate; it also keeps the older cap of :data:`MAX_TICKS` machine-ticks
on full-record runs.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from lamport.config import exact_rate
from lamport.core import VECTOR, clock_kind
from lamport.errors import ConfigError

if TYPE_CHECKING:
    from lamport.config import RunConfig
    from lamport.des.options import DesOptions

__all__ = ["MAX_TICKS", "available_memory", "check_size", "estimate_memory"]

#: The largest run simulate() accepts: every record stays in memory (~250 bytes).
MAX_TICKS = 20_000_000

# Bytes per object, measured on CPython 3.11 (64-bit) as peak RSS and rounded:
#: one kept event record (its tuple, its two floats and ints); a machine's ticks past its
#: 256th add their tick number (:data:`INT_BYTES`: Python caches the smaller ints), a
#: SEND its message id (:data:`ID_BYTES`).
RECORD_BYTES = 250
INT_BYTES = 32
ID_BYTES = 56
#: one message object (its tuple, clock, count and id): once per single send, once per
#: send to all, whose queues share it.
MESSAGE_BYTES = 210
#: one queue slot (a deque's pointer, its block's share).
SLOT_BYTES = 9
#: a machine with its queue, its calls in the metronome and its idle draw stream.
MACHINE_BYTES = 2_650
#: one instant of the schedule's cycle (the metronome replays one cycle's pattern); under
#: drift or jitter, which merge every machine's own schedule, :data:`MERGE_BYTES` a machine.
INSTANT_BYTES = 220
MERGE_BYTES = 1_000
#: a machine's row of a summaries-only run (:func:`lamport.des.model.simulate_summary`).
SUMMARY_BYTES = 1_000
#: a draw stream that has drawn (its numpy generator); its block of draws adds
#: :data:`DRAW_BYTES` each.
STREAM_BYTES = 1_400
DRAW_BYTES = 32
#: a link that carries a message under a latency distribution or a fault plan: its
#: latency or loss stream and its FIFO entry.
LINK_BYTES = 1_800
#: a machine's log while a run directory is written (every log is open at once): its file
#: objects, and its rows buffered until the file closes, up to :data:`BUFFER_BYTES`.
LOG_BYTES = 8_000
ROW_BYTES = 160
BUFFER_BYTES = 16_384
#: the interpreter, numpy and SimPy before the first machine.
BASE_BYTES = 40_000_000
#: Above this many machines the queueing prediction (exact fractions) gives way to a float
#: version of the same fixed point (:func:`_arrival_rates`).
PREDICT_MACHINES = 200
#: Runs whose crude upper bound stays below this are accepted without an estimate.
SMALL_RUN_BYTES = 200_000_000


def estimate_memory(
    config: RunConfig,
    record: bool = True,
    options: DesOptions | None = None,
    written: bool = False,
) -> dict[str, int]:
    """Bytes a run needs at its peak, by part: ``records`` (0 on the summaries-only
    path; with ``written``, the logs open while its run directory is written),
    ``queued`` (messages waiting in queues), ``machines`` (the machines, their schedule
    and streams; with ``record`` False their summary rows) and ``base``; ``total`` sums
    them. Every part grows linearly with the number of machines, but a vector clock's.

    Queued messages are, per machine, :func:`lamport.theory.predict`'s queue growth
    times the duration for a saturated machine, and ``rho / (1 - rho)`` (a busy
    queue's typical length, rho its share of receiving ticks, capped at the messages
    that reach it in the run) for a stable one: with thousands of machines every
    machine is busy receiving nearly all the time and holds hundreds of messages
    (3,000 machines at rate 1 and p_send 0.3: rho = 0.996, 277 predicted, up to 306
    seen). A machine on the stability boundary is counted as growing at a tenth of
    its arrival rate, since its queue random-walks. Before the first message lands
    (one latency after the first send) every tick draws: the sends to all of that
    window reach every machine and stay queued (100,000 machines: 3.5 million
    messages after one model second).
    """
    ticks = [config.ticks(i) for i in range(config.n_machines)]
    return _estimate(config, record, options, ticks, written)


def _estimate(
    config: RunConfig,
    record: bool,
    options: DesOptions | None,
    ticks: list[int],
    written: bool = False,
) -> dict[str, int]:
    from lamport.des.options import DesOptions

    options = DesOptions() if options is None else options
    n = config.n_machines
    duration = float(config.duration)
    p = config.p_send
    loads, growth = _loads(config)
    waiting = 0.0
    for arrival, rate in loads:
        rho = arrival / rate
        if rho < 1:
            waiting += min(rho / (1 - rho), arrival * duration)
    # Drawing ticks per machine: a stable machine's share the theory gives, and every
    # tick of the first latency window (nothing has arrived yet).
    window = min(options.latency, duration)
    drawing = [max(rate - arrival, 0.0) * duration + rate * window for arrival, rate in loads]
    to_all = p / 3 * sum(drawing)  # sends to all
    singles = 2 * p / 3 * sum(drawing)
    backlog = p / 3 * sum(rate for _, rate in loads) * window * (n - 1)
    # A queued single send is a message of its own; a send to all, one for all its queues.
    share = (singles + to_all) / max(singles + to_all * (n - 1), 1.0)
    queued = (growth * duration + waiting + backlog) * (SLOT_BYTES + MESSAGE_BYTES * share)

    machines = float(n * MACHINE_BYTES + _cycle_instants(config, ticks) * INSTANT_BYTES)
    slack = 1 + config.drift_ppm / 1e6
    senders = 0.0  # machines that draw at least once: their stream is built
    for (_, rate), expected in zip(loads, drawing, strict=True):
        if expected > 0:
            block = min(1024, math.ceil(rate * duration * slack) + 2)  # sized to the run
            senders += min(expected, 1.0)
            machines += min(expected, 1.0) * (STREAM_BYTES + block * DRAW_BYTES)
    if options.latency_dist != "constant" or config.faults:
        # every message goes through the per-link network: streams for each link used
        machines += min(singles + to_all * (n - 1), senders * (n - 1)) * LINK_BYTES
    records = 0.0
    if record:
        later = sum(count - 256 for count in ticks if count > 256)
        records = sum(ticks) * RECORD_BYTES + later * INT_BYTES
        records += (singles + to_all) * ID_BYTES + to_all * _label_bytes(n)
        kind = clock_kind(config.clock)
        if kind.name == VECTOR:  # a vector clock per machine; its cell in every record
            machines += n * n * 16
            records += sum(ticks) * (57 + n * (_ramp_digits(sum(ticks) / n) + 1))  # a str
        else:  # a clock beside Lamport's: an int per column
            records += sum(ticks) * len(kind.columns) * 24
        if written:
            records += n * LOG_BYTES + sum(min(t * ROW_BYTES, BUFFER_BYTES) for t in ticks)
    else:
        machines += n * SUMMARY_BYTES
    parts = {
        "records": int(records),
        "queued": int(queued),
        "machines": int(machines),
        "base": BASE_BYTES,
    }
    parts["total"] = sum(parts.values())
    return parts


def _loads(config: RunConfig) -> tuple[list[tuple[float, float]], float]:
    """Each machine's (arrival rate, tick rate), and the queues' total growth per second."""
    growth = 0.0
    if config.n_machines <= PREDICT_MACHINES:
        from lamport.theory import predict

        loads = []
        for p in predict(config.rates, config.p_send):
            loads.append((p.arrival_rate, p.rate))
            growth += p.queue_growth if p.verdict != "critical" else 0.1 * p.arrival_rate
        return loads, growth
    loads = _arrival_rates(config.rates, config.p_send)
    return loads, sum(max(arrival - rate, 0.0) for arrival, rate in loads)


def _ramp_digits(top: float) -> float:
    """The mean number of digits of the whole numbers 0 .. ``top``: a vector clock's
    component, which counts up through the run."""
    if top < 1:
        return 1.0
    total = 0.0
    digits = 1
    while 10 ** (digits - 1) <= top:
        low = 0 if digits == 1 else 10 ** (digits - 1)
        total += (min(top, 10**digits - 1) - low + 1) * digits
        digits += 1
    return total / (top + 1)


def _label_bytes(n: int) -> int:
    """The size of a send to all's peer label: N - 1 ids joined by ``+``."""
    chars = 0
    digits = 1
    while 10 ** (digits - 1) < n:
        chars += (min(n, 10**digits) - 10 ** (digits - 1) + (digits == 1)) * (digits + 1)
        digits += 1
    return 49 + chars


def _cycle_instants(config: RunConfig, ticks: list[int]) -> int:
    """The instants of the schedule the metronome keeps: one cycle of the periodic
    schedule (``lcm`` of the periods, at most the run), or, when drift or jitter make
    every instant its own, the merge of every machine's schedule (counted in instants)."""
    n = config.n_machines
    if not config.periodic:
        return n * MERGE_BYTES // INSTANT_BYTES
    periods = {int(config.grid / exact_rate(rate)) for rate in set(config.rates)}
    span = min(math.lcm(*periods), config.end_units)
    if span >= config.end_units:
        return sum(ticks)
    return int(sum(float(r) for r in config.rates) * span / config.grid) + n


def _arrival_rates(rates: tuple[float, ...], p_send: float) -> list[tuple[float, float]]:
    """Each machine's (arrival rate, tick rate) at :func:`lamport.theory.predict`'s fixed
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
    loads = []
    for rate in rates:
        draw = max((rate - threshold) / (1 - q), 0.0)
        loads.append((q * (total - draw), rate))
    return loads


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


def check_size(
    config: RunConfig,
    options: DesOptions | None = None,
    record: bool = True,
    written: bool = False,
) -> None:
    """Raise ConfigError if the run would exceed :data:`MAX_TICKS` machine-ticks (with
    ``record``) or needs more memory than the machine has available (see
    :func:`estimate_memory`; ``written``: its run directory is written too); the error
    gives the estimate. A run that could not need :data:`SMALL_RUN_BYTES` even if every
    message it sent stayed queued is not estimated."""
    n = config.n_machines
    ticks: list[int] | None = None
    if record:
        ticks = [config.ticks(i) for i in range(n)]
        total = sum(ticks)
    else:  # an upper bound, without the exact schedule's fractions: a sweep's hot path
        total = math.ceil(sum(config.rates) * config.duration * (1 + config.drift_ppm / 1e6)) + n
    if record and total > MAX_TICKS:
        raise ConfigError(
            f"run too large: {total:,} machine-ticks (limit {MAX_TICKS:,}, a few GB of "
            "records); shorten --duration or lower the rates"
        )
    # The crude bound: every message sent stays queued (and has a link of its own).
    network = config.faults or (options is not None and options.latency_dist != "constant")
    per_message = MESSAGE_BYTES + (LINK_BYTES if network else 0)
    sent = config.p_send * (n + 1) / 3 * total
    per_tick = RECORD_BYTES + INT_BYTES + INSTANT_BYTES + (8 * n if config.clock == VECTOR else 0)
    bound = (  # a machine's block of draws holds at most its ticks and two
        BASE_BYTES
        + n * (MACHINE_BYTES + SUMMARY_BYTES + MERGE_BYTES + STREAM_BYTES + 2 * DRAW_BYTES)
        + (n * (LOG_BYTES + BUFFER_BYTES) if written else 0)
        + total * (per_tick + DRAW_BYTES)
        + sent * per_message
    )
    if bound < SMALL_RUN_BYTES:  # the common case: no prediction, no /proc read per run
        return
    if ticks is None:
        ticks = [config.ticks(i) for i in range(n)]
    estimate = _estimate(config, record, options, ticks, written)
    available = available_memory()
    if available is not None and estimate["total"] > available:
        parts = ", ".join(
            f"{name} {_gb(size)}"
            for name, size in estimate.items()
            if name not in ("total", "base") and size >= 500_000  # a part of 0 MB says nothing
        )
        raise ConfigError(
            f"run too large: needs about {_gb(estimate['total'])} ({parts}), "
            f"{_gb(available)} available; use fewer machines, a shorter --duration or "
            "lower rates"
        )
