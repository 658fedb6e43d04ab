"""Load a run directory, a sweep or a parameter grid into pandas.

A run directory holds ``run.json`` and ``machine-<id>.csv`` per machine (docs/spec.md,
the log schema), from either backend. Many runs are a grid (:mod:`lamport.des.grid`):
a Parquet dataset of summary rows, one folder per cell, with its metadata beside it.
A sweep is the grid over experiment x seed: ``sweep.json`` and ``summary.csv`` (the
dataset's rows, which a sweep from before the dataset has alone), and optionally the
runs' events (``runs/<label>/`` run directories or one ``events.parquet``). A grid
directory holds ``_grid.json``; both load as a :class:`Sweep` (``kind`` says which).

Every loader raises :class:`lamport.errors.LogError` with a one-line message
that names the file and the problem: a directory that is neither a run nor a
sweep, a missing or malformed file, or (for runs) the first row that breaks an
invariant of docs/spec.md.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import pandas as pd

from lamport.backend import backend_of
from lamport.config import RunConfig
from lamport.errors import ConfigError, LogError
from lamport.invariants import check
from lamport.logs import read_directory_json, read_drops, read_run, require_directory
from lamport.result import RunResult
from lamport.schema import (
    EVENTS_FILE,
    GRID_JSON,
    RUN_FILE,
    RUNS_DIR,
    SUMMARY_COLUMNS,
    SUMMARY_DTYPES,
    SUMMARY_FILE,
    SUMMARY_REQUIRED,
    SWEEP_FILE,
)

if TYPE_CHECKING:
    from lamport.des.sweep import SweepResult

#: The summary.csv columns docs/spec.md (the log schema) requires of every sweep.
REQUIRED_SUMMARY_COLUMNS = SUMMARY_COLUMNS[:SUMMARY_REQUIRED]


#: Anything that names a run: the run itself, or its directory.
RunLike = RunResult | str | Path


def as_run(run: RunLike) -> RunResult:
    """The run itself, or the run loaded (and checked) from its directory.

    Raise LogError as :func:`load_run` does; TypeError for anything else.
    """
    if isinstance(run, RunResult):
        return run
    if isinstance(run, str | Path):
        return load_run(run)
    raise TypeError(f"expected a run or a run directory, got {type(run).__name__}")


@dataclass
class Sweep:
    """Many runs: a sweep (its ``sweep.json`` metadata and ``summary.csv`` as a frame) or
    a grid (``kind`` "grid": its ``_grid.json`` and its dataset's rows, with ``cell``
    and one column per factor).

    ``run_dirs`` lists a sweep's kept run directories (``runs/<label>/``), if any;
    :meth:`events` reads its kept events (``events.parquet``) on demand.
    """

    path: Path | None
    metadata: dict[str, Any]
    summary: pd.DataFrame
    run_dirs: list[Path] = field(default_factory=list)
    kind: str = "sweep"

    @property
    def backend(self) -> str:
        return str(self.metadata.get("backend", "des"))

    @property
    def factors(self) -> list[str]:
        """What varies from cell to cell: a sweep's ``experiment``, a grid's factors."""
        factors = self.metadata.get("factors")
        if isinstance(factors, list) and all(isinstance(f, str) for f in factors):
            return list(factors)
        return ["experiment"]  # a sweep from before sweep.json named its factors

    @property
    def experiments(self) -> list[int]:
        return sorted(int(e) for e in self.summary["experiment"].unique())

    @property
    def seeds(self) -> list[int]:
        return sorted(int(s) for s in self.summary["seed"].unique())

    @property
    def title(self) -> str:
        if self.kind == "grid":
            cells = self.summary["cell"].nunique() if "cell" in self.summary else 0
            return f"grid {self.metadata.get('name', '?')} — {self.backend} — {cells} cells"
        n_exp, n_seeds = len(self.experiments), len(self.seeds)
        exps = "experiment" if n_exp == 1 else "experiments"
        seeds = "seed" if n_seeds == 1 else "seeds"
        return f"sweep — {self.backend} — {n_exp} {exps} × {n_seeds} {seeds}"

    @property
    def has_events(self) -> bool:
        return self.path is not None and (self.path / EVENTS_FILE).is_file()

    def events(self) -> pd.DataFrame:
        """All kept events (with ``experiment`` and ``seed`` columns). Raise LogError if none."""
        if self.path is None:
            raise LogError("the sweep was not written to a directory: it kept no events")
        path = self.path / EVENTS_FILE
        if not path.is_file():
            raise LogError(f"{self.path}: the sweep kept no {EVENTS_FILE}")
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises a zoo of types for a damaged file
            raise LogError(f"{path}: malformed ({type(exc).__name__}: {exc})") from None


#: Anything that names a sweep: a loaded one, a finished ``lamport.des.sweep`` result,
#: or a sweep directory.
SweepLike = Union[Sweep, "SweepResult", str, Path]


def as_sweep(sweep: SweepLike) -> Sweep:
    """The sweep as a :class:`Sweep`: itself, a sweep result in memory (from
    :func:`lamport.des.sweep`) with its rows as a typed frame, or loaded from its directory.

    Raise LogError as :func:`load_sweep` does; TypeError for anything else.
    """
    if isinstance(sweep, Sweep):
        return sweep
    if isinstance(sweep, str | Path):
        return load_sweep(sweep)
    rows, metadata = getattr(sweep, "rows", None), getattr(sweep, "metadata", None)
    if isinstance(rows, list) and isinstance(metadata, dict):
        out = getattr(sweep, "out", None)
        runs = Path(out) / RUNS_DIR if out is not None else None
        run_dirs = (
            sorted(p for p in runs.iterdir() if (p / RUN_FILE).is_file())
            if runs is not None and runs.is_dir()
            else []
        )
        return Sweep(out, metadata, summary_frame(rows), run_dirs)
    raise TypeError(f"expected a sweep or a sweep directory, got {type(sweep).__name__}")


def summary_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Summary rows (``summary.csv``'s columns) as a frame with numeric dtypes: counts as
    int64, rates and other measures as float64, ``name`` as string."""
    frame = pd.DataFrame.from_records(rows)
    frame = frame.astype(
        {c: SUMMARY_DTYPES[c] for c in frame.columns if c in SUMMARY_DTYPES and c != "name"}
    )
    if "name" not in frame:
        frame["name"] = ""
    frame["name"] = frame["name"].astype("string")
    return frame


