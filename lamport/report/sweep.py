"""The report of a sweep: every experiment across its seeds."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, cast

import pandas as pd

from lamport.analysis import Sweep, rate_correlations, sweep_rows, sweep_stats
from lamport.analysis.plots import SWEEP_FIGURES, overview_plot, spread_plot
from lamport.report import config_rows, num, pm
from lamport.report.document import Bullets, Document, Figure, Heading, Paragraph, Table

#: Share of seeds above which an experiment's machine is reported as having a growing queue.
MOSTLY = 0.5


def _rates(stats: pd.DataFrame) -> str:
    rates = list(stats["rate"].astype(str))
    return "random" if any(".." in r for r in rates) else ", ".join(rates)


def findings(stats: pd.DataFrame, correlations: pd.DataFrame) -> list[str]:
    """One sentence per experiment, then the rate correlation overall."""
    out = []
    for experiment, sub in stats.groupby("experiment", sort=True):
        head = (
            f"Exp {experiment} {sub['name'].iloc[0]} (rates {_rates(sub)}, "
            f"p_send {sub['p_send'].iloc[0]:g}, {int(sub['seeds'].max())} seeds):"
        )
        lag = sub.iloc[int(sub["drift_end"].to_numpy().argmax())]
        parts = []
        if lag["drift_end"] >= 1:
            parts.append(
                f"machine {int(lag['machine'])} lags most, ending "
                f"{pm(lag['drift_end'], lag['drift_end_ci'], 1)} behind the leader"
            )
        else:
            parts.append("the clocks end together")
        growing = sub[sub["growing_share"] > MOSTLY]
        if len(growing):
            parts.append(
                "queues grow on "
                + ", ".join(
                    f"machine {int(r['machine'])} ({r['growing_share']:.0%} of seeds, "
                    f"{r['queue_growth']:.2f} msgs/s)"
                    for _, r in growing.iterrows()
                )
            )
        else:
            parts.append(
                f"queues stay stable (mean final queue at most {sub['final_queue'].max():.1f})"
            )
        jump = sub.iloc[int(sub["max_jump"].to_numpy().argmax())]
        if jump["max_jump"] <= 1:
            parts.append("every jump is 1 (no clock ever skips ahead)")
        else:
            parts.append(
                f"the largest jumps are machine {int(jump['machine'])}'s (max jump "
                f"{pm(jump['max_jump'], jump['max_jump_ci'], 1)})"
            )
        out.append(f"{head} {'; '.join(parts)}.")
    overall = correlations[correlations["experiment"] == 0]["correlation"].iloc[0]
    if not math.isnan(overall):
        out.append(
            f"Over all rows, tick rate and logical-clock rate correlate at r = {overall:.2f}."
        )
    return out


def _summary_table(stats: pd.DataFrame) -> Table:
    columns = ["exp", "name", "machine", "rate", "p_send", "seeds", "final clock", "clock rate"]
    columns += ["gap at end", "final queue", "max queue", "max jump", "queue grows"]
    rows = []
    previous = None
    for _, r in stats.iterrows():
        first = r["experiment"] != previous
        previous = r["experiment"]
        rows.append(
            [
                num(r["experiment"]) if first else "",
                str(r["name"]) if first else "",
                num(r["machine"]),
                str(r["rate"]),
                f"{r['p_send']:g}" if first else "",
                num(r["seeds"]),
                pm(r["final_clock"], r["final_clock_ci"], 1),
                pm(r["clock_rate"], r["clock_rate_ci"], 2),
                pm(r["drift_end"], r["drift_end_ci"], 1),
                pm(r["final_queue"], r["final_queue_ci"], 1),
                pm(r["max_queue"], r["max_queue_ci"], 1),
                pm(r["max_jump"], r["max_jump_ci"], 1),
                f"{r['growing_share']:.0%}",
            ]
        )
    return Table(
        columns,
        rows,
        left=("name",),
        caption=(
            "Mean ± 95% confidence half-width across seeds (Student's t). Clock rate = final "
            "clock / duration; gap at end = highest final clock of the run minus this machine's; "
            "queue grows = share of seeds whose queue verdict is 'growing'."
        ),
    )


def _correlation_table(stats: pd.DataFrame, correlations: pd.DataFrame) -> Table:
    names = stats.groupby("experiment")["name"].first()
    rows = [
        [
            "all" if c["experiment"] == 0 else str(int(c["experiment"])),
            "" if c["experiment"] == 0 else str(names.get(int(c["experiment"]), "")),
            str(int(c["rows"])),
            "n/a (equal rates)" if math.isnan(c["correlation"]) else f"{c['correlation']:.2f}",
        ]
        for _, c in correlations.iterrows()
    ]
    return Table(
        ["exp", "name", "machine-runs", "r (tick rate, clock rate)"],
        rows,
        left=("name",),
        caption="Pearson correlation between tick rate and clock rate across machines and seeds.",
    )


PREDICTION_COLUMNS = [
    "exp",
    "machine",
    "rate",
    "predicted",
    "seeds growing",
    "arrivals/s pred",
    "obs",
    "queue growth pred",
    "obs",
    "clock rate pred",
    "obs",
]


def _prediction_table(rows: pd.DataFrame, stats: pd.DataFrame) -> list[Any]:
    try:
        from lamport.theory import compare, predict
    except ImportError:
        return [Paragraph("No prediction: lamport.theory is not available.")]
    table_rows = []
    skipped = []
    for experiment, sub in rows.groupby("experiment", sort=True):
        per_machine = sub.groupby("machine")["rate"].agg(["min", "max"]).sort_index()
        if (per_machine["min"] != per_machine["max"]).any():
            skipped.append(str(experiment))
            continue
        shares = stats[stats["experiment"] == experiment].set_index("machine")["growing_share"]
        try:
            compared = compare(
                predict(
                    list(per_machine["min"]),
                    float(sub["p_send"].iloc[0]),
                    duration=float(sub["duration"].mean()),
                ),
                cast(list[dict[str, Any]], sub.to_dict("records")),
            )
        except ValueError as exc:
            skipped.append(f"{experiment} ({exc})")
            continue
        for i, c in enumerate(compared):
            table_rows.append(
                [
                    num(experiment) if i == 0 else "",
                    num(c["machine"]),
                    f"{c['rate']:g}",
                    str(c["verdict"]),
                    f"{shares.get(c['machine'], math.nan):.0%}",
                    num(c["arrival_rate_pred"]),
                    num(c["arrival_rate_obs"]),
                    num(c["queue_growth_pred"]),
                    num(c["queue_growth_obs"]),
                    num(c["clock_rate_pred"]),
                    num(c["clock_rate_obs"]),
                ]
            )
    blocks: list[Any] = [
        Table(
            PREDICTION_COLUMNS,
            table_rows,
            left=("predicted",),
            caption=(
                "Queueing theory (lamport.theory) against the mean over seeds. Observed: "
                "arrivals = (receives + final queue) / duration, queue growth = final queue / "
                "duration, clock rate = final clock / duration."
            ),
        )
    ]
    if skipped:
        blocks.append(
            Paragraph(
                "Not predicted: experiment(s) "
                + ", ".join(skipped)
                + " (tick rates differ between seeds; the run reports predict each seed)."
            )
        )
    return blocks


def sweep_document(sweep: Sweep, figures_dir: Path) -> Document:
    """The report of a sweep: config, findings, tables, prediction and the two figures."""
    rows = sweep_rows(sweep)
    stats = sweep_stats(sweep, rows)
    correlations = rate_correlations(rows)
    doc = Document(sweep.title)
    doc.add(
        Heading("Configuration"),
        Table(["key", "value"], config_rows(sweep.metadata), left=("key", "value")),
        Paragraph(
            f"Sweep directory: {sweep.path}; {len(rows)} rows in summary.csv "
            f"({len(sweep.experiments)} experiments × {len(sweep.seeds)} seeds × machines)."
            + (
                f" {len(sweep.run_dirs)} run directories kept under runs/: "
                "python -m lamport.report runs/<label> reports one of them."
                if sweep.run_dirs
                else ""
            )
        ),
    )
    doc.add(Heading("Answers"), Bullets(findings(stats, correlations)))
    doc.add(Heading("Per experiment and machine"), _summary_table(stats))
    doc.add(Heading("Tick rate and clock rate"), _correlation_table(stats, correlations))
    doc.add(Heading("Predicted versus observed"), *_prediction_table(rows, stats))
    paths = {
        "overview": overview_plot(sweep, figures_dir / "overview.png", stats),
        "spread": spread_plot(sweep, figures_dir / "spread.png", rows),
    }
    doc.add(Heading("Figures"))
    for stem, caption in SWEEP_FIGURES.items():
        doc.add(Figure(paths[stem], caption))
    return doc
