"""Answer the eleven experiments from real runs: writes experiments/RESULTS.md.

    make results            # = .venv/bin/python experiments/make_results.py

1. A DES sweep of all eleven experiments over seeds 0..99 (60 s each), with
   its report (``runs/results/des-sweep/report.html``).
2. One 60-second real-time run per experiment (seed 0, speed 1), all eleven at
   once as separate processes, so the whole step takes about a minute of wall
   time; each run's logs are loaded and checked against every invariant of docs/spec.md.
3. The queueing prediction of :mod:`lamport.theory` for every machine.
4. Experiments 3, 7 and 8 on the DES again with aligned start phases (lock-step)
   beside random ones, the default: what lock-step hides (jumps, final clocks,
   gaps), with a figure.
5. The nemesis experiments (``experiments/faults/*.toml``): each on the DES
   with its fault plan and without, over the same seeds, and one real-time
   run with the plan (started with the eleven above).
6. ``experiments/RESULTS.md`` with the tables, and the figures it shows copied
   into ``experiments/figures/``. The hand-written discussion lives in
   ``experiments/discussion.md`` and is included as is.

Every table uses random start phases, the default of both backends, except
the aligned columns of the lock-step section.

``--seeds``, ``--duration`` and ``--skip-realtime`` make a quicker draft.
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "runs" / "results"
HERE = ROOT / "experiments"
FIGURES = HERE / "figures"
REALTIME_FIGURES = {
    4: ("clock", "drift", "queue", "spacetime"),
    9: ("clock", "queue"),
    3: ("clock",),
}
#: The experiments where lock-step hides most: equal rates, and heavy traffic at close rates.
PHASE_EXPERIMENTS = (3, 7, 8)


class Status:
    """Progress on stderr: rich bars on a terminal, a line per step otherwise."""

    def __init__(self) -> None:
        self.bars: Any = None
        self.lock = threading.Lock()
        self.tasks: dict[str, Any] = {}
        self.shown: dict[str, int] = {}
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            self.bars = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            )
            self.bars.start()

    def add(self, name: str, total: int) -> None:
        if self.bars is not None:
            self.tasks[name] = self.bars.add_task(name, total=total)
        self.shown[name] = -1

    def update(self, name: str, done: int, total: int, note: str = "") -> None:
        """Show ``done`` of ``total``; without a terminal, a line per tenth (and per note)."""
        with self.lock:
            if self.bars is not None:
                self.bars.update(self.tasks[name], completed=done, total=total)
                return
            tenth = done * 10 // total
            if note or tenth > self.shown[name]:
                self.shown[name] = tenth
                extra = f" ({note})" if note else ""
                print(f"{name}: {done}/{total}{extra}", file=sys.stderr, flush=True)

    def stop(self) -> None:
        if self.bars is not None:
            self.bars.stop()


def des_sweep(seeds: int, duration: float, status: Status) -> Any:
    from lamport.des import sweep
    from lamport.report import write_report

    started = time.perf_counter()
    status.add("DES sweep runs", 11 * seeds)
    result = sweep(
        seeds=seeds,
        duration=duration,
        out=OUT / "des-sweep",
        force=True,  # this directory belongs to make_results, whatever it held
        progress=lambda done, total: status.update("DES sweep runs", done, total),
    )
    print(
        f"DES sweep: {len(result.rows)} rows in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    write_report(OUT / "des-sweep")
    return result


def phase_comparison(seeds: int, duration: float) -> dict[tuple[int, str], dict[int, Any]]:
    """Experiments 3, 7, 8 on the DES under aligned and random phases, seeds 0..K-1:
    per (experiment, phase), per machine, its final clocks, gaps, largest jumps, and
    every RECEIVE's jump."""
    from lamport.config import experiment
    from lamport.des import simulate

    out: dict[tuple[int, str], dict[int, Any]] = {}
    for number in PHASE_EXPERIMENTS:
        exp = experiment(number)
        for phase in ("aligned", "random"):
            per_machine: dict[int, Any] = {}
            for seed in range(seeds):
                result = simulate(exp.config(seed, duration=duration, phase=phase))
                for row in result.summary():
                    entry = per_machine.setdefault(
                        row["machine"],
                        {
                            "rate": row["rate"],
                            "final": [],
                            "behind": [],
                            "max_jump": [],
                            "jumps": [],
                        },
                    )
                    entry["final"].append(row["final_clock"])
                    entry["behind"].append(row["drift_end"])
                    entry["max_jump"].append(row["max_jump"])
                for machine, log in enumerate(result.logs):
                    per_machine[machine]["jumps"] += [e.jump for e in log if e.event == "RECEIVE"]
            out[(number, phase)] = per_machine
    return out


