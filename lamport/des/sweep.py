"""Sweeps: many experiments times many seeds on the DES, spread over the cores.

A sweep is a grid (:mod:`lamport.des.grid`) whose factors are the catalogue
experiment and the seed: :func:`sweep_grid` builds it, and the grid's engine
(:func:`lamport.des.grid.stream`) runs it, chunks of consecutive seeds of one
experiment, in tasks of about a third of a second on a local process pool.
Results come back in chunk order, so the output does not depend on the number
of jobs, and only a few tasks per worker are in flight: ``--seeds 1000000000``
runs in bounded memory, its rows kept in memory only for sweeps of at most
:data:`KEEP_ROWS_RUNS` runs.

The sweep directory is the grid's Parquet dataset (``cell=<i>/seeds-<first>-<last>.parquet``,
cell ``i`` the ``i``-th experiment, one row per run and machine) with, beside it,
``summary.csv`` (the same rows, docs/spec.md, the log schema: users read it),
``sweep.json`` (built by :func:`lamport.des.grid.grid_metadata`, as a grid's
``_grid.json`` is) and, on request, every run's events: ``runs/<label>/`` run
directories (CSV) or one ``events.parquet``. The directory is published in one
rename when the sweep ends; an interrupted sweep leaves nothing.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamport.config import DEFAULT_LATENCY, as_fault, catalogue_numbers, experiment
from lamport.des.grid import Grid, grid_metadata, local_executor, plan, stream, task_seeds
from lamport.errors import ConfigError
from lamport.logs import Staging, cannot_write, claim_out, number_text, write_json, write_run
from lamport.schema import (
    EVENTS_FILE,
    NETWORK_COLUMNS,
    NETWORK_EVENTS_FILE,
    RUNS_DIR,
    SUMMARY_COLUMNS,
    SUMMARY_FILE,
    SWEEP_FILE,
    SWEEP_METRICS,
)
from lamport.stats import mean_ci

KEEP_FORMATS = ("csv", "parquet")
#: Sweeps of at most this many runs keep their rows in memory (SweepResult.rows).
KEEP_ROWS_RUNS = 200_000
#: The most runs whose events --keep-logs keeps (they are held until the sweep ends).
MAX_KEPT_RUNS = 20_000
#: sweep.json lists the seeds up to this many, and gives first and count beyond.
LISTED_SEEDS = 100_000
#: The keys of sweep.json that say which sweep a directory holds.
SWEEP_IDENTITY = ("backend", "experiments", "seeds", "duration", "latency", "keep_logs")
#: The grid name of every sweep.
SWEEP_NAME = "sweep"


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


def default_sweep_out(
    experiments: Sequence[int] | None,
    seeds: int,
    duration: float | None = None,
    latency: float = DEFAULT_LATENCY,
    keep_logs: str | None = None,
    faults: Sequence[str] = (),
) -> Path:
    """The default sweep directory, naming what the sweep runs.

    ``runs/des/sweep-all-s100``, ``runs/des/sweep-exp4-9-s50-d30``; the
    latency and kept logs are appended when they differ from the defaults, and
    ``-faults-<hash>`` for a fault plan.
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
    if faults:
        from lamport.faults import plan_label

        parts.append(plan_label([as_fault(f) for f in faults]))
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


class RunningAggregate:
    """:func:`aggregate` over rows seen one at a time, in memory bounded by the groups.

    Means and variances are kept by Welford's method, so the figures equal
    :func:`aggregate`'s up to rounding.
    """

    def __init__(self) -> None:
        # (experiment, "machine"|"rate", key) -> [first row, seeds seen, n, per-metric stats]
        self.groups: dict[tuple[int, str, float], list[Any]] = {}
        self.rates: dict[tuple[int, int], set[float]] = {}

    def add(self, row: Mapping[str, Any]) -> None:
        exp = row["experiment"]
        seen = self.rates.setdefault((exp, row["machine"]), set())
        if len(seen) < 2:
            seen.add(row["rate"])
        for kind, key in (("machine", row["machine"]), ("rate", row["rate"])):
            group = self.groups.get((exp, kind, key))
            if group is None:
                group = self.groups[(exp, kind, key)] = [
                    dict(row),
                    set(),
                    0,
                    {m: [0.0, 0.0] for m in SWEEP_METRICS},
                ]
            if len(group[1]) <= LISTED_SEEDS:
                group[1].add(row["seed"])
            group[2] += 1
            n = group[2]
            for metric, acc in group[3].items():
                x = float(row[metric])
                delta = x - acc[0]
                acc[0] += delta / n
                acc[1] += delta * (x - acc[0])

    def result(self) -> list[dict[str, Any]]:
        from lamport.stats import ci_half_width

        by_rate = {exp for (exp, _), seen in self.rates.items() if len(seen) > 1}
        out = []
        for (exp, kind, key), (first, seeds, n, stats) in sorted(
            self.groups.items(), key=lambda item: (item[0][0], item[0][2])
        ):
            if (kind == "rate") != (exp in by_rate):
                continue
            entry: dict[str, Any] = {
                "experiment": exp,
                "name": first.get("name", ""),
                "machine": None if kind == "rate" else key,
                "rate": first["rate"],
                "p_send": first["p_send"],
                "seeds": len(seeds),
                "n": n,
            }
            for metric, (mean, m2) in stats.items():
                entry[metric] = mean
                entry[f"{metric}_ci"] = (
                    ci_half_width(math.sqrt(m2 / (n - 1)), n) if n > 1 else math.nan
                )
            out.append(entry)
        return out


