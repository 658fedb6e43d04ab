"""The report of one run (either backend)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pandas as pd

from lamport.analysis import GROWING, RunLike, as_run, drift_frame, machine_stats, rate_correlation
from lamport.report.causality import run_blocks, spacetime_html
from lamport.report.cells import config_rows, num, signed
from lamport.report.compare import compare_section
from lamport.report.document import (
    Block,
    Bullets,
    Details,
    Document,
    Figure,
    Heading,
    Paragraph,
    Table,
)
from lamport.report.imported import imported_blocks
from lamport.report.prediction import PredictionCase, no_prediction, prediction_table
from lamport.result import RunResult
from lamport.stats import percentile

if TYPE_CHECKING:
    from lamport.compare import Comparison

#: A drift slope within this many clock ticks per second of zero is "level".
LEVEL_SLOPE = 0.05

#: run.json and sweep.json keys a reader rarely needs, shown in a folded "Details" section:
#: where the run happened (ports, epochs), which version wrote it, and per-machine timing
#: draws; ``interrupted`` joins the main table only when the run was interrupted.
DETAIL_KEYS = (
    "phases",
    "drifts_ppm",
    "ports",
    "base_port",
    "connect_timeout",
    "start_epoch",
    "started",
    "time_base",
    "tick_lateness_ms",
    "shortest_tick_interval_ms",
    "drained",
    "interrupted",
    "stop_signal",
    "stopped_at",
    "version",
)


def configuration_blocks(metadata: Mapping[str, Any], skip: Sequence[str] = ()) -> list[Block]:
    """The Configuration section's blocks: a table of the model and the backend's options,
    each value once, then the :data:`DETAIL_KEYS` folded under "Details".

    run.json keeps a backend's ``options`` apart from the model and also repeats them at
    the top level; an option shows once, under its own name (``options <key>`` only
    where the two disagree).
    """
    # an imported run's source and missing fields have a section of their own
    own_section = ("options", "import", "absent")
    flat = {k: v for k, v in metadata.items() if k not in own_section and k not in skip}
    options = metadata.get("options")
    if isinstance(options, Mapping):
        for key, value in options.items():
            if key not in flat:
                flat[key] = value
            elif flat[key] != value:
                flat[f"options {key}"] = value

    def folded(key: str) -> bool:
        return key in DETAIL_KEYS and not (key == "interrupted" and flat[key])

    main = {k: v for k, v in flat.items() if not folded(k)}
    details = {k: v for k, v in flat.items() if folded(k)}
    blocks: list[Block] = [Table(["key", "value"], config_rows(main), left=("key", "value"))]
    if details:
        blocks.append(
            Details(
                "Details: ports, epochs, timing draws, version",
                [Table(["key", "value"], config_rows(details), left=("key", "value"))],
            )
        )
    return blocks


def _who(row: Any) -> str:
    return f"machine {int(row['machine'])} ({row['rate']:g} tick/s)"


def _names(rows: pd.DataFrame) -> str:
    """``machine 1 (3 tick/s) and machine 2 (6 tick/s)``."""
    names = [_who(row) for _, row in rows.iterrows()]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _leader_sentence(run: RunResult, stats: pd.DataFrame) -> str:
    top = int(stats["final_clock"].max())
    leaders = stats[stats["final_clock"] == top]
    if len(leaders) == 1:
        return (
            f"At the end the leading clock is that of {_who(leaders.iloc[0])}: "
            f"{top} after {run.duration:g} s."
        )
    if len(leaders) > 3:
        return f"At the end {len(leaders)} machines share the leading clock, {top}."
    return f"At the end {_names(leaders)} share the leading clock: {top} after {run.duration:g} s."


def _machine_sentence(row: Any) -> str:
    slope = row["drift_slope"]
    if math.isnan(slope) or abs(slope) <= LEVEL_SLOPE:
        trend = "stays level"
    elif slope > 0:
        trend = f"falls behind the leader by {slope:.2f} per second"
    else:
        trend = f"catches up on the leader by {-slope:.2f} per second"
    speed = row["clock_rate"] / row["rate"] if row["rate"] else math.nan
    queue = (
        f"its queue grows at {row['queue_growth']:.2f} msgs/s "
        f"({int(row['final_queue'])} waiting at the end)"
        if row["queue_verdict"] == GROWING
        else f"its queue is stable (mean {row['mean_queue']:.1f}, max {int(row['max_queue'])})"
    )
    top = int(row["drift_max"])
    if top == 0:
        place = "never trails the leader"
    elif row["drift_end"] == 0 and trend == "stays level":
        place = f"keeps up with the leader (drift at most {top})"
    elif row["drift_end"] == 0:
        place = f"{trend}, ending level with the leader (drift at most {top})"
    else:
        place = f"{trend}, ending with a drift of {int(row['drift_end'])} (at most {top})"
    return (
        f"{_who(row).capitalize()}: its clock runs at {row['clock_rate']:.2f} per second "
        f"({speed:.1f}× its tick rate) and {place}; jumps average {row['mean_jump']:.2f} "
        f"(95th percentile {row['p95_jump']:g}, max {int(row['max_jump'])}, "
        f"{row['share_jump_gt1']:.0%} above 1); {queue}."
    )


def _spread(values: pd.Series, digits: int) -> str:
    """``median m (5th–95th percentile a–b)`` of a group's values."""
    data = values.astype(float).tolist()
    mid, low, high = (percentile(data, q) for q in (50, 5, 95))
    if low == high:
        return f"{mid:.{digits}f} on every machine"
    return f"median {mid:.{digits}f} (5th–95th percentile {low:.{digits}f}–{high:.{digits}f})"


