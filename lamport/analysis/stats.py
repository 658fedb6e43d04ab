"""Per-machine statistics of a run and per-experiment statistics of a sweep.

Every function takes a run (a :class:`lamport.result.RunResult`, from a
backend in memory or from :func:`load_run`) or a run directory's path, and a
sweep function a sweep, a :func:`lamport.des.sweep` result or its directory.

Time is the log's ``t`` column (model seconds) for both backends. One
definition per quantity, the same for a run, a sweep and the theory: the
clock rate is final clock / duration, the queue growth final queue /
duration. Least-squares slopes appear under their own names (``clock_slope``,
``queue_slope``, ``drift_slope``). Percentiles and confidence intervals come
from :mod:`lamport.stats`. ``docs/analysis.md`` defines every column.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from lamport.analysis.load import RunLike, SweepLike, as_run, as_sweep
from lamport.core import TICK_KINDS
from lamport.result import RunResult
from lamport.schema import DROP_COLUMNS
from lamport.stats import ci_half_width, percentile

#: A queue is "growing" when its least-squares growth exceeds this (messages per
#: second) AND it ends the run holding at least :data:`GROWING_MIN_FINAL` messages.
#: 0.05 msgs/s is 3 messages a minute: below that, a 60 s run cannot tell a slow
#: leak from a stable queue's random walk; the final-queue floor stops a single
#: late burst in a short run from being called growth.
GROWING_SLOPE = 0.05
GROWING_MIN_FINAL = 3

STABLE = "stable"
GROWING = "growing"


def slope(x: Any, y: Any, weights: Any = None) -> float:
    """The (weighted) least-squares slope of y against x; NaN with fewer than two distinct x."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    total = w.sum()
    if len(x) < 2 or total <= 0:
        return math.nan
    dx = x - (w * x).sum() / total
    spread = (w * dx * dx).sum()
    if spread <= 0:
        return math.nan
    return float((w * dx * (y - (w * y).sum() / total)).sum() / spread)


def queue_verdict(growth: float, final_queue: float) -> str:
    """``growing`` if growth > GROWING_SLOPE msgs/s and final queue >= GROWING_MIN_FINAL."""
    if growth > GROWING_SLOPE and final_queue >= GROWING_MIN_FINAL:
        return GROWING
    return STABLE


_SERIES = ("t", "clock", "queue", "jump")


def _machine_events(run: RunResult) -> list[dict[str, np.ndarray]]:
    """Each machine's ``t``, ``clock``, ``queue`` and ``jump`` as numpy arrays in time
    order, by machine id (one pass over the events, cheap for a thousand machines)."""
    events = run.events
    machine = events["machine"].to_numpy(dtype=np.int64)
    order = np.argsort(machine, kind="stable")  # events are in time order already
    bounds = np.cumsum(np.bincount(machine, minlength=run.n_machines))[:-1]
    split = {
        name: np.split(events[name].to_numpy(dtype=float, na_value=np.nan)[order], bounds)
        for name in _SERIES
    }
    return [{name: split[name][m] for name in _SERIES} for m in range(run.n_machines)]


def event_counts(run: RunLike) -> pd.DataFrame:
    """Events by kind per machine: ``ticks``, ``n_internal``, ``n_send``, ``n_receive``
    (and ``n_<kind>`` for any other kind a log holds)."""
    run = as_run(run)
    events = run.events
    kinds = list(TICK_KINDS) + sorted(set(events["event"].unique()) - set(TICK_KINDS))
    counts = (
        events.groupby(["machine", "event"]).size().unstack(fill_value=0)
        if len(events)
        else pd.DataFrame()
    )
    counts = counts.reindex(index=range(run.n_machines), columns=kinds, fill_value=0)
    counts.columns = [f"n_{kind.lower()}" for kind in kinds]
    counts.insert(0, "ticks", counts.sum(axis=1))
    counts.index.name = "machine"
    return counts.astype("int64").reset_index()