def phase_figure(data: dict[tuple[int, str], dict[int, Any]], path: Path) -> None:
    """Share of RECEIVE jumps by size, aligned beside random, one panel per experiment."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    sizes = ["1", "2", "3", "4", "5-9", "10+"]

    def shares(jumps: list[int]) -> list[float]:
        a = np.array(jumps)
        bins = [a == 1, a == 2, a == 3, a == 4, (a >= 5) & (a < 10), a >= 10]
        return [100 * b.sum() / max(len(a), 1) for b in bins]

    fig, axes = plt.subplots(1, len(PHASE_EXPERIMENTS), figsize=(12, 3.6), sharey=True)
    x = np.arange(len(sizes))
    for ax, number in zip(axes, PHASE_EXPERIMENTS, strict=True):
        for offset, phase, colour in ((-0.2, "aligned", "#999999"), (0.2, "random", "#1f77b4")):
            jumps = [j for m in data[(number, phase)].values() for j in m["jumps"]]
            ax.bar(x + offset, shares(jumps), 0.4, label=f"{phase} phases", color=colour)
        ax.set_yscale("log")
        ax.set_ylim(0.01, 150)
        ax.set_xticks(x, sizes)
        ax.set_xlabel("clock jump at a RECEIVE")
        ax.set_title(f"experiment {number}")
    axes[0].set_ylabel("% of RECEIVE events (log)")
    axes[0].legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


#: Results answered elsewhere, from their own sweeps, linked from RESULTS.md.
FURTHER = [
    "## Further results\n",
    "- **How much order do Lamport clocks invent?** Vector clocks derived from the logs, "
    "the share of concurrent event pairs across the eleven experiments, and what Lamport "
    "order adds to causality: [docs/causality.md](../docs/causality.md).",
    "- **How close must the rates be?** The stability phase diagram over rate ratios and "
    "p_send, with the theory's boundary drawn over it: "
    "[docs/grids.md](../docs/grids.md#the-stability-phase-diagram-how-close-must-the-rates-be).\n",
]


def phase_section(seeds: int, duration: float) -> list[str]:
    """The RESULTS.md section comparing aligned and random phases, and its figure."""
    from lamport.config import experiment
    from lamport.stats import mean_ci

    data = phase_comparison(seeds, duration)
    phase_figure(data, FIGURES / "phases-jumps.png")
    lines = [
        "## What lock-step hides: aligned and random start phases\n",
        "Every table above uses **random start phases**, the default: each machine's first "
        "tick falls at a uniform draw in (0, 1/r] after the common start, as when real "
        "processes start one after another. With **aligned** phases (`--phase aligned`, the "
        "schedule before phases existed) machine i ticks at exactly k / r_i, so machines of "
        "equal or commensurate rates tick at the same instants and no machine ever reads, at "
        "its tick, what another did at that same instant. Below, experiments 3, 7 and 8 on the "
        f"DES over seeds 0..{seeds - 1}, {duration:g} s each, under both: means ± 95% CI per "
        "machine; *jumps > 1* is the share of RECEIVE events whose clock jumped by more than "
        "1; *drift* is the highest final clock minus this machine's.\n",
    ]
    for number in PHASE_EXPERIMENTS:
        exp = experiment(number)
        rates = ", ".join(f"{r:g}" for r in exp.rates or ())
        lines.append(
            f"**Experiment {number}** ({exp.name}: rates {rates}, p_send {exp.p_send:g})\n"
        )
        lines.append(
            "| m | rate | final clock: aligned / random | drift: aligned / random | "
            "max jump: aligned / random | jumps > 1: aligned / random |"
        )
        lines.append("|---|---|---|---|---|---|")
        aligned, random = data[(number, "aligned")], data[(number, "random")]
        for m in sorted(aligned):
            cells = [str(m), f"{aligned[m]['rate']:g}"]
            for key, digits in (("final", 1), ("behind", 1), ("max_jump", 1)):
                pair = [fmt(*mean_ci(d[m][key]), digits) for d in (aligned, random)]
                cells.append(" / ".join(pair))
            above = []
            for d in (aligned, random):
                jumps = d[m]["jumps"]
                above.append(f"{100 * sum(j > 1 for j in jumps) / max(len(jumps), 1):.1f}%")
            cells.append(" / ".join(above))
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines.append("![jump sizes under aligned and random phases](figures/phases-jumps.png)\n")
    lines.append(
        "In lock-step (experiments 3 and 7) every jump is exactly 1 and each final clock equals "
        "the tick count: a message sent at tick k carries clock k and is read at tick k + 1, "
        "when the reader's clock is k too. With random phases a message is read by a machine "
        "whose tick falls later in the same period, so its clock can already be ahead of the "
        "reader's: jumps of 2 and more appear, and clocks run ahead of the tick count. In "
        "experiment 8 the rate-4 machines jump under both; random phases lift every final "
        "clock by a few and give the rate-6 machine jumps of 2, while the gaps behind the "
        "leader stay as they were. This is what independent implementations with "
        "separate processes and sleep-based ticks show, and why random phases are the "
        "default.\n"
    )
    return lines


def fmt(mean: float, half: float | None = None, digits: int = 2) -> str:
    if half is None or half != half:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100, help="DES seeds per experiment (100)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per run (60)")
    parser.add_argument("--skip-realtime", action="store_true", help="reuse earlier realtime runs")
    args = parser.parse_args()

    from lamport import __version__
    from lamport.analysis import load_run, machine_stats
    from lamport.analysis.plots import run_figures
    from lamport.config import catalogue
    from lamport.stats import mean_ci, percentile_rank
    from lamport.theory import predict

    experiments = catalogue()
    status = Status()
    try:
        if args.skip_realtime:
            rt_dirs: dict[Any, Path] = {n: OUT / "realtime" / f"exp{n:02d}" for n in range(1, 12)}
            rt_dirs.update({name: OUT / "realtime" / name for name in NEMESIS})
            sweep = des_sweep(args.seeds, args.duration, status)
        else:
            # The real-time runs take a minute of wall time and little CPU: overlap the sweep.
            started = time.perf_counter()
            procs_started = start_realtime_runs(args.duration, seed=0)
            watcher = watch_realtime(procs_started, status)
            sweep = des_sweep(args.seeds, args.duration, status)
            watcher.join()
            rt_dirs = wait_all(procs_started)
            elapsed = time.perf_counter() - started
            print(f"real time: done in {elapsed:.0f} s", file=sys.stderr)
    finally:
        status.stop()
    print("writing RESULTS.md and its figures", file=sys.stderr)

    FIGURES.mkdir(exist_ok=True)
    for name in ("overview", "spread"):
        shutil.copy(OUT / "des-sweep" / "figures" / f"{name}.png", FIGURES / f"des-{name}.png")

    # aggregate() keys runs whose rates are drawn per seed by rate (machine None)
    agg = {(row["experiment"], row["machine"], row["rate"]): row for row in sweep.aggregated}
    by_exp: dict[int, list[dict[str, Any]]] = {}
    for row in sweep.rows:
        by_exp.setdefault(row["experiment"], []).append(row)

    lines: list[str] = []
    add = lines.append
    today = datetime.date.today().isoformat()
    add("# Results: the eleven experiments\n")
    add(
        f"Generated by `make results` (`experiments/make_results.py`) on {today} with lamport "
        f"{__version__}. **DES**: every experiment over seeds 0..{args.seeds - 1}, "
        f"{args.duration:g} model seconds each, 1 ms latency, **random start phases** (the "
        "default of both backends; the section on lock-step at the end sets aligned phases "
        "beside them); means with 95% confidence intervals (Student's t). **Real time**: one "
        "run per experiment, seed 0, "
        f"{args.duration:g} s on the wall clock at speed 1, threads and TCP sockets on "
        "127.0.0.1, all eleven runs (and the four nemesis runs) at once; every log passed every "
        "invariant of docs/spec.md. "
        "**Prediction**: `lamport.theory` (docs/theory.md), long-run rates from the tick rates "
        "and p_send; clock rates also from the random start phases and the 1 ms latency (its "
        "deficit chain: with phases, every clock runs faster than the machines tick).\n"
    )
    add(
        "Each cell gives the DES mean ± 95% CI, then the real-time run (rt), then the "
        "prediction in bold where there is one. *clock/s* is the final logical clock over "
        "the duration; *drift* is the highest final clock in the run minus this machine's "
        "(drift at the end); *queue at end* is the messages left queued; *queue growth* is "
        "that over the duration; *max jump* is the largest single clock jump. "
        f"*rt pct* is the percentile of the real-time value within the {args.seeds} DES "
        "seeds (final clock / final queue). Experiment 1 draws its rates per seed, so its DES "
        "columns group machine-runs by rate: each real-time machine is set against every DES "
        "machine-run of its rate, whichever machine id it had.\n"
    )
    add("![overview](figures/des-overview.png)\n")

    for number, exp in sorted(experiments.items()):
        add(f"## {number}. {exp.name}: {exp.question}\n")
        rt = load_run(rt_dirs[number])
        stats = machine_stats(rt).set_index("machine")
        rates = rt.rates
        preds = predict(rates, exp.p_send, duration=args.duration)
        listed = ", ".join(f"{r:g}" for r in rates)
        rate_note = (
            f"rates drawn from the seed (real-time run, seed 0: {listed})"
            if exp.rates is None
            else f"rates {listed}"
        )
        add(f"{rate_note}, p_send {exp.p_send:g}.\n")
        add(
            "| m | rate | clock/s: DES / rt / predicted | drift: DES / rt | "
            "queue at end: DES / rt | queue growth /s: DES / predicted | "
            "max jump: DES / rt | rt pct (clock / queue) |"
        )
        add("|---|---|---|---|---|---|---|---|")
        rows = by_exp[number]
        by_rate = exp.rates is None
        for m in range(len(rates)):
            if by_rate:
                des_m = [r for r in rows if r["rate"] == rates[m]]
                a = agg.get((number, None, rates[m]))
            else:
                des_m = [r for r in rows if r["machine"] == m]
                a = agg.get((number, m, rates[m]))
            if a is None or not des_m:  # no DES run drew this rate
                add(f"| {m} | {rates[m]:g} | no DES run at this rate |||||| ")
                continue
            drift_mean, drift_ci = mean_ci([r["drift_end"] for r in des_m])
            growth_mean, growth_ci = mean_ci([r["final_queue"] / args.duration for r in des_m])
            s = stats.loc[m]
            pct_clock = round(percentile_rank([r["final_clock"] for r in des_m], s["final_clock"]))
            pct_queue = round(percentile_rank([r["final_queue"] for r in des_m], s["final_queue"]))
            p = preds[m]
            if exp.rates is None:  # rates differ per seed: no single prediction
                predicted_clock, predicted_growth = "n/a", "n/a"
            else:
                predicted_clock = f"**{p.clock_rate:.2f}**"
                predicted_growth = f"**{p.queue_growth:.2f}** ({p.verdict})"
            cells = [
                str(m),
                f"{a['rate']:g}",
                f"{fmt(a['clock_rate'], a['clock_rate_ci'])} / "
                f"{s['final_clock'] / args.duration:.2f} / {predicted_clock}",
                f"{fmt(drift_mean, drift_ci, 1)} / {int(s['drift_end'])}",
                f"{fmt(a['final_queue'], a['final_queue_ci'], 1)} / {int(s['final_queue'])}",
                f"{fmt(growth_mean, growth_ci)} / {predicted_growth}",
                f"{fmt(a['max_jump'], a['max_jump_ci'], 1)} / {int(s['max_jump'])}",
                f"{pct_clock} / {pct_queue}",
            ]
            add("| " + " | ".join(cells) + " |")
        add("")
        if number in REALTIME_FIGURES:
            figures = run_figures(rt, OUT / "figures" / f"exp{number:02d}")
        for fig in REALTIME_FIGURES.get(number, ()):
            dest = FIGURES / f"rt-exp{number:02d}-{fig}.png"
            shutil.copy(figures[fig], dest)
            add(f"![real time, experiment {number}, {fig}](figures/{dest.name})\n")

    add("## Spread across seeds\n")
    add("![spread](figures/des-spread.png)\n")
    print("aligned and random phases: experiments 3, 7, 8", file=sys.stderr)
    lines.extend(phase_section(args.seeds, args.duration))
    print("nemesis experiments: " + ", ".join(NEMESIS), file=sys.stderr)
    lines.extend(nemesis_section(args.seeds, args.duration, rt_dirs))
    lines.extend(FURTHER)
    discussion = HERE / "discussion.md"
    if discussion.is_file():
        add(discussion.read_text(encoding="utf-8"))
    (HERE / "RESULTS.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {HERE / 'RESULTS.md'}")
    return 0


# -- nemesis: the fault experiments ---------------------------------------------------------

#: The nemesis experiments (experiments/faults/*.toml), in the order RESULTS.md answers them.
NEMESIS = ("slow-crash", "fast-reset", "partition-heavy", "lossy")


def nemesis_path(name: str) -> Path:
    return HERE / "faults" / f"{name}.toml"


def _crash_figures(run: Any, crash: Any) -> dict[str, float]:
    """What one crash did in one run: messages lost at the crash instant and while down,
    the jump of the machine's first receive after the restart, and how long after the
    restart its clock was back above the value it had at the crash."""
    from lamport.core import CRASH, RECEIVE, RESTART

    m, end = crash.machine, crash.at + crash.duration
    log = run.logs[m]
    down = next(e for e in log if e.event == CRASH and e.t >= crash.at)
    up = next(i for i, e in enumerate(log) if e.event == RESTART and e.t >= crash.at)
    after = log[up + 1 :]
    first = next((e for e in after if e.event == RECEIVE), None)
    back = next((e.t for e in after if e.clock > down.clock), None)
    lost = [d for d in run.dropped if d.recipient == m and d.reason == "crash"]
    return {
        "at_crash": sum(1 for d in lost if abs(d.t - crash.at) < 1e-9),
        "while_down": sum(1 for d in lost if abs(d.t - crash.at) >= 1e-9 and d.t <= end),
        "first_jump": first.jump if first is not None else float("nan"),
        "catch_up": (back - end) if back is not None else float("nan"),
    }


def nemesis_data(name: str, seeds: int, duration: float) -> dict[str, Any]:
    """DES runs of a nemesis experiment over seeds 0..seeds-1, with its plan and without."""
    from lamport import causality
    from lamport.config import load_experiment
    from lamport.core import TICK_KINDS
    from lamport.des import simulate
    from lamport.des.model import simulate_summary
    from lamport.faults import Crash
    from lamport.invariants import violations

    exp = load_experiment(nemesis_path(name))
    faulted, baseline, crashes, breaks = [], [], [], []
    for seed in range(seeds):
        config = exp.config(seed, duration=duration)
        run = simulate(config)
        if violations(run.metadata, run.logs):  # conservation, ticks less downtime, ...
            raise SystemExit(f"{name} seed {seed} breaks an invariant")
        faulted.append(run.summary())
        baseline.append(simulate_summary(config.with_(faults=())))
        crashes.append([_crash_figures(run, f) for f in config.faults if isinstance(f, Crash)])
        ticks = [[e for e in log if e.event in TICK_KINDS] for log in run.logs]
        breaks.append(len(causality.clock_condition(ticks)))
    return {
        "experiment": exp,
        "plan": exp.config(0, duration=duration).faults,
        "faulted": faulted,
        "baseline": baseline,
        "crashes": crashes,
        "breaks": breaks,
    }


def _column(runs: list[list[dict[str, Any]]], machine: int, key: str) -> list[float]:
    return [float(rows[machine][key]) for rows in runs]


def _against(data: dict[str, Any], m: int, key: str, digits: int = 1) -> str:
    """Machine m's mean ± CI of a summary column with the plan, against without it."""
    from lamport.stats import mean_ci

    with_plan = fmt(*mean_ci(_column(data["faulted"], m, key)), digits)
    return f"{with_plan} against {fmt(*mean_ci(_column(data['baseline'], m, key)), digits)}"