def _rate_sentence(rate: float, group: pd.DataFrame) -> str:
    growing = int((group["queue_verdict"] == GROWING).sum())
    queues = (
        f"{growing} of them have a growing queue (final queue {_spread(group['final_queue'], 0)})"
        if growing
        else f"every queue is stable (max {int(group['max_queue'].max())})"
    )
    return (
        f"The {len(group)} machines at {rate:g} tick/s: clock rate "
        f"{_spread(group['clock_rate'], 2)} per second, drift at end "
        f"{_spread(group['drift_end'], 0)}, max jump {_spread(group['max_jump'], 0)}; {queues}."
    )


def findings(run: RunLike, stats: pd.DataFrame) -> list[str]:
    """Sentences that answer the lab's questions for this run: per machine, or per tick
    rate for a run of :data:`lamport.analysis.plots.MANY_MACHINES` machines or more."""
    from lamport.analysis.plots import MANY_MACHINES  # plotting loads only with the figures

    run = as_run(run)
    out = [_leader_sentence(run, stats)]
    if run.n_machines < MANY_MACHINES:
        out += [_machine_sentence(row) for _, row in stats.iterrows()]
    else:
        out += [
            _rate_sentence(float(cast(float, rate)), group) for rate, group in stats.groupby("rate")
        ]
    corr = rate_correlation(stats)
    if math.isnan(corr):
        out.append(
            "The correlation between tick rate and clock rate is undefined here "
            "(the tick rates, or the clock rates, are all equal)."
        )
    else:
        out.append(
            f"Across the {run.n_machines} machines, tick rate and logical-clock rate "
            f"correlate at r = {corr:.2f}."
        )
    return out


_KNOWN_COUNTS = ("n_internal", "n_send", "n_receive")
JUMP_DRIFT_COLUMNS = [
    "machine",
    "mean jump",
    "p95 jump",
    "max jump",
    "jumps > 1",
    "drift at end",
    "max drift",
    "drift slope (/s)",
]


def _tables(stats: pd.DataFrame) -> list[Table]:
    extra = [c for c in stats.columns if c.startswith("n_") and c not in _KNOWN_COUNTS]
    counts = Table(
        ["machine", "rate", "ticks", "internal", "send", "receive"]
        + [c[2:] for c in extra]
        + ["final clock", "clock rate"],
        [
            [
                num(r["machine"]),
                f"{r['rate']:g}",
                num(r["ticks"]),
                num(r["n_internal"]),
                num(r["n_send"]),
                num(r["n_receive"]),
                *(num(r[c]) for c in extra),
                num(r["final_clock"]),
                num(r["clock_rate"]),
            ]
            for _, r in stats.iterrows()
        ],
        caption="Events by kind and the logical-clock rate: final clock / duration "
        "(clock ticks per second), as in a sweep and in the prediction below.",
    )
    jumps = Table(
        JUMP_DRIFT_COLUMNS,
        [
            [
                num(r["machine"]),
                num(r["mean_jump"]),
                num(r["p95_jump"], 1),
                num(r["max_jump"]),
                f"{r['share_jump_gt1']:.0%}",
                num(r["drift_end"]),
                num(r["drift_max"]),
                signed(r["drift_slope"]),
            ]
            for _, r in stats.iterrows()
        ],
        caption="Jumps, and the drift: the leading clock minus each machine's clock "
        "(drift slope: least-squares slope of the drift against time).",
    )
    queues = Table(
        ["machine", "mean queue", "max queue", "final queue", "growth (msgs/s)", "verdict"],
        [
            [
                num(r["machine"]),
                num(r["mean_queue"]),
                num(r["max_queue"]),
                num(r["final_queue"]),
                signed(r["queue_growth"]),
                str(r["queue_verdict"]),
            ]
            for _, r in stats.iterrows()
        ],
        left=("verdict",),
        caption="Queue length (messages waiting, logged after each event; the final queue "
        "counts messages still in flight). Growth = final queue / duration, as in a sweep "
        "and in the prediction below.",
    )
    return [counts, jumps, queues]


