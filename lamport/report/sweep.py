"""The report of a sweep: every experiment across its seeds.

An experiment with fixed rates is reported per machine; one that draws its
rates per seed (experiment 1) per tick rate, pooling the machines that drew
it, since a machine id means nothing there. Two groups whose 95% confidence
intervals overlap are reported as a tie: the sweep cannot tell them apart.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, cast

import pandas as pd

from lamport.analysis import Sweep, SweepLike, as_sweep, rate_correlations, sweep_rows, sweep_stats
from lamport.report.causality import Replayed, sweep_blocks
from lamport.report.cells import num, pm
from lamport.report.document import Bullets, Document, Figure, Heading, Paragraph, Table
from lamport.report.prediction import PredictionCase, prediction_table
from lamport.report.run import configuration_blocks
from lamport.schema import DROP_COLUMNS

#: Share of seeds above which an experiment's machine is reported as having a growing queue.
MOSTLY = 0.5


def _rates(stats: pd.DataFrame) -> str:
    if bool(stats["random_rates"].iloc[0]):
        return "drawn per seed"
    return ", ".join(f"{r:g}" for r in stats["rate"])


def group_name(row: Any) -> str:
    """``machine 0 (1 tick/s)``, or ``the 1 tick/s machines`` for a random-rate group."""
    if bool(row["random_rates"]):
        return f"the {row['rate']:g} tick/s machines"
    return f"machine {int(row['machine'])} ({row['rate']:g} tick/s)"


def _interval(row: Any, metric: str) -> tuple[float, float]:
    half = row[f"{metric}_ci"]
    half = 0.0 if math.isnan(half) else float(half)
    return float(row[metric]) - half, float(row[metric]) + half


def top_groups(sub: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The group with the highest mean of ``metric`` and every group tied with it: those
    whose 95% confidence interval overlaps the top one's (with one seed, no interval:
    only equal means tie)."""
    top = sub.iloc[int(sub[metric].to_numpy().argmax())]
    low, _ = _interval(top, metric)
    tied = [_interval(row, metric)[1] >= low for _, row in sub.iterrows()]
    return sub[tied]


def _listing(rows: pd.DataFrame, metric: str, digits: int) -> str:
    parts = [
        f"{group_name(r)} {pm(r[metric], r[f'{metric}_ci'], digits)}" for _, r in rows.iterrows()
    ]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def findings(
    stats: pd.DataFrame, correlations: pd.DataFrame, rows: pd.DataFrame | None = None
) -> list[str]:
    """One sentence per experiment, then the rate correlation overall.

    ``rows`` (:func:`lamport.analysis.sweep_rows`) gives each experiment's seed count;
    without them it is the largest group's.
    """
    out = []
    for experiment, sub in stats.groupby("experiment", sort=True):
        random = bool(sub["random_rates"].iloc[0])
        seeds = (
            int(sub["seeds"].max())
            if rows is None
            else int(rows.loc[rows["experiment"] == experiment, "seed"].nunique())
        )
        count = "seeds" if not random else "seeds, grouped by tick rate"
        head = (
            f"Exp {experiment} {sub['name'].iloc[0]} (rates {_rates(sub)}, "
            f"p_send {sub['p_send'].iloc[0]:g}, {seeds} {count}):"
        )
        parts = []
        lag = top_groups(sub, "drift_end")
        if float(sub["drift_end"].max()) < 1:
            parts.append("the clocks end together")
        elif len(lag) == len(sub):
            parts.append(
                "no measurable difference in who lags: every 95% CI of the drift at end "
                f"overlaps ({_listing(lag, 'drift_end', 1)})"
            )
        elif len(lag) > 1:
            parts.append(
                f"{_listing(lag, 'drift_end', 1)} lag most, with no measurable difference "
                "between them (overlapping 95% CIs of the drift at end)"
            )
        else:
            row = lag.iloc[0]
            lags = "lag" if bool(row["random_rates"]) else "lags"
            parts.append(
                f"{group_name(row)} {lags} most, with a drift at end of "
                f"{pm(row['drift_end'], row['drift_end_ci'], 1)}"
            )
        growing = sub[sub["growing_share"] > MOSTLY]
        if len(growing):
            parts.append(
                "queues grow on "
                + ", ".join(
                    f"{group_name(r)} ({r['growing_share']:.0%} of "
                    f"{'seeds' if not random else 'runs'}, {r['queue_growth']:.2f} msgs/s)"
                    for _, r in growing.iterrows()
                )
            )
        else:
            parts.append(
                f"queues stay stable (mean final queue at most {sub['final_queue'].max():.1f})"
            )
        jump = top_groups(sub, "max_jump")
        if float(sub["max_jump"].max()) <= 1:
            parts.append("every jump is 1 (no clock ever skips ahead)")
        elif len(jump) == len(sub):
            parts.append(
                "no measurable difference in the largest jumps "
                f"(max jump {_listing(jump, 'max_jump', 1)})"
            )
        elif len(jump) > 1:
            parts.append(
                f"the largest jumps are a tie between {_listing(jump, 'max_jump', 1)} (max jump)"
            )
        else:
            row = jump.iloc[0]
            parts.append(
                f"the largest jumps are {group_name(row)}'s (max jump "
                f"{pm(row['max_jump'], row['max_jump_ci'], 1)})"
            )
        out.append(f"{head} {'; '.join(parts)}.")
    overall = correlations[correlations["experiment"] == 0]["correlation"].iloc[0]
    if not math.isnan(overall):
        out.append(
            f"Over all rows, tick rate and logical-clock rate correlate at r = {overall:.2f}."
        )
    return out


