"""Analysis of runs and sweeps: load them into pandas and answer the lab's questions.

How big are the jumps of each logical clock, how far do the clocks drift apart,
how long do the queues get, and how do tick rates and the send probability
shape all three. ``docs/analysis.md`` defines every statistic precisely.

Every function takes a run in memory or its directory, and a sweep in memory
or its directory:

>>> from lamport.config import experiment
>>> from lamport.des import simulate
>>> stats = machine_stats(simulate(experiment(4).config(seed=1)))
>>> machine_stats("runs/des/exp04-big-differences-seed1")      # doctest: +SKIP

Plots live in :mod:`lamport.analysis.plots`; reports in :mod:`lamport.report`.
"""

from lamport.analysis.load import (
    RunLike,
    Sweep,
    SweepLike,
    as_run,
    as_sweep,
    is_sweep,
    load,
    load_run,
    load_sweep,
)
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
from lamport.result import RunResult, describe

__all__ = [
    "GROWING",
    "GROWING_MIN_FINAL",
    "GROWING_SLOPE",
    "STABLE",
    "RunLike",
    "RunResult",
    "Sweep",
    "SweepLike",
    "as_run",
    "as_sweep",
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
