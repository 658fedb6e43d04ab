"""Load a run directory or a sweep output directory into pandas.

A run directory holds ``run.json`` and ``machine-<id>.csv`` per machine (SPEC
section 3), from either backend. A sweep directory holds ``sweep.json`` and
``summary.csv``, and optionally the runs' events (``runs/<label>/`` run
directories or one ``events.parquet``).

Every loader raises :class:`lamport.errors.LogError` with a one-line message
that names the file and the problem: a directory that is neither a run nor a
sweep, a missing or malformed file, or (for runs) the first row that breaks a
SPEC section 4 invariant.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lamport.core import Event
from lamport.errors import LogError
from lamport.frames import events_frame
from lamport.invariants import check
from lamport.logs import RUN_FILE, read_directory_json, read_run, require_directory
from lamport.summary import SUMMARY_COLUMNS

SWEEP_FILE = "sweep.json"
SUMMARY_FILE = "summary.csv"
EVENTS_FILE = "events.parquet"
RUNS_DIR = "runs"

#: The summary.csv columns SPEC section 3 requires of every sweep.
REQUIRED_SUMMARY_COLUMNS = SUMMARY_COLUMNS[:14]

_INT_COLUMNS = (
    "experiment",
    "seed",
    "machine",
    "ticks",
    "n_internal",
    "n_send",
    "n_receive",
    "final_clock",
    "final_queue",
    "max_queue",
    "max_jump",
    "messages_sent",
    "drift_end",
)


def describe(metadata: dict[str, Any], backend: str | None = None) -> str:
    """A figure or report title: ``exp 4 big-differences — des — seed 1``."""
    exp = metadata.get("experiment")
    name = metadata.get("name") or "custom"
    head = f"exp {exp} {name}" if exp else name
    return f"{head} — {backend or metadata.get('backend', '?')} — seed {metadata.get('seed', '?')}"


@dataclass
class Run:
    """One run: its ``run.json`` metadata, its logs by machine, and all events as a frame.

    ``events`` has the log schema's columns and dtypes (:data:`lamport.frames.DTYPES`),
    ordered by model time ``t``, then machine.
    """

    path: Path
    metadata: dict[str, Any]
    logs: list[list[Event]]
    events: pd.DataFrame

    @property
    def backend(self) -> str:
        return str(self.metadata.get("backend", "?"))

    @property
    def rates(self) -> list[float]:
        return [float(r) for r in self.metadata["rates"]]

    @property
    def n_machines(self) -> int:
        return len(self.metadata["rates"])

    @property
    def duration(self) -> float:
        """The run's duration in model seconds (the last event's time if run.json has none)."""
        duration = self.metadata.get("duration")
        last = float(self.events["t"].max()) if len(self.events) else 0.0
        return float(duration) if duration is not None else last

    @property
    def title(self) -> str:
        return describe(self.metadata)


@dataclass
class Sweep:
    """A sweep: its ``sweep.json`` metadata and ``summary.csv`` as a frame.

    ``run_dirs`` lists the kept run directories (``runs/<label>/``), if any;
    :meth:`events` reads the kept events (``events.parquet``) on demand.
    """

    path: Path
    metadata: dict[str, Any]
    summary: pd.DataFrame
    run_dirs: list[Path] = field(default_factory=list)

    @property
    def backend(self) -> str:
        return str(self.metadata.get("backend", "des"))

    @property
    def experiments(self) -> list[int]:
        return sorted(int(e) for e in self.summary["experiment"].unique())

    @property
    def seeds(self) -> list[int]:
        return sorted(int(s) for s in self.summary["seed"].unique())

    @property
    def title(self) -> str:
        n_exp, n_seeds = len(self.experiments), len(self.seeds)
        exps = "experiment" if n_exp == 1 else "experiments"
        seeds = "seed" if n_seeds == 1 else "seeds"
        return f"sweep — {self.backend} — {n_exp} {exps} × {n_seeds} {seeds}"

    @property
    def has_events(self) -> bool:
        return (self.path / EVENTS_FILE).is_file()

    def events(self) -> pd.DataFrame:
        """All kept events (with ``experiment`` and ``seed`` columns). Raise LogError if none."""
        path = self.path / EVENTS_FILE
        if not path.is_file():
            raise LogError(f"{self.path}: the sweep kept no {EVENTS_FILE}")
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises a zoo of types for a damaged file
            raise LogError(f"{path}: malformed ({type(exc).__name__}: {exc})") from None


def _locate(problem: str, run_dir: Path) -> str:
    """Prefix an invariant violation (``machine-1.csv line 7: ...``) with its directory."""
    if problem.startswith(("machine-", RUN_FILE)):
        return f"{run_dir / problem}"
    return f"{run_dir}: {problem}"


def load_run(run_dir: str | Path, validate: bool = True) -> Run:
    """Read a run directory of either backend and check its invariants.

    Raise LogError naming the file and the problem if the directory is not a
    run, a log is missing or malformed, or (with ``validate``) a log breaks a
    SPEC section 4 invariant; for those the message names the first offending row.
    """
    run_dir = Path(run_dir)
    metadata, logs = read_run(run_dir)
    for key in ("p_send", "duration"):
        if not isinstance(metadata.get(key), int | float) or isinstance(metadata.get(key), bool):
            raise LogError(f"{run_dir / RUN_FILE}: malformed ({key} is not a number)")
    if validate:
        try:
            check(metadata, logs)
        except LogError as exc:
            raise LogError(_locate(str(exc), run_dir)) from None
    return Run(run_dir, metadata, logs, events_frame(logs))


def _read_summary(path: Path) -> pd.DataFrame:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LogError(f"{path}: cannot read ({exc.strerror})") from None
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
    frame = pd.DataFrame.from_records(records, columns=header)
    for column in _INT_COLUMNS:
        if column in frame:
            frame[column] = frame[column].astype("int64")
    if "name" not in frame:
        frame["name"] = ""
    frame["name"] = frame["name"].astype("string")
    return frame


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


def load(path: str | Path) -> Run | Sweep:
    """Load a run or a sweep, whichever the directory holds.

    Raise LogError if it is neither (no ``run.json`` and no ``sweep.json``).
    """
    path = Path(path)
    require_directory(path)
    if is_sweep(path):
        return load_sweep(path)
    if (path / RUN_FILE).is_file():
        return load_run(path)
    raise LogError(f"{path}: neither a run directory (no {RUN_FILE}) nor a sweep (no {SWEEP_FILE})")