def sweep_grid(
    experiments: Sequence[int],
    seeds: int,
    first_seed: int = 0,
    duration: float | None = None,
    latency: float = DEFAULT_LATENCY,
    faults: Sequence[object] = (),
) -> Grid:
    """The grid a sweep runs: one cell per catalogue experiment (in the order given),
    ``seeds`` consecutive seeds from ``first_seed``, the duration (None: each
    experiment's own), latency and extra faults every run shares. Raise ConfigError
    for an unknown experiment."""
    chosen = {number: experiment(number) for number in experiments}
    fixed: dict[str, Any] = {"latency": latency}
    if duration is not None:
        fixed["duration"] = duration
    plan_ = tuple(as_fault(f) for f in faults)
    if plan_:
        fixed["faults"] = plan_
    factors: dict[str, list[Any]] = {"experiment": list(experiments)}
    return Grid(SWEEP_NAME, seeds, factors, fixed, first_seed=first_seed, experiments=chosen)


def sweep_of(metadata: Mapping[str, Any]) -> Grid:
    """The grid of the sweep a ``sweep.json`` records (its experiments, seeds, duration,
    latency and faults). Raise ConfigError if it records none of those rightly."""
    seeds = metadata.get("seeds")
    if isinstance(seeds, Mapping):
        first, count = seeds.get("first", 0), seeds.get("count", 1)
    elif isinstance(seeds, list) and seeds:
        first, count = seeds[0], len(seeds)
    else:
        raise ConfigError(f"seeds must be a list or {{first, count}}, got {seeds!r}")
    return sweep_grid(
        metadata.get("experiments") or [],
        count,
        first,
        metadata.get("duration"),
        metadata.get("latency", DEFAULT_LATENCY),
        metadata.get("faults") or (),
    )


