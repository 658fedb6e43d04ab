"""Parameter grids: a TOML file of factors, every combination a cell, seeds per cell.

A grid file (``experiments/grids/*.toml``, see ``docs/grids.md``) names the
grid, the model seconds per run, the seeds, fixed model fields and a
``[factors]`` table. Every factor is a field of :class:`lamport.config.RunConfig`
(``rates``, ``p_send``, ``duration``, and whatever model fields the config
grows) or of :class:`lamport.des.options.DesOptions` (``latency``); names are
checked against those dataclasses, never listed here. Every combination of
factor values is one *cell*, run for every seed on the DES's summaries-only
path (:func:`lamport.des.model.simulate_summary`).

Compact values
    A factor's values are a TOML list, or a table:

    * ``{ from = 0.1, to = 0.9, step = 0.2 }``: from, from + step, ... up to
      ``to`` inclusive (values rounded to 12 significant digits, so 0.1 steps
      give 0.3, not 0.30000000000000004);
    * ``{ from = 1, to = 10, num = 4 }``: ``num`` evenly spaced values, ends included;
    * ``{ product = [A, B, C] }`` for a list-valued field such as ``rates``: every
      tuple with one value from each of A, B, C (each a list or a range table);
      ``ascending = true`` keeps only tuples in non-decreasing order, so
      ``rates`` lists each set of machines once.

Execution
    Cells are cut into *chunks* of consecutive seeds (:func:`chunk_seeds`, at
    most about 0.3 s of work, fixed per grid and recorded in ``grid.json``),
    chunks are grouped into tasks of about 0.3 s, several per worker
    (:func:`task_seeds`; several small cells make one task), and run on a local
    process pool, a Dask LocalCluster (``dask=True``) or an existing Dask
    scheduler. Seeds decide everything, so every executor gives the same rows. At
    most a few tasks per worker are in flight, so a grid of any size runs in
    bounded memory.

Output
    A hive-partitioned Parquet dataset: ``OUT/cell=<i>/seeds-<first>-<last>.parquet``,
    one row per run and machine with :data:`lamport.schema.SUMMARY_COLUMNS` and
    one column per factor; ``OUT/_grid.toml`` (the grid file as given) and
    ``OUT/_grid.json`` (the cells, the chunking, progress) beside it. Each chunk
    file appears in one rename when complete, so an interrupted grid resumes
    by skipping the chunks already written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import json
import math
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamport import __version__
from lamport.config import Experiment, RunConfig, read_toml
from lamport.des.options import DesOptions
from lamport.des.pool import fork_pool, windowed
from lamport.errors import ConfigError, LogError, NetworkError, raise_pending_stop
from lamport.schema import GRID_JSON, GRID_TOML, SUMMARY_COLUMNS, SUMMARY_DTYPES
from lamport.validate import integer, is_integer, is_number

#: A grid of more cells than this is refused without ``force``.
MAX_CELLS = 10_000
#: The most seeds per cell.
MAX_SEEDS = 10**12
#: The most values one factor may have (a product is counted before it is built), even
#: with ``force``: every value is held in memory and checked.
MAX_FACTOR_VALUES = 100_000
#: The most machine-ticks of one run (about a quarter of an hour of one core).
MAX_RUN_TICKS = 10**9
#: The grid file's own keys; every other top-level key is a fixed model field or DES option.
GRID_KEYS = ("name", "description", "seeds", "factors")
#: Model fields a grid sets itself, never a factor. ``experiment`` may be a factor or
#: fixed: a catalogue experiment's model, the other fields set on top of it.
RESERVED = ("seed", "name", "question")
#: Seconds of work per task (and at most per chunk of seeds): big enough that the
#: per-task cost of a pool or of Dask stays small, small enough that the last tasks
#: leave no core idle for long.
TASK_SECONDS = 0.3
#: Every worker gets at least this many tasks (a small grid is spread over the workers).
TASKS_PER_WORKER = 4
#: Estimated cost of a run on the summaries-only path with every core busy: a fixed
#: part (streams, machines, metadata, rows) and one per machine-tick. Measured on
#: one idle core at 170 us and 0.76 us (benchmarks/bench_grid.py: the 10,000-run
#: grid's 7.7 million ticks took 8 to 10 CPU-seconds on two busy cores).
RUN_SECONDS = 2.5e-4
TICK_SECONDS = 1.0e-6
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_CHUNK_FILE = re.compile(r"seeds-(\d+)-(\d+)\.parquet")


@functools.cache
def model_fields() -> tuple[str, ...]:
    """The RunConfig fields a grid may set or vary."""
    return tuple(f.name for f in dataclasses.fields(RunConfig) if f.name not in RESERVED)


@functools.cache
def option_fields() -> tuple[str, ...]:
    """The DesOptions fields a grid may set or vary."""
    return tuple(f.name for f in dataclasses.fields(DesOptions))


@dataclass(frozen=True)
class Grid:
    """A parsed grid file. ``factors`` maps each factor to its values, in file order;
    ``fixed`` holds the model fields and DES options every cell shares."""

    name: str
    seeds: int
    factors: dict[str, list[Any]]
    fixed: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    text: str = ""
    first_seed: int = 0
    #: The catalogue experiments the cells name (``experiment`` factor or fixed key),
    #: read once: a cell's model starts from its experiment's.
    experiments: Mapping[int, Experiment] = field(default_factory=dict, compare=False)

    @property
    def n_cells(self) -> int:
        return math.prod(len(values) for values in self.factors.values())

    @property
    def n_runs(self) -> int:
        return self.n_cells * self.seeds

    def cells(self) -> Iterator[dict[str, Any]]:
        """Every cell's factor values, the last factor varying fastest."""
        names = list(self.factors)
        for combo in itertools.product(*(self.factors[n] for n in names)):
            yield dict(zip(names, combo, strict=True))

    def cell(self, index: int) -> dict[str, Any]:
        """The factor values of cell ``index`` without walking the others."""
        values = {}
        for name in reversed(list(self.factors)):
            options = self.factors[name]
            index, position = divmod(index, len(options))
            values[name] = options[position]
        return {name: values[name] for name in self.factors}

    def config(self, cell: Mapping[str, Any], seed: int) -> tuple[RunConfig, DesOptions]:
        """The model and DES options of one run. Raise ConfigError if a value is invalid."""
        settings = {**self.fixed, **cell}
        optional = option_fields()
        options = {k: v for k, v in settings.items() if k in optional}
        model = {k: v for k, v in settings.items() if k not in optional}
        if isinstance(model.get("rates"), list):
            model["rates"] = tuple(model["rates"])
        number = model.pop("experiment", None)
        if number is None:
            config = RunConfig(seed=seed, name=self.name, **model)
        else:
            # The experiment's model with the duration, timing and faults given (faults add
            # to its own plan); any other field replaces the experiment's.
            timing = {k: model.pop(k) for k in _TIMING if k in model}
            config = self.experiment(number).config(seed, **timing)
            if model:
                config = dataclasses.replace(config, **model)
        return config, DesOptions(**options)

    def experiment(self, number: Any) -> Experiment:
        """Catalogue experiment ``number``. Raise ConfigError if there is none."""
        found = self.experiments.get(number) if is_integer(number) else None
        return found if found is not None else catalogued(number)

    def identity(self) -> dict[str, Any]:
        """What makes this grid this grid: its cells, seeds and fixed values."""
        return json.loads(
            json.dumps(
                {
                    "name": self.name,
                    "seeds": self.seeds,
                    "first_seed": self.first_seed,
                    "factors": self.factors,
                    "fixed": self.fixed,
                }
            )
        )


