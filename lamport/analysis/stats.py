"""Per-machine statistics of a run and per-experiment statistics of a sweep.

Time is the log's ``t`` column (model seconds) for both backends. Every slope
is an ordinary least-squares slope, in units per model second; see
``docs/analysis.md`` for the precise definition of each column.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from lamport.analysis.load import Run, Sweep
from lamport.core import EVENT_KINDS
from lamport.summary import t_quantile_975

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


def _machine_events(run: Run) -> list[pd.DataFrame]:
    events = run.events
    return [events[events["machine"] == m] for m in range(run.n_machines)]


def event_counts(run: Run) -> pd.DataFrame:
    """Events by kind per machine: ``ticks``, ``n_internal``, ``n_send``, ``n_receive``
    (and ``n_<kind>`` for any other kind a log holds)."""
    events = run.events
    kinds = list(EVENT_KINDS) + sorted(set(events["event"].unique()) - set(EVENT_KINDS))
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


def clock_stats(run: Run) -> pd.DataFrame:
    """Final clock and logical-clock rate per machine.

    ``clock_rate`` is the least-squares slope of the machine's clock against
    ``t`` over its events (clock ticks per model second); ``clock_rate_end`` is
    final clock / duration, the figure a sweep's summary.csv carries.
    """
    rows = []
    for machine, sub in enumerate(_machine_events(run)):
        final = int(sub["clock"].iloc[-1]) if len(sub) else 0
        rows.append(
            {
                "machine": machine,
                "final_clock": final,
                "clock_rate": slope(sub["t"], sub["clock"]),
                "clock_rate_end": final / run.duration if run.duration else math.nan,
            }
        )
    return pd.DataFrame(rows)


def jump_stats(run: Run) -> pd.DataFrame:
    """Jump sizes per machine: mean, 95th percentile (linear interpolation), max,
    and the share of events whose jump exceeds 1."""
    rows = []
    for machine, sub in enumerate(_machine_events(run)):
        jumps = sub["jump"].to_numpy(dtype=float)
        empty = len(jumps) == 0
        rows.append(
            {
                "machine": machine,
                "mean_jump": math.nan if empty else float(jumps.mean()),
                "p95_jump": math.nan if empty else float(np.percentile(jumps, 95)),
                "max_jump": 0 if empty else int(jumps.max()),
                "share_jump_gt1": math.nan if empty else float((jumps > 1).mean()),
            }
        )
    return pd.DataFrame(rows)


def drift_frame(run: Run) -> pd.DataFrame:
    """Each machine's clock and its gap to the leading clock over time, on a common grid.

    A machine's clock is a step function of ``t``: 0 before its first event,
    then the clock after its latest event at or before ``t``. The grid is 0
    plus every instant at which some machine logs an event (the only instants
    where a step can change), so the steps are exact. ``leader`` is the
    highest clock of all machines at ``t``; ``gap = leader - clock``. ``hold``
    is how long the values last (until the next grid instant, the last until
    the end of the run). One row per (instant, machine), ordered by machine, then t.
    """
    events = run.events
    grid = np.unique(np.concatenate([[0.0], events["t"].to_numpy(dtype=float)]))
    end = max(run.duration, float(grid[-1]))
    hold = np.diff(np.append(grid, end))
    clocks = np.zeros((run.n_machines, len(grid)), dtype=np.int64)
    for machine, sub in enumerate(_machine_events(run)):
        if not len(sub):
            continue
        times = sub["t"].to_numpy(dtype=float)
        values = sub["clock"].to_numpy(dtype=np.int64)
        index = np.searchsorted(times, grid, side="right") - 1
        clocks[machine] = np.where(index >= 0, values[np.clip(index, 0, None)], 0)
    leader = clocks.max(axis=0)
    n = run.n_machines
    return pd.DataFrame(
        {
            "t": np.tile(grid, n),
            "machine": np.repeat(np.arange(n, dtype=np.int64), len(grid)),
            "clock": clocks.ravel(),
            "leader": np.tile(leader, n),
            "gap": (leader[None, :] - clocks).ravel(),
            "hold": np.tile(hold, n),
        }
    )


def drift_stats(run: Run, drift: pd.DataFrame | None = None) -> pd.DataFrame:
    """Gap to the leading clock per machine: at the end, its maximum, and its slope.

    ``gap_slope`` is the least-squares slope of the gap step function against
    ``t``, each step weighted by how long it holds (the same line a fit to the
    gap sampled uniformly in time gives), in clock ticks per second.
    """
    drift = drift_frame(run) if drift is None else drift
    rows = []
    for machine in range(run.n_machines):
        sub = drift[drift["machine"] == machine]
        rows.append(
            {
                "machine": machine,
                "gap_end": int(sub["gap"].iloc[-1]),
                "gap_max": int(sub["gap"].max()),
                "gap_slope": slope(sub["t"], sub["gap"], sub["hold"]),
            }
        )
    return pd.DataFrame(rows)


def queue_stats(run: Run) -> pd.DataFrame:
    """Queue length per machine, as logged after each of its events.

    ``mean_queue`` averages the logged queue over the machine's events (its
    ticks are evenly spaced, so this is a time average sampled at ticks);
    ``final_queue`` is ``queued_at_end`` from run.json when present;
    ``max_queue`` is the larger of the logged maximum and the final queue;
    ``queue_growth`` is the least-squares slope of the logged queue against ``t``
    (messages per second); ``queue_verdict`` applies :func:`queue_verdict`.
    """
    queued = run.metadata.get("queued_at_end")
    rows = []
    for machine, sub in enumerate(_machine_events(run)):
        queue = sub["queue"]
        last = int(queue.iloc[-1]) if len(queue) else 0
        final = int(queued[machine]) if queued is not None else last
        growth = slope(sub["t"], queue)
        rows.append(
            {
                "machine": machine,
                "mean_queue": float(queue.mean()) if len(queue) else math.nan,
                "max_queue": max(int(queue.max()) if len(queue) else 0, final),
                "final_queue": final,
                "queue_growth": growth,
                "queue_verdict": queue_verdict(0.0 if math.isnan(growth) else growth, final),
            }
        )
    return pd.DataFrame(rows)


def machine_stats(run: Run, drift: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per machine: rate, events by kind, clock, jumps, drift and queue statistics."""
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
)


