"""Analysis of runs and sweeps: load them into pandas and answer the lab's questions.

How big are the jumps of each logical clock, how far do the clocks drift apart,
how long do the queues get, and how do tick rates and the send probability
shape all three. ``docs/analysis.md`` defines every statistic precisely.

>>> run = load_run("runs/des/exp04-big-differences-seed1")   # doctest: +SKIP
>>> machine_stats(run)                                         # doctest: +SKIP

Plots live in :mod:`lamport.analysis.plots`; reports in :mod:`lamport.report`.
"""

from lamport.analysis.load import Run, Sweep, describe, is_sweep, load, load_run, load_sweep
from lamport.analysis.stats import (
    GROWING,
    GROWING_MIN_FINAL,
    GROWING_SLOPE,
    STABLE,
    clock_stats,
    drift_frame,
    drift_stats,
    event_counts,
    jump_stats,
    machine_stats,
    queue_stats,
    queue_verdict,
    rate_correlation,
    rate_correlations,
    slope,
    sweep_rows,
    sweep_stats,
)

__all__ = [
    "GROWING",
    "GROWING_MIN_FINAL",
    "GROWING_SLOPE",
    "STABLE",
    "Run",
    "Sweep",
    "clock_stats",
    "describe",
    "drift_frame",
    "drift_stats",
    "event_counts",
    "is_sweep",
    "jump_stats",
    "load",
    "load_run",
    "load_sweep",
    "machine_stats",
    "queue_stats",
    "queue_verdict",
    "rate_correlation",
    "rate_correlations",
    "slope",
    "sweep_rows",
    "sweep_stats",
]