#: What :meth:`lamport.config.Experiment.config` sets on an experiment's model itself.
_TIMING = ("duration", "faults", "phase", "drift_ppm", "jitter")


def catalogued(number: Any) -> Experiment:
    """Catalogue experiment ``number``, read from its file. Raise ConfigError if the
    number is not a positive integer or names no experiment."""
    from lamport.config import experiment

    return experiment(integer(number, "experiment", low=1))


def load_grid(path: Path | str, force: bool = False) -> Grid:
    """Read and check a grid file. Raise ConfigError naming the file and the problem
    (a grid of more than :data:`MAX_CELLS` cells is one, unless ``force``)."""
    path = Path(path)
    try:
        text, data = read_toml(path, "grid file")
    except RecursionError:
        raise ConfigError(f"{path}: malformed TOML (nested too deeply)") from None
    try:
        return parse_grid(data, text, force)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def too_many_cells(name: str, cells: int) -> ConfigError:
    return ConfigError(
        f"grid {name} has {cells:,} cells (limit {MAX_CELLS:,}); use --force to run it anyway"
    )


def parse_grid(data: Mapping[str, Any], text: str = "", force: bool = False) -> Grid:
    """Build a :class:`Grid` from a grid file's table. Raise ConfigError if it is invalid:
    an unknown key, a value of the wrong type (booleans are booleans, numbers finite), a
    value that makes no valid run, or more than :data:`MAX_CELLS` cells without ``force``
    (counted from the factors' lengths before any cell is built)."""
    settable = model_fields() + option_fields()
    for key in data:
        if key not in GRID_KEYS and key not in settable:
            raise ConfigError(
                f"unknown key {key!r} (grid keys: {', '.join(GRID_KEYS)}; model fields and "
                f"DES options: {', '.join(settable)})"
            )
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise ConfigError(
            f"name must be 1 to 64 letters, digits, '-', '_' or '.' (no '..'), got {name!r}"
        )
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"description must be a string, got {description!r}")
    seeds = data.get("seeds", 10)
    if not is_integer(seeds) or not 1 <= seeds <= MAX_SEEDS:
        raise ConfigError(f"seeds must be an integer 1..{MAX_SEEDS:.0e}, got {seeds!r}")
    raw = data.get("factors")
    if not isinstance(raw, dict) or not raw:
        raise ConfigError("[factors] must be a table with at least one factor")
    for key, value in data.items():
        if key not in GRID_KEYS:
            check_value(value, repr(key))
    factors: dict[str, list[Any]] = {}
    for factor, spec in raw.items():
        if factor not in settable:
            raise ConfigError(
                f"unknown factor {factor!r} (a factor is a model field or DES option: "
                f"{', '.join(settable)})"
            )
        if factor in data:
            raise ConfigError(f"{factor!r} is both fixed and a factor")
        values = expand(spec, factor)
        if not values:
            raise ConfigError(f"factor {factor!r} has no values")
        if len({json.dumps(v) for v in values}) != len(values):
            raise ConfigError(f"factor {factor!r} lists a value twice")
        factors[factor] = values
    cells = math.prod(len(values) for values in factors.values())
    if cells > MAX_CELLS and not force:
        raise too_many_cells(name, cells)
    fixed = {key: value for key, value in data.items() if key not in GRID_KEYS}
    named = "experiment" in fixed or "experiment" in factors
    for required in dataclasses.fields(RunConfig):
        if (
            required.default is dataclasses.MISSING
            and required.name not in fixed
            and required.name not in factors
            and not named  # a catalogue experiment gives the model its rates
        ):
            raise ConfigError(f"no {required.name}: give it as a fixed key or a factor")
    experiments = {}
    for number in factors.get("experiment", [fixed.get("experiment")] if named else []):
        experiments[number] = catalogued(number)
    grid = Grid(name, int(seeds), factors, fixed, description, text, experiments=experiments)
    # Every value must make a valid run: check each factor's values against the first
    # cell, once the first cell itself is known to be valid.
    first = grid.cell(0)
    if (problem := _invalid(grid, first)) is not None:
        raise ConfigError(_blame(grid, first, problem))
    for factor, values in factors.items():
        for value in values:
            if (problem := _invalid(grid, {**first, factor: value})) is not None:
                raise ConfigError(f"factor {factor!r}: value {value!r}: {problem}")
    return grid


