"""Figures of a run or a sweep, drawn with matplotlib and seaborn.

Every function takes what it draws (a run or its directory; a sweep, a
sweep result or its directory) and returns a :class:`matplotlib.figure.Figure`,
which a notebook shows inline. Given ``path``, it also saves the figure there
as a PNG at :data:`DPI` dots per inch. Figures are built without pyplot, so
no backend is chosen here and nothing stays open: a notebook keeps its
inline backend, a CLI or test needs no display.

Titles carry the experiment, the backend and the seed (or the sweep's
size). A run of fewer than :data:`MANY_MACHINES` machines is drawn one
line per machine, coloured by machine id; a larger one as quantile bands
across machines (per tick rate when there are few distinct rates).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, MaxNLocator, NullLocator

from lamport.analysis.load import RunLike, SweepLike, as_run, as_sweep
from lamport.analysis.stats import (
    _clock_grid,
    _machine_events,
    jump_stats,
    sweep_rows,
    sweep_stats,
)
from lamport.core import INTERNAL, RECEIVE, SEND
from lamport.result import RunResult
from lamport.stats import percentile

DPI = 100
#: How many model seconds the space-time diagram shows by default.
SPACETIME_SECONDS = 5.0
#: Above this many events in the window the space-time diagram drops the clock labels.
SPACETIME_LABELS = 150
#: The space-time diagram shows at most this many machines (the first ones).
SPACETIME_MACHINES = 12
#: From this many machines on, a run is drawn as quantile bands, not a line per machine.
MANY_MACHINES = 20
#: At most this many distinct rates get a band each; more share one band.
BAND_GROUPS = 8
#: Quantile bands: the median line, and the inner and outer bands (percent).
BAND_INNER = (25, 75)
BAND_OUTER = (5, 95)
#: Band plots evaluate the step functions at most this many instants.
BAND_POINTS = 400

KIND_STYLE = {
    INTERNAL: {"color": "0.55", "marker": "o", "label": "internal"},
    SEND: {"color": "#0072B2", "marker": "s", "label": "send"},
    RECEIVE: {"color": "#D55E00", "marker": "D", "label": "receive"},
}


@contextmanager
def _style() -> Iterator[None]:
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.9):
        yield


def _palette(n: int) -> list[Any]:
    return list(sns.color_palette("colorblind", n))


def _machine_label(machine: int, rate: float) -> str:
    return f"machine {machine} ({rate:g} tick/s)"


def _finish(fig: Figure, path: str | Path | None) -> Figure:
    """Save the figure to ``path`` (if given) and return it."""
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return fig


def _figure(width: float, height: float, **kwargs: Any) -> Figure:
    return Figure(figsize=(width, height), **kwargs)


def _nice_counts(high: float) -> list[int]:
    """1, 2, 5, 10, 20, 50, ... up to the first value at or above ``high``."""
    ticks = []
    decade = 1
    while True:
        for step in (1, 2, 5):
            ticks.append(step * decade)
            if step * decade >= high:
                return ticks
        decade *= 10


def _log_counts(ax: Any, high: float) -> None:
    """A log count axis labelled 1, 2, 5, 10, 20, ... in plain numbers."""
    ax.set_yscale("log")
    ticks = _nice_counts(high)
    ax.set_ylim(0.7, max(high * 1.6, 2))
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_yticklabels([f"{t:,}" for t in ticks])


@dataclass(frozen=True)
class _Group:
    """Machines drawn together: one machine, or every machine of one rate."""

    label: str
    machines: list[int]
    color: Any


def _groups(run: RunResult) -> list[_Group]:
    """One group per machine for a small run; per rate (or one for all) for a large one."""
    n = run.n_machines
    if n < MANY_MACHINES:
        colors = _palette(n)
        return [_Group(_machine_label(m, r), [m], colors[m]) for m, r in enumerate(run.rates)]
    rates = sorted(set(run.rates))
    if len(rates) > BAND_GROUPS:
        return [_Group(f"all {n} machines", list(range(n)), _palette(1)[0])]
    colors = _palette(len(rates))
    return [
        _Group(
            f"{rate:g} tick/s ({len(members)} machines)",
            members,
            colors[i],
        )
        for i, rate in enumerate(rates)
        if (members := [m for m, r in enumerate(run.rates) if r == rate])
    ]


def _is_banded(run: RunResult) -> bool:
    return run.n_machines >= MANY_MACHINES


def _band_values(grid: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The grid thinned to :data:`BAND_POINTS` instants (last one kept) and the values there."""
    if len(grid) <= BAND_POINTS:
        return grid, values
    keep = np.unique(np.linspace(0, len(grid) - 1, BAND_POINTS).round().astype(int))
    return grid[keep], values[:, keep]