#: Pairs of catalogue experiments that differ in one thing, and the lab question each
#: pair answers: (before, after, what changes).
CONTRASTS = (
    (4, 5, "What changes when the rates vary less"),
    (5, 6, "What changes when internal events are less likely"),
    (3, 7, "What changes when internal events are less likely, at equal rates"),
)


def _worst(sub: pd.DataFrame, metric: str) -> Any:
    """The row with the highest mean of ``metric``."""
    return sub.iloc[int(sub[metric].to_numpy().argmax())]


def _change(a: Any, b: Any, metric: str) -> str:
    """``from x ± h on G to y ± k on H (the 95% CIs do [not] overlap)``."""
    low_a, high_a = _interval(a, metric)
    low_b, high_b = _interval(b, metric)
    overlap = low_a <= high_b and low_b <= high_a
    verdict = "within the noise: the 95% CIs overlap" if overlap else "the 95% CIs do not overlap"
    return (
        f"from {pm(a[metric], a[f'{metric}_ci'], 1)} on {group_name(a)} to "
        f"{pm(b[metric], b[f'{metric}_ci'], 1)} on {group_name(b)} ({verdict})"
    )


def _growing(sub: pd.DataFrame) -> str:
    growing = sub[sub["growing_share"] > MOSTLY]
    if growing.empty:
        return "none"
    return ", ".join(group_name(r) for _, r in growing.iterrows())


def contrasts(stats: pd.DataFrame) -> list[str]:
    """A sentence for each pair of :data:`CONTRASTS` the sweep ran: the experiments' rates
    and p_send, and how the largest drift at end, the growing queues, the largest jumps
    and the clock rates move from one to the other (means and 95% CIs over seeds)."""
    out = []
    for before, after, question in CONTRASTS:
        a, b = (stats[stats["experiment"] == e] for e in (before, after))
        if a.empty or b.empty or bool(a["random_rates"].any() or b["random_rates"].any()):
            continue
        drift = _change(_worst(a, "drift_end"), _worst(b, "drift_end"), "drift_end")
        jump = _change(_worst(a, "max_jump"), _worst(b, "max_jump"), "max_jump")
        out.append(
            f"{question} (exp {before} → exp {after}: rates {_rates(a)} → {_rates(b)}, "
            f"p_send {a['p_send'].iloc[0]:g} → {b['p_send'].iloc[0]:g}): the largest drift "
            f"at end goes {drift}; queues growing: {_growing(a)} → {_growing(b)}; the "
            f"largest max jump goes {jump}; clock rates per second {_clock_rates(a)} → "
            f"{_clock_rates(b)}."
        )
    return out


def _clock_rates(sub: pd.DataFrame) -> str:
    return ", ".join(f"{r:.2f}" for r in sub["clock_rate"])


def _summary_table(stats: pd.DataFrame) -> Table:
    columns = ["exp", "name", "machine", "rate", "p_send", "n", "final clock", "clock rate"]
    columns += ["drift at end", "final queue", "max queue", "max jump", "queue grows"]
    rows = []
    previous = None
    for _, r in stats.iterrows():
        first = r["experiment"] != previous
        previous = r["experiment"]
        rows.append(
            [
                num(r["experiment"]) if first else "",
                str(r["name"]) if first else "",
                "any" if bool(r["random_rates"]) else num(r["machine"]),
                f"{r['rate']:g}",
                f"{r['p_send']:g}" if first else "",
                num(r["samples"]),
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
            "Mean ± 95% confidence half-width (Student's t, lamport.stats) over n runs: the "
            "seeds, or, for an experiment that draws its rates per seed (machine 'any'), every "
            "machine of that rate in every seed. Clock rate = final clock / duration; drift "
            "at end = highest final clock of the run minus this machine's; queue grows = share of "
            "runs whose queue verdict is 'growing' (growth = final queue / duration)."
        ),
    )