#: The figures that would show loss making the clocks drift apart.
LOSS_FIGURES = ("drift_end", "mean_jump")


def _differs(data: dict[str, Any], m: int, key: str) -> int:
    """-1 or 1 when machine m's 95% CIs of a column with and without the plan do not
    overlap (the plan's is below or above), else 0."""
    from lamport.stats import mean_ci

    a, ha = mean_ci(_column(data["faulted"], m, key))
    b, hb = mean_ci(_column(data["baseline"], m, key))
    if a + ha < b - hb:
        return -1
    return 1 if a - ha > b + hb else 0


def _mean(values: list[float], digits: int = 1) -> str:
    """Mean ± CI of the values that are numbers (NaN: the run had none), or n/a."""
    from lamport.stats import mean_ci

    values = [v for v in values if v == v]
    return fmt(*mean_ci(values), digits) if values else "n/a"


def nemesis_answers(data: dict[str, Any], seeds: int) -> list[str]:
    """What each fault of a nemesis plan did, in numbers (one sentence or two per fault)."""
    from lamport.faults import Crash, Loss, Partition
    from lamport.stats import percentile

    exp, plan, faulted = data["experiment"], data["plan"], data["faulted"]
    rates = list(exp.rates or ())
    machines = range(len(rates))
    answers = []
    for i, crash in enumerate(f for f in plan if isinstance(f, Crash)):
        figures = [run[i] for run in data["crashes"]]
        catch = [f["catch_up"] for f in figures if f["catch_up"] == f["catch_up"]]
        m = crash.machine
        answers.append(
            f"Machine {m}, down from {crash.at:g} s to {crash.at + crash.duration:g} s, lost "
            f"{_mean([f['at_crash'] for f in figures])} queued messages at the crash and "
            f"{_mean([f['while_down'] for f in figures])} more while down; its first receive "
            f"after the restart jumped by {_mean([f['first_jump'] for f in figures])} (its "
            f"largest jump without the plan: "
            f"{_mean(_column(data['baseline'], m, 'max_jump'))})."
            + (
                " Its clock restarted at 0 and was back above the value it had at the crash "
                f"{percentile(catch, 50):.2f} s after the restart (median; 90th percentile "
                f"{percentile(catch, 90):.2f} s)."
                if crash.reset and catch
                else ""
            )
        )
        broken = [float(b) for b in data["breaks"] if b]
        answers.append(
            f"The clock condition broke in {len(broken)} of {seeds} seeds"
            + (
                f" ({_mean(broken)} events per such run whose clock is not above that of an "
                "event that happened before it): a clock that forgets its value orders events "
                "against causality until it has heard from the others."
                if broken
                else ": a clock restored from stable storage keeps it."
            )
        )
    for fault in plan:
        if isinstance(fault, Partition):
            cut = [float(sum(r["dropped_partition"] for r in run)) for run in faulted]
            slow = [m for m in machines if rates[m] < max(rates)]
            shrinks = all(_differs(data, m, "max_queue") < 0 for m in slow)
            answers.append(
                f"The cut lost {_mean(cut)} messages per run. Largest queue of the slow "
                "machines, with the cut against without it: "
                + "; ".join(f"machine {m} {_against(data, m, 'max_queue')}" for m in slow)
                + "."
                + (
                    " The cut shrinks their backlog: every message it loses is one they "
                    "would have had to queue."
                    if shrinks
                    else ""
                )
            )
        if isinstance(fault, Loss):
            answers.append(
                "How far each machine ends behind the leader, with loss against without: "
                + "; ".join(f"machine {m} {_against(data, m, 'drift_end')}" for m in machines)
                + "; mean clock jump per tick: "
                + "; ".join(f"machine {m} {_against(data, m, 'mean_jump', 3)}" for m in machines)
                + "."
                + (
                    " No machine's gap or mean jump moves beyond its 95% CI: a clock follows "
                    "the fastest clock it hears from, and the next message carries that as "
                    "well as a lost one would have."
                    if not any(_differs(data, m, k) for m in machines for k in LOSS_FIGURES)
                    else ""
                )
            )
    return answers