#: How deep lists and tables may nest in a grid file's value: a factor's list of fault
#: plans, each a list of ``[[faults]]`` tables, a partition's groups, a group.
MAX_DEPTH = 4


def check_value(value: Any, what: str, depth: int = 0) -> None:
    """Refuse a value a grid file may not hold: only booleans, integers, finite floats,
    strings, and lists and tables (string keys: a fault's table) of those, at most
    :data:`MAX_DEPTH` deep. TOML's ``nan`` and ``inf``, dates and times are refused.
    Raise ConfigError naming ``what``."""
    if isinstance(value, bool | str) or is_integer(value):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"{what}: {value!r} is not a finite number")
        return
    if isinstance(value, list | dict) and depth < MAX_DEPTH:
        for item in value.values() if isinstance(value, dict) else value:
            check_value(item, what, depth + 1)
        return
    shown = repr(value) if len(repr(value)) <= 60 else type(value).__name__
    if isinstance(value, list | dict):
        raise ConfigError(f"{what}: {shown} nests deeper than {MAX_DEPTH} levels")
    raise ConfigError(f"{what}: {shown} is not a number, string, boolean, list or table")


def count_text(n: int) -> str:
    """A count as digits (``12,000``), or its order of magnitude once it is too long to read."""
    return f"{n:,}" if n < 10**15 else f"about 10^{len(str(n)) - 1}"


def run_ticks(config: RunConfig) -> int:
    """Machine-ticks of one run (exact, however large the rates)."""
    return sum(config.ticks(i) for i in range(config.n_machines))


def _invalid(grid: Grid, cell: Mapping[str, Any]) -> str | None:
    """Why ``cell`` makes no valid run, or None."""
    try:
        config, _ = grid.config(cell, 0)
        ticks = run_ticks(config)
    # RunConfig and DesOptions raise ConfigError; the others are a net under them, for a
    # value of a type check_value lets through that a field still cannot take.
    except (ConfigError, TypeError, ValueError, ArithmeticError) as exc:
        return str(exc)
    if ticks > MAX_RUN_TICKS:
        return f"a run of {count_text(ticks)} machine-ticks (limit {MAX_RUN_TICKS:,})"
    return None


def _blame(grid: Grid, first: Mapping[str, Any], problem: str) -> str:
    """The message for an invalid first cell: the factor whose first value is at fault
    (the one that another of its values repairs), else the whole cell."""
    for factor, values in grid.factors.items():
        if any(_invalid(grid, {**first, factor: value}) is None for value in values[1:]):
            return f"factor {factor!r}: value {first[factor]!r}: {problem}"
    named = list(grid.factors)
    if len(named) > 1:  # the one factor, else the one the message names
        named = [factor for factor in grid.factors if factor in problem]
    if len(named) == 1:
        return f"factor {named[0]!r}: value {first[named[0]]!r}: {problem}"
    shown = ", ".join(f"{k} = {factor_text(v)}" for k, v in first.items())
    return f"the first cell ({shown}): {problem}"


def expand(spec: Any, what: str) -> list[Any]:
    """A factor's values from a list or a compact table (see the module essay)."""
    if isinstance(spec, list):
        check_value(spec, f"factor {what!r}")
        return list(spec)
    if not isinstance(spec, dict):
        check_value(spec, f"factor {what!r}")
        raise ConfigError(f"factor {what!r}: values must be a list or a range table, got {spec!r}")
    if "product" in spec:
        extra = set(spec) - {"product", "ascending"}
        if extra:
            raise ConfigError(f"factor {what!r}: unknown key {sorted(extra)[0]!r} in product")
        ascending = spec.get("ascending", False)
        if not isinstance(ascending, bool):
            raise ConfigError(
                f"factor {what!r}: ascending must be true or false, got {ascending!r}"
            )
        parts = spec["product"]
        if not isinstance(parts, list) or not parts:
            raise ConfigError(f"factor {what!r}: product must be a non-empty list of value lists")
        axes = [expand(part, what) for part in parts]
        if ascending and not all(is_number(v) for axis in axes for v in axis):
            raise ConfigError(f"factor {what!r}: an ascending product takes numbers only")
        # Counted from the axes before one tuple is built: a product of a few long ranges
        # has more tuples than memory holds.
        count = _ascending_count(axes) if ascending else math.prod(len(a) for a in axes)
        if count > MAX_FACTOR_VALUES:
            raise ConfigError(
                f"factor {what!r}: product has {count_text(count)} values "
                f"(limit {MAX_FACTOR_VALUES:,})"
            )
        if ascending:
            return _ascending(axes)
        return [list(c) for c in itertools.product(*axes)]
    extra = set(spec) - {"from", "to", "step", "num"}
    if extra or "from" not in spec or "to" not in spec or ("step" in spec) == ("num" in spec):
        raise ConfigError(
            f"factor {what!r}: a range is {{from, to, step}} or {{from, to, num}}, got {spec!r}"
        )
    start, stop = spec["from"], spec["to"]
    if not _finite(start) or not _finite(stop) or stop < start or not _finite(stop - start):
        raise ConfigError(
            f"factor {what!r}: range needs finite numbers from <= to, got {_short(spec)}"
        )
    integral = all(is_integer(spec[k]) for k in spec)
    if "num" in spec:
        num = spec["num"]
        if not is_integer(num) or not 1 <= num <= MAX_CELLS:
            raise ConfigError(f"factor {what!r}: num must be an integer 1..{MAX_CELLS}")
        if num == 1:
            return [start]
        values = [start + (stop - start) * i / (num - 1) for i in range(num)]
    else:
        step = spec["step"]
        if not _finite(step) or step <= 0:
            raise ConfigError(f"factor {what!r}: step must be a positive finite number")
        steps = (stop - start) / step + 1e-9  # counted before any value is made
        if not steps < MAX_CELLS:
            shown = f"{math.floor(steps) + 1:,}" if math.isfinite(steps) else "too many"
            raise ConfigError(f"factor {what!r}: range has {shown} values (limit {MAX_CELLS})")
        count = math.floor(steps) + 1
        values = [start + i * step for i in range(count)]
    if integral and "num" not in spec:
        return [int(v) for v in values]
    return [_tidy(v) for v in values]