def clock_stats(run: RunLike) -> pd.DataFrame:
    """Final clock and logical-clock rate per machine.

    ``clock_rate`` is final clock / duration (clock ticks per model second), the
    figure a sweep's summary.csv and :mod:`lamport.theory` use; ``clock_slope``
    is the least-squares slope of the clock against ``t`` over the machine's
    events, which ignores where the line starts.
    """
    run = as_run(run)
    rows = []
    for machine, sub in enumerate(_machine_events(run)):
        final = int(sub["clock"][-1]) if len(sub["clock"]) else 0
        rows.append(
            {
                "machine": machine,
                "final_clock": final,
                "clock_rate": final / run.duration if run.duration else math.nan,
                "clock_slope": slope(sub["t"], sub["clock"]),
            }
        )
    return pd.DataFrame(rows)


def jump_stats(run: RunLike) -> pd.DataFrame:
    """Jump sizes per machine: mean, 95th percentile (:func:`lamport.stats.percentile`),
    max, and the share of events whose jump exceeds 1."""
    run = as_run(run)
    rows = []
    for machine, sub in enumerate(_machine_events(run)):
        jumps = sub["jump"]
        empty = len(jumps) == 0
        rows.append(
            {
                "machine": machine,
                "mean_jump": math.nan if empty else float(jumps.mean()),
                "p95_jump": percentile(jumps.tolist(), 95),
                "max_jump": 0 if empty else int(jumps.max()),
                "share_jump_gt1": math.nan if empty else float((jumps > 1).mean()),
            }
        )
    return pd.DataFrame(rows)


def _clock_grid(run: RunResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The common grid, how long each instant holds, and every machine's clock on it
    (a machines x instants array); see :func:`drift_frame`."""
    events = run.events
    grid = np.unique(np.concatenate([[0.0], events["t"].to_numpy(dtype=float)]))
    end = max(run.duration, float(grid[-1]))
    hold = np.diff(np.append(grid, end))
    clocks = np.zeros((run.n_machines, len(grid)), dtype=np.int64)
    for machine, sub in enumerate(_machine_events(run)):
        if not len(sub["t"]):
            continue
        times = sub["t"]
        values = sub["clock"].astype(np.int64)
        index = np.searchsorted(times, grid, side="right") - 1
        clocks[machine] = np.where(index >= 0, values[np.clip(index, 0, None)], 0)
    return grid, hold, clocks


def drift_frame(run: RunLike) -> pd.DataFrame:
    """Each machine's clock and its drift (how far it trails the leading clock) over time,
    on a common grid.

    A machine's clock is a step function of ``t``: 0 before its first event,
    then the clock after its latest event at or before ``t``. The grid is 0
    plus every instant at which some machine logs an event (the only instants
    where a step can change), so the steps are exact. ``leader`` is the
    highest clock of all machines at ``t``; ``drift = leader - clock``. ``hold``
    is how long the values last (until the next grid instant, the last until
    the end of the run). One row per (instant, machine), ordered by machine, then t.
    """
    run = as_run(run)
    grid, hold, clocks = _clock_grid(run)
    leader = clocks.max(axis=0)
    n = run.n_machines
    return pd.DataFrame(
        {
            "t": np.tile(grid, n),
            "machine": np.repeat(np.arange(n, dtype=np.int64), len(grid)),
            "clock": clocks.ravel(),
            "leader": np.tile(leader, n),
            "drift": (leader[None, :] - clocks).ravel(),
            "hold": np.tile(hold, n),
        }
    )


def _row_slopes(x: np.ndarray, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """:func:`slope` of every row of ``values`` against the same x and weights."""
    total = weights.sum()
    if len(x) < 2 or total <= 0:
        return np.full(len(values), math.nan)
    dx = x - (weights * x).sum() / total
    spread = (weights * dx * dx).sum()
    if spread <= 0:
        return np.full(len(values), math.nan)
    return np.asarray(values @ (weights * dx) / spread, dtype=float)


def drift_stats(run: RunLike, drift: pd.DataFrame | None = None) -> pd.DataFrame:
    """Drift per machine (the leading clock minus its clock): at the end, its maximum, and
    its slope.

    ``drift_end`` is the same quantity as summary.csv's ``drift_end``: the
    highest final clock of the run minus this machine's. ``drift_slope`` is the
    least-squares slope of the drift step function against ``t``, each step
    weighted by how long it holds (the same line a fit to the drift sampled
    uniformly in time gives), in clock ticks per second.
    """
    run = as_run(run)
    drift = drift_frame(run) if drift is None else drift
    n = run.n_machines
    drifts = drift["drift"].to_numpy(dtype=np.int64).reshape(n, -1)
    first = drift[drift["machine"] == 0]
    t = first["t"].to_numpy(dtype=float)
    hold = first["hold"].to_numpy(dtype=float)
    return pd.DataFrame(
        {
            "machine": np.arange(n, dtype=np.int64),
            "drift_end": drifts[:, -1],
            "drift_max": drifts.max(axis=1),
            "drift_slope": _row_slopes(t, drifts.astype(float), hold),
        }
    )


def queue_stats(run: RunLike) -> pd.DataFrame:
    """Queue length per machine, as logged after each of its events.

    ``mean_queue`` averages the logged queue over the machine's events (its
    ticks are evenly spaced, so this is a time average sampled at ticks);
    ``final_queue`` is the run's ``queued_at_end`` (in flight included);
    ``max_queue`` is the larger of the logged maximum and the final queue;
    ``queue_growth`` is final queue / duration (messages per second, the
    definition of a sweep and of :mod:`lamport.theory`); ``queue_slope`` the
    least-squares slope of the logged queue against ``t``; ``queue_verdict``
    applies :func:`queue_verdict` to the growth and the final queue.
    """
    run = as_run(run)
    rows = []
    for machine, sub in enumerate(_machine_events(run)):
        logged = ~np.isnan(sub["queue"])  # an imported run's source may not log every queue
        queue = sub["queue"][logged]
        final = int(run.queued_at_end[machine])
        growth = final / run.duration if run.duration else math.nan
        rows.append(
            {
                "machine": machine,
                "mean_queue": float(queue.mean()) if len(queue) else math.nan,
                "max_queue": max(int(queue.max()) if len(queue) else 0, final),
                "final_queue": final,
                "queue_growth": growth,
                "queue_slope": slope(sub["t"][logged], queue),
                "queue_verdict": queue_verdict(0.0 if math.isnan(growth) else growth, final),
            }
        )
    return pd.DataFrame(rows)


def machine_stats(run: RunLike, drift: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per machine: rate, events by kind, clock, jumps, drift and queue statistics.

    ``run`` is a run (from a backend or :func:`load_run`) or a run directory.
    """
    run = as_run(run)
    frame = pd.DataFrame({"machine": range(run.n_machines), "rate": run.rates})
    for part in (
        event_counts(run),
        clock_stats(run),
        jump_stats(run),
        drift_stats(run, drift),
        queue_stats(run),
    ):
        frame = frame.merge(part, on="machine", how="left")
    return frame