def nemesis_section(seeds: int, duration: float, rt_dirs: dict[Any, Path]) -> list[str]:
    """RESULTS.md's answers to the nemesis experiments: DES with the plan and without,
    what each crash did, the clock condition, and one real-time run each."""
    from lamport.analysis import load_run
    from lamport.faults import fault_text
    from lamport.invariants import violations
    from lamport.stats import mean_ci

    lines = [
        "## Faults: the nemesis experiments\n",
        "Four experiments of `experiments/faults/` (docs/faults.md) play a fault plan on a "
        f"catalogue setting. **DES**: seeds 0..{seeds - 1}, {duration:g} s each, with the plan "
        "and, for comparison, the same seeds without it (means ± 95% CI); **rt**: one "
        "real-time run with the plan (threads, seed 0, speed 1). *lost* counts the messages "
        "lost on their way to the machine (crash / partition / loss, the rows of "
        "`network.csv`). Conservation (sent = received + queued + lost) held in every run.\n",
    ]
    for name in NEMESIS:
        data = nemesis_data(name, seeds, duration)
        exp, plan = data["experiment"], data["plan"]
        faulted, baseline = data["faulted"], data["baseline"]
        rt = load_run(rt_dirs[name])
        if violations(rt.metadata, rt.logs):
            raise SystemExit(f"real-time run of {name} breaks an invariant")
        rt_rows = rt.summary()
        rates = ", ".join(f"{r:g}" for r in exp.rates or ())
        plan_text = "; ".join(f"`{fault_text(f)}`" for f in plan)
        lines.append(f"### {name}: {exp.question}\n")
        lines.append(f"Rates {rates}, p_send {exp.p_send:g}; the plan: {plan_text}.\n")
        lines.append(
            "| m | rate | final clock: plan / none / rt | drift: plan / none / rt | "
            "queue at end: plan / none / rt | max queue: plan / none | "
            "max jump: plan / none / rt | lost (crash / partition / loss): DES / rt |"
        )
        lines.append("|---|---|---|---|---|---|---|---|")
        for m, rate in enumerate(exp.rates or ()):
            cells = [str(m), f"{rate:g}"]
            for key, digits, with_rt in (
                ("final_clock", 1, True),
                ("drift_end", 1, True),
                ("final_queue", 1, True),
                ("max_queue", 1, False),
                ("max_jump", 1, True),
            ):
                pair = [
                    fmt(*mean_ci(_column(runs, m, key)), digits) for runs in (faulted, baseline)
                ]
                cells.append(" / ".join(pair + ([str(rt_rows[m][key])] if with_rt else [])))
            des_lost = " / ".join(
                f"{mean_ci(_column(faulted, m, f'dropped_{r}'))[0]:.1f}"
                for r in ("crash", "partition", "loss")
            )
            rt_lost = " / ".join(
                str(rt_rows[m][f"dropped_{r}"]) for r in ("crash", "partition", "loss")
            )
            cells.append(f"{des_lost} / rt {rt_lost}")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        answers = nemesis_answers(data, seeds)
        lines.append("\n".join(f"- {a}" for a in answers) + "\n")
    return lines