def _finite(x: Any) -> bool:
    return is_number(x) and math.isfinite(x)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _ascending_count(axes: Sequence[Sequence[Any]]) -> int:
    """How many tuples of ``itertools.product(*axes)`` are non-decreasing, without
    building them: for each axis, the tuples ending at each value, summed over the
    previous axis's values at most as large (prefix sums over its sorted values)."""
    import bisect

    ends = sorted((v, 1) for v in axes[0])
    for axis in axes[1:]:
        values = [v for v, _ in ends]
        totals = list(itertools.accumulate(w for _, w in ends))
        ends = sorted(
            (v, totals[i - 1] if (i := bisect.bisect_right(values, v)) else 0) for v in axis
        )
    return sum(w for _, w in ends)


def _ascending(axes: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """The non-decreasing tuples of ``itertools.product(*axes)``, in its order, walking
    only prefixes that some tuple completes (so the work follows the tuples kept)."""
    # The largest value each axis may take and still be completed by the axes after it.
    highest = [math.inf] * len(axes)
    for k in range(len(axes) - 1, -1, -1):
        bound = highest[k + 1] if k + 1 < len(axes) else math.inf
        fits = [v for v in axes[k] if v <= bound]
        highest[k] = max(fits) if fits else -math.inf
    out: list[list[Any]] = []

    def extend(prefix: list[Any], k: int) -> None:
        if k == len(axes):
            out.append(list(prefix))
            return
        low = prefix[-1] if prefix else -math.inf
        for value in axes[k]:
            if low <= value <= highest[k]:
                prefix.append(value)
                extend(prefix, k + 1)
                prefix.pop()

    extend([], 0)
    return out


def _tidy(x: float) -> int | float:
    value = float(f"{x:.12g}")
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


# -- chunks and tasks ----------------------------------------------------------------------


def task_seeds(grid: Grid, workers: int = 1) -> int:
    """Seeds per task: about :data:`TASK_SECONDS` of runs of the grid's costliest cell,
    and few enough that each of ``workers`` gets :data:`TASKS_PER_WORKER` tasks or
    more. A task may hold several cells' chunks."""
    worst = max(1, run_ticks(_costliest(grid)[0]))
    by_time = int(TASK_SECONDS / (RUN_SECONDS + worst * TICK_SECONDS))
    by_share = -(-grid.n_runs // (TASKS_PER_WORKER * max(1, workers)))
    return max(1, min(by_time, by_share))


def chunk_seeds(grid: Grid, workers: int = 1) -> int:
    """Seeds per chunk (one file): a task's worth, at most a cell's seeds."""
    return min(grid.seeds, task_seeds(grid, workers))


#: One chunk: (cell index, first seed, last seed inclusive).
Chunk = tuple[int, int, int]


def chunk_name(first: int, last: int) -> str:
    return f"seeds-{first:06d}-{last:06d}.parquet"


def cell_dir(out: Path, cell: int) -> Path:
    return out / f"cell={cell}"


def plan(grid: Grid, per_chunk: int) -> Iterator[Chunk]:
    """Every chunk of the grid, cell by cell, lazily (a grid may have 10^12 seeds)."""
    end = grid.first_seed + grid.seeds
    for cell in range(grid.n_cells):
        for first in range(grid.first_seed, end, per_chunk):
            yield cell, first, min(first + per_chunk, end) - 1


def _tasks(chunks: Iterator[Chunk], per_task: int) -> Iterator[list[Chunk]]:
    """Group chunks, in order, into tasks of at least ``per_task`` seeds (one chunk more
    at most; the last task holds what is left)."""
    task: list[Chunk] = []
    seeds = 0
    for chunk in chunks:
        task.append(chunk)
        seeds += chunk[2] - chunk[1] + 1
        if seeds >= per_task:
            yield task
            task, seeds = [], 0
    if task:
        yield task


#: What a chunk gives back: the chunk, its rows as columns (or, encoded on a Dask
#: worker, its Parquet file's bytes), and (when logs are kept) each run's
#: ``(label, metadata, logs, drops or None)``.
ChunkResult = tuple[Chunk, Any, list[Any]]


def run_chunks(
    grid: Grid,
    chunks: Sequence[Chunk],
    keep: bool = False,
    types: Mapping[str, str] | None = None,
) -> list[ChunkResult]:
    """Run the chunks on the summaries-only path; each chunk's rows as columns.

    The columns are :data:`lamport.schema.SUMMARY_COLUMNS` then one per factor
    that is not a summary column already (a list-valued factor such as ``rates``
    as text, ``"1,3,6"``). With ``keep`` every run is simulated with its full
    record instead (the same rows) and its events come back too. With ``types``
    (:func:`column_types`) each chunk comes back as the bytes of its Parquet file
    instead of its columns: a Dask worker encodes its own results, so the client
    only writes bytes (the same bytes it would have encoded).
    """
    from lamport.des.model import simulate, simulate_summary
    from lamport.summary import summarize

    out = []
    for chunk in chunks:
        cell_index, first, last = chunk
        cell = grid.cell(cell_index)
        columns: dict[str, list[Any]] = {name: [] for name in SUMMARY_COLUMNS}
        # A factor that is also a summary column (p_send, duration) is already there.
        factor_columns: dict[str, list[Any]] = {n: [] for n in cell if n not in columns}
        kept: list[Any] = []
        for seed in range(first, last + 1):
            config, options = grid.config(cell, seed)
            if keep:
                result = simulate(config, options)
                rows = summarize(result.metadata, result.logs, result.dropped)
                drops = result.dropped if config.faults else None
                kept.append((config.label, result.metadata, result.logs, drops))
            else:
                rows = simulate_summary(config, options)
            for row in rows:
                for name in SUMMARY_COLUMNS:
                    columns[name].append(row[name])
            for name, values in factor_columns.items():
                values.extend([factor_text(cell[name])] * len(rows))
        table = {**columns, **factor_columns}
        out.append((chunk, table if types is None else encode_chunk(table, types), kept))
    return out


def column_types(grid: Grid) -> dict[str, str]:
    """Every dataset column's type, fixed for the whole grid so that all files agree
    (a cell of ``latency = 0`` must not make an integer column that ``0.25`` breaks):
    the summary columns' :data:`lamport.schema.SUMMARY_DTYPES`, then per factor
    ``int64`` if every value is an integer, ``float64`` if every value is a number,
    ``bool``, or ``string``."""
    types = dict(SUMMARY_DTYPES)
    for name, values in grid.factors.items():
        if name in types:
            continue
        if all(isinstance(v, bool) for v in values):
            types[name] = "bool"
        elif all(is_integer(v) for v in values):
            types[name] = "int64"
        elif all(is_number(v) for v in values):
            types[name] = "float64"
        else:
            types[name] = "string"
    return types


def factor_text(value: Any) -> Any:
    """A factor's value as a Parquet cell: numbers as they are, lists as ``"1,3,6"``."""
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return value


# -- executors -----------------------------------------------------------------------------


class _Local:
    """A forked process pool; at most ``window`` tasks submitted and not yet collected."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self.pool: Any = None
        if jobs > 1:
            self.pool = fork_pool(jobs)

    def run(
        self,
        grid: Grid,
        tasks: Iterator[list[Chunk]],
        keep: bool = False,
        types: Mapping[str, str] | None = None,
    ) -> Iterator[Any]:
        """Each task's results, in task order (``types``: see :func:`run_chunks`)."""
        if types is not None:
            raise ValueError("the local pool writes the files itself")
        if self.pool is None:
            for task in tasks:
                yield run_chunks(grid, task, keep)
            return
        work = functools.partial(run_chunks, grid, keep=keep)
        yield from windowed(self.pool, work, tasks, self.jobs * 3)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()


#: What the forkserver imports once for every Dask worker forked from it. lamport's
#: own modules are left to each worker (a few tens of ms): a worker imports them
#: after the fork from the client's ``sys.path``, while the server would resolve them
#: from its own (the working directory first), which may hold another lamport.
WORKER_MODULES = ("distributed",)
#: A LocalCluster's settings for short CPU-bound tasks and no dashboard, held while
#: the cluster lives (a worker restarted mid-grid reads them again): workers fork
#: from the forkserver (:func:`_start_forkserver`); the worker's statistical profiler
#: (which samples every thread's stack every 10 ms and feeds only the dashboard) is
#: off; the event-loop, memory and system monitors wake every second or two instead
#: of every 20 to 500 ms.
CLUSTER_CONFIG = {
    "distributed.worker.multiprocessing-method": "forkserver",
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
}


def _start_forkserver() -> None:
    """Start multiprocessing's forkserver with :data:`WORKER_MODULES` imported.

    A LocalCluster's workers then start by forking that server, which runs no event
    loop or Dask thread (no interpreter start and no import of distributed per
    worker), and the server's import overlaps this process's own import of
    distributed. A server already running in this process is reused as it is; it
    lives as long as the process (multiprocessing's own rule).

    The server, and every worker forked from it, ignores SIGINT: Ctrl-C in a terminal
    reaches the whole process group, and the client stops the workers itself (a
    worker's own KeyboardInterrupt only printed tracebacks). A process inherits an
    ignored signal, so SIGINT is ignored here while the server starts, and blocked
    meanwhile, so that a Ctrl-C in that instant waits and is not lost. Only the main
    thread can do that; from another, the workers take Ctrl-C as Dask's usually do."""
    import multiprocessing
    import signal
    import threading
    from multiprocessing import forkserver

    multiprocessing.set_forkserver_preload(list(WORKER_MODULES))
    if threading.current_thread() is not threading.main_thread():
        forkserver.ensure_running()
        return
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        previous = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            forkserver.ensure_running()
        finally:
            # None: a handler set outside Python, which Python cannot put back
            signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _local_cluster(jobs: int, stack: contextlib.ExitStack) -> Any:
    """A LocalCluster of ``jobs`` one-thread worker processes, no dashboard, under
    :data:`CLUSTER_CONFIG` until ``stack`` closes."""
    import logging

    import dask
    import distributed.utils
    from distributed import LocalCluster

    # Quiet to the end: a grid's failures reach the user as the client's exceptions,
    # while a worker stopped with the grid logs heartbeat errors that mean nothing.
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    stack.enter_context(dask.config.set(CLUSTER_CONFIG))
    # The forkserver runs already: stop distributed from importing every optional
    # package it knows (pandas, lz4, ...) here to preload them into a new one.
    if hasattr(distributed.utils, "_forkserver_preload_set"):
        distributed.utils._forkserver_preload_set = True
    return LocalCluster(
        n_workers=jobs,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        # No dashboard, but the scheduler's HTTP server (health, metrics) would take
        # port 8787 and warn on stderr when another cluster holds it: any free port.
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        silence_logs=logging.CRITICAL,
    )


def _connect(scheduler: str, timeout: float) -> Any:
    """A client of the Dask scheduler at ``scheduler``, or NetworkError in one line
    within about ``timeout`` seconds: nothing listening, a bad address, or something
    there that is not a Dask scheduler (which may answer garbage, or nothing at all:
    distributed's own timeout does not cover every step of its handshake, so the
    connection runs in a thread and is given up on after the deadline)."""
    import threading

    try:
        from distributed import Client
    except ImportError:
        raise dask_missing() from None
    done: dict[str, Any] = {}

    def connect() -> None:
        try:
            done["client"] = Client(scheduler, timeout=f"{timeout}s")
        except BaseException as exc:  # reported below, whatever it is
            done["error"] = exc

    thread = threading.Thread(target=connect, name="dask-connect", daemon=True)
    thread.start()
    thread.join(timeout + 2)
    if "client" in done:
        return done["client"]
    exc = done.get("error")
    if exc is None:
        reason = f"no Dask scheduler answered within {timeout + 2:g} s"
    else:
        text = str(exc).splitlines()[0] if str(exc) else ""
        reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    raise NetworkError(f"--scheduler {scheduler}: cannot reach the Dask scheduler ({reason[:120]})")


def _value(future: Any, result: Any) -> Any:
    """A finished task's result; a task that failed or was cancelled raises as
    ``future.result()`` does (``as_completed`` hands a cancelled one's error back as
    its result)."""
    return result if future.status == "finished" else future.result()


def dask_missing() -> ConfigError:
    return ConfigError("Dask is not installed: pip install 'lamport[dask]'")


class _Dask:
    """A dask.distributed client: on a new LocalCluster, an address, or one given."""

    def __init__(
        self, jobs: int, scheduler: str | None = None, client: Any = None, timeout: float = 5.0
    ) -> None:
        import importlib.util

        from lamport.errors import LamportError, stops_held

        if importlib.util.find_spec("distributed") is None:
            raise dask_missing()
        self.cluster: Any = None
        self.client: Any = None
        self.own = client is None
        self._config = contextlib.ExitStack()
        if client is not None:
            self.client = client
        elif scheduler is not None:
            self.client = _connect(scheduler, timeout)
        else:
            try:
                # Ctrl-C waits until the cluster is whole: one interrupted half-way
                # prints tracebacks at exit, one stopped whole closes quietly.
                with stops_held():
                    # Before this process imports distributed, so both imports run at once.
                    _start_forkserver()
                    from distributed import Client

                    self.cluster = _local_cluster(jobs, self._config)
                    self.client = Client(self.cluster)
            except BaseException as exc:  # a failed or stopped start leaves nothing running
                self.close()
                if isinstance(exc, ImportError):
                    raise dask_missing() from None
                if isinstance(exc, RuntimeError) and "failed to start" in str(exc):
                    reason = str(exc).splitlines()[0].rstrip(".")
                    raise LamportError(
                        f"the Dask workers did not start ({reason}); a "
                        "script that runs a grid on Dask must do so under "
                        "`if __name__ == '__main__':`"
                    ) from None
                raise
        self.jobs = max(1, len(self.client.scheduler_info().get("workers", {})) or jobs)

    def run(
        self,
        grid: Grid,
        tasks: Iterator[list[Chunk]],
        keep: bool = False,
        types: Mapping[str, str] | None = None,
    ) -> Iterator[Any]:
        """Each task's results, as they complete (``types``: see :func:`run_chunks`).
        Results are fetched in the background as tasks finish (``with_results``), so
        the client writes one task's files while the next arrives."""
        from distributed import as_completed

        from lamport.errors import stops_held

        with stops_held():  # a scatter cut short logs the scheduler's traceback
            grid_future = self.client.scatter(grid, broadcast=True)
        window = self.jobs * 3
        running = as_completed(with_results=True)
        submit = functools.partial(self.client.submit, run_chunks, grid_future, pure=False)
        for task in tasks:
            running.add(submit(task, keep, types))
            while running.count() >= window:
                yield _value(*next(running))
        for future, result in running:
            yield _value(future, result)

    def close(self) -> None:
        if self.own:
            if self.client is not None:
                with contextlib.suppress(Exception):
                    self.client.close()
            if self.cluster is not None:
                with contextlib.suppress(Exception):
                    self.cluster.close()
        self._config.close()


# -- the output directory ------------------------------------------------------------------


@dataclass
class GridResult:
    """A finished (or resumed) grid: where it is, how many runs ran now and before."""

    grid: Grid
    out: Path
    runs: int
    skipped: int
    seconds: float
    metadata: dict[str, Any]

    def frame(self, columns: Sequence[str] | None = None) -> Any:
        """The dataset as a pandas DataFrame (reads every file: for small grids)."""
        return read_dataset(self.out, columns)


def read_dataset(out: Path | str, columns: Sequence[str] | None = None) -> Any:
    """A grid's rows as a pandas DataFrame with an integer ``cell`` column, sorted by
    cell, seed and machine."""
    import pyarrow.dataset as ds

    out = Path(out)
    files = sorted(str(p) for p in out.glob("cell=*/*.parquet"))
    dataset = ds.dataset(files, format="parquet", partitioning="hive", partition_base_dir=str(out))
    frame = dataset.to_table(columns=list(columns) if columns else None).to_pandas()
    if "cell" in frame:
        frame["cell"] = frame["cell"].astype("int64")
    keys = [k for k in ("cell", "seed", "machine") if k in frame]
    return frame.sort_values(keys, ignore_index=True) if keys else frame


def _claim(out: Path, grid: Grid, force: bool, take: bool = True) -> dict[str, Any] | None:
    """Check ``out`` may take the grid; return its grid.json if it holds this grid.
    With ``take``, also hold ``out`` for this process and empty it of a different grid
    (``force``); without, only look."""
    from lamport.logs import lock_out

    if out.exists() and not out.is_dir():
        raise LogError(f"--out {out}: exists and is not a directory")
    if take:
        lock_out(out)
    meta_path = out / GRID_JSON
    if out.is_dir() and any(out.iterdir()):
        if not meta_path.is_file():
            # Never removed, even with force: it may be anything of the user's.
            raise LogError(f"--out {out}: exists, is not empty and holds no {GRID_JSON}")
        else:
            from lamport.files import read_json

            try:  # a regular file, not too large, not nested too deep: else unreadable
                existing = read_json(meta_path)
            except (OSError, ValueError):
                existing = None
            same = isinstance(existing, dict) and existing.get("identity") == grid.identity()
            if same:  # resumed, with --force too: a grid over the cell limit needs it
                return existing
            if not force:
                held = existing.get("name", "?") if isinstance(existing, dict) else "?"
                raise LogError(
                    f"--out {out} holds a different grid ({held}); use --force to replace it"
                )
        if take:
            shutil.rmtree(out)
    return None


def _written(out: Path) -> set[tuple[int, int, int]]:
    """The chunks already in the dataset; stale temporary files are removed."""
    done: set[tuple[int, int, int]] = set()
    if not out.is_dir():
        return done
    for folder in out.glob("cell=*"):
        try:
            cell = int(folder.name.split("=", 1)[1])
        except ValueError:
            continue
        for path in folder.iterdir():
            match = _CHUNK_FILE.fullmatch(path.name)
            if match:
                done.add((cell, int(match[1]), int(match[2])))
            elif path.name.startswith("."):
                path.unlink(missing_ok=True)
    return done


def encode_chunk(columns: Mapping[str, list[Any]], types: Mapping[str, str]) -> bytes:
    """A chunk's columns as the bytes of its Parquet file (zstd), the bytes
    :func:`_write_chunk` writes for them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(_arrow_table(columns, types), sink, compression="zstd")
    return bytes(sink.getvalue())


def _arrow_table(columns: Mapping[str, list[Any]], types: Mapping[str, str]) -> Any:
    import pyarrow as pa

    return pa.Table.from_arrays(
        [_arrow_array(columns[name], types[name]) for name in columns], names=list(columns)
    )


def _write_chunk(
    out: Path,
    chunk: Chunk,
    columns: dict[str, list[Any]] | bytes,
    types: Mapping[str, str],
    shown: Path | None = None,
) -> None:
    """Write a chunk's file in one rename, from its columns or its encoded bytes."""
    folder = cell_dir(out, chunk[0])
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / chunk_name(chunk[1], chunk[2])
    partial = folder / f".{final.name}.{os.getpid()}"
    try:
        if isinstance(columns, bytes):
            partial.write_bytes(columns)
        else:
            import pyarrow.parquet as pq

            pq.write_table(_arrow_table(columns, types), partial, compression="zstd")
        os.replace(partial, final)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        from lamport.logs import cannot_write

        raise cannot_write(shown or out, exc) from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _arrow_array(values: list[Any], dtype: str) -> Any:
    """A column as an Arrow array of ``dtype`` (a :func:`column_types` name), built from
    its buffers: ``pyarrow.array`` on a list imports pandas (a fifth of a second, more
    than a 100-seed sweep's own writing) to ask whether the list is a pandas object."""
    import numpy as np
    import pyarrow as pa

    arrow = {"int64": pa.int64(), "float64": pa.float64(), "string": pa.string()}
    n = len(values)
    if any(v is None for v in values):  # nulls: the slow path knows them
        return pa.array(values, arrow.get(dtype, pa.bool_()))
    if dtype == "bool":
        bits = np.packbits(np.asarray(values, dtype=bool), bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), n, [None, pa.py_buffer(bits)])
    if dtype == "string":
        data = [str(v).encode("utf-8") for v in values]
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum([len(d) for d in data], out=offsets[1:])
        buffers = [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))]
        return pa.Array.from_buffers(pa.string(), n, buffers)
    numbers = np.asarray(values, dtype=np.int64 if dtype == "int64" else np.float64)
    return pa.Array.from_buffers(arrow[dtype], n, [None, pa.py_buffer(numbers)])


