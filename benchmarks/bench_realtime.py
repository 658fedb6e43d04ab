"""Benchmark of the real-time backend: tick lateness, message latency, CPU use.

Runs one catalogue experiment (3 machines) on the wall clock at each speed and
prints, per speed: tick lateness (actual minus scheduled tick time, wall ms)
p50, p99 and max; message latency (send call to the reader's decode, wall ms)
p50 and p99; and CPU seconds of the whole process per wall second.

    .venv/bin/python benchmarks/bench_realtime.py              # exp 4, 30 s per speed
    .venv/bin/python benchmarks/bench_realtime.py --wall 60 --speeds 1,20 --exp 9

Targets (issue 3): p99 lateness under 5 ms at speed 1, CPU under 5% of one core.
Not a test: the figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time

from lamport.config import experiment
from lamport.realtime import run


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(number: int, speed: float, wall: float, seed: int) -> dict[str, float]:
    config = experiment(number).config(seed=seed, duration=wall * speed)
    cpu, began = cpu_seconds(), time.monotonic()
    result = run(config, speed=speed)
    cpu, elapsed = cpu_seconds() - cpu, time.monotonic() - began
    assert result.timing is not None
    lateness = [x * 1000 for per_machine in result.timing.lateness for x in per_machine]
    latency = [x * 1000 for x in result.timing.latencies()]
    return {
        "speed": speed,
        "ticks": len(lateness),
        "messages": len(latency),
        "late_p50": percentile(lateness, 0.50),
        "late_p99": percentile(lateness, 0.99),
        "late_max": max(lateness),
        "lat_p50": percentile(latency, 0.50) if latency else float("nan"),
        "lat_p99": percentile(latency, 0.99) if latency else float("nan"),
        "cpu_per_s": cpu / elapsed,
        "wall": elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exp", type=int, default=4, help="catalogue experiment (default 4)")
    parser.add_argument("--speeds", default="1,20", help="speed factors (default 1,20)")
    parser.add_argument("--wall", type=float, default=30.0, help="wall seconds per speed")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    exp = experiment(args.exp)
    print(
        f"experiment {exp.number} ({exp.name}), rates {exp.draw_rates(args.seed)}, "
        f"p_send {exp.p_send}, {args.wall:g} wall s per speed; "
        f"{platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs"
    )
    header = (
        f"{'speed':>5} {'ticks':>6} {'msgs':>5} | {'late p50':>8} {'p99':>6} {'max':>6} ms"
        f" | {'msg p50':>7} {'p99':>6} ms | {'CPU/s':>6}"
    )
    print(header)
    print("-" * len(header))
    for speed in (float(s) for s in args.speeds.split(",")):
        r = measure(args.exp, speed, args.wall, args.seed)
        print(
            f"{r['speed']:>5g} {r['ticks']:>6} {r['messages']:>5} | {r['late_p50']:>8.3f}"
            f" {r['late_p99']:>6.3f} {r['late_max']:>6.3f}    | {r['lat_p50']:>7.3f}"
            f" {r['lat_p99']:>6.3f}    | {r['cpu_per_s']:>6.2%}"
        )


if __name__ == "__main__":
    main()