def _bands(ax: Any, run: RunResult, t: np.ndarray, values: np.ndarray) -> None:
    """Per group: the median across its machines and the inner and outer quantile bands.

    ``values`` is machines x instants (step values holding from each instant on).
    """
    t, values = _band_values(t, values)
    qs = (BAND_OUTER[0], BAND_INNER[0], 50, BAND_INNER[1], BAND_OUTER[1])
    for group in _groups(run):
        members = values[group.machines]
        q = np.array([[percentile(column, p) for p in qs] for column in members.T.tolist()]).T
        ax.fill_between(t, q[0], q[4], step="post", color=group.color, alpha=0.15, lw=0)
        ax.fill_between(t, q[1], q[3], step="post", color=group.color, alpha=0.35, lw=0)
        ax.step(t, q[2], where="post", color=group.color, label=group.label)
    ax.legend(loc="upper left", frameon=True, fontsize="small")


def _band_caption() -> str:
    return (
        f"median across machines; bands {BAND_INNER[0]}–{BAND_INNER[1]}% and "
        f"{BAND_OUTER[0]}–{BAND_OUTER[1]}%"
    )


def _steps(ax: Any, run: RunResult, column: str, finals: Sequence[float] | None = None) -> None:
    """One step line per machine of an event column against t, from 0 at t = 0 to the
    run's end; ``finals`` (one per machine) is the value at the end if it differs from
    the last logged one (the queue: messages that arrived after the last tick)."""
    events = run.events
    for machine, group in enumerate(_groups(run)):
        sub = events[events["machine"] == machine]
        values = sub[column].to_numpy(dtype=float)
        last = values[-1:] if len(values) else np.array([0.0])
        end = np.array([finals[machine]], dtype=float) if finals is not None else last
        t = np.concatenate([[0.0], sub["t"].to_numpy(dtype=float), [run.duration]])
        y = np.concatenate([[0.0], values, end])
        ax.step(t, y, where="post", color=group.color, label=group.label)
        if finals is not None:
            # the final value may change at the very end (a message sent at the last
            # instant): a dot on the edge shows it
            ax.scatter([run.duration], end, s=22, color=group.color, zorder=4, clip_on=False, lw=0)
    ax.legend(loc="upper left", frameon=True, fontsize="small")


def _event_grid(run: RunResult, column: str, finals: Sequence[float] | None) -> Any:
    """Every machine's step function of an event column on the run's common grid,
    with the run's end (holding ``finals`` if given) as the last instant."""
    grid, _, _ = _clock_grid(run)
    values = np.zeros((run.n_machines, len(grid)))
    for machine, sub in enumerate(_machine_events(run)):
        times, logged = sub["t"], sub[column]
        index = np.searchsorted(times, grid, side="right") - 1
        values[machine] = np.where(index >= 0, logged[np.clip(index, 0, None)], 0.0)
    end = values[:, -1] if finals is None else np.asarray(finals, dtype=float)
    return np.append(grid, run.duration), np.column_stack([values, end])


def _fault_windows(ax: Any, run: RunResult) -> None:
    """Shade the windows of the run's fault plan: a window on a machine (a crash, a
    pause) in its machine's colour, a partition or a delay hatched grey (docs/faults.md)."""
    colors = _palette(run.n_machines)
    for fault in run.config.faults:
        windows = fault.windows()
        for w in windows:
            end = w.at + w.duration
            ax.axvspan(w.at, end, color=colors[w.machine], alpha=0.15, linewidth=0, zorder=0)
        at = getattr(fault, "at", None)
        if windows or at is None:  # loss has no window
            continue
        end = at + fault.duration  # type: ignore[attr-defined]
        ax.axvspan(at, end, facecolor="none", edgecolor="0.6", hatch="//", linewidth=0, zorder=0)


def _time_axes(ax: Any, run: RunResult, ylabel: str, title: str) -> None:
    if run.config.faults:
        _fault_windows(ax, run)
    ax.set_xlabel("real time t (model seconds)")
    ax.set_ylabel(ylabel)
    ax.set_xlim(0, run.duration)
    caption = f" ({_band_caption()})" if _is_banded(run) else ""
    ax.set_title(f"{title}{caption}\n{run.title}")


