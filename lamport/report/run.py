"""The report of one run (either backend)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from lamport.analysis import (
    GROWING,
    Run,
    drift_frame,
    machine_stats,
    rate_correlation,
)
from lamport.analysis.plots import RUN_FIGURES, SPACETIME_SECONDS, run_figures
from lamport.report import config_rows, num, signed
from lamport.report.document import Bullets, Document, Figure, Heading, Paragraph, Table
from lamport.summary import summarize

#: A gap slope within this many clock ticks per second of zero is "level".
LEVEL_SLOPE = 0.05


def _who(row: Any) -> str:
    return f"machine {int(row['machine'])} ({row['rate']:g} tick/s)"


def findings(run: Run, stats: pd.DataFrame) -> list[str]:
    """Sentences that answer the lab's questions for this run."""
    out = []
    leader = stats.iloc[int(stats["final_clock"].to_numpy().argmax())]
    out.append(
        f"At the end the leading clock is that of {_who(leader)}: "
        f"{int(leader['final_clock'])} after {run.duration:g} s."
    )
    for _, row in stats.iterrows():
        slope = row["gap_slope"]
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
        if row["gap_max"] == 0:
            place = "never trails the leader"
        elif row["gap_end"] == 0 and trend == "stays level":
            place = f"keeps up with the leader (at most {int(row['gap_max'])} behind)"
        elif row["gap_end"] == 0:
            place = f"{trend}, ending level with the leader (at most {int(row['gap_max'])} behind)"
        else:
            place = f"{trend}, ending {int(row['gap_end'])} behind (at most {int(row['gap_max'])})"
        out.append(
            f"{_who(row).capitalize()}: its clock runs at {row['clock_rate']:.2f} per second "
            f"({speed:.1f}× its tick rate) and {place}; jumps average {row['mean_jump']:.2f} "
            f"(95th percentile {row['p95_jump']:g}, max {int(row['max_jump'])}, "
            f"{row['share_jump_gt1']:.0%} above 1); {queue}."
        )
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
    "gap at end",
    "max gap",
    "gap slope (/s)",
]


def _tables(stats: pd.DataFrame) -> list[Table]:
    extra = [c for c in stats.columns if c.startswith("n_") and c not in _KNOWN_COUNTS]
    counts = Table(
        ["machine", "rate", "ticks", "internal", "send", "receive"]
        + [c[2:] for c in extra]
        + ["final clock", "clock rate (slope)", "final clock / duration"],
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
                num(r["clock_rate_end"]),
            ]
            for _, r in stats.iterrows()
        ],
        caption="Events by kind and logical-clock rate (clock ticks per second).",
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
                num(r["gap_end"]),
                num(r["gap_max"]),
                signed(r["gap_slope"]),
            ]
            for _, r in stats.iterrows()
        ],
        caption="Jumps, and the gap between the leading clock and each machine's clock.",
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
        caption="Queue length (messages waiting, logged after each event).",
    )
    return [counts, jumps, queues]


def prediction_blocks(
    rates: list[float],
    p_send: float,
    duration: float | None,
    summary_rows: list[dict[str, Any]],
    observed_verdicts: dict[int, str],
) -> list[Any]:
    """The predicted-versus-observed table (lamport.theory), or a note why there is none."""
    try:
        from lamport.theory import compare, predict

        compared = compare(predict(rates, p_send, duration=duration), summary_rows)
    except ImportError:
        return [Paragraph("No prediction: lamport.theory is not available.")]
    except ValueError as exc:
        return [Paragraph(f"No prediction: {exc}.")]
    rows = [
        [
            num(c["machine"]),
            f"{c['rate']:g}",
            str(c["verdict"]),
            observed_verdicts.get(int(c["machine"]), "n/a"),
            num(c["arrival_rate_pred"]),
            num(c["arrival_rate_obs"]),
            num(c["receive_share_pred"]),
            num(c["receive_share_obs"]),
            num(c["queue_growth_pred"]),
            num(c["queue_growth_obs"]),
            num(c["clock_rate_pred"]),
            num(c["clock_rate_obs"]),
        ]
        for c in compared
    ]
    table = Table(
        [
            "machine",
            "rate",
            "predicted",
            "observed",
            "arrivals/s pred",
            "obs",
            "receive share pred",
            "obs",
            "queue growth pred",
            "obs",
            "clock rate pred",
            "obs",
        ],
        rows,
        left=("predicted", "observed"),
        caption=(
            "Queueing theory (lamport.theory, long-run fluid limit) against the run. "
            "Observed: arrivals = (receives + final queue) / duration, receive share = "
            "receives / ticks, queue growth = final queue / duration, clock rate = "
            "final clock / duration."
        ),
    )
    agree = sum(
        1
        for c in compared
        if c["verdict"] == "critical"
        or c["verdict"] == observed_verdicts.get(int(c["machine"]), "")
    )
    sentence = (
        f"Theory and run agree on the queue verdict for {agree} of {len(compared)} machines "
        "(a 'critical' prediction, a queue on the stability boundary, agrees with either)."
    )
    return [table, Paragraph(sentence)]


def run_document(run: Run, figures_dir: Path, spacetime_seconds: float | None = None) -> Document:
    """The report of one run: config, findings, tables, prediction and figures."""
    drift = drift_frame(run)
    stats = machine_stats(run, drift)
    doc = Document(run.title)
    question = run.metadata.get("question")
    if question:
        doc.add(Paragraph(f"Question: {question}"))
    doc.add(
        Heading("Configuration"),
        Table(
            ["key", "value"], config_rows(run.metadata, skip=("question",)), left=("key", "value")
        ),
        Paragraph(
            f"Run directory: {run.path}. Time is the log's t column (model seconds); "
            "docs/analysis.md defines every statistic."
        ),
    )
    doc.add(Heading("Answers"), Bullets(findings(run, stats)))
    doc.add(Heading("Per-machine statistics"), *_tables(stats))
    observed = {int(r["machine"]): str(r["queue_verdict"]) for _, r in stats.iterrows()}
    doc.add(
        Heading("Predicted versus observed"),
        *prediction_blocks(
            run.rates,
            float(run.metadata["p_send"]),
            run.duration,
            summarize(run.metadata, run.logs),
            observed,
        ),
    )
    seconds = SPACETIME_SECONDS if spacetime_seconds is None else spacetime_seconds
    paths = run_figures(run, figures_dir, drift, seconds)
    doc.add(Heading("Figures"))
    for stem, caption in RUN_FIGURES.items():
        if stem == "spacetime":
            caption = caption.replace("first seconds", f"first {seconds:g} s")
        doc.add(Figure(paths[stem], caption))
    return doc
