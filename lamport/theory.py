"""A queueing prediction of the scale model: arrival rates, queues and clock rates.

This module predicts, from the tick rates and ``p_send`` alone, what a long run
of the scale model (docs/spec.md, the model) does to each machine; the clock
rates also take the start phases and the latency. Queues are pure arithmetic in
the fluid (law-of-large-numbers) limit; clock rates under random phases come
from a small Markov chain solved numerically (numpy, imported on first use).
No simulation, no pandas. The derivation:

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

Clock rates in lock-step
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

        c_i = max(b_i, f_i * max over senders j of c_j),   f_i = min(1, r_i / lambda_i),

    over the senders with ``q d_j > 0`` (saturated machines never send), with
    ``b_i = r_i``. It is reached by iterating up from ``c = b``. With ``p > 0``
    every stable machine ends up at the fastest tick rate and a saturated one
    at ``r_max r_i / lambda_i``; with ``p = 0`` every clock runs at its own
    rate. This is exact when machines tick in lock-step (aligned phases): a
    message is then read at the reader's next tick, which falls with its
    sender's next tick, and it never carries a clock above the reader's own
    count. It is ``lockstep_clock_rate``.

Clock rates under start phases: the handover lift
    With phases a message can be read *before* its sender ticks again. If the
    sender held the highest clock M, the reader sets its clock to M + 1 and
    now holds the highest clock itself; the old leader's next tick only brings
    it to M + 1 as well. The highest clock rose at a tick that was not the
    leader's own: each such handover adds one to every stable machine's clock
    in the long run (they all follow the highest). The rate of the stable
    machines' common clock ``b`` is the rate of the highest clock, which no
    fluid argument gives: it depends on the order in which the machines tick
    and read. It is computed from a Markov chain on the stable machines
    (saturated and critical ones never draw in the long run, so they only
    absorb messages):

    * state: each machine's *deficit* ``M - C_i``; the deficit of the first
      message in each queue and how many messages wait behind it; the
      messages in flight (recipients and deficit);
    * events: the merged tick schedule of one period ``1 / gcd(rates)``
      (rates are exact fractions), each tick a RECEIVE of the first message
      or a draw with the model's probabilities (messages to machines outside the
      chain drop out), each arrival ``latency`` after its tick;
    * a tick at which the new clock exceeds M (a leader's own tick, or a
      message carrying M) raises M: the expected raises per period, divided
      by the period, is ``b`` once the walk of the distribution has settled.

    Deficits of ``FAR`` (2) or more are lumped: such a clock or message is too
    far below to raise M before it is lifted itself (FAR = 3 moves the figures
    by at most 0.1%). A message behind another in a queue waits at least one
    more tick of its reader, by which time M has moved past it: only the first
    is tracked, the others are counted up to ``QUEUE_CAP`` (6; 10 moves a
    loaded machine's figure by 0.1%). Random phases average the chain over
    ``PHASE_SAMPLES`` (16) phase configurations of a Kronecker sequence
    (fewer on long schedules, which pass many relative phases in one period);
    64 samples move the figures by at most 0.3%. A schedule longer than
    ``MAX_SCHEDULE_TICKS`` is played with the rates' ratios rounded to a
    common denominator. States are discovered along the schedule and walked as
    sparse numpy arrays: a few hundredths to a few tenths of a second per
    configuration, computed on first use of ``clock_rate`` and cached. More
    than ``MAX_CHAIN_MACHINES`` (3) stable machines keep the lock-step figure
    (a lower bound). Aligned phases keep it too, as do runs without sends.

What this leaves out
    Everything of order ``1/T``: the empty queues at the start, the age of the
    last fast message a machine read before the run ended (a stable machine
    that hears the fastest clock rarely lags it by about ``(b - r_i)`` times
    that age), and drift and jitter of the tick schedule. ``docs/theory.md``
    measures these against the DES for the whole catalogue and the stability
    grid.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property, lru_cache
from statistics import fmean
from typing import TYPE_CHECKING, Any

from lamport.config import DEFAULT_LATENCY, PHASE_MODES, exact_rate
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
    ``clock_rate`` is the logical clock's rate under the prediction's start
    phases (random by default; computed on first use, see :func:`clock_rates`);
    ``lockstep_clock_rate`` the rate when machines tick in lock-step, which is
    ``clock_rate`` under aligned phases.
    """

    machine: int
    rate: float
    arrival_rate: float
    receive_share: float
    send_rate: float
    stable: bool
    queue_growth: float
    lockstep_clock_rate: float
    verdict: str
    clocks: _PhasedClocks = field(repr=False, compare=False)

    @property
    def clock_rate(self) -> float:
        """The predicted logical-clock rate (clock units per second) under the phases."""
        return self.clocks.rates[self.machine]