def _write_text(path: Path, text: str) -> None:
    """Write a file beside the dataset in one rename; an OSError becomes LogError."""
    from lamport.logs import cannot_write, replace_text

    try:
        replace_text(path, text)
    except OSError as exc:
        raise cannot_write(path.parent, exc) from None


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    _write_text(path, json.dumps(data, indent=2) + "\n")


def grid_metadata(grid: Grid, **fields: Any) -> dict[str, Any]:
    """The metadata of many runs, written once for both kinds: a grid's ``_grid.json``
    and a sweep's ``sweep.json`` (:func:`lamport.des.sweep.sweep`). The grid's shape
    (name, cells, seeds, runs, factors) comes first, then ``fields`` (which may
    replace any of it, as a sweep's list of ``seeds`` does), then the version."""
    return {
        "backend": "des",
        "name": grid.name,
        "cells": grid.n_cells,
        "seeds": grid.seeds,
        "runs": grid.n_runs,
        "factors": list(grid.factors),
        **fields,
        "version": __version__,
    }


def stream(
    grid: Grid,
    executor: _Local | _Dask,
    chunks: Iterator[Chunk],
    per_task: int,
    out: Path | None = None,
    keep: bool = False,
    shown: Path | None = None,
    rows: bool = True,
) -> Iterator[ChunkResult]:
    """The engine of grids and sweeps: run ``chunks`` in tasks of ``per_task`` seeds on
    ``executor``, write each chunk's Parquet file into the dataset ``out`` (if given)
    and yield each chunk's result (:func:`run_chunks`) as it is written. A local pool
    yields in chunk order, Dask as tasks complete. A failed write is a LogError naming
    ``shown`` (the directory the user asked for, when ``out`` is its staging), or ``out``.
    Without ``rows`` (the caller reads only each result's chunk) Dask's workers encode
    the files themselves, so the client does not encode every worker's rows."""
    types = column_types(grid)
    encoded = types if out is not None and not rows and isinstance(executor, _Dask) else None
    for results in executor.run(grid, _tasks(chunks, per_task), keep, encoded):
        raise_pending_stop()
        for result in results:
            if out is not None:
                _write_chunk(out, result[0], result[1], types, shown)
            yield result


