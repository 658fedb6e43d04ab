"""The run plan: what a run's configuration means, compiled once; every backend only drives it.

A :class:`Plan` is compiled from a :class:`~lamport.config.RunConfig` on the time
grid a backend asks for (``units`` per model second: the DES's time base, or the
model's own :attr:`~lamport.config.RunConfig.grid` in real time), and answers the
questions a backend would otherwise answer for itself, each in one place:

Each machine's state changes
    :meth:`Plan.steps`: every change of a machine's state (a crash, a restart, ...:
    rows of :data:`lamport.core.STATE_CHANGES`) at its instant, in the order they
    apply. Each fault kind says which windows it opens (:meth:`lamport.faults.Fault.windows`);
    a window of machine m from ``at`` for ``d`` seconds is the instants ``x`` with
    ``instant(at) <= x < instant(at + d)`` (:func:`instant`: the first whole unit at
    or after a time, on exact fractions), so a tick lies in it whatever the grid. At
    one instant an end comes before a start, so one window may end where the next
    begins; a window too short to hold an instant of the grid ends right after its
    own start (no tick is lost, but what the start loses is). While a machine is in
    a window it does not tick (:attr:`Plan.ticking`), and what arrives for it is lost
    for the window's reason or kept (:attr:`Plan.losing`). :meth:`Plan.windows`
    lists each machine's windows (a process launcher reads its pauses there).

Each message's fate
    :meth:`Plan.fate`: delivered, lost (with a reason of :data:`lamport.faults.DROP_REASONS`),
    or delivered late by how many units, given the link and the send instant. Each
    fault kind says what it does to links (:meth:`lamport.faults.Fault.links`).
    A drawn loss takes one draw per message of the link's loss stream
    (:func:`lamport.core.loss_stream`, seeded as every backend seeds it), whether or
    not the message is lost otherwise; a certain loss (a partition) is named before
    a drawn one; extra delays add up.

What ``run.json`` says
    :func:`run_metadata`, the one builder of a run's metadata for every backend.

The plan is pure: no I/O, no SimPy, no sockets, no clock. It holds the loss
streams' state and each machine's state, so a run compiles its own plan (each
node of a real-time run its own: they agree, being compiled from the same
configuration).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any, NamedTuple

from lamport import __version__
from lamport.core import STATE_CHANGES, StateChange, Uniform, loss_stream
from lamport.faults import DROP_REASONS, Drop

if TYPE_CHECKING:
    from lamport.config import RunConfig


@functools.lru_cache(maxsize=256)
def exact(seconds: float) -> Fraction:
    """A time in seconds as the exact fraction the model uses (to the microsecond)."""
    return Fraction(seconds).limit_denominator(1_000_000)


def instant(seconds: float, units: int) -> int:
    """The first whole unit (of ``1/units`` s) at or after ``seconds``: an instant x lies
    in a window [a, b) iff ``instant(a) <= x < instant(b)``, whatever the time base."""
    return math.ceil(exact(seconds) * units)


class Step(NamedTuple):
    """A change of a machine's state at an instant of the plan's grid."""

    when: int
    machine: int
    change: StateChange
    #: Whether the change forgets the clock (a ``reset`` restart).
    reset: bool


class Span(NamedTuple):
    """A window of a machine on the plan's grid: instants ``start <= x < end``, from the
    change ``opens`` to the change ``closes`` (``reset``: which forgets the clock).
    ``at`` and ``until`` are the window's ends in model seconds, as the plan says them."""

    machine: int
    start: int
    end: int
    opens: StateChange
    closes: StateChange
    reset: bool
    at: float
    until: float


#: Delivered, on time.
DELIVERED = ("", 0)

#: A link's compiled rules on the plan's grid: certain losses (start, end, reason), drawn
#: losses (start, end, reason, p), delays (start, end, extra units).
_Rules = tuple[
    list[tuple[float, float, str]],
    list[tuple[float, float, str, float]],
    list[tuple[float, float, int]],
]