class _PhasedClocks:
    """The clock rates of one prediction, computed when first asked for: the deficit
    chain takes up to a few tenths of a second, and most callers of :func:`predict`
    (memory estimates, stability boundaries) never read a clock."""

    def __init__(
        self,
        rates: Sequence[Fraction],
        arrivals: Sequence[Fraction],
        draws: Sequence[Fraction],
        q: Fraction,
        p: Fraction,
        latency: float,
        phase: str | tuple[float, ...],
    ) -> None:
        self.args = (tuple(rates), tuple(arrivals), tuple(draws), q, p, latency, phase)

    @cached_property
    def rates(self) -> list[float]:
        rates, arrivals, draws, q, p, latency, phase = self.args
        lockstep = _clock_rates(rates, arrivals, draws, q)
        if phase == "aligned" or p == 0:
            return [float(c) for c in lockstep]
        stable = [i for i, d in enumerate(draws) if d > 0]
        phases = None if phase == "random" else tuple(float(phase[i]) for i in stable)
        group = _group_clock_rate(
            tuple(rates[i] for i in stable), len(rates), p, float(latency), phases
        )
        floor = [
            max(float(c), group) if d > 0 else float(c)
            for c, d in zip(lockstep, draws, strict=True)
        ]
        return [float(c) for c in _clock_rates(rates, arrivals, draws, q, floor)]


def routing_probability(p_send: float | Fraction, n_machines: int) -> float:
    """The chance that a drawing tick sends a message to one given other machine."""
    return float(_routing(_probability(p_send), _machine_count(n_machines)))


def predict(
    rates: Sequence[float | Fraction],
    p_send: float | Fraction,
    duration: float | None = None,
    *,
    latency: float = DEFAULT_LATENCY,
    phase: str | Sequence[float] = "random",
) -> list[MachinePrediction]:
    """Predict every machine's long-run behaviour from the tick rates and ``p_send``.

    Without ``duration`` only a machine exactly on the stability boundary is
    ``"critical"``; with it, every machine whose queue drift over the run is
    smaller than the queue's random-walk spread is. ``latency`` (a constant, in
    seconds; the mean of a distribution is a fair stand-in) and ``phase``
    (``"random"``, ``"aligned"`` or each machine's phase, as in
    :class:`lamport.config.RunConfig`) shape the clock rates only.

    Raise ConfigError (a ValueError) if there are fewer than two machines, a
    rate is not a positive finite number, ``p_send`` lies outside [0, 1],
    ``duration`` is not positive, ``latency`` is negative, or ``phase`` is none
    of the three.
    """
    exact = [_rate(r) for r in rates]
    n = _machine_count(len(exact))
    p = _probability(p_send)
    if duration is not None:
        number(duration, "duration", above=0.0)
    number(latency, "latency", low=0.0)
    phases = _phase(phase, exact)
    q = _routing(p, n)
    draws = _drawing_rates(exact, q)
    total = sum(draws, Fraction(0))
    arrivals = [q * (total - d) for d in draws]
    clocks = _clock_rates(exact, arrivals, draws, q)
    phased = _PhasedClocks(exact, arrivals, draws, q, p, float(latency), phases)
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
                lockstep_clock_rate=float(clock),
                verdict=verdict,
                clocks=phased,
            )
        )
    return predictions


def predict_config(config: RunConfig, latency: float = DEFAULT_LATENCY) -> list[MachinePrediction]:
    """Predict a run configuration: its rates (experiment 1's drawn ones), p_send,
    duration and start phases, with the DES's ``latency`` (default 1 ms)."""
    return predict(
        config.rates, config.p_send, duration=config.duration, latency=latency, phase=config.phase
    )


