"""A queueing prediction of the scale model: arrival rates, queues and clock rates.

This module predicts, from the tick rates and ``p_send`` alone, what a long run
of the scale model (docs/spec.md, the model) does to each machine. It is pure
arithmetic: no simulation, no numpy, no pandas. The derivation, in the
fluid (law-of-large-numbers) limit:

Drawing ticks
    A machine draws an action only on a tick that finds its queue empty. Call
    ``d_i`` the rate of such *drawing* ticks (per second). A stable machine
    eventually takes every message that reaches it, one per tick, so it
    spends ``lambda_i`` ticks per second receiving and draws on the rest:
    ``d_i = r_i - lambda_i``. A machine whose messages arrive at least as fast
    as it ticks (``lambda_i >= r_i``) is *saturated*: after a short start it
    receives on every tick and never draws again, ``d_i = 0``. Both cases are
    ``d_i = max(r_i - lambda_i, 0)``.

Routing
    On a drawing tick a machine sends to one given other machine with
    probability ``q = p/3 + (2p/3)/(N-1)`` (the broadcast plus its share of the
    single sends; ``q = 2p/3`` for N = 3). Hence

        lambda_j = q * sum over i != j of d_i = q * (D - d_j),   D = sum of d_i,

    and a drawing tick puts ``p (N+1) / 3`` messages on the network on average,
    which is each machine's send rate per drawing tick.

Solving self-consistently
    Substituting ``lambda_j`` into ``d_j``: a stable machine has
    ``d_j = (r_j - q D) / (1 - q)``, which is positive exactly when
    ``r_j > q D``. Every machine hears the same total traffic ``q D`` up to its
    own share, so the saturated machines are simply the slowest ones: those
    with ``r_j <= q D``. With U the k fastest machines,
    ``D = sum over U of r_j / (1 - q + k q)``; the right k is the one whose D
    puts exactly U above the threshold ``q D``. The function
    ``D -> sum (r_j - q D)^+ / (1 - q) - D`` is strictly decreasing for
    ``q < 1``, so the fixed point exists and is unique. (``q = 1`` happens only
    for N = 2, p = 1: the faster machine sends on every tick and floods the
    slower one; equal rates alternate send and receive, the limit q -> 1.)
    The computation runs on exact fractions, and rates and ``p_send`` are
    read alike: a Fraction as it is, a float as the DES takes a rate
    (:func:`lamport.config.exact_rate`, the nearest fraction with a
    denominator up to 10^6, so 0.3 is 3/10). A machine that sits exactly on
    the boundary ``lambda_j = r_j`` is recognised as such (experiment 11's
    rate-3 machine does), and with Fraction inputs the prediction is exactly
    invariant when every rate is scaled by the same factor.

Queues
    A stable machine's queue stays bounded and it spends the share
    ``lambda_i / r_i`` of its ticks receiving; a saturated one receives on
    every tick and its queue grows at ``lambda_i - r_i`` messages per second.
    On the boundary the queue has no drift: it is a reflected random walk whose
    size after T seconds is about ``sigma sqrt(2 T / pi)``, with
    ``sigma^2 ~ lambda_i (1 - q)`` (each sender's drawing tick is a Bernoulli(q)
    trial). Over a run of finite length T the same random walk blurs every
    machine whose drift ``|lambda_i - r_i| T`` is smaller than its spread
    ``sigma sqrt(T)``; given a duration, such machines get the verdict
    ``"critical"`` instead of ``"stable"`` or ``"growing"``: neither a bounded
    queue nor a growth rate describes them.

Clock rates
    Every tick raises a clock by one, so a clock moves at least at the
    machine's tick rate; a RECEIVE lifts it above the message clock, so it
    moves at least as fast as the clocks it reads. A stable machine reads
    messages a bounded time after they were sent, so it follows the fastest
    clock it hears from at a positive rate: ``c_i = max(r_i, max_j c_j)``. A
    saturated machine reads ever older messages: at time t it reads what
    arrived by ``tau`` with ``lambda_i tau = r_i t``, so the clocks it reads
    grow like ``c_j r_i / lambda_i``. Successive messages from one sender carry
    clocks at least one apart, so the receive rule's ``+1`` adds no drift of
    its own, and interleaved messages from slower senders only lower the
    messages' clocks below the running maximum. Hence the fixed point

        c_i = max(r_i, f_i * max over senders j of c_j),   f_i = min(1, r_i / lambda_i),

    over the senders with ``q d_j > 0`` (saturated machines never send). It is
    reached by iterating up from ``c = r``. With ``p > 0`` every stable machine
    ends up at the fastest tick rate and a saturated one at
    ``r_max r_i / lambda_i``; with ``p = 0`` every clock runs at its own rate.

What this leaves out
    Everything of order ``1/T``: the empty queues at the start, the age of the
    last fast message a machine read before the run ended (a stable machine
    that hears the fastest clock rarely lags it by about ``(r_max - r_i)`` times
    that age), and the 1 ms latency. ``docs/theory.md`` measures these against
    the DES for the whole catalogue.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from statistics import fmean
from typing import TYPE_CHECKING, Any

from lamport.config import exact_rate
from lamport.errors import ConfigError
from lamport.validate import is_number, number

if TYPE_CHECKING:
    from lamport.config import RunConfig

STABLE = "stable"
GROWING = "growing"
CRITICAL = "critical"


@dataclass(frozen=True)
class MachinePrediction:
    """The long-run prediction for one machine.

    Rates are per model second. ``send_rate`` counts messages leaving the
    machine, one per recipient (a broadcast to two machines counts two).
    ``stable`` means the queue does not grow linearly (``arrival_rate <= rate``),
    so ``queue_growth`` is zero exactly when ``stable`` is true. ``verdict`` is
    ``"stable"``, ``"growing"``, or ``"critical"`` for a machine whose drift is
    lost in the random walk of its queue over the run (see the module essay).
    """

    machine: int
    rate: float
    arrival_rate: float
    receive_share: float
    send_rate: float
    stable: bool
    queue_growth: float
    clock_rate: float
    verdict: str


def routing_probability(p_send: float | Fraction, n_machines: int) -> float:
    """The chance that a drawing tick sends a message to one given other machine."""
    return float(_routing(_probability(p_send), _machine_count(n_machines)))


def predict(
    rates: Sequence[float | Fraction],
    p_send: float | Fraction,
    duration: float | None = None,
) -> list[MachinePrediction]:
    """Predict every machine's long-run behaviour from the tick rates and ``p_send``.

    Without ``duration`` only a machine exactly on the stability boundary is
    ``"critical"``; with it, every machine whose queue drift over the run is
    smaller than the queue's random-walk spread is.

    Raise ConfigError (a ValueError) if there are fewer than two machines, a
    rate is not a positive finite number, ``p_send`` lies outside [0, 1], or
    ``duration`` is not positive.
    """
    exact = [_rate(r) for r in rates]
    n = _machine_count(len(exact))
    p = _probability(p_send)
    if duration is not None:
        number(duration, "duration", above=0.0)
    q = _routing(p, n)
    draws = _drawing_rates(exact, q)
    total = sum(draws, Fraction(0))
    arrivals = [q * (total - d) for d in draws]
    clocks = _clock_rates(exact, arrivals, draws, q)
    fanout = p * (n + 1) / 3
    predictions = []
    rows = zip(exact, arrivals, draws, clocks, strict=True)
    for i, (rate, arrival, draw, clock) in enumerate(rows):
        growth = max(arrival - rate, Fraction(0))
        verdict = GROWING if growth > 0 else STABLE
        drift = float(arrival - rate)
        if arrival == rate:
            verdict = CRITICAL
        elif duration is not None:
            spread = math.sqrt(float(arrival * (1 - q)) * duration)
            if abs(drift) * duration <= spread:
                verdict = CRITICAL
        predictions.append(
            MachinePrediction(
                machine=i,
                rate=float(rate),
                arrival_rate=float(arrival),
                receive_share=float(min(arrival / rate, Fraction(1))),
                send_rate=float(draw * fanout),
                stable=growth == 0,
                queue_growth=float(growth),
                clock_rate=float(clock),
                verdict=verdict,
            )
        )
    return predictions


def predict_config(config: RunConfig) -> list[MachinePrediction]:
    """Predict a run configuration: its rates (experiment 1's drawn ones), p_send, duration."""
    return predict(config.rates, config.p_send, duration=config.duration)


def compare(
    predictions: Sequence[MachinePrediction], summary_rows: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Put predicted and observed values side by side, one dict per machine.

    ``summary_rows`` are rows of :meth:`lamport.des.model.Result.summary` (or of
    a sweep's ``summary.csv``) from one or more runs of the configuration that
    was predicted, e.g. many seeds; observed values are means over the runs.
    Observed arrival rate is ``(n_receive + final_queue) / duration``, receive
    share ``n_receive / ticks``, queue growth ``final_queue / duration`` and
    clock rate ``final_clock / duration``. Each quantity ``x`` appears as
    ``x_pred``, ``x_obs`` and ``x_err`` (observed minus predicted).

    Raise ValueError if a machine has no rows or its rows' rate differs from
    the prediction's.
    """
    out = []
    for pred in predictions:
        rows = [row for row in summary_rows if int(row["machine"]) == pred.machine]
        if not rows:
            raise ValueError(f"no summary rows for machine {pred.machine}")
        for row in rows:
            if not math.isclose(float(row["rate"]), pred.rate, rel_tol=1e-9):
                raise ValueError(
                    f"machine {pred.machine}: summary rate {row['rate']} is not the predicted "
                    f"rate {pred.rate}"
                )
        observed = {
            "arrival_rate": fmean(
                (row["n_receive"] + row["final_queue"]) / float(row["duration"]) for row in rows
            ),
            "receive_share": fmean(row["n_receive"] / row["ticks"] for row in rows if row["ticks"]),
            "queue_growth": fmean(row["final_queue"] / float(row["duration"]) for row in rows),
            "clock_rate": fmean(row["final_clock"] / float(row["duration"]) for row in rows),
        }
        entry: dict[str, Any] = {
            "machine": pred.machine,
            "rate": pred.rate,
            "verdict": pred.verdict,
            "runs": len(rows),
            "final_queue_obs": fmean(float(row["final_queue"]) for row in rows),
        }
        for key, value in observed.items():
            predicted = float(getattr(pred, key))
            entry[f"{key}_pred"] = predicted
            entry[f"{key}_obs"] = value
            entry[f"{key}_err"] = value - predicted
        out.append(entry)
    return out


def _exact(value: object, what: str) -> Fraction:
    """Read a rate or ``p_send`` exactly: one arithmetic for both (see the module essay)."""
    if isinstance(value, Fraction):
        return value
    if not is_number(value) or not math.isfinite(value):
        raise ConfigError(f"{what} {value!r} is not a number")
    return exact_rate(float(value))


def _rate(value: object) -> Fraction:
    rate = _exact(value, "rate")
    if rate <= 0:
        raise ConfigError(f"rate {value!r} is not a positive number")
    return rate


def _probability(value: object) -> Fraction:
    p = _exact(value, "p_send")
    if not 0 <= p <= 1:
        raise ConfigError(f"p_send must lie in [0, 1], got {value}")
    return p


def _machine_count(n: int) -> int:
    if n < 2:
        raise ConfigError(f"a run needs at least two machines, got {n}")
    return n


def _routing(p: Fraction, n: int) -> Fraction:
    """P(a drawing tick sends to one given other machine): broadcast plus a single send's share."""
    return p / 3 + (2 * p / 3) / (n - 1)


def _drawing_rates(rates: Sequence[Fraction], q: Fraction) -> list[Fraction]:
    """Drawing ticks per second of each machine: the fixed point ``d = (r - q (D - d))^+``."""
    n = len(rates)
    if q == 1:
        # N = 2, p = 1: every drawing tick sends to the other machine.
        if rates[0] == rates[1]:
            return [rates[0] / 2, rates[1] / 2]
        fast = 0 if rates[0] > rates[1] else 1
        return [rates[i] if i == fast else Fraction(0) for i in range(n)]
    order = sorted(range(n), key=lambda i: rates[i], reverse=True)
    for k in range(1, n + 1):
        total = sum((rates[i] for i in order[:k]), Fraction(0)) / (1 - q + k * q)
        threshold = q * total
        slowest_stable = rates[order[k - 1]]
        fastest_saturated = rates[order[k]] if k < n else Fraction(0)
        if slowest_stable >= threshold >= fastest_saturated:
            return [max((r - threshold) / (1 - q), Fraction(0)) for r in rates]
    raise AssertionError("no saturation set found")  # unreachable: the fixed point is unique


def _clock_rates(
    rates: Sequence[Fraction], arrivals: Sequence[Fraction], draws: Sequence[Fraction], q: Fraction
) -> list[Fraction]:
    """The clock-rate fixed point ``c_i = max(r_i, f_i max_j c_j)``, iterated up from ``c = r``."""
    n = len(rates)
    freshness = [
        min(Fraction(1), r / a) if a > 0 else Fraction(1)
        for r, a in zip(rates, arrivals, strict=True)
    ]
    senders = [[j for j in range(n) if j != i and q * draws[j] > 0] for i in range(n)]
    clocks = list(rates)
    # Each round can only raise a clock to a value carried along one more link, so
    # n rounds reach the fixed point (every path of the longest-path problem is shorter).
    for _ in range(n + 1):
        updated = [
            max(rates[i], freshness[i] * max((clocks[j] for j in senders[i]), default=Fraction(0)))
            for i in range(n)
        ]
        if updated == clocks:
            break
        clocks = updated
    return clocks