class Plan:
    """A run's fault plan compiled on a grid of ``units`` per model second (default the
    configuration's own :attr:`~lamport.config.RunConfig.grid`); see the module docstring.

    ``loss_draws`` maps a link ``(sender, recipient)`` to its loss stream; a backend
    may put streams of its own there (counted ones, to skip draws on a restart),
    otherwise :meth:`fate` makes each link's :func:`~lamport.core.loss_stream` at its
    first message.
    """

    def __init__(self, config: RunConfig, units: int | None = None) -> None:
        self.config = config
        self.units = config.grid if units is None else units
        n = config.n_machines
        self.n_machines = n
        self.seed = config.seed
        spans: list[Span] = []
        rules: dict[tuple[int, int], _Rules] = {}
        for fault in config.faults:
            for w in fault.windows():
                opens = STATE_CHANGES[w.start]
                spans.append(
                    Span(
                        w.machine,
                        self.instant(w.at),
                        self.instant(w.at + w.duration),
                        opens,
                        STATE_CHANGES[opens.until],
                        w.reset,
                        w.at,
                        w.at + w.duration,
                    )
                )
            for rule in fault.links(n):
                certain, drawn, delays = rules.setdefault(
                    (rule.sender, rule.recipient), ([], [], [])
                )
                start = self.instant(rule.at)
                end = (
                    math.inf if math.isinf(rule.duration) else self.instant(rule.at + rule.duration)
                )
                if rule.reason and rule.p is None:
                    certain.append((start, end, rule.reason))
                elif rule.reason:
                    drawn.append((start, end, rule.reason, rule.p))  # type: ignore[arg-type]
                if rule.extra:
                    delays.append((start, end, self.instant(rule.extra)))
        self.spans = sorted(spans, key=lambda s: (s.machine, s.start))
        self._rules = rules
        self.loss_draws: dict[tuple[int, int], Uniform] = {}
        # (when, rank, machine, step): at one instant an end (rank 0) before a start
        # (rank 1); the end of a window holding no instant after its own start (rank 2)
        ranked: list[tuple[int, int, int, Step]] = []
        for s in spans:
            ranked.append((s.start, 1, s.machine, Step(s.start, s.machine, s.opens, False)))
            rank = 0 if s.end > s.start else 2
            ranked.append((s.end, rank, s.machine, Step(s.end, s.machine, s.closes, s.reset)))
        ranked.sort(key=lambda entry: entry[:3])
        self._steps = [entry[3] for entry in ranked]
        #: Whether each machine ticks now (False inside a window), as :meth:`enter` leaves it.
        self.ticking = [True] * n
        #: Why what arrives for each machine now is lost ("" : it is kept).
        self.losing = [""] * n

    def instant(self, seconds: float) -> int:
        """``seconds`` on the plan's grid (:func:`instant`)."""
        return instant(seconds, self.units)

    # -- machines ------------------------------------------------------------------------

    def steps(self, machine: int | None = None) -> list[Step]:
        """Every state change of the run (or of one machine), in the order they apply."""
        if machine is None:
            return list(self._steps)
        return [step for step in self._steps if step.machine == machine]

    def windows(self, machine: int, event: str | None = None) -> list[Span]:
        """The machine's windows in time order; with ``event``, only those opened by a row
        of that kind (``plan.windows(m, "PAUSE")``: its pauses; ``at`` and ``until`` in
        model seconds)."""
        return [
            s
            for s in self.spans
            if s.machine == machine and (event is None or s.opens.event == event)
        ]

    def enter(self, step: Step) -> str:
        """Record that ``step`` happened: update :attr:`ticking` and :attr:`losing` of its
        machine and return why what the machine held in transit until now (arrived, not
        yet queued) is lost: the reason of the state it enters or leaves, "" if kept."""
        machine = step.machine
        leaving = self.losing[machine]
        change = step.change
        self.ticking[machine] = change.ticks
        self.losing[machine] = change.loses
        return change.loses or leaving

    def downtime_ticks(self, machine: int, until: float | None = None) -> int:
        """How many of the machine's scheduled ticks its windows remove: its ticks at
        instants inside a window (on the plan's grid, a multiple of the model's); with
        ``until`` (a run stopped early), only those before that model time."""
        spans = [(s.start, s.end) for s in self.windows(machine) if not s.opens.ticks]
        if not spans:
            return 0
        if until is not None:
            stop = self.instant(until)
            spans = [(a, min(b, stop)) for a, b in spans]
        scale = self.units // self.config.grid
        ticks = (
            self.config.tick_units(machine, scale)
            if scale != 1
            else self.config.tick_units(machine)
        )
        return sum(1 for when in ticks if any(a <= when < b for a, b in spans))

    # -- messages ------------------------------------------------------------------------

    def fate(self, sender: int, recipient: int, when: int) -> tuple[str, int]:
        """What happens to a message ``sender -> recipient`` sent at instant ``when``:
        ``(reason, 0)`` if it is lost, ``("", extra)`` if it is delivered ``extra`` units
        late (0: on time, :data:`DELIVERED`)."""
        rules = self._rules.get((sender, recipient))
        if rules is None:
            return DELIVERED
        certain, drawn, delays = rules
        lost = ""
        for start, end, reason, p in drawn:  # one draw per message: nothing else shifts
            if start <= when < end:
                draw = self.loss_draws.get((sender, recipient))
                if draw is None:
                    draw = self.loss_draws[(sender, recipient)] = loss_stream(
                        self.seed, sender, recipient
                    )
                if draw() < p and not lost:
                    lost = reason
        for start, end, reason in certain:
            if start <= when < end:
                return (reason, 0)
        if lost:
            return (lost, 0)
        return ("", sum(extra for start, end, extra in delays if start <= when < end))

    def delay(self, sender: int, recipient: int, when: float) -> int:
        """The extra units of a message ``sender -> recipient`` at instant ``when`` (the
        real-time backend asks at the arrival, which it knows, not the send)."""
        rules = self._rules.get((sender, recipient))
        if rules is None:
            return 0
        return sum(extra for start, end, extra in rules[2] if start <= when < end)

    def drawn(self, sender: int, recipient: int) -> bool:
        """Whether messages of the link take loss draws."""
        rules = self._rules.get((sender, recipient))
        return rules is not None and bool(rules[1])

    def has_delay(self, sender: int, recipient: int) -> bool:
        """Whether messages of the link may take an extra delay."""
        rules = self._rules.get((sender, recipient))
        return rules is not None and bool(rules[2])


