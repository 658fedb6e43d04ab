"""Sweeps: many experiments times many seeds on the DES, spread over the cores.

A sweep runs every chosen experiment for seeds ``0 .. K-1`` (or a given list),
summarizes each run per machine in the worker, and returns the rows. Workers
are forked processes (``multiprocessing``), each task a block of runs of one
experiment, results gathered in task order, so the output does not depend on
the number of jobs. The sweep directory holds ``summary.csv`` (SPEC section 3),
``sweep.json`` (the sweep's config), and, on request, every run's events:
``runs/<label>/`` run directories (CSV) or one ``events.parquet``.
"""

from __future__ import annotations

import csv
import os
import signal
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamport import __version__
from lamport.config import DEFAULT_LATENCY, Experiment, catalogue_numbers, experiment
from lamport.des.options import DesOptions
from lamport.errors import ConfigError
from lamport.logs import Staging, cannot_write, claim_out, number_text, write_json, write_run
from lamport.schema import (
    EVENTS_FILE,
    RUNS_DIR,
    SUMMARY_COLUMNS,
    SUMMARY_FILE,
    SWEEP_FILE,
    SWEEP_METRICS,
)
from lamport.stats import mean_ci
from lamport.summary import summarize

KEEP_FORMATS = ("csv", "parquet")
#: The keys of sweep.json that say which sweep a directory holds.
SWEEP_IDENTITY = ("backend", "experiments", "seeds", "duration", "latency", "keep_logs")