def _event_plot(
    run: RunResult, column: str, ylabel: str, title: str, finals: Sequence[float] | None = None
) -> Figure:
    with _style():
        fig = _figure(8, 4.5)
        ax = fig.subplots()
        if _is_banded(run):
            t, values = _event_grid(run, column, finals)
            _bands(ax, run, t, values)
        else:
            _steps(ax, run, column, finals)
        _time_axes(ax, run, ylabel, title)
        ax.set_ylim(bottom=0)
    return fig


def clock_plot(run: RunLike, path: str | Path | None = None) -> Figure:
    """Logical clock against real time, one step line per machine (bands when many)."""
    run = as_run(run)
    fig = _event_plot(run, "clock", "logical clock", "Logical clock against real time")
    return _finish(fig, path)


def queue_plot(run: RunLike, path: str | Path | None = None) -> Figure:
    """Queue length against real time per machine, as logged after each event and, at
    the end of the run, the messages left queued (the final queue of the tables)."""
    run = as_run(run)
    fig = _event_plot(
        run,
        "queue",
        "messages in queue",
        "Queue length over time (dot: final queue, in flight included)",
        run.queued_at_end,
    )
    return _finish(fig, path)


def drift_plot(run: RunLike, path: str | Path | None = None, drift: Any = None) -> Figure:
    """Drift: how far each machine's clock trails the leading clock (the highest clock in
    the system minus this machine's) over time.

    ``drift`` is accepted for compatibility and not needed: the drift comes from
    the same grid :func:`lamport.analysis.drift_frame` uses.
    """
    run = as_run(run)
    grid, _, clocks = _clock_grid(run)
    drifts = (clocks.max(axis=0)[None, :] - clocks).astype(float)
    t = np.append(grid, run.duration)
    drifts = np.column_stack([drifts, drifts[:, -1]])
    with _style():
        fig = _figure(8, 4.5)
        ax = fig.subplots()
        if _is_banded(run):
            _bands(ax, run, t, drifts)
        else:
            for machine, group in enumerate(_groups(run)):
                ax.step(t, drifts[machine], where="post", color=group.color, label=group.label)
            ax.legend(loc="upper left", frameon=True, fontsize="small")
        ylabel = "drift: leader's clock − machine's clock"
        _time_axes(ax, run, ylabel, "Drift behind the leading clock")
        ax.set_ylim(bottom=0)
    return _finish(fig, path)


def jump_plot(run: RunLike, path: str | Path | None = None) -> Figure:
    """Distribution of jump sizes, one panel per machine (per rate group when many),
    on a log count axis labelled 1, 2, 5, 10, 20, ..."""
    run = as_run(run)
    groups = _groups(run)
    events = run.events
    jumps_of = dict(tuple(events.groupby("machine", sort=True)["jump"]))
    stats = jump_stats(run) if not _is_banded(run) else None
    n = len(groups)
    with _style():
        fig = _figure(min(4.0 * n, 16), 3.8)
        axes = fig.subplots(1, n, sharex=True, squeeze=False)[0]
        for i, group in enumerate(groups):
            ax = axes[i]
            parts = [jumps_of[m].to_numpy() for m in group.machines if m in jumps_of]
            jumps = np.concatenate(parts).astype(np.int64) if parts else np.array([], np.int64)
            if len(jumps):
                sns.histplot(x=jumps, discrete=True, ax=ax, color=group.color, edgecolor="white")
                _log_counts(ax, float(np.bincount(jumps).max()))
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if stats is not None:
                row = stats.iloc[group.machines[0]]
                mean, p95, top = row["mean_jump"], row["p95_jump"], row["max_jump"]
            else:
                empty = not len(jumps)
                mean = math.nan if empty else float(jumps.mean())
                p95 = percentile(jumps.tolist(), 95)
                top = 0 if empty else int(jumps.max())
            ax.set_title(
                f"{group.label}\nmean {mean:.2f}, p95 {p95:g}, max {int(top)}",
                fontsize="small",
            )
            ax.set_xlabel("jump (clock increase per event)")
            ax.set_ylabel("events" if i == 0 else "")
        fig.suptitle(f"Jump-size distribution — {run.title}")
        fig.tight_layout()
    return _finish(fig, path)