def local_executor(jobs: int) -> _Local:
    """The local executor of ``jobs`` workers (``jobs`` 1: this process)."""
    return _Local(jobs)


def run_grid(
    grid: Grid | Path | str,
    out: Path | str,
    jobs: int | None = None,
    dask: bool = False,
    scheduler: str | None = None,
    client: Any = None,
    progress: Callable[[int, int], None] | None = None,
    force: bool = False,
) -> GridResult:
    """Run every cell of a grid for every seed into the Parquet dataset ``out``.

    ``grid`` is a :class:`Grid` or a grid file. ``jobs`` worker processes
    (default one per core) run locally, or on a new Dask LocalCluster with
    ``dask``, or on the Dask scheduler at ``scheduler`` (``tcp://HOST:8786``),
    or on a ``distributed.Client`` given as ``client``. Chunks already in ``out``
    (an interrupted run of the same grid) are skipped. ``progress(done, total)``
    is called in runs. A grid of more than :data:`MAX_CELLS` cells, or an
    ``out`` that holds another grid, is refused unless ``force``.

    Raise ConfigError for a bad grid, LogError if ``out`` cannot take it,
    NetworkError if the scheduler cannot be reached.
    """
    if not isinstance(grid, Grid):
        grid = load_grid(grid, force)
    if grid.n_cells > MAX_CELLS and not force:
        raise too_many_cells(grid.name, grid.n_cells)
    from lamport.des.size import check_size

    # The costliest cell decides whether a run fits in memory.
    check_size(*_costliest(grid), record=False)
    out = Path(out)
    started = time.perf_counter()
    if jobs is None:
        jobs = os.cpu_count() or 1
    # A refused out fails at once; it is taken (and a different grid with --force removed)
    # only once the executor runs: a missing Dask or an unreachable scheduler leaves it as
    # it was.
    _claim(out, grid, force, take=False)
    executor: _Local | _Dask
    if dask or scheduler is not None or client is not None:
        executor = _Dask(max(1, min(jobs, grid.n_runs)), scheduler, client)
    else:
        executor = _Local(max(1, min(jobs, grid.n_runs)))
    executor_seconds = round(time.perf_counter() - started, 3)
    try:
        existing = _claim(out, grid, force)
        per_task = task_seeds(grid, executor.jobs)
        per_chunk = int(existing["chunk_seeds"]) if existing else min(grid.seeds, per_task)
        done = _written(out) if existing else set()
        metadata = grid_metadata(
            grid,
            description=grid.description,
            identity=grid.identity(),
            chunk_seeds=per_chunk,
            complete=False,
            executor_seconds=executor_seconds,
        )
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            from lamport.logs import cannot_write

            raise cannot_write(out, exc) from None
        if grid.text:
            _write_text(out / GRID_TOML, grid.text)
        _write_json(out / GRID_JSON, metadata)
        skipped = sum(last - first + 1 for _, first, last in done)
        todo = (c for c in plan(grid, per_chunk) if c not in done)
        total = grid.n_runs
        count = skipped
        if progress is not None:
            progress(count, total)
        for chunk, _, _ in stream(grid, executor, todo, per_task, out, rows=False):
            count += chunk[2] - chunk[1] + 1
            if progress is not None:
                progress(count, total)
    finally:
        executor.close()
    seconds = round(time.perf_counter() - started, 3)
    metadata["complete"] = True
    metadata["seconds"] = seconds
    _write_json(out / GRID_JSON, metadata)
    from lamport.logs import unlock_out

    unlock_out(out)
    return GridResult(grid, out, count - skipped, skipped, seconds, metadata)


