"""Sweeps: many experiments times many seeds on the DES, spread over the cores.

A sweep runs every chosen experiment for seeds ``0 .. K-1`` (or a given list),
summarizes each run per machine in the worker, and returns the rows. Workers
are forked processes (``multiprocessing``), each task a block of at most
:data:`MAX_TASK_RUNS` runs of one experiment, results gathered in task order,
so the output does not depend on the number of jobs. Seeds and tasks are
streamed: only a few tasks per worker are in flight, ``summary.csv`` is
written as rows arrive, and the rows are kept in memory only for sweeps of at
most :data:`KEEP_ROWS_RUNS` runs, so ``--seeds 1000000000`` runs in bounded
memory. The sweep directory holds ``summary.csv`` (docs/spec.md, the log schema),
``sweep.json`` (the sweep's config), and, on request, every run's events:
``runs/<label>/`` run directories (CSV) or one ``events.parquet``.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lamport import __version__
from lamport.config import DEFAULT_LATENCY, Experiment, as_fault, catalogue_numbers, experiment
from lamport.des.options import DesOptions
from lamport.des.pool import fork_pool, windowed
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
from lamport.summary import summarize

KEEP_FORMATS = ("csv", "parquet")
#: The most runs in one task: about half a second of work.
MAX_TASK_RUNS = 200
#: Sweeps of at most this many runs keep their rows in memory (SweepResult.rows).
KEEP_ROWS_RUNS = 200_000
#: The most runs whose events --keep-logs keeps (they are held until the sweep ends).
MAX_KEPT_RUNS = 20_000
#: sweep.json lists the seeds up to this many, and gives first and count beyond.
LISTED_SEEDS = 100_000
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


def _run_block(task: _Task) -> tuple[list[dict[str, Any]], int, list[Any]]:
    """Run a block of seeds; without kept logs on the summaries-only path."""
    from lamport.des.model import simulate, simulate_summary

    experiment, seeds, duration, options, keep = task
    rows: list[dict[str, Any]] = []
    kept: list[Any] = []
    for seed in seeds:
        config = experiment.config(seed, duration=duration)
        if keep is None:
            rows.extend(simulate_summary(config, options))
            continue
        result = simulate(config, options)
        rows.extend(summarize(result.metadata, result.logs, result.dropped))
        drops = result.dropped if config.faults else None
        kept.append((result.config.label, result.metadata, result.logs, drops))
    return rows, sum(row["ticks"] for row in rows), kept


def _blocks(
    experiments: Sequence[Experiment],
    seeds: Sequence[int],
    duration: float | None,
    options: DesOptions,
    keep: str | None,
    jobs: int,
) -> Iterator[_Task]:
    # About 8 tasks per worker keeps the cores busy and the progress bar moving;
    # MAX_TASK_RUNS keeps a task short however many seeds there are.
    per_task = max(1, min(MAX_TASK_RUNS, len(experiments) * len(seeds) // (jobs * 8)))
    for exp in experiments:
        for start in range(0, len(seeds), per_task):
            yield (exp, tuple(seeds[start : start + per_task]), duration, options, keep)


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

    ``seeds`` is a count K (seeds 0..K-1) or an explicit list. ``duration``
    overrides every experiment's own. ``jobs`` defaults to the number of
    cores. With ``out`` the sweep directory is written (atomically);
    ``keep_logs`` ("csv" or "parquet") also keeps every run's events there.
    ``progress(done, total)`` is called as runs finish. An ``out`` that holds
    a different sweep (see :data:`SWEEP_IDENTITY`) is refused unless ``force``.
    ``faults`` (faults, ``--fault`` strings or tables) are added to every
    experiment's own plan.

    Raise LogError if ``out`` cannot take the sweep; raise ConfigError for an
    unknown experiment, a bad seed count, duration, latency or log format.
    """
    numbers = catalogue_numbers() if experiments is None else list(experiments)
    chosen = [experiment(number) for number in numbers]
    plan = tuple(as_fault(f) for f in faults)
    if plan:
        chosen = [replace(exp, faults=exp.faults + plan) for exp in chosen]
    seed_list: Sequence[int]
    if isinstance(seeds, int):
        if seeds < 1:
            raise ConfigError(f"--seeds must be >= 1, got {seeds}")
        seed_list = range(seeds)  # never a list: --seeds 1000000000 must not allocate
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
    total = len(chosen) * len(seed_list)
    if keep_logs is not None and total > MAX_KEPT_RUNS:
        raise ConfigError(
            f"--keep-logs keeps at most {MAX_KEPT_RUNS:,} runs' events, this sweep has {total:,}"
        )
    # Validate duration, latency and size once, before forking anything.
    from lamport.des.size import check_size

    options = DesOptions(latency=latency)
    for exp in chosen:
        check_size(exp.config(seed_list[0], duration=duration), options)
    if len(seed_list) <= LISTED_SEEDS:
        listed: Any = list(seed_list)
    else:
        listed = {"first": seed_list[0], "count": len(seed_list)}
    metadata = {
        "backend": "des",
        "experiments": numbers,
        "seeds": listed,
        "duration": duration,
        "latency": latency,
        "keep_logs": keep_logs,
        "version": __version__,
    }
    if plan:
        from lamport.faults import fault_text

        metadata["faults"] = [fault_text(f) for f in plan]
    staging = None
    if out is not None:
        identity = {key: metadata[key] for key in SWEEP_IDENTITY}
        if plan:
            identity["faults"] = metadata["faults"]
        staging = Staging(claim_out(Path(out), identity, SWEEP_FILE, force), SWEEP_FILE)
    jobs = max(1, min(jobs or os.cpu_count() or 1, total))

    tasks = _blocks(chosen, seed_list, duration, options, keep_logs, jobs)
    keep_rows = total <= KEEP_ROWS_RUNS
    rows: list[dict[str, Any]] = []
    running = None if keep_rows else RunningAggregate()
    kept: list[Any] = []
    n_events = 0
    done = 0
    pool = None
    writer = _SummaryWriter(staging) if staging is not None else None
    try:
        if jobs == 1:
            results: Iterable[tuple[list[dict[str, Any]], int, list[Any]]] = map(_run_block, tasks)
        else:
            pool = fork_pool(jobs)
            results = windowed(pool, _run_block, tasks, jobs * 4)
        for block_rows, block_events, block_kept in results:
            if writer is not None:
                writer.write(block_rows)
            if running is not None:
                for row in block_rows:
                    running.add(row)
            else:
                rows.extend(block_rows)
            kept.extend(block_kept)
            n_events += block_events
            done += _runs_in(block_rows)
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
        if pool is not None:
            pool.terminate()
            pool.join()
    return result


def _runs_in(rows: Sequence[Mapping[str, Any]]) -> int:
    """How many runs a block's rows come from (one row per machine; machine 0 starts a run)."""
    return sum(1 for row in rows if row["machine"] == 0)


class _SummaryWriter:
    """summary.csv written into the staging directory as rows arrive, then published."""

    def __init__(self, staging: Staging) -> None:
        self.staging = staging
        self.path = staging.create()
        try:
            self.handle = open(  # noqa: SIM115 (closed in finish or discard)
                self.path / SUMMARY_FILE, "w", newline="", encoding="utf-8"
            )
            self.csv = csv.DictWriter(self.handle, SUMMARY_COLUMNS, lineterminator="\n")
            self.csv.writeheader()
        except OSError as exc:
            staging.discard()
            raise cannot_write(staging.out, exc) from None

    def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
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