def spacetime_plot(
    run: RunLike, path: str | Path | None = None, seconds: float = SPACETIME_SECONDS
) -> Figure:
    """Space-time diagram of the first ``seconds`` (and at most the first
    :data:`SPACETIME_MACHINES` machines): a line per machine, a dot per event (labelled
    with its clock when few enough), an arrow from each SEND to its RECEIVE."""
    run = as_run(run)
    events = run.events
    n = min(run.n_machines, SPACETIME_MACHINES)
    window = events[(events["t"] <= seconds) & (events["machine"] < n)]
    with _style():
        fig = _figure(12, 1.2 + 1.1 * n)
        ax = fig.subplots()
        ax.grid(False)
        for machine in range(n):
            ax.axhline(machine, color="0.8", lw=1.2, zorder=1)
        sends = window[window["event"] == SEND].set_index("msg_id")
        receives = window[window["event"] == RECEIVE]
        matched = receives[receives["msg_id"].isin(sends.index)]
        origin = sends.loc[matched["msg_id"]]
        for ts, ms, tr, mr in zip(
            origin["t"], origin["machine"], matched["t"], matched["machine"], strict=True
        ):
            ax.annotate(
                "",
                xy=(tr, mr),
                xytext=(ts, ms),
                arrowprops={"arrowstyle": "->", "color": "#0072B2", "lw": 0.8, "alpha": 0.6},
                zorder=2,
            )
        _spacetime_faults(ax, run, n, seconds, sends)
        for kind, style in KIND_STYLE.items():
            sub = window[window["event"] == kind]
            ax.scatter(
                sub["t"],
                sub["machine"],
                s=28,
                zorder=3,
                color=style["color"],
                marker=style["marker"],
                label=style["label"],
            )
        if len(window) <= SPACETIME_LABELS:
            for t, machine, clock in zip(
                window["t"], window["machine"], window["clock"], strict=True
            ):
                ax.annotate(
                    str(clock),
                    (t, machine),
                    xytext=(0, 7),
                    textcoords="offset points",
                    ha="center",
                    fontsize=7,
                    zorder=4,
                )
        ax.set_yticks(range(n), [_machine_label(m, r) for m, r in enumerate(run.rates[:n])])
        ax.set_ylim(n - 0.5, -0.6)
        ax.set_xlim(0, seconds)
        ax.set_xlabel("real time t (model seconds); numbers are clock values after each event")
        shown = f", machines 0–{n - 1} of {run.n_machines}" if n < run.n_machines else ""
        ax.set_title(f"Space-time diagram, first {seconds:g} s{shown}\n{run.title}")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=4, frameon=False)
    return _finish(fig, path)


#: How the space-time diagrams draw a machine's down time and a lost message.
DOWN_COLOR = "#CC79A7"
LOST_COLOR = "#CC0000"


def _spacetime_faults(ax: Any, run: RunResult, n: int, seconds: float, sends: Any) -> None:
    """Shade each machine's down windows (CRASH to RESTART, PAUSE to RESUME) on its lane
    and mark CRASH and RESTART; draw each lost message (``network.csv``) as a dashed line
    from its SEND to a cross where it was lost, on its recipient's lane."""
    from matplotlib.patches import Rectangle

    labelled: set[str] = set()

    def label(text: str) -> str:
        if text in labelled:
            return "_nolegend_"
        labelled.add(text)
        return text

    def shade(machine: int, start: float, end: float) -> None:
        """The machine's lane greyed from ``start`` to ``end`` (clipped to the window)."""
        if start <= seconds:
            ax.add_patch(
                Rectangle(
                    (start, machine - 0.3),
                    min(end, seconds) - start,
                    0.6,
                    color=DOWN_COLOR,
                    alpha=0.2,
                    lw=0,
                    zorder=0,
                    label=label("down (crash or pause)"),
                )
            )

    for machine in range(n):
        down = None
        for e in run.logs[machine]:
            if e.event in ("CRASH", "PAUSE"):
                down = e.t
            elif e.event in ("RESTART", "RESUME") and down is not None:
                shade(machine, down, e.t)
                down = None
        if down is not None:
            shade(machine, down, seconds)
        marks = [(e.t, e.event) for e in run.logs[machine] if e.event in ("CRASH", "RESTART")]
        for t, kind in marks:
            if t <= seconds:
                ax.scatter(
                    [t],
                    [machine],
                    s=60,
                    zorder=3,
                    color=DOWN_COLOR,
                    marker="X" if kind == "CRASH" else "^",
                    label=label("crash" if kind == "CRASH" else "restart"),
                )
    for drop in run.dropped:
        if drop.t > seconds or drop.recipient >= n or drop.msg_id not in sends.index:
            continue
        origin = sends.loc[[drop.msg_id]].iloc[0]
        ax.plot(
            [origin["t"], drop.t],
            [origin["machine"], drop.recipient],
            ls="--",
            color=LOST_COLOR,
            lw=0.8,
            alpha=0.8,
            zorder=2,
        )
        ax.scatter(
            [drop.t],
            [drop.recipient],
            marker="x",
            color=LOST_COLOR,
            s=40,
            zorder=3,
            label=label("lost message"),
        )


