"""Run configurations and the experiment catalogue.

The eleven catalogue experiments of docs/spec.md are TOML files named
``NN-name.toml`` in the repository's ``experiments/`` folder (one file each:
number, name, rates, p_send, duration, question); a built package ships them
as ``lamport/catalogue/``, and ``$LAMPORT_EXPERIMENTS`` points at another
folder. :func:`experiment` reads the one file asked for, :func:`catalogue`
all of them, :func:`resolve_experiment` a number or a user's own file;
:meth:`Experiment.config` turns one into a :class:`RunConfig` for a seed.
Experiment 1 says ``rates = "random"``: each machine's rate is drawn uniformly
from ``rate_range`` by the run's setup stream (:func:`lamport.core.machine_streams`).

Timing is part of the model, so every backend plays the same schedule:

Start phases
    Machine i ticks at ``phi_i + (k - 1) / r_i``, ``phi_i`` in (0, 1/r_i].
    ``phase = "random"`` (the default) draws ``phi_i`` uniformly from the setup
    stream; ``"aligned"`` is ``phi_i = 1/r_i`` (ticks at ``k / r_i``, the schedule
    before phases existed); a list gives each machine's phase.
Drift
    ``drift_ppm = X``: machine i's true rate is ``r_i (1 + e_i)``, ``e_i`` uniform
    in [-X, X] parts per million, drawn from the setup stream.
Jitter
    ``jitter = J``: each tick is late by a uniform draw in [0, J) from the
    machine's jitter stream; lateness does not accumulate.

The schedule lives on an exact grid (:attr:`RunConfig.grid` units per second):
the least common multiple of the rates' numerators, times
:data:`FINE_GRID` once phases, drift or jitter need it; phases, drifted tick
times and jitter are whole grid units (rounded down), so the DES stays exact.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from lamport.core import CLOCK_KINDS, LAMPORT
from lamport.errors import ConfigError
from lamport.faults import Fault, check_plan, fault_from_table, fault_table, parse_fault
from lamport.validate import integer, is_integer, is_number, number, parse_float

#: Default one-way network latency of the DES, in model seconds: a loopback
#: TCP hop is well under a millisecond, and 1 ms keeps every message strictly
#: after its send without touching the tick grid of integer rates.
DEFAULT_LATENCY = 0.001
#: Rates are taken as exact fractions with denominators up to 10**6 (see
#: :func:`exact_rate`), so the slowest rate that stays on that grid is 1e-6.
MIN_RATE = 1e-6
DEFAULT_DURATION = 60.0
#: Phase modes (a list of phases is the third way).
PHASE_MODES = ("random", "aligned")
DEFAULT_PHASE = "random"
#: Units per second of the timing grid under random phases, drift and jitter: 1 us,
#: far below any tick period or latency of interest, yet on exact integers.
FINE_GRID = 1_000_000
#: Drift draws are whole multiples of 1e-12 (parts per trillion).
_DRIFT_UNIT = 10**12
#: The latency distributions: the mean is ``latency``, the spread its standard deviation.
LATENCY_DISTS = ("constant", "uniform", "exponential", "lognormal")

#: The environment variable that points the catalogue at another folder.
EXPERIMENTS_ENV = "LAMPORT_EXPERIMENTS"
#: The most machines an experiment file may ask for.
MAX_MACHINES = 10_000
#: The keys an experiment file may hold.
EXPERIMENT_KEYS = (
    "number",
    "name",
    "rates",
    "machines",
    "rate_range",
    "p_send",
    "duration",
    "question",
    "phase",
    "drift_ppm",
    "jitter",
    "faults",
)
# Names become folder names (run labels), so only these characters, and never "..".
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_CATALOGUE_FILE = re.compile(r"(\d+)-.+\.toml")


def _as_rate(value: object, where: str) -> float:
    if not is_number(value):
        raise ConfigError(f"{where}: rate {value!r} is not a number")
    rate = float(value)
    if not math.isfinite(rate) or rate <= 0:
        raise ConfigError(f"{where}: rate {value!r} is not a positive number")
    if rate < MIN_RATE:
        raise ConfigError(
            f"{where}: rate {value!r} is below the smallest rate, {MIN_RATE:g} ticks/s"
        )
    return rate


def parse_rates(text: str) -> tuple[float, ...]:
    """Parse ``"1,3,6"`` into rates. Raise ConfigError on anything else."""
    rates = []
    for part in text.split(","):
        try:
            value = parse_float(part)
        except ValueError:
            raise ConfigError(f"--rates: {part.strip()!r} is not a number") from None
        rates.append(_as_rate(value, "--rates"))
    if len(rates) < 2:
        raise ConfigError(f"--rates: a run needs at least two machines, got {len(rates)}")
    return tuple(rates)


@lru_cache(maxsize=4096)
def exact_rate(rate: float) -> Fraction:
    """The rate as an exact fraction, so tick times land on an integer grid."""
    return Fraction(rate).limit_denominator(1_000_000)


def _clean_number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


def check_latency(dist: str, mean: float, spread: float | None) -> float:
    """Validate a latency distribution; return its spread (standard deviation, seconds).

    ``spread`` applies to ``uniform`` and ``lognormal`` only (None: half the mean);
    a uniform's half-width ``spread * sqrt(3)`` may not exceed the mean. Raise
    ConfigError naming the problem.
    """
    if dist not in LATENCY_DISTS:
        raise ConfigError(
            f"unknown latency distribution {dist!r} (known: {', '.join(LATENCY_DISTS)})"
        )
    number(mean, "latency", low=0.0)
    if spread is None:
        return mean / 2 if dist in ("uniform", "lognormal") else 0.0
    number(spread, "latency spread", low=0.0)
    if dist not in ("uniform", "lognormal"):
        raise ConfigError(
            f"a {dist} latency has no spread; --latency-spread needs uniform or lognormal"
        )
    if dist == "uniform" and spread * math.sqrt(3) > mean:
        raise ConfigError(
            f"latency spread {spread:g} s too wide for a uniform latency of mean {mean:g} s "
            f"(at most {mean / math.sqrt(3):.6g} s, or delays would go negative)"
        )
    return float(spread)


def latency_sampler(
    dist: str, mean: float, spread: float | None = None
) -> Callable[[float], float]:
    """A function from one uniform draw in [0, 1) to a delay in seconds, with the given
    mean and spread (standard deviation). Raise ConfigError as :func:`check_latency`."""
    sigma = check_latency(dist, mean, spread)
    if dist == "constant" or mean == 0:
        return lambda _u: mean
    if dist == "uniform":
        low, width = mean - sigma * math.sqrt(3), 2 * sigma * math.sqrt(3)
        return lambda u: low + width * u
    if dist == "exponential":
        return lambda u: -mean * math.log1p(-u)
    # lognormal: exp(mu + s Z) with mean `mean` and standard deviation `sigma`
    from statistics import NormalDist

    s2 = math.log1p((sigma / mean) ** 2)
    mu, s = math.log(mean) - s2 / 2, math.sqrt(s2)
    inverse = NormalDist().inv_cdf
    return lambda u: math.exp(mu + s * inverse(u if u > 0.0 else 2.0**-53))


#: The fields of a RunConfig that ``run.json`` records at its top level (docs/spec.md).
MODEL_KEYS = ("experiment", "name", "question", "rates", "p_send", "duration", "seed", "clock")
#: The timing model's keys of ``run.json``: the phase mode, each machine's first tick
#: (model seconds), the drift bound and each machine's drift (ppm), the jitter bound.
TIMING_KEYS = ("phase", "phases", "drift_ppm", "drifts_ppm", "jitter")


@dataclass(frozen=True)
class RunConfig:
    """The model of one run: what the machines are and do, whichever backend runs it.

    A backend's own settings (the DES's latency, the real-time backend's speed)
    are its options, not part of the model (see :mod:`lamport.backend`); the
    timing of the ticks (``phase``, ``drift_ppm``, ``jitter``, see the module
    docstring) is the model's. Raise ConfigError if a value is invalid.
    """

    rates: tuple[float, ...]
    p_send: float = 0.3
    duration: float = DEFAULT_DURATION
    seed: int = 0
    experiment: int | None = None
    name: str = "custom"
    question: str = ""
    phase: str | tuple[float, ...] = DEFAULT_PHASE
    drift_ppm: float = 0.0
    jitter: float = 0.0
    #: The clocks the machines keep: "lamport", or "vector" (a vector clock beside it,
    #: carried on every message and logged in a ``vc`` column).
    clock: str = LAMPORT
    #: The fault plan (:mod:`lamport.faults`): crashes, partitions, loss, extra delay.
    faults: tuple[Fault, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.rates, list | tuple):
            raise ConfigError(f"rates must be a list of numbers, got {self.rates!r}")
        rates = tuple(_as_rate(r, "rates") for r in self.rates)
        object.__setattr__(self, "rates", rates)
        if len(rates) < 2:
            raise ConfigError(f"a run needs at least two machines, got {len(rates)}")
        number(self.p_send, "p_send", low=0.0, high=1.0)
        number(self.duration, "duration", above=0.0)
        integer(self.seed, "seed", low=0)
        if self.experiment is not None:
            integer(self.experiment, "experiment", low=1)
        if not isinstance(self.name, str) or not isinstance(self.question, str):
            raise ConfigError("name and question must be strings")
        object.__setattr__(self, "phase", _check_phase(self.phase, rates))
        number(self.drift_ppm, "drift_ppm", low=0.0, high=1e5)
        number(self.jitter, "jitter", low=0.0)
        if self.jitter:
            fastest = max(self.exact_rates) * (1 + Fraction(self.drift_ppm) / 10**6)
            if self.jitter * fastest >= 1:
                raise ConfigError(
                    f"jitter {self.jitter:g} s must stay below the shortest tick period "
                    f"({float(1 / fastest):.6g} s), or ticks would overtake each other"
                )
        if self.clock not in CLOCK_KINDS:
            raise ConfigError(f"clock must be one of {', '.join(CLOCK_KINDS)}, got {self.clock!r}")
        if not isinstance(self.faults, list | tuple):
            raise ConfigError(f"faults must be a list of faults, got {self.faults!r}")
        plan = [as_fault(f) for f in self.faults]
        object.__setattr__(self, "faults", check_plan(plan, len(rates), float(self.duration)))

    @property
    def n_machines(self) -> int:
        return len(self.rates)

    @property
    def label(self) -> str:
        """A short name for directories and titles, e.g. ``exp04-big-differences-seed1``."""
        head = f"exp{self.experiment:02d}-{self.name}" if self.experiment else self.name
        return f"{head}-seed{self.seed}"

    @property
    def phase_mode(self) -> str:
        """``"random"``, ``"aligned"`` or ``"explicit"`` (a list of phases)."""
        return self.phase if isinstance(self.phase, str) else "explicit"

    @property
    def periodic(self) -> bool:
        """True if every machine ticks at exact multiples of its period after its phase
        (no drift, no jitter): the schedule then repeats and the DES replays it."""
        return self.drift_ppm == 0 and self.jitter == 0

    @cached_property
    def exact_rates(self) -> tuple[Fraction, ...]:
        """The rates as exact fractions (:func:`exact_rate`)."""
        return tuple(exact_rate(rate) for rate in self.rates)

    @cached_property
    def grid(self) -> int:
        """Units per model second of the timing grid: every tick time is a whole number of
        units. The rates' numerators' lcm, times :data:`FINE_GRID` unless the schedule is
        aligned and periodic (then ticks at ``k / r_i`` need nothing finer)."""
        units = math.lcm(*(rate.numerator for rate in self.exact_rates))
        if self.phase != "aligned" or not self.periodic:
            units = math.lcm(units, FINE_GRID)
        return units

    @cached_property
    def phase_units(self) -> tuple[int, ...]:
        """Each machine's first tick, in grid units: in 1 .. its period."""
        grid = self.grid
        periods = [grid // rate for rate in self.exact_rates]  # whole: grid is a multiple
        if self.phase == "aligned":
            return tuple(int(p) for p in periods)
        if self.phase == "random":
            from lamport.core import setup_block

            draws = setup_block(self.seed, self.n_machines, "phases")
            return tuple(int(u * int(p)) + 1 for u, p in zip(draws, periods, strict=True))
        given = [round(Fraction(phi) * grid) for phi in self.phase]
        return tuple(min(max(u, 1), int(p)) for u, p in zip(given, periods, strict=True))

    @property
    def phases(self) -> tuple[float, ...]:
        """Each machine's first tick, model seconds after the common start."""
        return tuple(u / self.grid for u in self.phase_units)

    @cached_property
    def drift_units(self) -> tuple[int, ...]:
        """Each machine's drift ``e_i`` in units of 1e-12 (0 without drift)."""
        if self.drift_ppm == 0:
            return (0,) * self.n_machines
        from lamport.core import setup_block

        bound = self.drift_ppm * (_DRIFT_UNIT // 10**6)
        draws = setup_block(self.seed, self.n_machines, "drift")
        return tuple(round((2 * u - 1) * bound) for u in draws)

    @property
    def drifts_ppm(self) -> tuple[float, ...]:
        """Each machine's drift, parts per million: its true rate is ``r (1 + drift 1e-6)``."""
        return tuple(e / (_DRIFT_UNIT // 10**6) for e in self.drift_units)

    def period_units(self, machine: int) -> Fraction:
        """Machine ``machine``'s true tick period in grid units (drift included)."""
        rate = self.exact_rates[machine]
        if not self.drift_units[machine]:
            return self.grid / rate
        factor = Fraction(_DRIFT_UNIT + self.drift_units[machine], _DRIFT_UNIT)
        return self.grid / (rate * factor)

    @cached_property
    def end_units(self) -> int:
        """The run's end in grid units: ticks at or before it happen."""
        return math.floor(Fraction(self.duration) * self.grid)

    def ticks(self, machine: int) -> int:
        """How many times the machine ticks in the run, before jitter (which may push
        the last tick past the end). Aligned, without drift: floor(rate x duration)."""
        left = self.end_units - self.phase_units[machine]
        if left < 0:
            return 0
        period = self.period_units(machine)
        # tick k (from 0) lies at phase + floor(k x period): it is in while k x period < left + 1
        return math.ceil((left + 1) / period)

    def tick_units(self, machine: int, scale: int = 1) -> Iterator[int]:
        """The machine's tick instants in grid units times ``scale``, in order, up to the end.

        Tick k (from 0) lies at ``phase + floor(k x period)`` plus, with jitter,
        ``floor(u x jitter)`` for a draw u of the machine's jitter stream. Both
        backends walk this very schedule.
        """
        phase = self.phase_units[machine]
        period = self.period_units(machine)
        numerator, denominator = period.numerator, period.denominator
        end = self.end_units
        jitter = None
        if self.jitter > 0:
            from lamport.core import jitter_stream

            jitter = jitter_stream(self.seed, machine)
            width = Fraction(self.jitter) * self.grid
        last = -1
        k = 0
        while True:
            when = phase + k * numerator // denominator
            if jitter is not None:
                when = max(when + math.floor(jitter() * width), last + 1)
            if when > end:
                return
            yield when * scale
            last = when
            k += 1

    def with_(self, **changes: Any) -> RunConfig:
        return replace(self, **changes)

    def metadata(self) -> dict[str, Any]:
        """The model's part of ``run.json`` (:data:`MODEL_KEYS` and :data:`TIMING_KEYS`)."""
        out = {key: getattr(self, key) for key in MODEL_KEYS}  # scalars: nothing to copy
        out["rates"] = [_clean_number(r) for r in self.rates]
        out["duration"] = _clean_number(self.duration)
        out["phase"] = self.phase_mode
        out["phases"] = list(self.phases)
        out["drift_ppm"] = _clean_number(self.drift_ppm)
        out["drifts_ppm"] = list(self.drifts_ppm)
        out["jitter"] = _clean_number(self.jitter)
        if self.faults:  # a run without faults keeps the run.json it always had
            out["faults"] = [fault_table(f) for f in self.faults]
        return out

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> RunConfig:
        """Rebuild the model of a run from its ``run.json``. Raise ConfigError if it is invalid.

        A ``run.json`` written before phases existed has no ``phase``: its run was
        aligned, without drift or jitter, and is rebuilt so.
        """
        missing = [key for key in ("rates", "p_send", "duration") if metadata.get(key) is None]
        if missing:
            raise ConfigError(f"no {missing[0]} recorded")
        values = {key: metadata[key] for key in MODEL_KEYS if metadata.get(key) is not None}
        mode = metadata.get("phase", "aligned")
        if mode == "explicit":
            phases = metadata.get("phases")
            if not isinstance(phases, list):
                raise ConfigError("phase 'explicit' but no list of phases recorded")
            values["phase"] = tuple(phases)
        else:
            values["phase"] = mode
        for key in ("drift_ppm", "jitter"):
            if metadata.get(key) is not None:
                values[key] = metadata[key]
        faults = metadata.get("faults")
        if faults:
            if not isinstance(faults, list):
                raise ConfigError(f"faults {faults!r} is not a list of fault tables")
            values["faults"] = tuple(faults)
        return cls(**values)


def as_fault(value: object) -> Fault:
    """A fault from a fault, its ``--fault`` string or its table (:mod:`lamport.faults`)."""
    if isinstance(value, str):
        return parse_fault(value)
    if isinstance(value, Mapping):
        return fault_from_table(value)
    return value  # type: ignore[return-value]  # check_plan refuses anything else


def _check_phase(phase: object, rates: tuple[float, ...]) -> str | tuple[float, ...]:
    """A valid phase: a mode of :data:`PHASE_MODES`, or one phase in (0, 1/r_i] per machine."""
    if isinstance(phase, str):
        if phase not in PHASE_MODES:
            raise ConfigError(
                f"phase must be {' or '.join(PHASE_MODES)} or a list of phases, got {phase!r}"
            )
        return phase
    if not isinstance(phase, list | tuple):
        raise ConfigError(f"phase must be random, aligned or a list of phases, got {phase!r}")
    if len(phase) != len(rates):
        raise ConfigError(f"phase lists {len(phase)} phases for {len(rates)} machines")
    out = []
    for i, (phi, rate) in enumerate(zip(phase, rates, strict=True)):
        value = number(phi, f"phase of machine {i}")
        period = 1 / exact_rate(rate)
        if not 0 < Fraction(value) <= period:
            raise ConfigError(
                f"phase of machine {i} is {phi!r}, outside (0, 1/rate] = (0, {float(period):g}]"
            )
        out.append(float(value))
    return tuple(out)


@dataclass(frozen=True)
class Experiment:
    """One experiment, as read from its TOML file (a catalogue entry or a user's own).

    ``number`` is None for a user's file that gives none; runs are then
    labelled by ``name`` alone.
    """

    number: int | None
    name: str
    rates: tuple[float, ...] | None  # None: drawn from the seed
    p_send: float
    duration: float
    question: str
    machines: int = 3
    rate_range: tuple[int, int] = (1, 6)
    path: Path | None = None
    phase: str | tuple[float, ...] = DEFAULT_PHASE
    drift_ppm: float = 0.0
    jitter: float = 0.0
    faults: tuple[Fault, ...] = ()

    @property
    def rates_text(self) -> str:
        """The tick rates as ``lamport list`` shows them: ``1, 3, 6``, or, for rates drawn
        from the seed (experiment 1), ``3 drawn from 1..6``."""
        if self.rates is None:
            low, high = self.rate_range
            return f"{self.machines} drawn from {low}..{high}"
        return ", ".join(f"{rate:g}" for rate in self.rates)

    def draw_rates(self, seed: int) -> tuple[float, ...]:
        """The rates for a seed: the fixed ones, or experiment 1's draw."""
        if self.rates is not None:
            return self.rates
        from lamport.core import machine_streams

        setup, _ = machine_streams(seed, self.machines)
        low, high = self.rate_range
        return tuple(float(low + int(setup() * (high - low + 1))) for _ in range(self.machines))

    def config(self, seed: int = 0, duration: float | None = None, **timing: Any) -> RunConfig:
        """The model of this experiment for a seed (and, if given, another duration).

        ``timing`` overrides the file's ``phase``, ``drift_ppm`` or ``jitter``
        (None values are ignored); ``faults`` given there are added to the file's own.
        """
        integer(seed, "seed", low=0)
        extra_faults = tuple(timing.pop("faults", None) or ())
        unknown = sorted(set(timing) - {"phase", "drift_ppm", "jitter"})
        if unknown:
            raise ConfigError(f"unknown timing option {unknown[0]!r}")
        chosen: dict[str, Any] = {
            "phase": self.phase,
            "drift_ppm": self.drift_ppm,
            "jitter": self.jitter,
        }
        chosen.update({key: value for key, value in timing.items() if value is not None})
        return RunConfig(
            rates=self.draw_rates(seed),
            p_send=self.p_send,
            duration=self.duration if duration is None else duration,
            seed=seed,
            experiment=self.number,
            name=self.name,
            question=self.question,
            faults=self.faults + extra_faults,
            **chosen,
        )


#: The largest experiment or grid file read (a grid of 10,000 cells lists far less).
TOML_LIMIT = 16 * 2**20


def read_toml(path: Path, what: str) -> tuple[str, dict[str, Any]]:
    """A TOML file's text and data. Raise ConfigError naming the file and the problem
    (``what`` names the kind of file: "experiment file", "grid file")."""
    from lamport.files import read_text, reason

    try:
        text = read_text(path, limit=TOML_LIMIT)  # a regular file only: a FIFO would block
        return text, tomllib.loads(text)
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what} ({reason(exc)})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: cannot read {what} (not UTF-8 text)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: malformed TOML ({exc})") from None


def load_experiment(path: Path | str) -> Experiment:
    """Read one experiment file. Raise ConfigError naming the file if it is malformed.

    The format is the catalogue's: ``name``, ``rates`` (a list, or ``"random"``
    with ``machines`` and ``rate_range``), ``p_send``, and optionally
    ``number``, ``duration``, ``question`` and the timing model's ``phase``
    (``"random"``, ``"aligned"`` or a list), ``drift_ppm`` and ``jitter``; any
    other key is an error.
    """
    path = Path(path)
    _, data = read_toml(path, "experiment file")
    try:
        return _parse_experiment(data, path)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _parse_experiment(data: dict[str, Any], path: Path) -> Experiment:
    unknown = sorted(set(data) - set(EXPERIMENT_KEYS))
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r} (keys: {', '.join(EXPERIMENT_KEYS)})")
    for key in ("name", "rates", "p_send"):
        if key not in data:
            raise ConfigError(f"missing key {key!r}")
    number = data.get("number")
    if number is not None and (not is_integer(number) or number < 1):
        raise ConfigError(f"number must be a positive integer, got {number!r}")
    name = data["name"]
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise ConfigError(
            f"name must be 1 to 64 letters, digits, '-', '_' or '.' (no '..'), got {name!r}"
        )
    raw_rates = data["rates"]
    machines = data.get("machines")
    if machines is not None and (not is_integer(machines) or not 2 <= machines <= MAX_MACHINES):
        raise ConfigError(f"machines must be an integer 2..{MAX_MACHINES}, got {machines!r}")
    rate_range = data.get("rate_range", [1, 6])
    rates: tuple[float, ...] | None
    if raw_rates == "random":
        rates = None
        machines = 3 if machines is None else machines
        if (
            not isinstance(rate_range, list)
            or len(rate_range) != 2
            or not all(is_integer(x) for x in rate_range)
            or not 1 <= rate_range[0] <= rate_range[1]
        ):
            raise ConfigError("rate_range must be two integers 1 <= low <= high")
    elif isinstance(raw_rates, list):
        if not 2 <= len(raw_rates) <= MAX_MACHINES:
            raise ConfigError(f"rates must list 2..{MAX_MACHINES} machines, got {len(raw_rates)}")
        if machines is not None and machines != len(raw_rates):
            raise ConfigError(f"machines = {machines} but rates lists {len(raw_rates)}")
        rates = tuple(_as_rate(r, "rates") for r in raw_rates)
        machines = len(rates)
    else:
        raise ConfigError('rates must be a list of numbers or "random"')
    duration = data.get("duration", DEFAULT_DURATION)
    if not is_number(duration):
        raise ConfigError(f"duration must be a number of seconds, got {duration!r}")
    question = data.get("question", "")
    if not isinstance(question, str):
        raise ConfigError(f"question must be a string, got {question!r}")
    experiment = Experiment(
        number=number,
        name=name,
        rates=rates,
        p_send=data["p_send"],
        duration=duration,
        question=question,
        machines=machines,
        rate_range=(rate_range[0], rate_range[1]) if rates is None else (1, 6),
        path=path,
        phase=tuple(phase)
        if isinstance(phase := data.get("phase", DEFAULT_PHASE), list)
        else phase,
        drift_ppm=data.get("drift_ppm", 0.0),
        jitter=data.get("jitter", 0.0),
        faults=_parse_faults(data.get("faults", [])),
    )
    # Validate the remaining values the same way a run would.
    experiment.config(0, duration=None)
    return experiment


def _parse_faults(tables: object) -> tuple[Fault, ...]:
    """An experiment file's ``[[faults]]`` tables as faults (checked against the run later)."""
    if not isinstance(tables, list):
        raise ConfigError("faults must be [[faults]] tables")
    return tuple(as_fault(table) for table in tables)


def experiments_dir() -> Path:
    """The catalogue folder: ``$LAMPORT_EXPERIMENTS`` if set, else the one lamport ships."""
    override = os.environ.get(EXPERIMENTS_ENV)
    if override:
        return Path(override)
    package = Path(__file__).resolve().parent
    # A built package holds the catalogue as lamport/catalogue (pyproject.toml maps
    # experiments/ there); a checkout, or an editable install of one, has experiments/
    # beside the package.
    shipped = package / "catalogue"
    return shipped if shipped.is_dir() else package.parent / "experiments"


def _catalogue_files(directory: Path | str | None) -> tuple[Path, dict[int, list[Path]]]:
    """The folder and its ``NN-name.toml`` files by number, without reading them."""
    folder = Path(directory) if directory is not None else experiments_dir()
    if not folder.is_dir():
        raise ConfigError(f"{folder}: experiment folder not found (see ${EXPERIMENTS_ENV})")
    files: dict[int, list[Path]] = {}
    for path in sorted(folder.glob("*.toml")):
        match = _CATALOGUE_FILE.fullmatch(path.name)
        if match:
            files.setdefault(int(match[1]), []).append(path)
    return folder, files


def _load_numbered(number: int, paths: list[Path]) -> Experiment:
    if len(paths) > 1:
        raise ConfigError(f"{paths[1]}: experiment {number} is already defined by {paths[0].name}")
    exp = load_experiment(paths[0])
    if exp.number != number:
        raise ConfigError(
            f"{paths[0]}: number must be {number}, as the file name says, got {exp.number!r}"
        )
    return exp


def catalogue_numbers(directory: Path | str | None = None) -> list[int]:
    """The experiment numbers in the catalogue folder, from the file names alone."""
    return sorted(_catalogue_files(directory)[1])


def catalogue(directory: Path | str | None = None) -> dict[int, Experiment]:
    """All experiments in the folder, by number.

    Raise ConfigError on a malformed file, a duplicate number, or a ``.toml``
    file not named ``NN-name.toml``.
    """
    folder, files = _catalogue_files(directory)
    for path in sorted(folder.glob("*.toml")):
        if not _CATALOGUE_FILE.fullmatch(path.name):
            raise ConfigError(f"{path}: catalogue files are named NN-name.toml")
    return {number: _load_numbered(number, paths) for number, paths in sorted(files.items())}


def experiment(number: int, directory: Path | str | None = None) -> Experiment:
    """One catalogue experiment; only its own file is read.

    Raise ConfigError if the number is unknown or its file is malformed.
    """
    _, files = _catalogue_files(directory)
    if number not in files:
        known = ", ".join(str(n) for n in sorted(files))
        raise ConfigError(f"unknown experiment {number} (known: {known})")
    return _load_numbered(number, files[number])


def resolve_experiment(spec: int | str | Path) -> Experiment:
    """A catalogue experiment by number (``4``, ``"4"``) or an experiment file by path.

    A text containing a path separator or ending in ``.toml`` is a path.
    Raise ConfigError if it is neither, or the experiment is unknown or malformed.
    """
    if is_integer(spec):
        return experiment(spec)
    text = str(spec)
    separators = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    if isinstance(spec, Path) or text.endswith(".toml") or any(s in text for s in separators):
        return load_experiment(Path(text))
    if text.isascii() and text.isdigit():
        if int(text) < 1:
            raise ConfigError(f"experiment number must be >= 1, got {text}")
        return experiment(int(text))
    raise ConfigError(f"{text!r} is neither an experiment number nor a .toml file")
