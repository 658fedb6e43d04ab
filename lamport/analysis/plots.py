"""Figures of a run or a sweep: seaborn and matplotlib on the Agg backend, saved as PNG.

Every function takes what it draws and the path to write, saves a PNG at
:data:`DPI` dots per inch and returns the path. Titles carry the experiment,
the backend and the seed (or the sweep's size). Colours follow the machine id
in every figure of a run.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # reports are written headless, from CLIs and tests

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import MatplotlibDeprecationWarning
from matplotlib.ticker import MaxNLocator

from lamport.analysis.load import Run, Sweep
from lamport.analysis.stats import drift_frame, jump_stats, sweep_rows, sweep_stats
from lamport.core import INTERNAL, RECEIVE, SEND

DPI = 100
#: How many model seconds the space-time diagram shows by default.
SPACETIME_SECONDS = 5.0
#: Above this many events in the window the space-time diagram drops the clock labels.
SPACETIME_LABELS = 150

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


def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def _steps(ax: Any, run: Run, column: str, ylabel: str, what: str) -> None:
    """One step line per machine of an event column against t, starting from 0 at t = 0."""
    colors = _palette(run.n_machines)
    events = run.events
    for machine, rate in enumerate(run.rates):
        sub = events[events["machine"] == machine]
        t = np.concatenate([[0.0], sub["t"].to_numpy(dtype=float), [run.duration]])
        values = sub[column].to_numpy(dtype=float)
        y = np.concatenate([[0.0], values, values[-1:] if len(values) else [0.0]])
        ax.step(t, y, where="post", color=colors[machine], label=_machine_label(machine, rate))
    ax.set_xlabel("real time t (model seconds)")
    ax.set_ylabel(ylabel)
    ax.set_xlim(0, run.duration)
    ax.set_title(f"{what}\n{run.title}")
    ax.legend(loc="upper left", frameon=True, fontsize="small")


def clock_plot(run: Run, path: str | Path) -> Path:
    """Logical clock against real time, one step line per machine."""
    with _style():
        fig, ax = plt.subplots(figsize=(8, 4.5))
        _steps(ax, run, "clock", "logical clock", "Logical clock against real time")
        return _save(fig, path)


def queue_plot(run: Run, path: str | Path) -> Path:
    """Queue length (as logged after each event) against real time, per machine."""
    with _style():
        fig, ax = plt.subplots(figsize=(8, 4.5))
        _steps(ax, run, "queue", "messages in queue", "Queue length over time")
        ax.set_ylim(bottom=0)
        return _save(fig, path)


def gap_plot(run: Run, path: str | Path, drift: pd.DataFrame | None = None) -> Path:
    """Gap to the leading clock (highest clock in the system minus this machine's) over time."""
    drift = drift_frame(run) if drift is None else drift
    colors = _palette(run.n_machines)
    with _style():
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for machine, rate in enumerate(run.rates):
            sub = drift[drift["machine"] == machine]
            t = np.append(sub["t"].to_numpy(), run.duration)
            gap = sub["gap"].to_numpy(dtype=float)
            ax.step(
                t,
                np.append(gap, gap[-1:]),
                where="post",
                color=colors[machine],
                label=_machine_label(machine, rate),
            )
        ax.set_xlabel("real time t (model seconds)")
        ax.set_ylabel("leader's clock − machine's clock")
        ax.set_xlim(0, run.duration)
        ax.set_ylim(bottom=0)
        ax.set_title(f"Gap to the leading clock\n{run.title}")
        ax.legend(loc="upper left", frameon=True, fontsize="small")
        return _save(fig, path)


def jump_plot(run: Run, path: str | Path) -> Path:
    """Distribution of jump sizes, one panel per machine (log count axis)."""
    colors = _palette(run.n_machines)
    stats = jump_stats(run)
    events = run.events
    n = run.n_machines
    with _style():
        fig, axes = plt.subplots(1, n, figsize=(min(4.0 * n, 14), 3.8), sharex=True, squeeze=False)
        for machine, rate in enumerate(run.rates):
            ax = axes[0][machine]
            jumps = events.loc[events["machine"] == machine, "jump"].to_numpy()
            if len(jumps):
                sns.histplot(
                    x=jumps, discrete=True, ax=ax, color=colors[machine], edgecolor="white"
                )
                ax.set_yscale("log")
                ax.set_ylim(0.7, np.bincount(jumps).max() * 1.6)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            row = stats.iloc[machine]
            ax.set_title(
                f"{_machine_label(machine, rate)}\nmean {row['mean_jump']:.2f}, "
                f"p95 {row['p95_jump']:g}, max {int(row['max_jump'])}",
                fontsize="small",
            )
            ax.set_xlabel("jump (clock increase per event)")
            ax.set_ylabel("events" if machine == 0 else "")
        fig.suptitle(f"Jump-size distribution — {run.title}")
        fig.tight_layout()
        return _save(fig, path)


def spacetime_plot(run: Run, path: str | Path, seconds: float = SPACETIME_SECONDS) -> Path:
    """Space-time diagram of the first ``seconds``: a line per machine, a dot per event
    (labelled with its clock when few enough), an arrow from each SEND to its RECEIVE."""
    events = run.events
    window = events[events["t"] <= seconds]
    n = run.n_machines
    with _style():
        fig, ax = plt.subplots(figsize=(12, 1.2 + 1.1 * n))
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
        ax.set_yticks(range(n), [_machine_label(m, r) for m, r in enumerate(run.rates)])
        ax.set_ylim(n - 0.5, -0.6)
        ax.set_xlim(0, seconds)
        ax.set_xlabel("real time t (model seconds); numbers are clock values after each event")
        ax.set_title(f"Space-time diagram, first {seconds:g} s\n{run.title}")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, frameon=False)
        return _save(fig, path)


