"""Per-machine summaries of a run: the rows of a sweep's ``summary.csv``.

:func:`summarize` turns a run's events into one row per machine with the
columns :data:`lamport.schema.SUMMARY_COLUMNS` (SPEC section 3 and a few
more). It is plain Python on purpose: a sweep summarizes hundreds of runs per
second and must not pay for pandas. Means and confidence intervals over many
runs are :mod:`lamport.stats`'s; the tables the CLIs print are
:mod:`lamport.console`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Column, FittedTable (lamport.console) and t_quantile_975 (lamport.stats) are
# re-exported at their old home: lamport/realtime/__main__.py and
# lamport/analysis/stats.py still import them from here.
from lamport.console import Column, FittedTable
from lamport.core import INTERNAL, RECEIVE, SEND, Event
from lamport.schema import SUMMARY_COLUMNS
from lamport.stats import t_quantile_975

__all__ = [
    "SUMMARY_COLUMNS",
    "Column",
    "FittedTable",
    "run_length",
    "summarize",
    "t_quantile_975",
]


def run_length(metadata: Mapping[str, Any]) -> float:
    """Model seconds the run actually covered: ``stopped_at`` if it was interrupted."""
    if metadata.get("interrupted") and metadata.get("stopped_at") is not None:
        return float(metadata["stopped_at"])
    return float(metadata["duration"])


def summarize(metadata: Mapping[str, Any], logs: Sequence[Sequence[Event]]) -> list[dict[str, Any]]:
    """One summary row per machine.

    ``final_queue`` is the messages left in the queue when the run ended
    (``queued_at_end`` from the metadata when present, else the queue after the
    machine's last event). ``clock_rate`` is final clock / duration, in clock
    ticks per model second; ``drift_end`` is the highest final clock minus this
    machine's.
    """
    duration = float(run_length(metadata))
    queued = metadata.get("queued_at_end")
    finals = [events[-1].clock if events else 0 for events in logs]
    top = max(finals) if finals else 0
    rows = []
    for machine, events in enumerate(logs):
        counts = {INTERNAL: 0, SEND: 0, RECEIVE: 0}
        max_queue = 0
        max_jump = 0
        messages = 0
        for e in events:
            counts[e.event] = counts.get(e.event, 0) + 1
            if e.queue > max_queue:
                max_queue = e.queue
            if e.jump > max_jump:
                max_jump = e.jump
            if e.event == SEND:
                messages += e.peer.count("+") + 1
        final_clock = finals[machine]
        ticks = len(events)
        final_queue = queued[machine] if queued is not None else (events[-1].queue if events else 0)
        rows.append(
            {
                "experiment": metadata.get("experiment") or 0,
                "seed": metadata.get("seed", 0),
                "machine": machine,
                "rate": metadata["rates"][machine],
                "p_send": metadata["p_send"],
                "ticks": ticks,
                "n_internal": counts[INTERNAL],
                "n_send": counts[SEND],
                "n_receive": counts[RECEIVE],
                "final_clock": final_clock,
                "final_queue": final_queue,
                "max_queue": max(max_queue, final_queue),
                "mean_jump": round(final_clock / ticks, 6) if ticks else 0.0,
                "max_jump": max_jump,
                "name": metadata.get("name", ""),
                "duration": duration,
                "clock_rate": round(final_clock / duration, 6),
                "messages_sent": messages,
                "drift_end": top - final_clock,
            }
        )
    return rows