def _locate(problem: str, run_dir: Path) -> str:
    """Prefix an invariant violation (``machine-1.csv line 7: ...``) with its directory."""
    if problem.startswith(("machine-", RUN_FILE)):
        return f"{run_dir / problem}"
    return f"{run_dir}: {problem}"


def load_run(run_dir: str | Path, validate: bool = True) -> RunResult:
    """Read a run directory of either backend and check its invariants.

    Return the same :class:`lamport.result.RunResult` the backend returned in
    memory, with ``path`` set to the directory. ``queued_at_end`` is taken from
    ``run.json`` (the queue after each machine's last event if it has none).

    Raise LogError naming the file and the problem if the directory is not a
    run, a log is missing or malformed, or (with ``validate``) a log breaks an
    invariant of docs/spec.md; for those the message names the first offending row.
    """
    run_dir = Path(run_dir)
    metadata, logs = read_run(run_dir)
    try:
        config = RunConfig.from_metadata(metadata)
    except ConfigError as exc:
        raise LogError(f"{run_dir / RUN_FILE}: malformed ({exc})") from None
    queued = metadata["queued_at_end"]  # read_run checked it: one count per machine
    dropped = read_drops(run_dir, len(logs))  # unreadable before broken, as check reads
    if validate and backend_of(metadata).strict:
        try:
            check(metadata, logs, drops=dropped)
        except LogError as exc:
            raise LogError(_locate(str(exc), run_dir)) from None
    return RunResult(
        config, logs, [int(q) for q in queued], metadata, path=run_dir, dropped=dropped
    )