def start_realtime_runs(duration: float, seed: int) -> dict[Any, tuple[Any, Path]]:
    """Start the eleven real-time runs and the nemesis experiments' as separate processes;
    :func:`wait_all` collects them."""
    targets: dict[Any, tuple[str, Path]] = {
        number: (str(number), OUT / "realtime" / f"exp{number:02d}") for number in range(1, 12)
    }
    targets.update({name: (str(nemesis_path(name)), OUT / "realtime" / name) for name in NEMESIS})
    procs = {}
    for key, (target, out) in targets.items():
        cmd = [
            sys.executable,
            "-m",
            "lamport.realtime",
            "exp",
            target,
            "--seed",
            str(seed),
            "--duration",
            str(duration),
            "--out",
            str(out),
            "--quiet",
            "--force",  # the directory belongs to make_results, whatever it held
        ]
        procs[key] = (subprocess.Popen(cmd, cwd=ROOT), out)
    return procs


def watch_realtime(procs: dict[int, tuple[Any, Path]], status: Status) -> threading.Thread:
    """A thread that shows the real-time runs as they finish."""
    status.add("real-time runs", len(procs))

    def watch() -> None:
        running = dict(procs)
        while running:
            for number, (proc, _) in list(running.items()):
                if proc.poll() is not None:
                    del running[number]
                    done = len(procs) - len(running)
                    note = f"experiment {number}" + (" failed" if proc.returncode else "")
                    status.update("real-time runs", done, len(procs), note)
            time.sleep(0.2)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def wait_all(procs: dict[Any, tuple[Any, Path]]) -> dict[Any, Path]:
    dirs = {}
    for number, (proc, out) in procs.items():
        if proc.wait() != 0:
            raise SystemExit(f"real-time run of {number} failed")
        dirs[number] = out
    return dirs


if __name__ == "__main__":
    sys.exit(main())
