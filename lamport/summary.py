"""Per-machine summaries of a run: the rows of a sweep's ``summary.csv``.

:func:`summarize` turns a run's events into one row per machine with the
columns :data:`lamport.schema.SUMMARY_COLUMNS` (docs/spec.md's log schema and a few
more). It is plain Python on purpose: a sweep summarizes hundreds of runs per
second and must not pay for pandas. Means and confidence intervals over many
runs are :mod:`lamport.stats`'s; the tables the CLIs print are
:mod:`lamport.console`'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lamport.core import INTERNAL, RECEIVE, SEND, Event, Machine
from lamport.faults import DROP_REASONS, Drop
from lamport.schema import SUMMARY_COLUMNS

__all__ = [
    "SUMMARY_COLUMNS",
    "machine_tally",
    "run_length",
    "summarize",
    "summarize_tallies",
]


def run_length(metadata: Mapping[str, Any]) -> float:
    """Model seconds the run actually covered: ``stopped_at`` if it was interrupted."""
    if metadata.get("interrupted") and metadata.get("stopped_at") is not None:
        return float(metadata["stopped_at"])
    return float(metadata["duration"])


def summarize(
    metadata: Mapping[str, Any],
    logs: Sequence[Sequence[Event]],
    drops: Iterable[Drop] = (),
) -> list[dict[str, Any]]:
    """One summary row per machine.

    ``final_queue`` is the messages left in the queue when the run ended
    (``queued_at_end`` from the metadata when present, else the queue after the
    machine's last event). ``clock_rate`` is final clock / duration, in clock
    ticks per model second; ``drift_end`` is the highest final clock minus this
    machine's. ``dropped`` is the messages to this machine that were lost
    (``dropped`` from the metadata: every reason, a broken link's too), and
    ``dropped_<reason>`` counts ``drops`` (the rows of ``network.csv``) addressed
    to it by reason.
    """
    tallies = []
    for events in logs:
        counts = {INTERNAL: 0, SEND: 0, RECEIVE: 0}
        max_queue = 0
        max_jump = 0
        messages = 0
        for e in events:
            counts[e.event] = counts.get(e.event, 0) + 1
            # an imported run's queue is None where its source did not log one
            if e.queue is not None and e.queue > max_queue:
                max_queue = e.queue
            if e.jump > max_jump:
                max_jump = e.jump
            if e.event == SEND:
                messages += e.peer.count("+") + 1
        tallies.append(
            _Tally(
                ticks=counts[INTERNAL] + counts[SEND] + counts[RECEIVE],  # not fault rows
                n_internal=counts[INTERNAL],
                n_send=counts[SEND],
                n_receive=counts[RECEIVE],
                final_clock=events[-1].clock if events else 0,
                last_queue=(events[-1].queue or 0) if events else 0,
                max_queue=max_queue,
                max_jump=max_jump,
                messages=messages,
            )
        )
    return _rows(metadata, tallies, drops)


@dataclass(frozen=True)
class _Tally:
    """What the summary needs of one machine's events, however it was counted."""

    ticks: int
    n_internal: int
    n_send: int
    n_receive: int
    final_clock: int
    last_queue: int
    max_queue: int
    max_jump: int
    messages: int


def _drop_counts(
    metadata: Mapping[str, Any], drops: Iterable[Drop], n: int
) -> tuple[list[int], list[dict[str, int]]]:
    """Each machine's lost messages in all, and by reason (the fault plan's drops)."""
    by_reason = [dict.fromkeys(DROP_REASONS, 0) for _ in range(n)]
    for drop in drops:
        by_reason[drop.recipient][drop.reason] += 1
    dropped = metadata.get("dropped")
    if dropped is None:
        return [sum(counts.values()) for counts in by_reason], by_reason
    return [int(count) for count in dropped], by_reason


def _rows(
    metadata: Mapping[str, Any], tallies: Sequence[_Tally], drops: Iterable[Drop] = ()
) -> list[dict[str, Any]]:
    duration = float(run_length(metadata))
    queued = metadata.get("queued_at_end")
    top = max((t.final_clock for t in tallies), default=0)
    dropped, by_reason = _drop_counts(metadata, drops, len(tallies))
    rows = []
    for machine, tally in enumerate(tallies):
        final_clock = tally.final_clock
        ticks = tally.ticks
        final_queue = queued[machine] if queued is not None else tally.last_queue
        rows.append(
            {
                "experiment": metadata.get("experiment") or 0,
                "seed": metadata.get("seed", 0),
                "machine": machine,
                "rate": metadata["rates"][machine],
                "p_send": metadata["p_send"],
                "ticks": ticks,
                "n_internal": tally.n_internal,
                "n_send": tally.n_send,
                "n_receive": tally.n_receive,
                "final_clock": final_clock,
                "final_queue": final_queue,
                "max_queue": max(tally.max_queue, final_queue),
                "mean_jump": round(final_clock / ticks, 6) if ticks else 0.0,
                "max_jump": tally.max_jump,
                "name": metadata.get("name", ""),
                "duration": duration,
                "clock_rate": round(final_clock / duration, 6),
                "messages_sent": tally.messages,
                "drift_end": top - final_clock,
                "dropped": dropped[machine],
                **{f"dropped_{reason}": by_reason[machine][reason] for reason in DROP_REASONS},
            }
        )
    return rows


def machine_tally(machine: Machine) -> _Tally:
    """The tally of a machine driven by :meth:`lamport.core.Machine.tally_tick`, which
    counts what a summary needs as it ticks and keeps no record (the DES's summaries-only
    path, :func:`lamport.des.model.simulate_summary`). The summary it gives is exactly
    :func:`summarize`'s of the records :meth:`~lamport.core.Machine.tick` would have made:
    only RECEIVE and SEND records add more than a tick, and fault rows change no count.
    """
    ticks = machine.ticks
    return _Tally(
        ticks=ticks,
        n_internal=ticks - machine.sent - machine.receives,
        n_send=machine.sent,
        n_receive=machine.receives,
        final_clock=machine.clock,
        last_queue=len(machine.queue),
        max_queue=machine.max_queue,
        max_jump=machine.max_jump if ticks else 0,
        messages=machine.messages,
    )


def summarize_tallies(
    metadata: Mapping[str, Any], tallies: Sequence[_Tally], drops: Iterable[Drop] = ()
) -> list[dict[str, Any]]:
    """One summary row per machine from accumulated tallies (see :func:`machine_tally`)
    and the run's lost messages (as :func:`summarize`)."""
    return _rows(metadata, tallies, drops)