def _read_summary(path: Path) -> pd.DataFrame:
    from lamport.files import read_text, reason

    try:
        text = read_text(path)  # a regular file only: a FIFO would block
    except OSError as exc:
        raise LogError(f"{path}: cannot read ({reason(exc)})") from None
    except UnicodeDecodeError:
        raise LogError(f"{path}: not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise LogError(f"{path}: empty file, expected a header row")
    missing = [c for c in REQUIRED_SUMMARY_COLUMNS if c not in header]
    if missing:
        raise LogError(f"{path}: missing column(s) {', '.join(missing)}")
    # extra columns a newer sweep may add stay text; only the known metrics must be numbers
    numeric = [c for c in header if c in SUMMARY_COLUMNS and c != "name"]
    records: list[dict[str, Any]] = []
    for line, row in enumerate(reader, start=2):
        if len(row) != len(header):
            raise LogError(f"{path}: line {line}: {len(row)} fields, expected {len(header)}")
        record: dict[str, Any] = dict(zip(header, row, strict=True))
        for column in numeric:
            try:
                value = float(record[column])
            except ValueError:
                raise LogError(
                    f"{path}: line {line}: {column} {record[column]!r} is not a number"
                ) from None
            if not math.isfinite(value):
                raise LogError(f"{path}: line {line}: {column} {record[column]!r} is not finite")
            record[column] = value
        records.append(record)
    if not records:
        raise LogError(f"{path}: no rows")
    return summary_frame(records)


def load_sweep(sweep_dir: str | Path) -> Sweep:
    """Read a sweep output directory: ``sweep.json`` and ``summary.csv``.

    Raise LogError naming the file if the directory is not a sweep or either
    file is missing or malformed (a bad row is named by its line).
    """
    sweep_dir = Path(sweep_dir)
    metadata = read_directory_json(sweep_dir, SWEEP_FILE, "sweep")
    summary = _read_summary(sweep_dir / SUMMARY_FILE)
    runs = sweep_dir / RUNS_DIR
    run_dirs = (
        sorted(p for p in runs.iterdir() if (p / RUN_FILE).is_file()) if runs.is_dir() else []
    )
    return Sweep(sweep_dir, metadata, summary, run_dirs)


def is_sweep(path: str | Path) -> bool:
    return (Path(path) / SWEEP_FILE).is_file()


def is_grid(path: str | Path) -> bool:
    return (Path(path) / GRID_JSON).is_file()


def load_grid_runs(grid_dir: str | Path, columns: list[str] | None = None) -> Sweep:
    """Read a grid directory: ``_grid.json`` and the dataset's rows (``columns`` of them
    and ``cell``, or all), sorted by cell, seed and machine.

    Raise LogError naming the directory if it is not a grid, its metadata is missing or
    malformed, or it holds no rows yet.
    """
    from lamport.des.grid import read_dataset

    grid_dir = Path(grid_dir)
    metadata = read_directory_json(grid_dir, GRID_JSON, "grid")
    factors = metadata.get("factors")
    if not isinstance(factors, list) or not all(isinstance(f, str) for f in factors):
        raise LogError(f"{grid_dir / GRID_JSON}: malformed (no list of factors)")
    wanted = None if columns is None else list(dict.fromkeys([*columns, *factors]))
    try:
        rows = read_dataset(grid_dir, wanted)
    except Exception as exc:  # pyarrow raises a zoo of types for a damaged file
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise LogError(f"{grid_dir}: malformed dataset ({type(exc).__name__}: {first})") from None
    if rows.empty:
        raise LogError(f"{grid_dir}: the grid holds no rows yet")
    return Sweep(grid_dir, metadata, rows, kind="grid")


def load(path: str | Path) -> RunResult | Sweep:
    """Load a run, a sweep or a grid, whichever the directory holds.

    Raise LogError if it is none (no ``run.json``, ``sweep.json`` or ``_grid.json``).
    """
    path = Path(path)
    require_directory(path)
    if is_sweep(path):
        return load_sweep(path)
    if is_grid(path):
        return load_grid_runs(path)
    if (path / RUN_FILE).exists() or (path / RUN_FILE).is_symlink():
        return load_run(path)  # which says what a run.json that is no regular file is
    raise LogError(f"{path}: neither a run directory (no {RUN_FILE}) nor a sweep (no {SWEEP_FILE})")
