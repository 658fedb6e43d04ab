"""How much a DES run needs, and refusing one the machine cannot hold, before it starts.

:func:`estimate_memory` adds up, in bytes: the kept event records (none on the
summaries-only path), the messages left in queues at the end (the queue growth
:func:`lamport.theory.predict` gives, times the duration), each machine's send
targets and peer labels (one entry per other machine, so N^2 for the run: what
made 10,000 machines run out of memory) and the interpreter. :func:`check_size`
compares it with ``MemAvailable`` from ``/proc/meminfo`` and raises a
one-line ConfigError that gives the estimate; it also keeps the older cap of
:data:`MAX_TICKS` machine-ticks on full-record runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lamport.errors import ConfigError

if TYPE_CHECKING:
    from lamport.config import RunConfig
    from lamport.des.options import DesOptions

__all__ = ["MAX_TICKS", "available_memory", "check_size", "estimate_memory"]

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
    ``queued`` (messages waiting in queues), ``machines`` (the N^2 send targets) and
    ``base``; ``total`` sums them.

    Queued messages are, per machine, :func:`lamport.theory.predict`'s queue growth
    times the duration for a saturated machine, and ``rho / (1 - rho)`` (a busy
    queue's typical length, rho its share of receiving ticks, capped at the messages
    that reach it in the run) for a stable one: with thousands of machines every
    machine is busy receiving nearly all the time and holds hundreds of messages
    (3,000 machines at rate 1 and p_send 0.3: rho = 0.996, 277 predicted, up to 306
    seen). A machine on the stability boundary is counted as growing at a tenth of
    its arrival rate, since its queue random-walks.
    """
    n = config.n_machines
    ticks = sum(config.ticks(i) for i in range(n))
    duration = float(config.duration)
    loads: list[tuple[float, float]]  # (arrival rate, tick rate) per machine
    growth = 0.0
    if n <= PREDICT_MACHINES:
        from lamport.theory import predict

        loads = []
        for p in predict(config.rates, config.p_send):
            loads.append((p.arrival_rate, p.rate))
            growth += p.queue_growth if p.verdict != "critical" else 0.1 * p.arrival_rate
    else:
        loads = _arrival_rates(config.rates, config.p_send)
        growth = sum(max(arrival - rate, 0.0) for arrival, rate in loads)
    waiting = 0.0
    for arrival, rate in loads:
        rho = arrival / rate
        if rho < 1:
            waiting += min(rho / (1 - rho), arrival * duration)
    parts = {
        "records": ticks * RECORD_BYTES if record else 0,
        "queued": int((growth * duration + waiting) * MESSAGE_BYTES),
        "machines": n * n * TARGET_BYTES,
        "base": BASE_BYTES,
    }
    parts["total"] = sum(parts.values())
    return parts


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


def check_size(config: RunConfig, options: DesOptions | None = None, record: bool = True) -> None:
    """Raise ConfigError if the run would exceed :data:`MAX_TICKS` machine-ticks (with
    ``record``) or needs more memory than the machine has available (see
    :func:`estimate_memory`); the error gives the estimate. A run that could not need
    :data:`SMALL_RUN_BYTES` even if every message it sent stayed queued is not estimated."""
    total = sum(config.ticks(i) for i in range(config.n_machines)) if record else 0
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