def clock_rates(
    rates: Sequence[float | Fraction],
    p_send: float | Fraction,
    latency: float = DEFAULT_LATENCY,
    phase: str | Sequence[float] = "random",
) -> list[float]:
    """Each machine's predicted long-run logical-clock rate, in clock units per second.

    With ``phase="random"`` (the default, as in the model) this is the deficit
    chain's rate averaged over random start phases; with ``"aligned"`` the
    lock-step rate; with a list of phases, the chain's rate for those phases.
    ``latency`` is the network's constant one-way latency in seconds. Raise
    ConfigError as :func:`predict` does.
    """
    return [m.clock_rate for m in predict(rates, p_send, latency=latency, phase=phase)]


def config_clock_rates(config: RunConfig, latency: float = DEFAULT_LATENCY) -> list[float]:
    """:func:`clock_rates` of a run configuration (its rates, p_send and phases)."""
    return [m.clock_rate for m in predict_config(config, latency)]


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


def _phase(phase: object, rates: Sequence[Fraction]) -> str | tuple[float, ...]:
    """``"random"``, ``"aligned"``, or one phase per machine in (0, 1/r]."""
    if isinstance(phase, str):
        if phase not in PHASE_MODES:
            raise ConfigError(
                f"phase must be one of {', '.join(PHASE_MODES)} or a list, got {phase!r}"
            )
        return phase
    if not isinstance(phase, Sequence) or len(phase) != len(rates):
        raise ConfigError(f"phase needs one value per machine ({len(rates)}), got {phase!r}")
    phases = tuple(number(x, "phase", low=0.0) for x in phase)
    return phases


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
    rates: Sequence[Fraction],
    arrivals: Sequence[Fraction],
    draws: Sequence[Fraction],
    q: Fraction,
    floor: Sequence[float] | None = None,
) -> list[Any]:
    """The clock-rate fixed point ``c_i = max(b_i, f_i max_j c_j)``, iterated up from ``c = b``:
    ``b = r`` in lock-step (exact fractions), the stable machines' chain rate with phases."""
    n = len(rates)
    base: Sequence[Any] = rates if floor is None else floor
    freshness = [
        min(Fraction(1), r / a) if a > 0 else Fraction(1)
        for r, a in zip(rates, arrivals, strict=True)
    ]
    senders = [[j for j in range(n) if j != i and q * draws[j] > 0] for i in range(n)]
    clocks = list(base)
    # Each round can only raise a clock to a value carried along one more link, so
    # n rounds reach the fixed point (every path of the longest-path problem is shorter).
    for _ in range(n + 1):
        updated = [
            max(base[i], freshness[i] * max((clocks[j] for j in senders[i]), default=Fraction(0)))
            for i in range(n)
        ]
        if updated == clocks:
            break
        clocks = updated
    return clocks


# --- Clock rates under start phases: the deficit chain -----------------------------------

#: Deficits (the highest clock minus a clock or a message's clock) of this much or more are
#: "far": such a clock or message can no longer lift anything, so the chain lumps them.
FAR = 2
#: Messages the chain counts behind a queue's first one (each a far message by the time it
#: is read); a machine loaded so much that more wait loses the excess from the chain.
QUEUE_CAP = 6
#: The chain is solved for at most this many machines that draw (stable machines); with
#: more, the state space outgrows a fraction of a second and ``clock_rate`` keeps the
#: lock-step figure (see the module essay).
MAX_CHAIN_MACHINES = 3
#: Ticks per repeating schedule beyond which the rates are rounded for the chain (ratios to
#: the fastest on a common denominator of ``MAX_SCHEDULE_TICKS // machines``).
MAX_SCHEDULE_TICKS = 120
#: Phase configurations averaged for random phases (fewer on long schedules, which
#: already pass through many relative phases in one period).
PHASE_SAMPLES = 16
#: Schedule ticks walked per phase configuration and period, summed over samples: the
#: sample count is ``min(PHASE_SAMPLES, max(4, SAMPLE_TICKS // ticks per period))``.
SAMPLE_TICKS = 480
#: Relative change of the gain per period at which the walk has converged.
TOLERANCE = 1e-9
MAX_PERIODS = 5000

#: A chain state: the deficit of each machine's clock; each queue's first message's deficit
#: (-1: empty) and how many far messages follow it; per sender, the messages in flight as
#: (recipient bitmask, deficit) groups in the order they will arrive.
_State = tuple[
    tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[tuple[tuple[int, int], ...], ...]
]
#: One event's moves from a state: (probability, next state, probability x gain).
_Moves = list[tuple[float, _State, float]]

