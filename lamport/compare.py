"""``lamport compare DIR``: the model's verdict on a run, imported or not.

A run, from either backend or imported from another implementation's logs, is
held against the model of docs/spec.md at the same rates, ``p_send`` and
duration: Lamport's rules, random start phases (the model's default), no
drift, jitter or faults, the DES's default 1 ms latency. The DES plays that
model for K seeds (0 .. K-1, default 200), and every machine's figures in the
run are placed among the K values the model gives for the same machine:

Figures
    :data:`FIGURES`, computed by one function, :func:`run_figures`, from the
    run's events and ``run.json`` alike for the observed run and each
    simulated one. Final clock, clock rate (final clock / duration), mean jump
    (final clock / ticks), max jump, max queue, final queue and the drift at
    end (``drift_end``, the highest final clock minus this machine's) are defined as in
    :func:`lamport.summary.summarize`; the share of jumps above 1 is the share
    of the machine's ticks whose clock rose by more than one.
Band
    The model's 1st and 99th percentiles, estimated from the K simulated
    values as the k-th smallest and the k-th largest, ``k = floor((K + 1) /
    100)`` (at least 1): a new run of the model then lands inside with
    probability ``(K + 1 - 2k) / (K + 1)`` (:attr:`ModelSample.coverage`), 98%
    or more from K = 99 on, and more still for figures that take few values.
    (Interpolating between ranks, as :func:`lamport.stats.percentile` does for
    summaries, would give 200 seeds a band that a run of the model leaves 3% of
    the time, not 2%.) The run's value is inside if ``low <= value <= high``.
Percentile
    The share of simulated values below the run's, plus half the share equal
    to it, in percent (:func:`lamport.stats.percentile_rank`): 50 is the
    model's middle, 0 below every simulated run, 100 above every one.

An imported run's ``run.json`` names in ``absent`` the fields its logs did
not hold, each with the reason. A figure that needs one of them is not
possible: its row keeps the model's band but no value, with the reason, and
is never left out. The max queue needs the queue lengths (``queue``); the final
queue, which an import counts as the messages sent to the machine and never
received, needs the messages matched (``matching``). A queue figure of a run
whose sends or internal events log no queue length (``queue_send``,
``queue_internal``) is taken over the events that log one: in the model those
leave the queue empty.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamport.core import TICK_KINDS

if TYPE_CHECKING:
    from lamport.analysis.load import RunLike
    from lamport.result import RunResult

__all__ = [
    "DEFAULT_SEEDS",
    "FIGURES",
    "HIGH",
    "LOW",
    "MAX_SEEDS",
    "TABLE_COLUMNS",
    "TABLE_LEFT",
    "Comparison",
    "Figure",
    "ModelSample",
    "Verdict",
    "absent_fields",
    "compare_run",
    "main",
    "model_sample",
    "run_figures",
]

#: Simulated runs per comparison unless told otherwise.
DEFAULT_SEEDS = 200
#: The most seeds the CLI accepts.
MAX_SEEDS = 100_000
#: The band: the model's percentiles it estimates (see :attr:`ModelSample.rank`).
LOW, HIGH = 1.0, 99.0


def _count(value: float) -> str:
    return str(int(value))


def _decimal(value: float) -> str:
    return f"{value:.3f}"


def _per_second(value: float) -> str:
    return f"{value:.3f}/s"


def _share(value: float) -> str:
    return f"{100 * value:.1f}%"


@dataclass(frozen=True)
class Figure:
    """One figure of a machine: its key (``summary.csv``'s column where there is one),
    its name in sentences, the fields of the log it needs, and how it is written."""

    key: str
    label: str
    needs: tuple[str, ...]
    text: Callable[[float], str]


#: The figures compared, in the order they are printed.
FIGURES = (
    Figure("final_clock", "final clock", (), _count),
    Figure("clock_rate", "clock rate", (), _per_second),
    Figure("mean_jump", "mean jump", (), _decimal),
    Figure("share_jumps_above_1", "share of jumps above 1", (), _share),
    Figure("max_jump", "max jump", (), _count),
    Figure("max_queue", "max queue", ("queue",), _count),
    # queued_at_end of an import: its messages sent to the machine and never received
    Figure("final_queue", "final queue", ("matching",), _count),
    Figure("drift_end", "drift at end", (), _count),
)
_BY_KEY = {f.key: f for f in FIGURES}


def absent_fields(metadata: Mapping[str, Any]) -> dict[str, str]:
    """The fields an imported run's logs lack (``run.json``'s ``absent``), with the reason
    for each; empty for any other run."""
    absent = metadata.get("absent")
    if not isinstance(absent, Mapping):
        return {}
    return {str(name): str(reason) for name, reason in absent.items()}


def _missing(figure: Figure, absent: Mapping[str, str]) -> str:
    """Why a figure is not possible (the absent fields it needs and their reasons), or ''."""
    return "; ".join(absent[name] for name in figure.needs if name in absent)


def run_figures(run: RunResult) -> list[dict[str, float | None]]:
    """Every machine's :data:`FIGURES` in a run, by figure key; None for a figure that
    needs a field the run's logs lack (``run.json``'s ``absent``).

    The one definition the observed run and every simulated run go through. Ticks are
    the INTERNAL, SEND and RECEIVE rows (fault rows are none); an event whose ``queue``
    is None (an imported log that did not say) counts for no queue figure.
    """
    metadata = run.metadata
    absent = absent_fields(metadata)
    duration = run.duration
    queued = metadata.get("queued_at_end")
    finals = [events[-1].clock if events else 0 for events in run.logs]
    top = max(finals, default=0)
    rows: list[dict[str, float | None]] = []
    for machine, events in enumerate(run.logs):
        ticks = big = max_jump = 0
        max_queue = last_queue = None
        for e in events:
            if e.event in TICK_KINDS:
                ticks += 1
                if e.jump > 1:
                    big += 1
            if e.jump > max_jump:
                max_jump = e.jump
            queue = e.queue
            if queue is not None:
                last_queue = queue
                if max_queue is None or queue > max_queue:
                    max_queue = queue
        final_clock = finals[machine]
        final_queue = queued[machine] if queued is not None else last_queue
        if final_queue is not None and (max_queue is None or final_queue > max_queue):
            max_queue = final_queue
        row: dict[str, float | None] = {
            "final_clock": final_clock,
            "clock_rate": final_clock / duration if duration > 0 else math.nan,
            "mean_jump": final_clock / ticks if ticks else 0.0,
            "share_jumps_above_1": big / ticks if ticks else 0.0,
            "max_jump": max_jump,
            "max_queue": max_queue,
            "final_queue": final_queue,
            "drift_end": top - final_clock,
        }
        for figure in FIGURES:
            if _missing(figure, absent):
                row[figure.key] = None
        rows.append(row)
    return rows


@dataclass(frozen=True)
class ModelSample:
    """The model's figures at one set of rates, ``p_send`` and duration over many seeds.

    ``values[(machine, key)]`` holds the figure's simulated values, sorted, one per seed.
    """

    rates: tuple[float, ...]
    p_send: float
    duration: float
    seeds: range
    values: Mapping[tuple[int, str], Sequence[float]]

    @property
    def rank(self) -> int:
        """k of the band: its ends are the k-th smallest and k-th largest simulated value,
        ``k = floor((K + 1) / 100)`` for K seeds (at least 1), so that a run of the model
        itself falls inside with probability at least :attr:`coverage`."""
        return max(1, math.floor((len(self.seeds) + 1) * LOW / 100))

    @property
    def coverage(self) -> float:
        """The chance that a run of the model falls inside the band of a figure that takes
        no value twice: ``(K + 1 - 2k) / (K + 1)`` (98% or more from K = 99 seeds on;
        ties, as in counts, only raise it)."""
        k, n = self.rank, len(self.seeds)
        return (n + 1 - 2 * k) / (n + 1)

    def band(self, machine: int, key: str) -> tuple[float, float]:
        """The :data:`LOW` and :data:`HIGH` percentiles of a figure's simulated values: the
        k-th smallest and k-th largest of them (:attr:`rank`)."""
        values = self.values[(machine, key)]
        k = self.rank
        return values[k - 1], values[len(values) - k]

    def matches(self, rates: Sequence[float], p_send: float, duration: float) -> bool:
        return (tuple(float(r) for r in rates), float(p_send), float(duration)) == (
            self.rates,
            self.p_send,
            self.duration,
        )


def model_sample(
    rates: Sequence[float],
    p_send: float,
    duration: float,
    seeds: int = DEFAULT_SEEDS,
    base_seed: int = 0,
) -> ModelSample:
    """Simulate the model (random phases, the DES's defaults otherwise) for seeds
    ``base_seed .. base_seed + seeds - 1`` and gather every machine's :data:`FIGURES`.

    Raise ConfigError if ``seeds`` is below 1 or the model is invalid or too large for
    the DES (:func:`lamport.des.model.simulate`).
    """
    from lamport.config import RunConfig
    from lamport.des.model import simulate
    from lamport.errors import ConfigError

    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"seeds must be an integer >= 1, got {seeds!r}")
    rates = tuple(float(r) for r in rates)
    collected: dict[tuple[int, str], list[float]] = {
        (m, f.key): [] for m in range(len(rates)) for f in FIGURES
    }
    span = range(base_seed, base_seed + seeds)
    for seed in span:
        config = RunConfig(rates=rates, p_send=p_send, duration=duration, seed=seed)
        for machine, row in enumerate(run_figures(simulate(config))):
            for key, value in row.items():
                collected[(machine, key)].append(value)  # type: ignore[arg-type]
    values = {cell: sorted(found) for cell, found in collected.items()}
    return ModelSample(rates, float(p_send), float(duration), span, values)


@dataclass(frozen=True)
class Verdict:
    """Where one machine's figure stands in the model's band.

    ``value``, ``percentile`` and ``inside`` are None when the figure is not possible
    (``reason`` says why); ``low`` and ``high`` are the model's band either way.
    """

    machine: int
    figure: str
    value: float | None
    low: float
    high: float
    percentile: float | None
    inside: bool | None
    reason: str = ""

    @property
    def possible(self) -> bool:
        return self.value is not None

    @property
    def outside(self) -> bool:
        return self.inside is False

    @property
    def label(self) -> str:
        return _BY_KEY[self.figure].label

    @property
    def direction(self) -> str:
        """``above`` or ``below`` the band for a value outside it, else ''."""
        if not self.outside or self.value is None:
            return ""
        return "above" if self.value > self.high else "below"

    def text(self, value: float | None) -> str:
        """A value of this figure as the tables write it."""
        return "—" if value is None else _BY_KEY[self.figure].text(value)

    def sentence(self) -> str:
        """One sentence on a figure outside the band: which way and by how much."""
        if not self.outside or self.value is None or self.percentile is None:
            return ""
        above = self.direction == "above"
        edge = self.high if above else self.low
        gap = abs(self.value - edge)
        notes = []
        if self.figure == "share_jumps_above_1":  # a share's distance is in points
            by = f"{100 * gap:.1f} percentage points"
        else:
            by = self.text(gap)
            if edge:
                notes.append(f"{gap / abs(edge):.0%} beyond its {'top' if above else 'bottom'}")
        if self.percentile in (0, 100):
            notes.append(f"{self.direction} every simulated run")
        else:
            notes.append(f"percentile {self.percentile:.1f}")
        return (
            f"Machine {self.machine}: {self.label} {self.text(self.value)}, {by} "
            f"{self.direction} the model's band {self.text(self.low)} to "
            f"{self.text(self.high)} ({'; '.join(notes)})."
        )

    def cells(self) -> list[str]:
        """The row of a comparison's table (:data:`TABLE_COLUMNS`)."""
        if self.possible:
            verdict = "inside" if self.inside else f"OUTSIDE, {self.direction}"
            rank = f"{self.percentile:.1f}"
        else:
            verdict, rank = "not possible", "—"
        return [
            str(self.machine),
            self.label,
            self.text(self.value),
            self.text(self.low),
            self.text(self.high),
            rank,
            verdict,
        ]

    def to_json(self) -> dict[str, Any]:
        """The row as JSON: the keys ``machine, figure, value, low, high, percentile,
        inside``, and ``reason`` when the figure is not possible."""
        out: dict[str, Any] = {
            "machine": self.machine,
            "figure": self.figure,
            "value": _plain(self.value),
            "low": _plain(self.low),
            "high": _plain(self.high),
            "percentile": self.percentile,
            "inside": self.inside,
        }
        if not self.possible:
            out["reason"] = self.reason
        return out


def _plain(value: float | None) -> float | int | None:
    """A whole float as an int, so counts stay counts in JSON."""
    if value is None or isinstance(value, int) or not float(value).is_integer():
        return value
    return int(value)


@dataclass(frozen=True)
class Comparison:
    """A run held against the model: one :class:`Verdict` per machine and figure."""

    title: str
    model: ModelSample
    verdicts: tuple[Verdict, ...]
    #: Each machine's clock rate as :func:`lamport.theory.clock_rates` predicts it from
    #: the rates, ``p_send`` and random phases alone (empty where it cannot).
    predicted: tuple[float, ...] = ()

    @property
    def possible(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.possible]

    @property
    def outside(self) -> list[Verdict]:
        """The figures outside the band, machine by machine."""
        return [v for v in self.verdicts if v.outside]

    @property
    def not_possible(self) -> dict[str, str]:
        """The figures not possible, by key, with the reason."""
        return {v.figure: v.reason for v in self.verdicts if not v.possible}

    @property
    def inside_share(self) -> float:
        """The share of possible figures inside the band (NaN if none is possible)."""
        possible = self.possible
        if not possible:
            return math.nan
        return sum(1 for v in possible if v.inside) / len(possible)

    def verdict(self, machine: int, figure: str) -> Verdict:
        """The verdict on one machine's figure. Raise KeyError if there is none."""
        for v in self.verdicts:
            if v.machine == machine and v.figure == figure:
                return v
        raise KeyError((machine, figure))

    def sentences(self) -> list[str]:
        """One sentence per figure outside the band."""
        return [v.sentence() for v in self.outside]

    def model_text(self) -> str:
        """The model compared with: ``Lamport's rules at rates 1, 3, 6 tick/s, ...``."""
        model = self.model
        rates = ", ".join(f"{r:g}" for r in model.rates)
        seeds = model.seeds
        return (
            f"Lamport's rules at rates {rates} tick/s, p_send {model.p_send:g}, "
            f"{model.duration:g} s, random start phases; {len(seeds)} seeds "
            f"({seeds.start}..{seeds.stop - 1}); a run of the model is inside each band "
            f"with probability {model.coverage:.1%} or more"
        )

    def verdict_text(self) -> str:
        """``22 of 24 figures inside the model's 1%-99% band, 2 outside``."""
        possible = self.possible
        inside = sum(1 for v in possible if v.inside)
        return (
            f"{inside} of {len(possible)} figures inside the model's "
            f"{LOW:g}%-{HIGH:g}% band, {len(possible) - inside} outside"
        )

    def not_possible_lines(self) -> list[str]:
        """One line per figure that is not possible, with the reason."""
        return [
            f"{_BY_KEY[key].label}: not possible ({reason})"
            for key, reason in self.not_possible.items()
        ]

    def theory_text(self) -> str | None:
        """``theory (docs/theory.md): clock rates 3.38, 3.37, 3.38/s; the run's ...``."""
        if not self.predicted:
            return None
        observed = [
            v.value for v in self.verdicts if v.figure == "clock_rate" and v.value is not None
        ]
        predicted = ", ".join(f"{x:.3f}" for x in self.predicted)
        line = f"theory (docs/theory.md) predicts clock rates {predicted}/s"
        if len(observed) == len(self.predicted):
            line += "; the run's: " + ", ".join(f"{x:.3f}" for x in observed) + "/s"
        return line

    def to_json(self) -> list[dict[str, Any]]:
        """Every verdict as a JSON object (:meth:`Verdict.to_json`); a clock rate's object
        also holds ``predicted``, the theory's figure."""
        out = [v.to_json() for v in self.verdicts]
        if self.predicted:
            for item in out:
                if item["figure"] == "clock_rate":
                    item["predicted"] = self.predicted[item["machine"]]
        return out


def compare_run(
    run: RunLike, seeds: int = DEFAULT_SEEDS, *, model: ModelSample | None = None
) -> Comparison:
    """Hold a run (a :class:`lamport.result.RunResult` or a run directory) against the
    model at its rates, ``p_send`` and duration over ``seeds`` seeds (0 .. seeds - 1).

    ``model`` reuses a sample already simulated (:func:`model_sample`) for the same
    rates, ``p_send`` and duration; ``seeds`` is then ignored. Raise LogError as
    :func:`lamport.analysis.load.load_run` does for a directory, ConfigError if
    ``seeds`` is below 1 or the model cannot be simulated, ValueError if ``model`` is
    for other rates, ``p_send`` or duration.
    """
    from lamport.analysis.load import as_run
    from lamport.stats import percentile_rank

    result = as_run(run)
    rates = tuple(float(r) for r in result.config.rates)
    p_send, duration = float(result.config.p_send), float(result.duration)
    if model is None:
        model = model_sample(rates, p_send, duration, seeds)
    elif not model.matches(rates, p_send, duration):
        raise ValueError("the model sample is for other rates, p_send or duration than the run")
    absent = absent_fields(result.metadata)
    verdicts = []
    for machine, row in enumerate(run_figures(result)):
        for figure in FIGURES:
            low, high = model.band(machine, figure.key)
            value = row[figure.key]
            if value is None:
                reason = _missing(figure, absent) or "the logs do not give it"
                verdicts.append(Verdict(machine, figure.key, None, low, high, None, None, reason))
                continue
            rank = percentile_rank(model.values[(machine, figure.key)], value)
            inside = low <= value <= high
            verdicts.append(Verdict(machine, figure.key, value, low, high, rank, inside))
    return Comparison(result.title, model, tuple(verdicts), _predicted(rates, p_send))


def _predicted(rates: tuple[float, ...], p_send: float) -> tuple[float, ...]:
    """The theory's clock rates for the model compared with, or none outside its domain."""
    from lamport.errors import ConfigError
    from lamport.theory import clock_rates

    try:
        return tuple(clock_rates(rates, p_send))
    except (ConfigError, ValueError, ArithmeticError):
        return ()


#: The columns of a comparison's table, in the CLI and in a report (:meth:`Verdict.cells`).
TABLE_COLUMNS = (
    "m",
    "figure",
    "run",
    f"model {LOW:g}%",
    f"model {HIGH:g}%",
    "percentile",
    "verdict",
)
#: The table's columns aligned left.
TABLE_LEFT = ("figure", "verdict")


def _table(comparison: Comparison) -> Any:
    from lamport.console import Column, FittedTable

    columns = [Column(c, "left" if c in TABLE_LEFT else "right") for c in TABLE_COLUMNS]
    rows = [v.cells() for v in comparison.verdicts]
    sections = [v.figure == FIGURES[-1].key for v in comparison.verdicts]
    sections[-1] = False
    return FittedTable(columns, rows, keys=2, sections=sections)


def main(argv: list[str] | None = None) -> int:
    """``lamport compare DIR [--seeds K] [--json]``: exit 0, or 2 for bad input."""
    from lamport.args import Parser, bounded_int
    from lamport.console import console_out

    parser = Parser(
        prog="lamport compare",
        description=(
            "Hold a run directory (either backend, or imported) against the model: simulate "
            "the DES at the run's rates, p_send and duration (random start phases) for K "
            f"seeds and place each machine's figures in the model's {LOW:g}%-{HIGH:g}% band. "
            "docs/compare.md explains the figures, the band and the percentile."
        ),
    )
    parser.add_argument("dir", type=Path, help="a run directory")
    parser.add_argument(
        "--seeds",
        type=bounded_int(1, MAX_SEEDS),
        default=DEFAULT_SEEDS,
        help=f"simulated runs, seeds 0..K-1 (default {DEFAULT_SEEDS})",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list of {machine, figure, value, low, high, percentile, inside}",
    )
    args = parser.parse_args(argv)
    comparison = compare_run(args.dir, args.seeds)
    if args.json:
        print(json.dumps(comparison.to_json(), indent=2))
        return 0
    print(comparison.title)
    print(f"model: {comparison.model_text()}")
    console_out().print(_table(comparison))
    print(f"{comparison.verdict_text()}.")
    theory = comparison.theory_text()
    if theory:
        print(f"{theory}.")
    for line in comparison.sentences() + comparison.not_possible_lines():
        print(f"- {line}")
    return 0