def drop_counts(drops: Sequence[Drop], n_machines: int) -> tuple[list[int], dict[str, int]]:
    """Lost messages counted by recipient and by reason (``run.json``'s ``dropped`` and
    ``dropped_by_reason``)."""
    per_machine = [0] * n_machines
    by_reason = dict.fromkeys(DROP_REASONS, 0)
    for d in drops:
        per_machine[d.recipient] += 1
        by_reason[d.reason] += 1
    return per_machine, by_reason


def run_metadata(
    backend: str,
    config: RunConfig,
    options: Mapping[str, Any],
    *,
    start_epoch: float,
    queued: Sequence[int],
    lost: Sequence[Drop] | None = None,
    dropped: Sequence[int] | None = None,
    top: Mapping[str, Any] | None = None,
    more: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``run.json`` of one run, for every backend: ``backend``, the model
    (:meth:`~lamport.config.RunConfig.metadata`), ``options`` (the backend's, as a
    table: it must hold ``latency``, ``latency_dist`` and ``latency_spread``, which go
    to the top level too), ``top`` (more settings at the top level, e.g. ``speed`` or
    ``time_base``), ``start_epoch``, ``version``, ``queued_at_end`` (``queued``), then
    ``more`` (what only this backend records), then what was lost: ``dropped`` (by
    recipient: ``lost``'s count plus the ``dropped`` given, messages a backend could
    not send) when any was or the run has a fault plan, and ``dropped_by_reason``
    under a fault plan.
    """
    metadata: dict[str, Any] = {"backend": backend, **config.metadata(), "options": options}
    if top:
        metadata.update(top)
    metadata["latency"] = options["latency"]
    metadata["latency_dist"] = options["latency_dist"]
    metadata["latency_spread"] = options["latency_spread"]
    metadata["start_epoch"] = start_epoch
    metadata["version"] = __version__
    metadata["queued_at_end"] = list(queued)
    if more:
        metadata.update(more)
    counts, by_reason = drop_counts(lost or (), config.n_machines)
    if dropped is not None:
        counts = [a + b for a, b in zip(counts, dropped, strict=True)]
    if any(counts) or config.faults:
        metadata["dropped"] = counts
    if config.faults:
        metadata["dropped_by_reason"] = by_reason
    return metadata