def _drops_table(stats: pd.DataFrame) -> Table:
    rows = [
        [
            num(r["experiment"]),
            "any" if bool(r["random_rates"]) else num(r["machine"]),
            f"{r['rate']:g}",
            num(r["samples"]),
            *(pm(r[c], r[f"{c}_ci"], 1) for c in DROP_COLUMNS),
        ]
        for _, r in stats.iterrows()
        if r["dropped"] > 0
    ]
    reasons = [c.removeprefix("dropped_") for c in DROP_COLUMNS[1:]]
    return Table(
        ["exp", "machine", "rate", "n", "lost", *reasons],
        rows,
        caption=(
            "Messages addressed to the machine that were lost, mean ± 95% confidence "
            "half-width over n runs: in all (a broken link's too), then by the fault plan's "
            "reason (the rows of each run's network.csv). Machines that lost none are left out."
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


def prediction_blocks(rows: pd.DataFrame, stats: pd.DataFrame) -> list[Any]:
    """Predicted versus observed (means over seeds) for every fixed-rate experiment."""
    cases = []
    random = []
    for experiment, sub in rows.groupby("experiment", sort=True):
        if bool(sub["random_rates"].iloc[0]):
            random.append(str(experiment))
            continue
        rates = sub.groupby("machine")["rate"].first().sort_index()
        shares = stats[stats["experiment"] == experiment].set_index("machine")["growing_share"]
        cases.append(
            PredictionCase(
                list(rates),
                float(sub["p_send"].iloc[0]),
                float(sub["duration"].mean()),
                cast(list[dict[str, Any]], sub.to_dict("records")),
                {int(cast(int, m)): f"{share:.0%}" for m, share in shares.items()},
                int(cast(int, experiment)),
            )
        )
    blocks: list[Any] = []
    skipped = []
    if cases:
        prediction = prediction_table(cases, "seeds growing", "the mean over seeds")
        blocks.append(prediction.table)
        skipped = prediction.skipped
    if random:
        skipped = [
            *(
                f"{e} (tick rates differ between seeds; the run reports predict each seed)"
                for e in random
            ),
            *skipped,
        ]
    if skipped:
        blocks.append(Paragraph("Not predicted: experiment(s) " + ", ".join(skipped) + "."))
    return blocks


def sweep_document(
    sweep: SweepLike, figures_dir: Path, replayed: Replayed | None = None
) -> Document:
    """The report of a sweep: config, findings, tables, prediction and the two figures;
    ``replayed`` is the causality of the runs :func:`lamport.report.causality.runs_to_replay`
    names, for a sweep that kept no events."""
    sweep = as_sweep(sweep)
    rows = sweep_rows(sweep)
    stats = sweep_stats(sweep, rows)
    correlations = rate_correlations(rows)
    doc = Document(sweep.title)
    where = f"Sweep directory: {sweep.path}; " if sweep.path is not None else ""
    doc.add(
        Heading("Configuration"),
        *configuration_blocks(sweep.metadata),
        Paragraph(
            f"{where}{len(rows)} rows in summary.csv "
            f"({len(sweep.experiments)} experiments × {len(sweep.seeds)} seeds × machines)."
            + (
                f" {len(sweep.run_dirs)} run directories kept under runs/: "
                "python -m lamport.report runs/<label> reports one of them."
                if sweep.run_dirs
                else ""
            )
        ),
    )
    doc.add(Heading("Answers"), Bullets(findings(stats, correlations, rows)))
    paired = contrasts(stats)
    if paired:
        doc.add(Heading("Contrasts between experiments"), Bullets(paired))
    doc.add(Heading("Per experiment and machine"), _summary_table(stats))
    if rows["dropped"].sum() > 0:
        doc.add(Heading("Lost messages"), _drops_table(stats))
    doc.add(Heading("Tick rate and clock rate"), _correlation_table(stats, correlations))
    doc.add(Heading("Predicted versus observed"), *prediction_blocks(rows, stats))
    doc.add(
        Heading("Causality: how much order do Lamport clocks invent?"),
        *sweep_blocks(sweep, rows, replayed),
    )
    from lamport.analysis.plots import SWEEP_FIGURES, overview_plot, spread_plot

    paths = {"overview": figures_dir / "overview.png", "spread": figures_dir / "spread.png"}
    overview_plot(sweep, paths["overview"], stats)
    spread_plot(sweep, paths["spread"], rows, stats)
    doc.add(Heading("Figures"))
    for stem, caption in SWEEP_FIGURES.items():
        doc.add(Figure(paths[stem], caption))
    return doc


__all__ = [
    "CONTRASTS",
    "Sweep",
    "contrasts",
    "findings",
    "group_name",
    "prediction_blocks",
    "sweep_document",
    "top_groups",
]