def _seed_range(seeds: int | Sequence[int]) -> range:
    """The sweep's seeds as a range: a count K (0..K-1) or consecutive seeds."""
    if isinstance(seeds, int):
        if seeds < 1:
            raise ConfigError(f"--seeds must be >= 1, got {seeds}")
        return range(seeds)  # never a list: --seeds 1000000000 must not allocate
    listed = [int(s) for s in seeds]
    if not listed or min(listed) < 0:
        raise ConfigError("seeds must be a non-empty list of integers >= 0")
    if listed != list(range(listed[0], listed[0] + len(listed))):
        raise ConfigError("seeds must be a count or consecutive integers (a sweep runs a range)")
    return range(listed[0], listed[0] + len(listed))


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
    faults: Sequence[object] = (),
) -> SweepResult:
    """Run experiments x seeds and summarize every run per machine.

    ``seeds`` is a count K (seeds 0..K-1) or a list of consecutive seeds.
    ``duration`` overrides every experiment's own. ``jobs`` defaults to the
    number of cores. With ``out`` the sweep directory is written (atomically);
    ``keep_logs`` ("csv" or "parquet") also keeps every run's events there.
    ``progress(done, total)`` is called as runs finish. An ``out`` that holds
    a different sweep (see :data:`SWEEP_IDENTITY`) is refused unless ``force``.
    ``faults`` (faults, ``--fault`` strings or tables) are added to every
    experiment's own plan.

    Raise LogError if ``out`` cannot take the sweep; raise ConfigError for an
    unknown experiment, a bad seed count, duration, latency or log format.
    """
    numbers = catalogue_numbers() if experiments is None else list(experiments)
    seed_range = _seed_range(seeds)
    plan_ = tuple(as_fault(f) for f in faults)
    grid = sweep_grid(numbers, len(seed_range), seed_range.start, duration, latency, plan_)
    if keep_logs is not None and keep_logs not in KEEP_FORMATS:
        raise ConfigError(
            f"--keep-logs must be one of {', '.join(KEEP_FORMATS)}, got {keep_logs!r}"
        )
    if keep_logs is not None and out is None:
        raise ConfigError("--keep-logs needs an output directory")
    total = grid.n_runs
    if keep_logs is not None and total > MAX_KEPT_RUNS:
        raise ConfigError(
            f"--keep-logs keeps at most {MAX_KEPT_RUNS:,} runs' events, this sweep has {total:,}"
        )
    # Validate duration, latency and size once, before forking anything.
    from lamport.des.size import check_size

    for cell in grid.cells():
        check_size(*grid.config(cell, seed_range.start))
    jobs = max(1, min(jobs or os.cpu_count() or 1, total))
    per_task = task_seeds(grid, jobs)
    per_chunk = min(grid.seeds, per_task)
    if len(seed_range) <= LISTED_SEEDS:
        listed: Any = list(seed_range)
    else:
        listed = {"first": seed_range.start, "count": len(seed_range)}
    metadata = grid_metadata(
        grid,
        experiments=numbers,
        seeds=listed,
        duration=duration,
        latency=latency,
        keep_logs=keep_logs,
        chunk_seeds=per_chunk,
    )
    if plan_:
        from lamport.faults import fault_text

        metadata["faults"] = [fault_text(f) for f in plan_]
    staging = None
    if out is not None:
        identity = {key: metadata[key] for key in SWEEP_IDENTITY}
        if plan_:
            identity["faults"] = metadata["faults"]
        staging = Staging(claim_out(Path(out), identity, SWEEP_FILE, force), SWEEP_FILE)

    keep_rows = total <= KEEP_ROWS_RUNS
    rows: list[dict[str, Any]] = []
    running = None if keep_rows else RunningAggregate()
    kept: list[Any] = []
    n_events = 0
    done = 0
    executor = None
    writer = _SummaryWriter(staging) if staging is not None else None
    try:
        executor = local_executor(jobs)
        dataset = writer.path if writer is not None else None
        chunks = plan(grid, per_chunk)
        shown = staging.out if staging is not None else None
        keep = keep_logs is not None
        for chunk, columns, chunk_kept in stream(
            grid, executor, chunks, per_task, dataset, keep, shown
        ):
            values = list(zip(*(columns[name] for name in SUMMARY_COLUMNS), strict=True))
            if writer is not None:
                writer.write(values)
            chunk_rows = [dict(zip(SUMMARY_COLUMNS, row, strict=True)) for row in values]
            if running is not None:
                for row in chunk_rows:
                    running.add(row)
            else:
                rows.extend(chunk_rows)
            kept.extend(chunk_kept)
            n_events += sum(columns["ticks"])
            done += chunk[2] - chunk[1] + 1
            if progress is not None:
                progress(done, total)
        aggregated = aggregate(rows) if running is None else running.result()
        result = SweepResult(rows, metadata, None, n_events, aggregated)
        if writer is not None:
            writer.finish(result, kept, keep_logs)
            result.out = writer.publish()
    except BaseException:
        if writer is not None:
            writer.discard()
        raise
    finally:
        if executor is not None:
            executor.close()
    return result


class _SummaryWriter:
    """summary.csv written into the staging directory as rows arrive, then published."""

    def __init__(self, staging: Staging) -> None:
        self.staging = staging
        self.path = staging.create()
        try:
            self.handle = open(  # noqa: SIM115 (closed in finish or discard)
                self.path / SUMMARY_FILE, "w", newline="", encoding="utf-8"
            )
            self.csv = csv.writer(self.handle, lineterminator="\n")
            self.csv.writerow(SUMMARY_COLUMNS)
        except OSError as exc:
            staging.discard()
            raise cannot_write(staging.out, exc) from None

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        """Rows as value tuples in :data:`SUMMARY_COLUMNS` order."""
        try:
            self.csv.writerows(rows)
        except OSError as exc:
            raise cannot_write(self.staging.out, exc) from None

    def finish(self, result: SweepResult, kept: list[Any], keep: str | None) -> None:
        try:
            self.handle.close()
            if keep == "csv":
                for label, metadata, logs, drops in kept:
                    write_run(self.path / RUNS_DIR / label, metadata, logs, drops)
            elif keep == "parquet":
                _write_parquet(self.path / EVENTS_FILE, kept)
            write_json(self.path / SWEEP_FILE, result.metadata)
        except OSError as exc:
            raise cannot_write(self.staging.out, exc) from None

    def publish(self) -> Path:
        return self.staging.publish()

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.handle.close()
        self.staging.discard()


def _write_parquet(path: Path, kept: list[Any]) -> None:
    import pandas as pd

    from lamport.frames import events_frame

    frames = []
    lost = []
    for _, metadata, logs, drops in kept:
        frame = events_frame(logs)
        frame.insert(0, "seed", metadata["seed"])
        frame.insert(0, "experiment", metadata["experiment"])
        frames.append(frame)
        lost += [(metadata["experiment"], metadata["seed"], *drop) for drop in drops or ()]
    pd.concat(frames, ignore_index=True).to_parquet(path, index=False)
    if any(drops is not None for *_, drops in kept):  # a fault plan: its lost messages too
        columns = ["experiment", "seed", *NETWORK_COLUMNS]
        network = pd.DataFrame(lost, columns=columns)
        network.to_parquet(path.with_name(NETWORK_EVENTS_FILE), index=False)