@dataclass
class SweepResult:
    """A finished sweep: one summary row per (experiment, seed, machine)."""

    rows: list[dict[str, Any]]
    metadata: dict[str, Any]
    out: Path | None = None
    n_events: int = 0
    aggregated: list[dict[str, Any]] = field(default_factory=list)

    @property
    def summary(self) -> Any:
        """The rows as a pandas DataFrame (imports pandas)."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=list(SUMMARY_COLUMNS))


# One task: (experiment, seeds, duration, options, keep) -> (rows, events, kept logs)
_Task = tuple[Experiment, tuple[int, ...], float | None, DesOptions, str | None]


def default_sweep_out(
    experiments: Sequence[int] | None,
    seeds: int,
    duration: float | None = None,
    latency: float = DEFAULT_LATENCY,
    keep_logs: str | None = None,
) -> Path:
    """The default sweep directory, naming what the sweep runs.

    ``runs/des/sweep-all-s100``, ``runs/des/sweep-exp4-9-s50-d30``; the
    latency and kept logs are appended when they differ from the defaults.
    """
    numbers = list(experiments) if experiments is not None else catalogue_numbers()
    chosen = "all" if numbers == catalogue_numbers() else "exp" + "-".join(map(str, numbers))
    parts = ["sweep", chosen, f"s{seeds}"]
    if duration is not None:
        parts.append(f"d{number_text(duration)}")
    if latency != DEFAULT_LATENCY:
        parts.append(f"lat{number_text(latency)}")
    if keep_logs is not None:
        parts.append(keep_logs)
    return Path("runs") / "des" / "-".join(parts)


def aggregate(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The mean and 95% CI half-width (:func:`lamport.stats.mean_ci`) of every
    :data:`lamport.schema.SWEEP_METRICS` column, per group of summary rows.

    A group is one machine of one experiment, over the seeds. An experiment whose
    rates change with the seed (experiment 1 draws them) is grouped by rate
    instead, since machine 0 of one seed and machine 0 of another have nothing in
    common; its entries have ``machine`` None. Each entry names the experiment,
    its ``name``, ``machine``, ``rate`` (a number), ``p_send``, ``seeds`` (how
    many seeds) and ``n`` (how many machine-runs it averages), then ``<metric>``
    and ``<metric>_ci`` for each metric. Entries come by experiment, then by
    machine or rate.
    """
    by_experiment: dict[int, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_experiment.setdefault(row["experiment"], []).append(row)
    out = []
    for exp, members in sorted(by_experiment.items()):
        rates: dict[int, set[float]] = {}
        for row in members:
            rates.setdefault(row["machine"], set()).add(row["rate"])
        by_rate = any(len(seen) > 1 for seen in rates.values())
        groups: dict[float, list[Mapping[str, Any]]] = {}
        for row in members:
            groups.setdefault(row["rate"] if by_rate else row["machine"], []).append(row)
        for key, group in sorted(groups.items()):
            entry: dict[str, Any] = {
                "experiment": exp,
                "name": group[0].get("name", ""),
                "machine": None if by_rate else key,
                "rate": group[0]["rate"],
                "p_send": group[0]["p_send"],
                "seeds": len({row["seed"] for row in group}),
                "n": len(group),
            }
            for metric in SWEEP_METRICS:
                mean, half = mean_ci([float(row[metric]) for row in group])
                entry[metric] = mean
                entry[f"{metric}_ci"] = half
            out.append(entry)
    return out


def _worker_signals() -> None:
    """A pool worker leaves Ctrl-C to the parent and dies quietly when it terminates the pool."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _run_block(task: _Task) -> tuple[list[dict[str, Any]], int, list[Any]]:
    from lamport.des.model import simulate

    experiment, seeds, duration, options, keep = task
    rows: list[dict[str, Any]] = []
    kept: list[Any] = []
    n_events = 0
    for seed in seeds:
        result = simulate(experiment.config(seed, duration=duration), options)
        rows.extend(summarize(result.metadata, result.logs))
        n_events += result.n_events
        if keep is not None:
            kept.append((result.config.label, result.metadata, result.logs))
    return rows, n_events, kept


def _blocks(
    experiments: Sequence[Experiment],
    seeds: Sequence[int],
    duration: float | None,
    options: DesOptions,
    keep: str | None,
    jobs: int,
) -> list[_Task]:
    # About 8 tasks per worker keeps the cores busy and the progress bar moving.
    per_task = max(1, len(experiments) * len(seeds) // (jobs * 8))
    tasks = []
    for exp in experiments:
        for start in range(0, len(seeds), per_task):
            tasks.append((exp, tuple(seeds[start : start + per_task]), duration, options, keep))
    return tasks


def sweep(
    experiments: Iterable[int] | None = None,
    seeds: int | Sequence[int] = 100,
    duration: float | None = None,
    latency: float = DEFAULT_LATENCY,
    jobs: int | None = None,
    out: Path | None = None,
    keep_logs: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    force: bool = False,
) -> SweepResult:
    """Run experiments x seeds and summarize every run per machine.

    ``seeds`` is a count K (seeds 0..K-1) or an explicit list. ``duration``
    overrides every experiment's own. ``jobs`` defaults to the number of
    cores. With ``out`` the sweep directory is written (atomically);
    ``keep_logs`` ("csv" or "parquet") also keeps every run's events there.
    ``progress(done, total)`` is called as runs finish. An ``out`` that holds
    a different sweep (see :data:`SWEEP_IDENTITY`) is refused unless ``force``.

    Raise LogError if ``out`` cannot take the sweep; raise ConfigError for an
    unknown experiment, a bad seed count, duration, latency or log format.
    """
    numbers = catalogue_numbers() if experiments is None else list(experiments)
    chosen = [experiment(number) for number in numbers]
    if isinstance(seeds, int):
        if seeds < 1:
            raise ConfigError(f"--seeds must be >= 1, got {seeds}")
        seed_list = list(range(seeds))
    else:
        seed_list = [int(s) for s in seeds]
        if not seed_list or min(seed_list) < 0:
            raise ConfigError("seeds must be a non-empty list of integers >= 0")
    if keep_logs is not None and keep_logs not in KEEP_FORMATS:
        raise ConfigError(
            f"--keep-logs must be one of {', '.join(KEEP_FORMATS)}, got {keep_logs!r}"
        )
    if keep_logs is not None and out is None:
        raise ConfigError("--keep-logs needs an output directory")
    # Validate duration, latency and size once, before forking anything.
    from lamport.des.model import check_size

    for exp in chosen:
        check_size(exp.config(seed_list[0], duration=duration))
    options = DesOptions(latency=latency)
    metadata = {
        "backend": "des",
        "experiments": numbers,
        "seeds": seed_list,
        "duration": duration,
        "latency": latency,
        "keep_logs": keep_logs,
        "version": __version__,
    }
    staging = None
    if out is not None:
        identity = {key: metadata[key] for key in SWEEP_IDENTITY}
        staging = Staging(claim_out(Path(out), identity, SWEEP_FILE, force), SWEEP_FILE)
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(chosen) * len(seed_list)))

    tasks = _blocks(chosen, seed_list, duration, options, keep_logs, jobs)
    total = len(chosen) * len(seed_list)
    rows: list[dict[str, Any]] = []
    kept: list[Any] = []
    n_events = 0
    done = 0
    if jobs == 1:
        results: Iterable[tuple[list[dict[str, Any]], int, list[Any]]] = map(_run_block, tasks)
        pool = None
    else:
        import multiprocessing

        pool = multiprocessing.get_context("fork").Pool(jobs, initializer=_worker_signals)
        results = pool.imap(_run_block, tasks)
    try:
        for (block_rows, block_events, block_kept), task in zip(results, tasks, strict=True):
            rows.extend(block_rows)
            kept.extend(block_kept)
            n_events += block_events
            done += len(task[1])
            if progress is not None:
                progress(done, total)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()

    result = SweepResult(rows, metadata, None, n_events, aggregate(rows))
    if staging is not None:
        result.out = _write(staging, result, kept, keep_logs)
    return result


def _write(staging: Staging, result: SweepResult, kept: list[Any], keep: str | None) -> Path:
    path = staging.create()
    try:
        with open(path / SUMMARY_FILE, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, SUMMARY_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(result.rows)
        if keep == "csv":
            for label, metadata, logs in kept:
                write_run(path / RUNS_DIR / label, metadata, logs)
        elif keep == "parquet":
            _write_parquet(path / EVENTS_FILE, kept)
        write_json(path / SWEEP_FILE, result.metadata)
    except OSError as exc:
        staging.discard()
        raise cannot_write(staging.out, exc) from None
    except BaseException:
        staging.discard()
        raise
    return staging.publish()


def _write_parquet(path: Path, kept: list[Any]) -> None:
    import pandas as pd

    from lamport.frames import events_frame

    frames = []
    for _, metadata, logs in kept:
        frame = events_frame(logs)
        frame.insert(0, "seed", metadata["seed"])
        frame.insert(0, "experiment", metadata["experiment"])
        frames.append(frame)
    pd.concat(frames, ignore_index=True).to_parquet(path, index=False)