TICK, ARRIVE, TICK_ARRIVE = range(3)


class _DeficitChain:
    """The Markov chain of the stable machines' clock deficits, one event at a time.

    Events are a machine's tick (``TICK``), the arrival of what it sent at its last
    tick (``ARRIVE``), or both at once when nothing happens in between
    (``TICK_ARRIVE``; 1 ms of latency almost always). The states and the transitions
    are discovered along the schedules walked, and kept as sparse arrays per event
    kind: the walk is a few numpy operations per event.
    """

    def __init__(self, outcomes: list[list[tuple[float, int]]], in_flight: list[int]) -> None:
        self.n = len(outcomes)
        self.outcomes = outcomes
        # in_flight[i] > 1: latency of a period or more, every tick queues a (maybe empty)
        # group so that arrivals stay matched to their ticks.
        self.in_flight = in_flight
        self.states: list[_State] = []
        self.index: dict[_State, int] = {}
        self.moves: list[dict[int, list[tuple[int, float, float]]]] = [
            {} for _ in range(3 * self.n)
        ]
        self.arrays: list[tuple[Any, Any, Any, Any]] | None = None

    # -- the rules (docs/spec.md, the model) on deficits --------------------------------

    def start(self, pending: Sequence[int]) -> int:
        groups = tuple(((0, 0),) * k for k in pending)
        n = self.n
        return self.state_id(((0,) * n, (-1,) * n, (0,) * n, groups))

    def _lift(self, state: _State, top: int) -> _State:
        """The highest clock went up by one, at machine ``top``: every other deficit grows."""
        d, heads, counts, pending = state

        def bump(e: int) -> int:
            return e + 1 if e < FAR else FAR

        return (
            tuple(0 if j == top else bump(x) for j, x in enumerate(d)),
            tuple(h if h < 0 else bump(h) for h in heads),
            counts,
            tuple(tuple((m, bump(e) if m else 0) for m, e in groups) for groups in pending),
        )

    def _tick(self, state: _State, i: int) -> _Moves | None:
        d, heads, counts, pending = state
        limit = max(self.in_flight[i], 1)
        if len(pending[i]) >= limit:
            return None  # not on the schedule: the arrival comes before the next tick
        fifo = self.in_flight[i] > 1
        if heads[i] >= 0 or counts[i] > 0:  # RECEIVE: max(local, message) + 1
            if heads[i] >= 0:
                e = heads[i]
                heads = (*heads[:i], -1, *heads[i + 1 :])
            else:
                e = FAR
                counts = (*counts[:i], counts[i] - 1, *counts[i + 1 :])
            if fifo:
                pending = (*pending[:i], (*pending[i], (0, 0)), *pending[i + 1 :])
            base = min(d[i], e)
            if base == 0:
                return [(1.0, self._lift((d, heads, counts, pending), i), 1.0)]
            if base < FAR:
                d = (*d[:i], base - 1, *d[i + 1 :])
            return [(1.0, (d, heads, counts, pending), 0.0)]
        gain = 0.0  # a draw: INTERNAL or SEND, the clock + 1
        if d[i] == 0:
            gain = 1.0
            d, heads, counts, pending = self._lift(state, i)
        elif d[i] < FAR:
            d = (*d[:i], d[i] - 1, *d[i + 1 :])
        moves: _Moves = []
        for prob, mask in self.outcomes[i]:
            sent = pending
            if mask or fifo:
                group = (mask, d[i] if mask else 0)
                sent = (*pending[:i], (*pending[i], group), *pending[i + 1 :])
            moves.append((prob, (d, heads, counts, sent), prob * gain))
        return moves

    def _arrive(self, state: _State, i: int) -> _Moves:
        d, heads, counts, pending = state
        if not pending[i]:
            return [(1.0, state, 0.0)]
        (mask, e), rest = pending[i][0], pending[i][1:]
        first, behind = list(heads), list(counts)
        for j in range(self.n):
            if mask >> j & 1:
                if first[j] < 0 and behind[j] == 0:
                    first[j] = e
                else:
                    behind[j] = min(behind[j] + 1, QUEUE_CAP)
        return [
            (1.0, (d, tuple(first), tuple(behind), (*pending[:i], rest, *pending[i + 1 :])), 0.0)
        ]

    def _event(self, state: _State, kind: int, i: int) -> _Moves | None:
        if kind == ARRIVE:
            return self._arrive(state, i)
        moves = self._tick(state, i)
        if kind == TICK or moves is None:
            return moves
        return [(p, self._arrive(s, i)[0][1], g) for p, s, g in moves]

    # -- discovery and the walk ---------------------------------------------------------

    def state_id(self, state: _State) -> int:
        sid = self.index.get(state)
        if sid is None:
            sid = self.index[state] = len(self.states)
            self.states.append(state)
        return sid

    def _moves(self, event: int, sid: int) -> list[tuple[int, float, float]]:
        known = self.moves[event].get(sid)
        if known is None:
            kind, i = divmod(event, self.n)
            found = self._event(self.states[sid], kind, i) or []
            known = [(self.state_id(s), p, g) for p, s, g in found]
            self.moves[event][sid] = known
            self.arrays = None
        return known

    def explore(self, events: Sequence[int], first: set[int]) -> set[int]:
        """Every state reachable along the periodic event sequence from ``first``."""
        current = set(first)
        while True:
            at_start = set(current)
            for event in events:
                current = {dst for sid in current for dst, _, _ in self._moves(event, sid)}
            if current <= at_start:
                return at_start
            current |= at_start

    def _sparse(self) -> list[tuple[Any, Any, Any, Any]]:
        import numpy as np

        if self.arrays is None:
            n = len(self.states)
            arrays = []
            for table in self.moves:
                src = np.array([s for s, moves in table.items() for _ in moves], dtype=np.intp)
                flat = [move for moves in table.values() for move in moves]
                dst = np.array([m[0] for m in flat], dtype=np.intp)
                prob = np.array([m[1] for m in flat], dtype=float)
                gain = np.bincount(src, weights=np.array([m[2] for m in flat]), minlength=n)
                arrays.append((src, dst, prob, gain))
            self.arrays = arrays
        return self.arrays

    def gain_per_period(self, events: Sequence[int], dist: Any) -> tuple[float, Any]:
        """Walk the periodic sequence until the expected gain per period settles."""
        import numpy as np

        arrays = self._sparse()
        n = len(self.states)
        if len(dist) < n:
            dist = np.concatenate([dist, np.zeros(n - len(dist))])
        last = math.nan
        gain = 0.0
        for _ in range(MAX_PERIODS):
            gain = 0.0
            for event in events:
                src, dst, prob, gains = arrays[event]
                gain += float(dist @ gains)
                dist = np.bincount(dst, weights=dist[src] * prob, minlength=n)
            # A state carried over from another phase sample may hold a message in flight
            # where this schedule ticks first: that state has no move and its mass drops
            # out. After one period only this schedule's states remain; rescale and go on.
            mass = float(dist.sum())
            if abs(mass - 1.0) > 1e-12:
                dist = dist / mass
                last = math.nan
                continue
            if abs(gain - last) <= TOLERANCE * max(gain, 1.0):
                break
            last = gain
        return gain, dist


