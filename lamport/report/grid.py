"""The report of a parameter grid (:mod:`lamport.des.grid`): per-cell figures and,
for three machines over rates and ``p_send``, the stability phase diagram.

The report goes into ``OUT/_report/`` (``report.md``, ``report.html``,
``figures/``), where readers of the dataset do not look. Per run, a grid's
rows give three numbers: whether *some* queue grows
(:func:`lamport.analysis.stats.queue_verdict` on final queue / duration and
the final queue), the *slowest* machine's drift rate (its ``drift_end`` behind the
highest clock, per model second), and the largest jump of any machine. Per cell
the report takes the share of seeds with a growing queue and the means of the
other two.

The phase diagram
    When every cell has three machines whose fastest rate is the same, each
    cell is a point (slowest / fastest, middle / fastest); one heatmap panel per
    value of the other factors (``p_send``). Over each panel the report draws
    :mod:`lamport.theory`'s predicted stability boundary: the line where the
    most loaded machine's arrival rate equals its tick rate (contour 0 of
    ``max_i (lambda_i - r_i) / r_i`` on a fine grid). Below and left of it the
    slowest machine is predicted to saturate.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from lamport.errors import LogError
from lamport.report.document import Bullets, Document, Figure, Heading, Paragraph, Table

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


def cell_table(out: Path | str) -> Any:
    """One row per cell: its factors, ``runs``, ``growing_share``, ``slowest_drift``
    (mean drift rate of the slowest machine, clock ticks per second) and
    ``largest_jump`` (mean over seeds of the largest jump of any machine)."""
    import pandas as pd

    from lamport.analysis.stats import GROWING, queue_verdict
    from lamport.des.grid import read_dataset
    from lamport.schema import GRID_JSON

    out = Path(out)
    try:
        meta = json.loads((out / GRID_JSON).read_text(encoding="utf-8"))
        factors = [f for f in meta["factors"] if isinstance(f, str)]
    except (OSError, ValueError, KeyError, TypeError):
        raise LogError(f"{out}: not a grid directory (no readable {GRID_JSON})") from None
    wanted = list(dict.fromkeys([*COLUMNS, *factors]))
    rows = read_dataset(out, wanted)
    if rows.empty:
        raise LogError(f"{out}: the grid holds no rows yet")
    rows["growing"] = [
        queue_verdict(q / d, q) == GROWING
        for q, d in zip(rows["final_queue"], rows["duration"], strict=True)
    ]
    # The slowest machine of each run: lowest rate, ties broken towards the one furthest behind.
    ordered = rows.sort_values(["cell", "seed", "rate", "drift_end"], ascending=[1, 1, 1, 0])
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


def _rates(text: Any) -> list[float] | None:
    try:
        return [float(x) for x in str(text).split(",")]
    except ValueError:
        return None


def phase_axes(table: Any) -> Any:
    """The cells with slowest / fastest (``x``) and middle / fastest (``y``), or None
    unless every cell has three machines with one fastest rate."""
    if "rates" not in table:
        return None
    parsed = [_rates(r) for r in table["rates"]]
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


def grid_document(out: Path) -> Document:
    """The report of a grid directory: configuration, per-cell table, phase diagram."""
    from lamport.schema import GRID_JSON, GRID_REPORT_DIR

    out = Path(out)
    meta = json.loads((out / GRID_JSON).read_text(encoding="utf-8"))
    table = cell_table(out)
    doc = Document(f"grid {meta.get('name', '?')} — des — {len(table)} cells")
    doc.add(
        Heading("Configuration"),
        Paragraph(
            f"{meta.get('description') or ''} {meta.get('cells')} cells × {meta.get('seeds')} "
            f"seeds ({int(table['runs'].sum()):,} runs in the dataset); factors: "
            f"{', '.join(meta.get('factors', []))}. Dataset: {out} (Parquet, partitioned by "
            "cell; see docs/grids.md for querying it with pandas or DuckDB).".strip()
        ),
    )
    frame = phase_axes(table)
    figures = out / GRID_REPORT_DIR / "figures"
    if frame is not None:
        answers = closeness(frame)
        if answers:
            doc.add(Heading("How close must the rates be?"))
            doc.add(Bullets([_answer(a) for a in answers]))
            doc.add(
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
        doc.add(Heading("Phase diagrams"))
        for metric, (title, _, _) in PANELS.items():
            path = figures / f"phase-{metric.replace('_', '-')}.png"
            phase_diagram(frame, metric, path)
            doc.add(Figure(path, phase_caption(title)))
    doc.add(Heading("Per cell"), *per_cell_blocks(table, out / GRID_REPORT_DIR))
    return doc


def per_cell_blocks(table: Any, folder: Path) -> list[Any]:
    """Write every cell to ``folder/cells.csv``; return the per-cell section: every cell
    when there are at most :data:`CELL_ROWS`, else a count of the outcomes and the
    :data:`CELL_ROWS` most interesting cells (:func:`interesting_cells`)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        table.to_csv(folder / CELLS_CSV, index=False)
    except OSError as exc:
        message = f"{exc.filename or folder}: cannot write {CELLS_CSV} ({exc.strerror})"
        raise LogError(message) from None
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


def write_grid_report(out: Path | str) -> Path:
    """Write ``_report/report.md``, ``_report/report.html`` and ``_report/figures/phase-*.png``
    into a grid directory (the leading "_" keeps them out of the dataset); return the path
    of ``report.md``. Raise LogError if it is not a grid."""
    from lamport.report.document import to_html, to_markdown
    from lamport.schema import GRID_REPORT_DIR, REPORT_HTML, REPORT_MD

    out = Path(out)
    document = grid_document(out)
    folder = out / GRID_REPORT_DIR
    try:
        folder.mkdir(exist_ok=True)
        (folder / REPORT_MD).write_text(to_markdown(document, folder), encoding="utf-8")
        (folder / REPORT_HTML).write_text(to_html(document), encoding="utf-8")
    except OSError as exc:
        raise LogError(f"{exc.filename or out}: cannot write report ({exc.strerror})") from None
    return folder / REPORT_MD
