"""Benchmark of the DES: throughput per core, and the wall time of a full sweep.

Figures, not a test: ``python -m lamport.des bench`` (or ``make bench``) prints

* machine-ticks per second on one core, with full event records, for each
  catalogue experiment run for 6000 model seconds with random start phases,
  the default (best of ``repeat``; ``benchmarks/bench_des.py`` sets aligned
  phases beside them);
* the wall time of ``python -m lamport.des sweep --seeds 100`` over all eleven
  experiments, interpreter start included, measured as a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time


def throughput(
    duration: float = 6000.0, repeat: int = 3, phase: str = "random"
) -> list[tuple[int, str, int, float]]:
    """(experiment, name, machine-ticks, best ticks per second) per catalogue experiment."""
    from lamport.config import catalogue
    from lamport.des.model import simulate

    figures = []
    for number, exp in sorted(catalogue().items()):
        config = exp.config(seed=0, duration=duration, phase=phase)
        best = 0.0
        ticks = 0
        for _ in range(repeat):
            started = time.perf_counter()
            result = simulate(config)
            elapsed = time.perf_counter() - started
            ticks = result.n_events
            best = max(best, ticks / elapsed)
        figures.append((number, exp.name, ticks, best))
    return figures


def sweep_wall(seeds: int = 100, repeat: int = 3) -> tuple[float, str]:
    """Best wall time of the full sweep CLI, and that run's last output line."""
    best = float("inf")
    last = ""
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeat):
            started = time.perf_counter()
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "lamport.des",
                    "sweep",
                    "--seeds",
                    str(seeds),
                    "--out",
                    os.path.join(tmp, "sweep"),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            elapsed = time.perf_counter() - started
            if elapsed < best:
                best, last = elapsed, out.stdout.strip().splitlines()[-1]
    return best, last


def main(seeds: int = 100, repeat: int = 3) -> int:
    print(f"lamport DES benchmark: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(
        "\nthroughput, one core, full event records, random phases, 6000 model seconds "
        "per experiment:"
    )
    total_ticks = 0
    total_time = 0.0
    for number, name, ticks, rate in throughput(repeat=repeat):
        total_ticks += ticks
        total_time += ticks / rate
        print(f"  exp {number:2d} {name:20s} {ticks:8,d} ticks  {rate:12,.0f} machine-ticks/s")
    overall = total_ticks / total_time
    print(f"  all eleven             {total_ticks:8,d} ticks  {overall:12,.0f} machine-ticks/s")
    wall, line = sweep_wall(seeds, repeat)
    print(f"\nsweep --seeds {seeds}, all eleven experiments, interpreter start included:")
    print(f"  best of {repeat}: {wall:.2f} s wall")
    print(f"  ({line.split('; summary')[0]})")
    return 0