def prediction_blocks(run: RunLike, stats: pd.DataFrame) -> list[Any]:
    """The predicted-versus-observed table of the run, and how often the verdicts agree."""
    run = as_run(run)
    observed = {int(r["machine"]): str(r["queue_verdict"]) for _, r in stats.iterrows()}
    latency = run.metadata.get("latency")
    case = PredictionCase(
        run.rates,
        float(run.config.p_send),
        run.duration,
        run.summary(),
        observed,
        phase=run.config.phase,
        latency=float(latency) if isinstance(latency, int | float) else None,
    )
    prediction = prediction_table([case])
    if prediction.skipped:
        return [no_prediction(prediction.skipped[0])]
    compared = prediction.compared[0]
    agree = sum(
        1
        for c in compared
        if c["verdict"] == "critical" or c["verdict"] == observed.get(int(c["machine"]), "")
    )
    sentence = (
        f"Theory and run agree on the queue verdict for {agree} of {len(compared)} machines "
        "(a 'critical' prediction, a queue on the stability boundary, agrees with either)."
    )
    return [prediction.table, Paragraph(sentence)]


def hlc_blocks(run: RunResult) -> list[Any]:
    """How far hybrid logical clocks' ``l`` runs ahead of each machine's own physical time
    (a run with ``hlc_l`` columns; nothing otherwise): a sentence and a table."""
    from lamport.check import physical_clocks
    from lamport.core import TICK_KINDS

    if not any(hasattr(events[0], "hlc_l") for events in run.logs if events):
        return []
    clocks = physical_clocks(run.metadata)
    drifts = run.metadata.get("drifts_ppm") or [0.0] * run.n_machines
    rows = []
    leads: list[int] = []
    for machine, events in enumerate(run.logs):
        own = clocks[machine]
        ahead = [e.hlc_l - own(e.t) for e in events if e.event in TICK_KINDS]  # type: ignore[attr-defined]
        leads += ahead
        rows.append(
            [
                str(machine),
                signed(drifts[machine]),
                f"{sum(1 for a in ahead if a > 0):,} of {len(ahead):,}",
                f"{sum(ahead) / len(ahead):,.1f}" if ahead else "-",
                f"{max(ahead):,}" if ahead else "-",
            ]
        )
    ends = [clock(run.duration) for clock in clocks]
    led = sum(1 for a in leads if a > 0)
    top = max(leads, default=0)
    sentence = (
        f"Hybrid logical clocks: l ran ahead of the machine's own physical time at {led:,} of "
        f"{len(leads):,} events ({led / max(len(leads), 1):.0%}), by at most {top:,} us; the "
        f"largest offset between the machines' physical clocks, which bounds that lead, "
        f"reached {max(ends) - min(ends):,} us at the end of the run."
    )
    table = Table(
        ["machine", "drift (ppm)", "events ahead", "mean lead (us)", "max lead (us)"],
        rows,
        caption="hlc_l minus the machine's physical time at each tick (whole microseconds; "
        "physical time is model time with the machine's drift).",
    )
    return [
        Heading("Hybrid logical clocks: how far l runs ahead of physical time"),
        Paragraph(sentence),
        table,
    ]


def run_document(
    run: RunLike,
    figures_dir: Path,
    spacetime_seconds: float | None = None,
    comparison: Comparison | None = None,
) -> Document:
    """The report of one run: config, findings, tables, prediction and figures, and
    ``comparison`` (:func:`lamport.compare.compare_run`'s, for an imported run) as the
    section "Compared with the model"."""
    run = as_run(run)
    drift = drift_frame(run)
    stats = machine_stats(run, drift)
    doc = Document(run.title)
    question = run.metadata.get("question")
    if question:
        doc.add(Paragraph(f"Question: {question}"))
    where = f"Run directory: {run.path}. " if run.path is not None else ""
    doc.add(
        Heading("Configuration"),
        *configuration_blocks(run.metadata, skip=("question",)),
        Paragraph(
            f"{where}Time is the log's t column (model seconds); "
            "docs/analysis.md defines every statistic."
        ),
    )
    doc.add(*imported_blocks(run))  # another implementation's logs: what they held, the rules
    doc.add(Heading("Answers"), Bullets(findings(run, stats)))
    if run.config.faults:
        from lamport.report.faults import fault_blocks

        doc.add(Heading("Faults"), *fault_blocks(run))
    doc.add(Heading("Per-machine statistics"), *_tables(stats))
    doc.add(Heading("Predicted versus observed"), *prediction_blocks(run, stats))
    doc.add(*compare_section(comparison))  # an imported run against the model
    doc.add(Heading("Causality: how much order do Lamport clocks invent?"), *run_blocks(run))
    doc.add(*hlc_blocks(run))
    from lamport.analysis.plots import (
        SPACETIME_MACHINES,
        SPACETIME_SECONDS,
        run_captions,
        run_figures,
    )

    seconds = SPACETIME_SECONDS if spacetime_seconds is None else spacetime_seconds
    paths = run_figures(run, figures_dir, drift, seconds)
    doc.add(Heading("Figures"))
    for stem, caption in run_captions(run).items():
        if stem == "spacetime":
            caption = caption.replace("first seconds", f"first {seconds:g} s")
            static = Figure(paths[stem], caption)
            # report.html gets the explorable diagram; report.md the static one
            doc.add(spacetime_html(run, seconds, static, SPACETIME_MACHINES))
            continue
        doc.add(Figure(paths[stem], caption))
    return doc