#: Run figures: file stem -> caption.
RUN_FIGURES = {
    "clock": "Logical clock of each machine against real time.",
    "drift": "Drift: the highest clock in the system minus each machine's clock.",
    "queue": "Messages waiting in each machine's queue (logged at its events); "
    "the dot at the end is the final queue of the tables, messages in flight included.",
    "jumps": "How much each event raised the clock, per machine.",
    "spacetime": "The first seconds of the run: events per machine, "
    "arrows from each send to its receive; shaded: a machine down (crash or pause), "
    "crosses: crashes and lost messages.",
}


def run_captions(run: RunLike) -> dict[str, str]:
    """:data:`RUN_FIGURES`, worded for this run (bands and rate groups for a large one)."""
    run = as_run(run)
    if not _is_banded(run):
        captions = dict(RUN_FIGURES)
        if run.config.faults:
            shaded = (
                " Shaded: a crash window, in its machine's colour; hatched: a partition "
                "or a delay window."
            )
            for stem in ("clock", "drift", "queue"):
                captions[stem] += shaded
        return captions
    bands = f"Bands across machines of each tick rate: {_band_caption()}."
    captions = {
        "clock": f"Logical clock against real time. {bands}",
        "drift": f"Drift: the highest clock in the system minus each machine's clock. {bands}",
        "queue": f"Messages waiting in the queues (the last point is the final queue). {bands}",
        "jumps": "How much each event raised the clock, all machines of each tick rate pooled.",
        "spacetime": f"The first seconds of the run, machines 0 to "
        f"{min(run.n_machines, SPACETIME_MACHINES) - 1}: events per machine, arrows from "
        "each send to its receive.",
    }
    return captions


def run_figures(
    run: RunLike,
    out_dir: str | Path,
    drift: pd.DataFrame | None = None,
    spacetime_seconds: float = SPACETIME_SECONDS,
) -> dict[str, Path]:
    """Draw every run figure into ``out_dir`` (``clock.png``, ``drift.png``, ...); return the paths.

    ``drift`` is accepted for compatibility and not needed.
    """
    run = as_run(run)
    out_dir = Path(out_dir)
    drawers = {
        "clock": lambda p: clock_plot(run, p),
        "drift": lambda p: drift_plot(run, p),
        "queue": lambda p: queue_plot(run, p),
        "jumps": lambda p: jump_plot(run, p),
        "spacetime": lambda p: spacetime_plot(run, p, spacetime_seconds),
    }
    paths = {}
    for stem, draw in drawers.items():
        paths[stem] = out_dir / f"{stem}.png"
        draw(paths[stem])
    return paths


SPREAD_METRICS = (
    ("final_queue", "final queue (messages)"),
    ("clock_rate", "clock rate (final clock / duration)"),
    ("max_jump", "max jump"),
)


def _spread_panel(
    ax: Any,
    rows: pd.DataFrame,
    stats: pd.DataFrame,
    metric: str,
    positions: list[tuple[Any, str, float, Any]],
) -> None:
    """Each seed as a dot and the mean ± 95% CI as a bar, at the given x positions.

    ``positions`` holds (row selector, label, x, colour) per group.
    """
    rng = np.random.default_rng(0)
    for select, _, x, color in positions:
        values = rows.loc[select(rows), metric].to_numpy(dtype=float)
        jitter = rng.uniform(-0.08, 0.08, len(values)) if len(values) > 1 else np.zeros(1)
        ax.scatter(x + jitter, values, s=18, color=color, alpha=0.75, lw=0, zorder=2)
        summary = stats.loc[select(stats)]
        mean = float(summary[metric].iloc[0])
        half = float(summary[f"{metric}_ci"].iloc[0])
        ax.errorbar(
            x,
            mean,
            yerr=None if math.isnan(half) else half,
            fmt="_",
            markersize=12,
            mew=2,
            color="0.15",
            elinewidth=1.0,
            capsize=3,
            zorder=3,
        )