def sweep_rows(sweep: Sweep) -> pd.DataFrame:
    """summary.csv with ``queue_growth`` (final queue / duration, msgs/s) and
    ``queue_verdict`` per (experiment, seed, machine) row."""
    frame = sweep.summary.copy()
    if "duration" not in frame:
        # SPEC's minimal summary.csv has no duration: take the sweep's, else the catalogue's
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
    return frame


def _ci(std: pd.Series, count: pd.Series) -> pd.Series:
    quantile = count.map(lambda n: t_quantile_975(int(n) - 1) if n > 1 else math.nan)
    return quantile * std / np.sqrt(count)


def sweep_stats(sweep: Sweep, rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (experiment, machine): the mean and 95% CI half-width across seeds
    of every :data:`SWEEP_METRICS` column (``<metric>`` and ``<metric>_ci``), the
    share of seeds whose queue grows (``growing_share``), and the tick rate
    (a range ``lo..hi`` when it varies by seed, as in experiment 1)."""
    rows = sweep_rows(sweep) if rows is None else rows
    groups = rows.groupby(["experiment", "machine"], sort=True)
    out = groups.agg(
        name=("name", "first"),
        p_send=("p_send", "first"),
        seeds=("seed", "nunique"),
        rate_lo=("rate", "min"),
        rate_hi=("rate", "max"),
    )
    out["rate"] = [
        f"{lo:g}" if lo == hi else f"{lo:g}..{hi:g}"
        for lo, hi in zip(out["rate_lo"], out["rate_hi"], strict=True)
    ]
    out = out.drop(columns=["rate_lo", "rate_hi"])
    for metric in SWEEP_METRICS:
        stats = groups[metric].agg(["mean", "std", "count"])
        out[metric] = stats["mean"]
        out[f"{metric}_ci"] = _ci(stats["std"], stats["count"])
    out["growing_share"] = groups["queue_verdict"].agg(lambda v: float((v == GROWING).mean()))
    return out.reset_index()


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