#: Run figures: file stem -> caption.
RUN_FIGURES = {
    "clock": "Logical clock of each machine against real time.",
    "gap": "Gap between the highest clock in the system and each machine's clock.",
    "queue": "Messages waiting in each machine's queue (logged at its events).",
    "jumps": "How much each event raised the clock, per machine.",
    "spacetime": "The first seconds of the run: events per machine, "
    "arrows from each send to its receive.",
}


def run_figures(
    run: Run,
    out_dir: str | Path,
    drift: pd.DataFrame | None = None,
    spacetime_seconds: float = SPACETIME_SECONDS,
) -> dict[str, Path]:
    """Draw every run figure into ``out_dir`` (``clock.png``, ``gap.png``, ...); return the paths.

    ``drift`` is :func:`lamport.analysis.drift_frame` of the run if already computed.
    """
    out_dir = Path(out_dir)
    return {
        "clock": clock_plot(run, out_dir / "clock.png"),
        "gap": gap_plot(run, out_dir / "gap.png", drift),
        "queue": queue_plot(run, out_dir / "queue.png"),
        "jumps": jump_plot(run, out_dir / "jumps.png"),
        "spacetime": spacetime_plot(run, out_dir / "spacetime.png", spacetime_seconds),
    }


SPREAD_METRICS = (
    ("final_queue", "final queue (messages)"),
    ("clock_rate", "clock rate (ticks/s)"),
    ("max_jump", "max jump"),
)