def spread_plot(
    sweep: SweepLike,
    path: str | Path | None = None,
    rows: pd.DataFrame | None = None,
    stats: pd.DataFrame | None = None,
) -> Figure:
    """The spread across seeds of final queue, clock rate and max jump: every seed a
    dot, the mean and its 95% CI a black bar, per experiment and machine (per tick
    rate for an experiment that draws its rates per seed)."""
    sweep = as_sweep(sweep)
    rows = sweep_rows(sweep) if rows is None else rows
    stats = sweep_stats(sweep, rows) if stats is None else stats
    positions: list[tuple[Any, str, float, Any]] = []
    ticks: list[tuple[float, str]] = []
    x = 0.0
    colors = _palette(10)
    for experiment, sub in stats.groupby("experiment", sort=True):
        start = x
        slots = {rate: i for i, rate in enumerate(sorted(sub["rate"].unique()))}
        for _, group in sub.iterrows():
            random = bool(group["random_rates"])
            rate = float(group["rate"])

            def select(frame: pd.DataFrame, e: Any = experiment, g: Any = group) -> Any:
                if bool(g["random_rates"]):
                    return (frame["experiment"] == e) & (frame["rate"] == g["rate"])
                return (frame["experiment"] == e) & (frame["machine"] == g["machine"])

            label = f"{rate:g}/s" if random else f"m{int(group['machine'])}"
            slot = slots[group["rate"]] if random else group["machine"]
            color = colors[int(slot) % len(colors)]
            positions.append((select, label, x, color))
            x += 1
        name = str(sub["name"].iloc[0])
        kind = " (by rate)" if bool(sub["random_rates"].iloc[0]) else ""
        ticks.append(((start + x - 1) / 2, f"{experiment}\n{name}{kind}"))
        x += 0.8
    width = min(max(6.0, 0.36 * x + 2), 19)
    with _style():
        fig = _figure(width, 8.5, layout="constrained")
        axes = fig.subplots(len(SPREAD_METRICS), 1, sharex=True)
        for ax, (metric, label) in zip(axes, SPREAD_METRICS, strict=True):
            _spread_panel(ax, rows, stats, metric, positions)
            top = float(rows[metric].max())
            if metric == "final_queue" and top > 20:
                ax.set_yscale("symlog", linthresh=5)
                counts = [0, *_nice_counts(top)]
                ax.yaxis.set_major_locator(FixedLocator(counts))
                ax.yaxis.set_minor_locator(NullLocator())
                ax.set_yticklabels([f"{c:,}" for c in counts])
            ax.set_ylim(bottom=0)
            ax.set_ylabel(label)
            ax.grid(False, axis="x")
        bottom = axes[-1]
        bottom.set_xticks([p[2] for p in positions], [p[1] for p in positions], fontsize=7)
        bottom.tick_params(axis="x", rotation=90)
        for position, text in ticks:
            axes[0].annotate(
                text,
                (position, 1.02),
                xycoords=("data", "axes fraction"),
                ha="center",
                va="bottom",
                fontsize=8,
            )
        bottom.set_xlim(-0.7, x - 0.1)
        seeds = len(sweep.seeds)
        fig.suptitle(
            f"Spread across {seeds} seed{'s' if seeds != 1 else ''}: each seed a dot, "
            f"mean ± 95% CI a bar — {sweep.title}"
        )
    return _finish(fig, path)


OVERVIEW_METRICS = (
    ("clock_rate", "clock rate (final clock / duration)", ".2f", "crest"),
    ("drift_end", "drift at end", ".0f", "rocket_r"),
    ("final_queue", "final queue", ".0f", "rocket_r"),
    ("max_jump", "max jump", ".0f", "mako_r"),
)


def overview_note(names: str) -> str:
    """The overview's note on the experiments it leaves out (they draw their rates per seed)."""
    return (
        f"Not shown: experiment {names}, whose rates are drawn per seed, so a machine id "
        "means nothing there; the table and the spread figure show it by tick rate."
    )