def rate_correlation(frame: pd.DataFrame, x: str = "rate", y: str = "clock_rate") -> float:
    """Pearson correlation between tick rate and logical-clock rate across the frame's rows.

    NaN when it is undefined: fewer than two rows, or either column constant
    (e.g. equal tick rates).
    """
    if len(frame) < 2:
        return math.nan
    a = frame[x].to_numpy(dtype=float)
    b = frame[y].to_numpy(dtype=float)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


#: The summary.csv metrics a sweep aggregates, mean and 95% CI across seeds.
SWEEP_METRICS = (
    "final_clock",
    "clock_rate",
    "final_queue",
    "max_queue",
    "mean_jump",
    "max_jump",
    "drift_end",
    "queue_growth",
    *DROP_COLUMNS,
)


def sweep_rows(sweep: SweepLike) -> pd.DataFrame:
    """summary.csv with ``queue_growth`` (final queue / duration, msgs/s),
    ``queue_verdict`` and ``random_rates`` (the experiment draws its rates per seed)
    per (experiment, seed, machine) row."""
    sweep = as_sweep(sweep)
    frame = sweep.summary.copy()
    if "duration" not in frame:
        # docs/spec.md's minimal summary.csv has no duration: take the sweep's, else the catalogue's
        frame["duration"] = float(sweep.metadata.get("duration") or 60.0)
    duration = frame["duration"].astype(float)
    frame["queue_growth"] = frame["final_queue"] / duration
    frame["queue_verdict"] = [
        queue_verdict(g, q)
        for g, q in zip(frame["queue_growth"], frame["final_queue"], strict=True)
    ]
    if "clock_rate" not in frame:
        frame["clock_rate"] = frame["final_clock"] / duration
    if "drift_end" not in frame:
        top = frame.groupby(["experiment", "seed"])["final_clock"].transform("max")
        frame["drift_end"] = top - frame["final_clock"]
    for column in DROP_COLUMNS:  # a summary.csv from before fault plans lost nothing
        if column not in frame:
            frame[column] = 0
    spread = frame.groupby(["experiment", "machine"])["rate"].transform(lambda r: r.max() - r.min())
    varies = spread.groupby(frame["experiment"]).transform("max") > 0
    drawn = [e for e in frame["experiment"].unique() if _draws_rates(int(e))]
    frame["random_rates"] = varies | frame["experiment"].isin(drawn)
    return frame