def spread_plot(sweep: Sweep, path: str | Path, rows: pd.DataFrame | None = None) -> Path:
    """Per experiment and machine, the spread across seeds of final queue, clock rate
    and max jump (box plots, one panel per metric)."""
    rows = sweep_rows(sweep) if rows is None else rows
    data = rows.assign(machine=rows["machine"].astype(str))
    with _style():
        fig, axes = plt.subplots(
            len(SPREAD_METRICS), 1, figsize=(11, 9), sharex=True, layout="constrained"
        )
        for ax, (metric, label) in zip(axes, SPREAD_METRICS, strict=True):
            with warnings.catch_warnings():
                # seaborn 0.13 passes matplotlib 3.11's deprecated vert= to bxp
                warnings.simplefilter("ignore", MatplotlibDeprecationWarning)
                sns.boxplot(
                    data=data,
                    x="experiment",
                    y=metric,
                    hue="machine",
                    ax=ax,
                    palette=_palette(data["machine"].nunique()),
                    fliersize=2,
                    linewidth=0.8,
                )
            if metric == "final_queue" and data[metric].max() > 20:
                ax.set_yscale("symlog", linthresh=5)
            ax.set_ylim(bottom=0)
            ax.set_ylabel(label)
            ax.set_xlabel("")
            handles, names = ax.get_legend_handles_labels()
            ax.get_legend().remove()
        axes[-1].set_xlabel("experiment")
        fig.legend(handles, names, title="machine", loc="outside right upper")
        fig.suptitle(f"Spread across seeds, per experiment and machine — {sweep.title}")
        return _save(fig, path)


OVERVIEW_METRICS = (
    ("clock_rate", "clock rate (ticks/s)", ".2f", "crest"),
    ("drift_end", "gap to leader at end", ".0f", "rocket_r"),
    ("final_queue", "final queue", ".0f", "rocket_r"),
    ("max_jump", "max jump", ".0f", "mako_r"),
)


def _experiment_label(stats: pd.DataFrame, experiment: int) -> str:
    sub = stats[stats["experiment"] == experiment]
    rates = ",".join(sub["rate"].astype(str))
    if ".." in rates:
        rates = "random"
    name = sub["name"].iloc[0]
    return f"{experiment} {name} ({rates}; p {sub['p_send'].iloc[0]:g})"


def overview_plot(sweep: Sweep, path: str | Path, stats: pd.DataFrame | None = None) -> Path:
    """All experiments at a glance: mean across seeds of clock rate, gap to the
    leader at the end, final queue and max jump, per experiment (rows) and machine
    (columns), as annotated heatmaps."""
    stats = sweep_stats(sweep) if stats is None else stats
    experiments = sorted(stats["experiment"].unique())
    labels = [_experiment_label(stats, e) for e in experiments]
    height = 1.6 + 0.42 * len(experiments)
    with _style():
        fig, axes = plt.subplots(
            1, len(OVERVIEW_METRICS), figsize=(14, height), sharey=True, squeeze=False
        )
        for i, (metric, title, fmt, cmap) in enumerate(OVERVIEW_METRICS):
            ax = axes[0][i]
            table = stats.pivot(index="experiment", columns="machine", values=metric)
            table = table.reindex(experiments)
            values = table.to_numpy(dtype=float)
            # a shared log-like colour scale keeps one runaway queue from washing out the rest
            colour = np.log1p(np.clip(values, 0, None)) if metric != "clock_rate" else values
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
            ax.set_title(title, fontsize="small")
            ax.set_xlabel("machine")
            ax.set_ylabel("")
            ax.tick_params(axis="y", labelsize=8)
        fig.suptitle(f"Mean across seeds, all experiments — {sweep.title}")
        fig.tight_layout()
        return _save(fig, path)


#: Sweep figures: file stem -> caption.
SWEEP_FIGURES = {
    "overview": "Every experiment at a glance: means across seeds per machine.",
    "spread": "Spread across seeds of final queue, clock rate and max jump.",
}


def sweep_figures(sweep: Sweep, out_dir: str | Path) -> dict[str, Path]:
    """Draw the sweep figures into ``out_dir``; return the paths."""
    out_dir = Path(out_dir)
    rows = sweep_rows(sweep)
    stats = sweep_stats(sweep, rows)
    return {
        "overview": overview_plot(sweep, out_dir / "overview.png", stats),
        "spread": spread_plot(sweep, out_dir / "spread.png", rows),
    }