def _rate_gcd(rates: Sequence[Fraction]) -> Fraction:
    """The largest rate of which every rate is a whole multiple: 1 / (the schedule's period)."""
    num = 0
    den = 1
    for rate in rates:
        den = math.lcm(den, rate.denominator)
    for rate in rates:
        num = math.gcd(num, rate.numerator * (den // rate.denominator))
    return Fraction(num, den)


def _chain_rates(rates: Sequence[Fraction]) -> tuple[Fraction, ...]:
    """The rates the chain plays: as given when their schedule repeats within
    ``MAX_SCHEDULE_TICKS`` ticks, else the ratios to the fastest on a common denominator."""
    if sum(rates, Fraction(0)) / _rate_gcd(rates) <= MAX_SCHEDULE_TICKS:
        return tuple(rates)
    top = max(rates)
    steps = MAX_SCHEDULE_TICKS // len(rates)
    return tuple(top * max(1, round(rate / top * steps)) / steps for rate in rates)


def _schedule(
    rates: Sequence[Fraction], phases: Sequence[float], latency: float, in_flight: Sequence[int]
) -> tuple[float, list[int], list[int]]:
    """One period of the merged tick schedule as chain events, and the groups each sender
    has in flight when the period starts (for senders whose latency spans a period)."""
    n = len(rates)
    period = float(1 / _rate_gcd(rates))
    rows = []
    pending = [0] * n
    for i, rate in enumerate(rates):
        for k in range(int(rate / _rate_gcd(rates))):
            t = (phases[i] + k / float(rate)) % period
            rows.append((t, 1, i, TICK))
            arrival = t + latency
            if in_flight[i] > 1:
                pending[i] += int(arrival // period)
            # An arrival at a tick's instant is in the queue at that tick (the DES delivers
            # arrivals before the ticks of their instant); with no latency it follows
            # every tick of its own instant.
            rows.append((arrival % period, 0 if latency > 0 else 2, i, ARRIVE))
    rows.sort()
    events = []
    k = 0
    while k < len(rows):
        _, _, i, kind = rows[k]
        after = rows[k + 1] if k + 1 < len(rows) else None
        if kind == TICK and in_flight[i] <= 1 and after is not None and after[2:] == (i, ARRIVE):
            events.append(TICK_ARRIVE * n + i)
            k += 2
            continue
        events.append(kind * n + i)
        k += 1
    return period, events, pending


def _phase_samples(rates: Sequence[Fraction], count: int) -> list[tuple[float, ...]]:
    """``count`` phase configurations spread evenly (a Kronecker sequence): the first
    machine's phase 0, each other's a fraction of its period."""
    d = len(rates) - 1
    # The generalised golden ratio: the root of x^(d+1) = x + 1 (Roberts' R_d sequence).
    g = 2.0
    for _ in range(60):
        g = (1 + g) ** (1 / (d + 1))
    alphas = [(1 / g) ** (j + 1) for j in range(d)]
    return [
        (0.0, *(((0.5 + s * a) % 1.0) / float(rates[j + 1]) for j, a in enumerate(alphas)))
        for s in range(1, count + 1)
    ]


@lru_cache(maxsize=512)
def _group_clock_rate(
    rates: tuple[Fraction, ...],
    n_machines: int,
    p: Fraction,
    latency: float,
    phases: tuple[float, ...] | None,
) -> float:
    """The long-run rate of the highest clock of the machines that draw (``rates``; the
    others of the ``n_machines`` never send), averaged over random phases or at ``phases``."""
    import numpy as np

    n = len(rates)
    if n == 1 or p == 0 or n > MAX_CHAIN_MACHINES:
        return float(max(rates))
    played = _chain_rates(rates)
    if played != tuple(rates):
        phases = None
    # A draw: INTERNAL, a broadcast, or a single send to each other machine; recipients
    # outside the chain (saturated machines) drop out of the bitmask.
    single = float(2 * p / 3 / (n_machines - 1))
    outcomes = []
    for i in range(n):
        everyone = sum(1 << j for j in range(n) if j != i)
        shares = {0: float(1 - p) + single * (n_machines - n)}
        shares[everyone] = shares.get(everyone, 0.0) + float(p / 3)
        for j in range(n):
            if j != i:
                shares[1 << j] = shares.get(1 << j, 0.0) + single
        outcomes.append([(w, mask) for mask, w in sorted(shares.items()) if w > 0])
    in_flight = [math.floor(latency * float(r)) + 1 for r in played]
    chain = _DeficitChain(outcomes, in_flight)
    period_ticks = int(sum(played, Fraction(0)) / _rate_gcd(played))
    samples = (
        [phases]
        if phases is not None
        else _phase_samples(played, min(PHASE_SAMPLES, max(4, SAMPLE_TICKS // period_ticks)))
    )
    warm = all(k == 1 for k in in_flight)  # a state of one schedule fits the next one
    dist: Any = None
    total = 0.0
    for sample in samples:
        period, events, pending = _schedule(played, sample, latency, in_flight)
        start = chain.start(pending)
        fresh = np.zeros(len(chain.states))
        fresh[start] = 1.0
        if dist is None or not warm:
            dist = fresh
        else:
            # Warm: the last sample's distribution, half of it; the other half starts
            # afresh, so some mass always fits this schedule (see gain_per_period).
            dist = 0.5 * fresh + 0.5 * np.concatenate([dist, np.zeros(len(fresh) - len(dist))])
        support = {int(s) for s in np.flatnonzero(dist)}
        chain.explore(events, support)
        gain, dist = chain.gain_per_period(events, dist)
        total += gain / period
    return total / len(samples)