def _draws_rates(number: int) -> bool:
    """Whether catalogue experiment ``number`` draws its rates per seed (experiment 1).

    A sweep of one seed cannot show it in its rows. False for a number the
    catalogue does not have.
    """
    from lamport.config import experiment
    from lamport.errors import ConfigError

    try:
        return experiment(number).rates is None
    except ConfigError:
        return False


def sweep_stats(sweep: SweepLike, rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """The mean and 95% CI half-width (:func:`lamport.stats.ci_half_width`) of every
    :data:`SWEEP_METRICS` column (``<metric>`` and ``<metric>_ci``), per group.

    A group is an (experiment, machine) when the experiment's rates are fixed,
    and an (experiment, rate) when it draws them per seed (experiment 1): a
    machine id means nothing there, so ``machine`` is missing (``<NA>``) and
    the group pools every machine that drew that rate. ``rate`` is a number;
    ``samples`` counts the group's rows (one per seed for a machine), ``seeds``
    the seeds among them, ``growing_share`` the share of rows whose queue grows.
    """
    rows = sweep_rows(sweep) if rows is None else rows
    if "random_rates" not in rows:
        rows = rows.assign(random_rates=False)
    parts = []
    for random, sub in rows.groupby("random_rates", sort=False):
        keys = ["experiment", "rate"] if random else ["experiment", "machine"]
        groups = sub.groupby(keys, sort=True)
        out = groups.agg(
            name=("name", "first"),
            p_send=("p_send", "first"),
            samples=("seed", "size"),
            seeds=("seed", "nunique"),
        )
        if random:
            out["machine"] = pd.NA
        else:
            out["rate"] = groups["rate"].first()
        for metric in SWEEP_METRICS:
            stats = groups[metric].agg(["mean", "std", "count"])
            out[metric] = stats["mean"]
            out[f"{metric}_ci"] = ci_half_width(stats["std"], stats["count"])
        out["growing_share"] = groups["queue_verdict"].agg(lambda v: float((v == GROWING).mean()))
        out["random_rates"] = bool(random)
        parts.append(out.reset_index())
    frame = pd.concat(parts, ignore_index=True)
    frame["machine"] = frame["machine"].astype("Int64")
    frame["rate"] = frame["rate"].astype("float64")
    frame = frame.sort_values(["experiment", "machine", "rate"], na_position="last")
    columns = ["experiment", "name", "machine", "rate", "random_rates", "p_send", "samples"]
    columns += ["seeds"] + [c for c in frame.columns if c not in columns and c != "seeds"]
    return frame[columns].reset_index(drop=True)


def rate_correlations(rows: pd.DataFrame) -> pd.DataFrame:
    """Rate-to-clock-rate correlation across machines and seeds, per experiment and overall.

    One row per experiment (``experiment`` = its number) plus one with
    ``experiment`` = 0 for all rows together.
    """
    records = []
    for experiment in sorted(rows["experiment"].unique()):
        sub = rows[rows["experiment"] == experiment]
        records.append(
            {"experiment": int(experiment), "correlation": rate_correlation(sub), "rows": len(sub)}
        )
    records.append({"experiment": 0, "correlation": rate_correlation(rows), "rows": len(rows)})
    return pd.DataFrame(records)