def _experiment_label(stats: pd.DataFrame, experiment: int) -> str:
    sub = stats[stats["experiment"] == experiment]
    name = sub["name"].iloc[0]
    if bool(sub["random_rates"].iloc[0]):
        rates = "random rates: by rate in the table"
    else:
        rates = ",".join(f"{r:g}" for r in sub["rate"])
    return f"{experiment} {name} ({rates}; p {sub['p_send'].iloc[0]:g})"


def overview_plot(
    sweep: SweepLike, path: str | Path | None = None, stats: pd.DataFrame | None = None
) -> Figure:
    """All experiments at a glance: mean across seeds of clock rate, drift at the
    end, final queue and max jump, per experiment (rows) and machine
    (columns), as annotated heatmaps.

    An experiment that draws its rates per seed (experiment 1) has no per-machine
    means (a machine id means nothing there): it is left out, and a note under the
    panels says so and where to find it. A sweep of such experiments only is drawn
    per tick rate (columns) instead."""
    sweep = as_sweep(sweep)
    stats = sweep_stats(sweep) if stats is None else stats
    random = stats["random_rates"].astype(bool)
    by_rate = bool(random.all())
    shown = stats if by_rate else stats[~random]
    experiments = sorted(shown["experiment"].unique())
    left_out = sorted(stats.loc[random, "experiment"].unique()) if not by_rate else []
    labels = [_experiment_label(stats, e) for e in experiments]
    column = "rate" if by_rate else "machine"
    shown = shown.assign(**{column: shown[column].astype("float" if by_rate else "int64")})
    height = 2.0 + 0.42 * len(experiments) + (0.4 if left_out else 0)
    with _style():
        fig = _figure(14, height)
        axes = fig.subplots(1, len(OVERVIEW_METRICS), sharey=True, squeeze=False)[0]
        for ax, (metric, title, fmt, cmap) in zip(axes, OVERVIEW_METRICS, strict=True):
            table = shown.pivot(index="experiment", columns=column, values=metric)
            table = table.reindex(experiments)
            if by_rate:
                table.columns = [f"{r:g}/s" for r in table.columns]
            values = table.to_numpy(dtype=float)
            # a shared log-like colour scale keeps one runaway queue from washing out the rest
            colour = np.log1p(np.clip(values, 0, None)) if metric != "clock_rate" else values
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # an all-blank row
                sns.heatmap(
                    pd.DataFrame(colour, index=labels, columns=table.columns),
                    annot=values,
                    fmt=fmt,
                    cmap=cmap,
                    cbar=False,
                    ax=ax,
                    linewidths=0.5,
                    annot_kws={"fontsize": 8},
                )
            ax.grid(False)
            ax.set_title(title, fontsize="small")
            ax.set_xlabel("tick rate" if by_rate else "machine")
            ax.set_ylabel("")
            ax.tick_params(axis="y", labelsize=8)
        fig.suptitle(f"Mean across seeds, all experiments — {sweep.title}")
        if left_out:
            names = ", ".join(
                f"{e} {stats.loc[stats['experiment'] == e, 'name'].iloc[0]}" for e in left_out
            )
            fig.text(0.01, 0.01, overview_note(names), fontsize=8, ha="left", va="bottom")
        fig.tight_layout(rect=(0, 0.06 if left_out else 0, 1, 1))
    return _finish(fig, path)


#: Sweep figures: file stem -> caption.
SWEEP_FIGURES = {
    "overview": "Every experiment at a glance: means across seeds per machine "
    "(clock rate = final clock / duration; drift at end = highest final clock minus the "
    "machine's). An experiment that draws its rates per seed is left out, as the figure notes.",
    "spread": "Spread across seeds of final queue, clock rate and max jump: each seed a dot, "
    "the mean and its 95% confidence interval a black bar.",
}


def sweep_figures(sweep: SweepLike, out_dir: str | Path) -> dict[str, Path]:
    """Draw the sweep figures into ``out_dir``; return the paths."""
    sweep = as_sweep(sweep)
    out_dir = Path(out_dir)
    rows = sweep_rows(sweep)
    stats = sweep_stats(sweep, rows)
    paths = {"overview": out_dir / "overview.png", "spread": out_dir / "spread.png"}
    overview_plot(sweep, paths["overview"], stats)
    spread_plot(sweep, paths["spread"], rows, stats)
    return paths