def _cost(config: RunConfig) -> int:
    return run_ticks(config) + config.n_machines**2


def _costliest(grid: Grid) -> tuple[RunConfig, DesOptions]:
    """The model and options of the grid's costliest run, without walking its cells: each
    factor at its costliest value (runs grow with the rates and the duration, each on
    its own), or, if that combination makes no valid run, the costliest of a few
    cells. Raise ConfigError if a run would exceed :data:`MAX_RUN_TICKS`."""
    first = grid.cell(0)
    worst = dict(first)
    for factor, values in grid.factors.items():
        if len(values) > 1:
            costs = [_cost(grid.config({**first, factor: v}, grid.first_seed)[0]) for v in values]
            worst[factor] = values[costs.index(max(costs))]
    candidates = [worst]
    step = max(1, grid.n_cells // 64)
    candidates += [grid.cell(index) for index in range(0, grid.n_cells, step)]
    best = None
    for cell in candidates:
        try:
            config, options = grid.config(cell, grid.first_seed)
        except ConfigError:
            continue
        if best is None or _cost(config) > best[0]:
            best = (_cost(config), config, options)
    if best is None:  # every candidate invalid: let the first cell say why
        return grid.config(first, grid.first_seed)
    ticks = run_ticks(best[1])
    if ticks > MAX_RUN_TICKS:
        raise ConfigError(
            f"grid {grid.name}: a run of {count_text(ticks)} machine-ticks "
            f"(limit {MAX_RUN_TICKS:,}); "
            "lower the rates or the duration"
        )
    return best[1], best[2]
