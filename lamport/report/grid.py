"""The report of many runs: a sweep, and a parameter grid (:mod:`lamport.des.grid`).

A sweep is the grid over experiment x seed, and both get their report from
one builder, :func:`grid_document`, which lays out what the runs hold:

* **Configuration**: a sweep's ``sweep.json`` as a table, a grid's cells,
  seeds and factors.
* **Per experiment across its seeds**, when the cells are catalogue experiments
  and nothing else varies (a sweep, or a grid whose one factor is
  ``experiment``): the answers to the lab's questions, the contrasts between
  experiments, the table per experiment and machine, lost messages, tick rate
  against clock rate, the theory's prediction, causality and two figures. An
  experiment with fixed rates is reported per machine; one that draws its rates
  per seed (experiment 1) per tick rate, pooling the machines that drew it,
  since a machine id means nothing there. Two groups whose 95% confidence
  intervals overlap are reported as a tie: the sweep cannot tell them apart.
* **Per cell**, for a grid: per run, whether *some* queue grows
  (:func:`lamport.analysis.stats.queue_verdict` on final queue / duration and
  the final queue), the *slowest* machine's drift rate (its ``drift_end`` behind
  the highest clock, per model second), and the largest jump of any machine; per
  cell the share of seeds with a growing queue and the means of the other two.
  Every cell goes to ``cells.csv``.
* **The phase diagram**, when every cell has three machines whose fastest rate
  is the same: each cell is a point (slowest / fastest, middle / fastest); one
  heatmap panel per value of the other factors (``p_send``). Over each panel the
  report draws :mod:`lamport.theory`'s predicted stability boundary: the line
  where the most loaded machine's arrival rate equals its tick rate (contour 0
  of ``max_i (lambda_i - r_i) / r_i`` on a fine grid). Below and left of it the
  slowest machine is predicted to saturate.

A sweep's report goes into its directory (``report.md``, ``report.html``,
``figures/``), a grid's into ``OUT/_report/``, where readers of the dataset do
not look.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, cast

import pandas as pd

from lamport.analysis import Sweep, SweepLike, as_sweep, rate_correlations, sweep_rows, sweep_stats
from lamport.errors import LogError
from lamport.report.causality import Replayed, sweep_blocks
from lamport.report.cells import num, pm
from lamport.report.document import Bullets, Document, Figure, Heading, Paragraph, Table
from lamport.report.prediction import PredictionCase, prediction_table
from lamport.report.run import configuration_blocks
from lamport.schema import DROP_COLUMNS

# -- the document --------------------------------------------------------------------------


def grid_document(many: Sweep, figures_dir: Path, replayed: Replayed | None = None) -> Document:
    """The report of many runs (a sweep or a grid, as :mod:`lamport.analysis.load` loads
    them), its figures drawn into ``figures_dir``; a grid's ``cells.csv`` goes beside
    that folder. ``replayed`` is the causality of the runs
    :func:`lamport.report.causality.runs_to_replay` names, for a sweep that kept no events.
    """
    doc = Document(many.title)
    per_experiment = many.factors == ["experiment"]
    rows = sweep_rows(many) if per_experiment else None
    doc.add(Heading("Configuration"), *_configuration(many, rows))
    if rows is not None:
        doc.add(*_experiment_blocks(many, rows, figures_dir, replayed))
    if many.kind == "grid":
        table = cell_table(many)
        doc.add(*_phase_blocks(table, figures_dir))
        doc.add(Heading("Per cell"), *per_cell_blocks(table, figures_dir.parent))
    return doc


def sweep_document(
    sweep: SweepLike, figures_dir: Path, replayed: Replayed | None = None
) -> Document:
    """The report of a sweep (a loaded one, a :func:`lamport.des.sweep.sweep` result or
    its directory): the grid report over experiment x seed (:func:`grid_document`)."""
    return grid_document(as_sweep(sweep), figures_dir, replayed)


def write_grid_report(out: Path | str) -> Path:
    """Write ``_report/report.md``, ``_report/report.html``, ``_report/cells.csv`` and
    ``_report/figures/`` into a grid directory (the leading "_" keeps them out of the
    dataset); return the path of ``report.md``. Raise LogError if it is not a grid or
    the report cannot be written.

    The report is published in one step: drawn and written into ``._report.partial-<pid>``,
    then put in place of any earlier ``_report`` by renames no signal interrupts; a failed
    write (a full disk, a file-size limit) or a stop leaves the earlier report as it was.
    """
    import errno
    import os
    import shutil

    from lamport.analysis.load import load_grid_runs
    from lamport.errors import stops_held
    from lamport.logs import remove_stale
    from lamport.report.document import to_html, to_markdown
    from lamport.schema import FIGURES_DIR, GRID_REPORT_DIR, REPORT_HTML, REPORT_MD

    out = Path(out)
    many = load_grid_runs(out, list(COLUMNS))
    if many.factors == ["experiment"]:  # the report per experiment reads every column
        many = load_grid_runs(out)
    final = out / GRID_REPORT_DIR
    staging = out / f".{GRID_REPORT_DIR}.partial-{os.getpid()}"
    aside = out / f".{GRID_REPORT_DIR}.old-{os.getpid()}"
    try:
        remove_stale(out)  # the stagings of reports whose process is gone
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        document = grid_document(many, staging / FIGURES_DIR)
        (staging / REPORT_MD).write_text(to_markdown(document, staging), encoding="utf-8")
        (staging / REPORT_HTML).write_text(to_html(document), encoding="utf-8")
        with stops_held():  # the renames happen all or none
            if final.exists():
                os.replace(final, aside)
            os.replace(staging, final)
    except OSError as exc:
        if aside.exists() and not final.exists():
            os.replace(aside, final)
        reason = "file too large" if exc.errno == errno.EFBIG else (exc.strerror or str(exc))
        raise LogError(f"{out}: cannot write the report ({reason.lower()})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(aside, ignore_errors=True)
    return final / REPORT_MD


def _configuration(many: Sweep, rows: pd.DataFrame | None) -> list[Any]:
    meta = many.metadata
    if many.kind == "grid":
        runs = many.summary.groupby(["cell", "seed"]).ngroups
        return [
            Paragraph(
                f"{meta.get('description') or ''} {meta.get('cells')} cells × "
                f"{meta.get('seeds')} seeds ({runs:,} runs in the dataset); factors: "
                f"{', '.join(many.factors)}. Dataset: {many.path} (Parquet, partitioned by "
                "cell; see docs/grids.md for querying it with pandas or DuckDB).".strip()
            )
        ]
    assert rows is not None
    where = f"Sweep directory: {many.path}; " if many.path is not None else ""
    return [
        *configuration_blocks(meta),
        Paragraph(
            f"{where}{len(rows)} rows in summary.csv "
            f"({len(many.experiments)} experiments × {len(many.seeds)} seeds × machines)."
            + (
                f" {len(many.run_dirs)} run directories kept under runs/: "
                "python -m lamport.report runs/<label> reports one of them."
                if many.run_dirs
                else ""
            )
        ),
    ]


# -- per experiment across its seeds (a sweep) ---------------------------------------------


def _experiment_blocks(
    many: Sweep, rows: pd.DataFrame, figures_dir: Path, replayed: Replayed | None
) -> list[Any]:
    """The sections of a sweep: answers, contrasts, tables, prediction, causality, figures."""
    stats = sweep_stats(many, rows)
    correlations = rate_correlations(rows)
    blocks: list[Any] = [Heading("Answers"), Bullets(findings(stats, correlations, rows))]
    paired = contrasts(stats)
    if paired:
        blocks += [Heading("Contrasts between experiments"), Bullets(paired)]
    blocks += [Heading("Per experiment and machine"), _summary_table(stats)]
    if rows["dropped"].sum() > 0:
        blocks += [Heading("Lost messages"), _drops_table(stats)]
    blocks += [Heading("Tick rate and clock rate"), _correlation_table(stats, correlations)]
    blocks += [Heading("Predicted versus observed"), *prediction_blocks(rows, stats)]
    blocks += [
        Heading("Causality: how much order do Lamport clocks invent?"),
        *sweep_blocks(many, rows, replayed),
    ]
    from lamport.analysis.plots import SWEEP_FIGURES, overview_plot, spread_plot

    paths = {"overview": figures_dir / "overview.png", "spread": figures_dir / "spread.png"}
    overview_plot(many, paths["overview"], stats)
    spread_plot(many, paths["spread"], rows, stats)
    blocks.append(Heading("Figures"))
    blocks += [Figure(paths[stem], caption) for stem, caption in SWEEP_FIGURES.items()]
    return blocks


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


# -- per cell and the phase diagram (a grid) -----------------------------------------------


#: Columns the report reads from the dataset.
COLUMNS = (
    "cell",
    "seed",
    "machine",
    "rate",
    "p_send",
    "duration",
    "final_queue",
    "drift_end",
    "max_jump",
)
#: Points per axis of the fine grid the predicted boundary is traced on.
BOUNDARY_POINTS = 41
#: Share of seeds above which a cell counts as unstable in the answer's numbers.
UNSTABLE_SHARE = 0.5
#: Most rows of the report's per-cell table; every cell goes to :data:`CELLS_CSV`.
CELL_ROWS = 20
#: The file beside the grid report that holds the per-cell table in full.
CELLS_CSV = "cells.csv"


def cell_table(grid: Sweep | Path | str) -> Any:
    """One row per cell of a grid (loaded, or its directory): its factors, ``runs``,
    ``growing_share``, ``slowest_drift`` (mean drift rate of the slowest machine, clock
    ticks per second) and ``largest_jump`` (mean over seeds of the largest jump of any
    machine). Raise LogError if a directory is not a grid."""
    from lamport.analysis.load import load_grid_runs
    from lamport.analysis.stats import GROWING, queue_verdict

    many = grid if isinstance(grid, Sweep) else load_grid_runs(grid, list(COLUMNS))
    factors = many.factors
    rows = many.summary[list(dict.fromkeys([*COLUMNS, *factors]))].copy()
    rows["growing"] = [
        queue_verdict(q / d, q) == GROWING
        for q, d in zip(rows["final_queue"], rows["duration"], strict=True)
    ]
    # The slowest machine of each run: lowest rate, ties broken towards the one furthest behind.
    ordered = rows.sort_values(
        ["cell", "seed", "rate", "drift_end"], ascending=[True, True, True, False]
    )
    slowest = ordered.groupby(["cell", "seed"], sort=True).head(1).set_index(["cell", "seed"])
    runs = rows.groupby(["cell", "seed"], sort=True).agg(
        growing=("growing", "any"), largest_jump=("max_jump", "max")
    )
    runs["slowest_drift"] = slowest["drift_end"] / slowest["duration"]
    cells = runs.groupby(level="cell").agg(
        runs=("growing", "size"),
        growing_share=("growing", "mean"),
        slowest_drift=("slowest_drift", "mean"),
        largest_jump=("largest_jump", "mean"),
    )
    keys = rows.groupby("cell", sort=True)[factors].first()
    table = pd.concat([keys, cells], axis=1).reset_index()
    return table


def _rate_list(text: Any) -> list[float] | None:
    try:
        return [float(x) for x in str(text).split(",")]
    except ValueError:
        return None


def phase_axes(table: Any) -> Any:
    """The cells with slowest / fastest (``x``) and middle / fastest (``y``), or None
    unless every cell has three machines with one fastest rate."""
    if "rates" not in table:
        return None
    parsed = [_rate_list(r) for r in table["rates"]]
    if any(p is None or len(p) != 3 for p in parsed):
        return None
    ordered = [sorted(p) for p in parsed if p is not None]
    if len({p[2] for p in ordered}) != 1:
        return None
    frame = table.copy()
    frame["x"] = [p[0] / p[2] for p in ordered]
    frame["y"] = [p[1] / p[2] for p in ordered]
    return frame


def boundary(p_send: float, points: int = BOUNDARY_POINTS) -> tuple[Any, Any, Any]:
    """The theory's load margin ``max_i (lambda_i - r_i) / r_i`` over slowest / fastest
    (columns) and middle / fastest (rows), on ``points`` values each from 1/points to 1;
    NaN where middle < slowest. Its zero contour is the stability boundary."""
    import numpy as np

    from lamport.theory import predict

    axis = np.linspace(1 / points, 1.0, points)
    margin = np.full((points, points), np.nan)
    for i, middle in enumerate(axis):
        for j, slowest in enumerate(axis):
            if slowest <= middle + 1e-12:
                predicted = predict((float(slowest), float(middle), 1.0), p_send)
                margin[i, j] = max((m.arrival_rate - m.rate) / m.rate for m in predicted)
    return axis, axis, margin


PANELS = {
    "growing_share": ("share of seeds in which some queue grows", "rocket_r", (0.0, 1.0)),
    "slowest_drift": ("slowest machine's drift rate (clock ticks / s)", "mako_r", None),
    "largest_jump": ("largest jump (mean over seeds)", "flare", None),
}


#: What the hatched lower-right triangle of a phase diagram is: no cell can lie there.
NO_CELLS = "hatched: no cells (the middle rate cannot be below the slowest)"


def phase_caption(title: str) -> str:
    """The caption of a phase diagram of the panel titled ``title``."""
    return (
        f"{title[0].upper()}{title[1:]}, per cell; dashed line: the theory's predicted "
        "stability boundary (some machine saturates below and left of it); hatched grey "
        "triangle, lower right: no cells, since the middle machine's rate is never below the "
        "slowest's (y >= x by construction); blank squares above the diagonal: rate ratios "
        "the grid did not run."
    )


def phase_diagram(frame: Any, metric: str, path: Path) -> Any:
    """Heatmaps of ``metric`` over (slowest/fastest, middle/fastest), one panel per
    ``p_send`` (and other factor values), with the predicted boundary drawn over and the
    impossible triangle (middle below slowest) hatched; save to ``path``, return the figure."""
    import numpy as np
    import seaborn as sns
    from matplotlib.figure import Figure as MplFigure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, Polygon

    others = [c for c in _factor_columns(frame) if c != "rates"]
    groups = list(frame.groupby(others, sort=True)) if others else [((), frame)]
    title, cmap, limits = PANELS[metric]
    xs = sorted(frame["x"].unique())
    ys = sorted(frame["y"].unique())
    low = frame[metric].min() if limits is None else limits[0]
    high = frame[metric].max() if limits is None else limits[1]
    fig = MplFigure(figsize=(3.2 * len(groups) + 1.2, 3.4), layout="constrained")
    axes = fig.subplots(1, len(groups), squeeze=False)[0]
    mesh = None
    for ax, (key, sub) in zip(axes, groups, strict=True):
        grid = np.full((len(ys), len(xs)), np.nan)
        for _, row in sub.iterrows():
            grid[ys.index(row["y"]), xs.index(row["x"])] = row[metric]
        mesh = ax.pcolormesh(
            _edges(xs),
            _edges(ys),
            grid,
            cmap=sns.color_palette(cmap, as_cmap=True),
            vmin=low,
            vmax=high,
            shading="flat",
        )
        values = key if isinstance(key, tuple) else (key,)
        label = ", ".join(f"{name} {value:g}" for name, value in zip(others, values, strict=True))
        if "p_send" in others:
            p_send = float(values[others.index("p_send")])
            bx, by, margin = boundary(p_send)
            if np.nanmin(margin) < 0 < np.nanmax(margin):
                ax.contour(bx, by, margin, levels=[0.0], colors="white", linewidths=2.2)
                ax.contour(
                    bx, by, margin, levels=[0.0], colors="black", linewidths=1.0, linestyles="--"
                )
        ax.add_patch(
            Polygon(
                [(0, 0), (1.02, 0), (1.02, 1.02)],
                closed=True,
                facecolor="0.93",
                edgecolor="0.6",
                hatch="//",
                lw=0,
                zorder=0.5,
            )
        )
        ax.set_title(label or "all cells", fontsize=9)
        ax.set_xlabel("slowest / fastest rate")
        ax.set_xlim(0, 1.02)
        ax.set_ylim(0, 1.02)
        ax.set_aspect("equal")
    axes[0].set_ylabel("middle / fastest rate")
    if mesh is not None:
        fig.colorbar(mesh, ax=list(axes), shrink=0.85, label=title)
    fig.legend(
        handles=[
            Line2D([], [], color="black", linestyle="--", label="predicted stability boundary"),
            Patch(facecolor="0.93", edgecolor="0.6", hatch="//", label=NO_CELLS),
        ],
        loc="outside lower center",
        ncols=2,
        fontsize=8,
        frameon=False,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return fig


def _edges(values: list[float]) -> Any:
    """Cell edges around sorted centres (half-way between neighbours)."""
    import numpy as np

    centres = np.asarray(values, dtype=float)
    if len(centres) == 1:
        return np.array([centres[0] - 0.05, centres[0] + 0.05])
    mids = (centres[1:] + centres[:-1]) / 2
    return np.concatenate([[2 * centres[0] - mids[0]], mids, [2 * centres[-1] - mids[-1]]])


def _factor_columns(frame: Any) -> list[str]:
    skip = {"cell", "runs", "growing_share", "slowest_drift", "largest_jump", "x", "y"}
    return [c for c in frame.columns if c not in skip]


def closeness(frame: Any) -> list[dict[str, Any]]:
    """For each ``p_send``: the smallest slowest/fastest ratio at which fewer than half the
    seeds grow a queue, with the middle machine as fast as the fastest and as slow as the
    slowest, observed and predicted."""
    from lamport.theory import predict

    out: list[dict[str, Any]] = []
    if "p_send" not in frame:
        return out
    for p_send, sub in frame.groupby("p_send", sort=True):
        entry: dict[str, Any] = {"p_send": float(p_send)}
        for case, pick in (
            ("top", sub["y"] >= 1.0 - 1e-9),
            ("equal", (sub["y"] - sub["x"]).abs() < 1e-9),
        ):
            cells = sub[pick].sort_values("x")
            stable = cells[cells["growing_share"] < UNSTABLE_SHARE]
            entry[f"observed_{case}"] = float(stable["x"].min()) if not stable.empty else math.nan
            # The predicted threshold, by bisection on the slowest ratio.
            lo, hi = 1e-6, 1.0
            for _ in range(40):
                mid = (lo + hi) / 2
                middle = 1.0 if case == "top" else mid
                grows = any(m.queue_growth > 0 for m in predict((mid, middle, 1.0), float(p_send)))
                lo, hi = (mid, hi) if grows else (lo, mid)
            entry[f"predicted_{case}"] = hi
        out.append(entry)
    return out


def _phase_blocks(table: Any, figures: Path) -> list[Any]:
    """How close the rates must be, and the phase diagrams, when the cells allow them."""
    frame = phase_axes(table)
    if frame is None:
        return []
    blocks: list[Any] = []
    answers = closeness(frame)
    if answers:
        blocks += [Heading("How close must the rates be?"), Bullets([_answer(a) for a in answers])]
        blocks.append(
            Table(
                [
                    "p_send",
                    "observed, middle = fastest",
                    "predicted",
                    "observed, middle = slowest",
                    "predicted ",
                ],
                [
                    [
                        f"{a['p_send']:g}",
                        _ratio(a["observed_top"]),
                        _ratio(a["predicted_top"]),
                        _ratio(a["observed_equal"]),
                        _ratio(a["predicted_equal"]),
                    ]
                    for a in answers
                ],
                caption="Smallest slowest/fastest rate ratio at which fewer than half the "
                "seeds grow a queue (observed on the grid's ratio steps) and at which the "
                "theory predicts no queue grows.",
            )
        )
    blocks.append(Heading("Phase diagrams"))
    for metric, (title, _, _) in PANELS.items():
        path = figures / f"phase-{metric.replace('_', '-')}.png"
        phase_diagram(frame, metric, path)
        blocks.append(Figure(path, phase_caption(title)))
    return blocks


def per_cell_blocks(table: Any, folder: Path) -> list[Any]:
    """Write every cell to ``folder/cells.csv``; return the per-cell section: every cell
    when there are at most :data:`CELL_ROWS`, else a count of the outcomes and the
    :data:`CELL_ROWS` most interesting cells (:func:`interesting_cells`)."""
    folder.mkdir(parents=True, exist_ok=True)
    table.to_csv(folder / CELLS_CSV, index=False)
    factors = _factor_columns(table)
    blocks: list[Any] = []
    if len(table) <= CELL_ROWS:
        shown, caption = table, f"Every cell (also in {CELLS_CSV} beside this report)."
    else:
        share = table["growing_share"]
        never, always = int((share == 0).sum()), int((share == 1).sum())
        blocks.append(
            Paragraph(
                f"{len(table)} cells: in {never} no queue grows in any seed, in {always} some "
                f"queue grows in every seed, and {len(table) - never - always} are mixed. The "
                f"table shows the {CELL_ROWS} most interesting; {CELLS_CSV} beside this report "
                "holds every cell."
            )
        )
        shown = interesting_cells(table)
        caption = (
            f"The {CELL_ROWS} cells nearest the stability boundary: growing share closest to "
            "one half first, then the fastest-drifting slowest machine."
        )
    blocks.append(
        Table(
            [*factors, "runs", "growing share", "slowest drift /s", "largest jump"],
            [
                [
                    *(str(row[f]) for f in factors),
                    f"{row['runs']}",
                    f"{row['growing_share']:.2f}",
                    f"{row['slowest_drift']:.3f}",
                    f"{row['largest_jump']:.1f}",
                ]
                for _, row in shown.iterrows()
            ],
            left=tuple(factors),
            caption=caption,
        )
    )
    return blocks


def interesting_cells(table: Any, rows: int | None = None) -> Any:
    """The ``rows`` (default :data:`CELL_ROWS`) cells whose growing share is closest to one
    half (where seeds disagree: the stability boundary), ties broken by the slowest
    machine's drift rate, highest first."""
    rows = CELL_ROWS if rows is None else rows
    order = table.assign(
        _distance=(table["growing_share"] - 0.5).abs(), _drift=-table["slowest_drift"]
    ).sort_values(["_distance", "_drift", "cell"], kind="stable")
    return order.head(rows).drop(columns=["_distance", "_drift"])


def _ratio(x: float) -> str:
    return "none" if math.isnan(x) else f"{x:.2f}"


def _answer(a: dict[str, Any]) -> str:
    return (
        f"p_send {a['p_send']:g}: no queue grows in most seeds once the slowest machine ticks at "
        f"least {_ratio(a['observed_top'])} of the fastest's rate when the middle one is as fast "
        f"as the fastest (theory: {_ratio(a['predicted_top'])}), and at least "
        f"{_ratio(a['observed_equal'])} when the middle one is as slow as the slowest "
        f"(theory: {_ratio(a['predicted_equal'])})."
    )


__all__ = [
    "CELLS_CSV",
    "CELL_ROWS",
    "CONTRASTS",
    "cell_table",
    "contrasts",
    "findings",
    "grid_document",
    "group_name",
    "interesting_cells",
    "per_cell_blocks",
    "phase_diagram",
    "prediction_blocks",
    "sweep_document",
    "top_groups",
    "write_grid_report",
]
