"""Benchmark of ``lamport compare`` on 60-second three-machine runs.

``python benchmarks/bench_compare.py`` simulates one DES run per configuration
(catalogue experiments 4, 2 and 8 by default: rates 1,3,6 at p_send 0.3, 6,4,4
at 0.3 and 4,4,6 at 0.9, the busiest), writes it to a temporary directory, and
times

* ``python -m lamport compare DIR --seeds K`` end to end (a fresh process:
  imports, reading and checking the run, K simulated runs, the table),
  ``--repeat`` times, median and worst;
* in-process, the model's K runs (:func:`lamport.compare.model_sample`: the
  DES with full records, then :func:`lamport.compare.run_figures`) and, beside
  it, what the DES alone costs per seed with full records and summaries only
  (:func:`lamport.des.model.simulate_summary`, which cannot give the share of
  jumps above 1), and the same K runs on a forked pool of ``--jobs`` workers.

Wall seconds and CPU seconds are both printed: on a loaded machine wall time
includes waiting for a core. The target: 200 seeds in under 3 s for a
60-second three-machine run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lamport.compare import model_sample, run_figures
from lamport.config import RunConfig, experiment
from lamport.des.model import simulate, simulate_summary
from lamport.stats import percentile

DURATION = 60.0
TARGET = 3.0


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


def _cli(run_dir: Path, seeds: int) -> tuple[float, float]:
    """Wall and CPU seconds (children's) of one ``lamport compare`` process."""
    before = os.times()
    wall = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "lamport", "compare", str(run_dir), "--seeds", str(seeds)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return time.perf_counter() - wall, cpu


def _config(rates: tuple[float, ...], p_send: float, seed: int) -> RunConfig:
    return RunConfig(rates=rates, p_send=p_send, duration=DURATION, seed=seed)


def _figures(config: RunConfig) -> Any:
    return run_figures(simulate(config))


def _pooled(rates: tuple[float, ...], p_send: float, seeds: int, jobs: int) -> None:
    from lamport.des.pool import fork_pool

    configs = [
        RunConfig(rates=rates, p_send=p_send, duration=DURATION, seed=s) for s in range(seeds)
    ]
    pool = fork_pool(jobs)
    try:
        pool.map(_figures, configs, chunksize=max(1, seeds // (4 * jobs)))
    finally:
        pool.terminate()
        pool.join()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", default="4,2,8", help="catalogue numbers (default 4,2,8)")
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2, help="workers of the pooled variant")
    args = parser.parse_args()

    print(f"lamport compare, {DURATION:g} s runs, {args.seeds} seeds, target < {TARGET:g} s")
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        for number in (int(n) for n in args.experiments.split(",")):
            exp = experiment(number)
            rates = exp.draw_rates(0)
            run = simulate(exp.config(seed=10_000, duration=DURATION))
            run_dir = run.write(Path(tmp) / f"exp{number}")
            label = ",".join(f"{r:g}" for r in rates)
            print(
                f"\nexp {number} {exp.name}: rates {label}, p_send {exp.p_send:g}, "
                f"{run.n_events} events in the run"
            )

            times = [_cli(run_dir, args.seeds) for _ in range(args.repeat)]
            walls = [w for w, _ in times]
            median = percentile(walls, 50)
            worst = max(worst, max(walls))
            print(
                f"  CLI end to end      median {median:5.2f} s wall, max {max(walls):5.2f} s, "
                f"median {percentile([c for _, c in times], 50):5.2f} s cpu"
            )

            start = _clock()
            model_sample(rates, exp.p_send, DURATION, args.seeds)
            wall, cpu = _since(start)
            print(
                f"  model_sample        {wall:5.2f} s wall {cpu:5.2f} s cpu "
                f"({1000 * wall / args.seeds:.2f} ms per seed)"
            )

            configs = [_config(rates, exp.p_send, s) for s in range(args.seeds)]
            for name, sim in (
                ("DES full records", simulate),
                ("DES summaries only", simulate_summary),
            ):
                start = _clock()
                for config in configs:
                    sim(config)
                wall, cpu = _since(start)
                print(f"  {name:<19} {wall:5.2f} s wall {cpu:5.2f} s cpu")

            start = _clock()
            _pooled(rates, exp.p_send, args.seeds, args.jobs)
            wall, _ = _since(start)
            print(f"  pool of {args.jobs} workers   {wall:5.2f} s wall (forking included)")
    verdict = "met" if worst < TARGET else "MISSED"
    print(f"\nslowest CLI run: {worst:.2f} s; target < {TARGET:g} s {verdict}")
    return 0 if worst < TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
