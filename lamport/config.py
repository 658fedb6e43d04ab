"""Run configurations and the experiment catalogue.

The eleven catalogue experiments of SPEC section 2 are TOML files in the
repository's ``experiments/`` folder (one file each: number, name, rates,
p_send, duration, question). :func:`catalogue` reads them;
:meth:`Experiment.config` turns one into a :class:`RunConfig` for a seed.
Experiment 1 says ``rates = "random"``: each machine's rate is drawn uniformly
from ``rate_range`` by the run's setup stream (:func:`lamport.core.machine_streams`).
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from lamport.errors import ConfigError

#: Default one-way network latency of the DES, in model seconds: a loopback
#: TCP hop is well under a millisecond, and 1 ms keeps every message strictly
#: after its send without touching the tick grid of integer rates.
DEFAULT_LATENCY = 0.001
#: Rates are taken as exact fractions with denominators up to 10**6 (see
#: :func:`exact_rate`), so the slowest rate that stays on that grid is 1e-6.
MIN_RATE = 1e-6
DEFAULT_DURATION = 60.0

EXPERIMENTS_DIR = Path(
    os.environ.get("LAMPORT_EXPERIMENTS", Path(__file__).resolve().parent.parent / "experiments")
)


def _as_rate(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
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
            value = float(part)
        except ValueError:
            raise ConfigError(f"--rates: {part.strip()!r} is not a number") from None
        rates.append(_as_rate(value, "--rates"))
    if len(rates) < 2:
        raise ConfigError(f"--rates: a run needs at least two machines, got {len(rates)}")
    return tuple(rates)


def exact_rate(rate: float) -> Fraction:
    """The rate as an exact fraction, so tick times land on an integer grid."""
    return Fraction(rate).limit_denominator(1_000_000)


def _clean_number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run. Raise ConfigError if a value is invalid."""

    rates: tuple[float, ...]
    p_send: float = 0.3
    duration: float = DEFAULT_DURATION
    seed: int = 0
    latency: float = DEFAULT_LATENCY
    experiment: int | None = None
    name: str = "custom"
    question: str = ""
    start_epoch: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        rates = tuple(_as_rate(r, "rates") for r in self.rates)
        object.__setattr__(self, "rates", rates)
        if len(rates) < 2:
            raise ConfigError(f"a run needs at least two machines, got {len(rates)}")
        if isinstance(self.p_send, bool) or not isinstance(self.p_send, int | float):
            raise ConfigError(f"p_send {self.p_send!r} is not a number")
        if not 0.0 <= float(self.p_send) <= 1.0:
            raise ConfigError(f"p_send must lie in [0, 1], got {self.p_send}")
        if not isinstance(self.duration, int | float) or not math.isfinite(self.duration):
            raise ConfigError(f"duration {self.duration!r} is not a number")
        if self.duration <= 0:
            raise ConfigError(f"duration must be > 0 seconds, got {self.duration}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not isinstance(self.latency, int | float) or not 0 <= self.latency < math.inf:
            raise ConfigError(f"latency must be a number >= 0 seconds, got {self.latency!r}")

    @property
    def n_machines(self) -> int:
        return len(self.rates)

    @property
    def label(self) -> str:
        """A short name for directories and titles, e.g. ``exp04-big-differences-seed1``."""
        head = f"exp{self.experiment:02d}-{self.name}" if self.experiment else self.name
        return f"{head}-seed{self.seed}"

    def ticks(self, machine: int) -> int:
        """How many times the machine ticks in the run: floor(rate x duration), exactly."""
        return math.floor(exact_rate(self.rates[machine]) * Fraction(self.duration))

    def with_(self, **changes: Any) -> RunConfig:
        return replace(self, **changes)

    def metadata(self) -> dict[str, Any]:
        """The config part of ``run.json``."""
        data = asdict(self)
        data.pop("extra")
        data["rates"] = [_clean_number(r) for r in self.rates]
        data["duration"] = _clean_number(self.duration)
        data.update(self.extra)
        return data


@dataclass(frozen=True)
class Experiment:
    """One catalogue entry, as read from its TOML file."""

    number: int
    name: str
    rates: tuple[float, ...] | None  # None: drawn from the seed
    p_send: float
    duration: float
    question: str
    machines: int = 3
    rate_range: tuple[int, int] = (1, 6)
    path: Path | None = None

    def draw_rates(self, seed: int) -> tuple[float, ...]:
        """The rates for a seed: the fixed ones, or experiment 1's draw."""
        if self.rates is not None:
            return self.rates
        from lamport.core import machine_streams

        setup, _ = machine_streams(seed, self.machines)
        low, high = self.rate_range
        return tuple(float(low + int(setup() * (high - low + 1))) for _ in range(self.machines))

    def config(
        self,
        seed: int = 0,
        duration: float | None = None,
        latency: float = DEFAULT_LATENCY,
        **extra: Any,
    ) -> RunConfig:
        """The run configuration of this experiment for a seed."""
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
        return RunConfig(
            rates=self.draw_rates(seed),
            p_send=self.p_send,
            duration=self.duration if duration is None else duration,
            seed=seed,
            latency=latency,
            experiment=self.number,
            name=self.name,
            question=self.question,
            **extra,
        )


def load_experiment(path: Path) -> Experiment:
    """Read one experiment file. Raise ConfigError naming the file if it is malformed."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read experiment file ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: malformed TOML ({exc})") from None
    try:
        number = data["number"]
        name = data["name"]
        p_send = data["p_send"]
        raw_rates = data["rates"]
    except KeyError as exc:
        raise ConfigError(f"{path}: missing key {exc.args[0]!r}") from None
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise ConfigError(f"{path}: number must be a positive integer, got {number!r}")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{path}: name must be a non-empty string")
    machines = data.get("machines", 3)
    rate_range = data.get("rate_range", [1, 6])
    rates: tuple[float, ...] | None
    if raw_rates == "random":
        rates = None
        if not isinstance(machines, int) or isinstance(machines, bool) or machines < 2:
            raise ConfigError(f"{path}: machines must be an integer >= 2, got {machines!r}")
        if (
            not isinstance(rate_range, list)
            or len(rate_range) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in rate_range)
            or not 1 <= rate_range[0] <= rate_range[1]
        ):
            raise ConfigError(f"{path}: rate_range must be two integers 1 <= low <= high")
    elif isinstance(raw_rates, list):
        rates = tuple(_as_rate(r, str(path)) for r in raw_rates)
        machines = len(rates)
        if machines < 2:
            raise ConfigError(f"{path}: a run needs at least two machines, got {machines}")
    else:
        raise ConfigError(f'{path}: rates must be a list of numbers or "random"')
    duration = data.get("duration", DEFAULT_DURATION)
    experiment = Experiment(
        number=number,
        name=name,
        rates=rates,
        p_send=p_send,
        duration=duration,
        question=str(data.get("question", "")),
        machines=machines,
        rate_range=(rate_range[0], rate_range[1]),
        path=path,
    )
    # Validate the remaining values the same way a run would.
    try:
        experiment.config(0, duration=None)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return experiment


def catalogue(directory: Path | None = None) -> dict[int, Experiment]:
    """All experiments in the folder, by number. Raise ConfigError on a bad file or duplicate."""
    folder = Path(directory) if directory is not None else EXPERIMENTS_DIR
    if not folder.is_dir():
        raise ConfigError(f"{folder}: experiment folder not found")
    experiments: dict[int, Experiment] = {}
    for path in sorted(folder.glob("*.toml")):
        exp = load_experiment(path)
        if exp.number in experiments:
            raise ConfigError(f"{path}: experiment {exp.number} is already defined")
        experiments[exp.number] = exp
    return experiments


def experiment(number: int, directory: Path | None = None) -> Experiment:
    """One catalogue experiment. Raise ConfigError if the number is unknown."""
    experiments = catalogue(directory)
    if number not in experiments:
        known = ", ".join(str(n) for n in sorted(experiments))
        raise ConfigError(f"unknown experiment {number} (known: {known})")
    return experiments[number]
