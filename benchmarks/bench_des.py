"""DES benchmark: full event records under aligned and random phases, against a bare
SimPy loop of the same rules.

``python benchmarks/bench_des.py`` prints, for every catalogue experiment run
for ``--duration`` model seconds (seed 0, one core), the machine-ticks per
second of

* ``aligned``: :func:`lamport.des.simulate` with aligned start phases (every
  machine's first tick one period after the start: equal rates tick in
  lock-step, and one instant serves several machines);
* ``random``: the same with random start phases, the default (almost no two
  ticks coincide: one instant per tick);
* ``bare``: the random-phase schedule, the same draws and the same clock rules
  written inline on plain integers and deques, with no records at all;

then random / aligned (the issue asks for at least 0.9) and bare / random:
what the records and the core's API cost. The bare loop's final clocks are
checked against simulate's, so both run the same rules. Times are CPU seconds
of this process (``time.process_time``), so other load on the machine does not
count; aligned and random runs alternate, and figures are the median and the
best of ``--repeat`` runs (median by :func:`lamport.stats.percentile`).
``--sweep`` also times the full ``sweep --seeds 100`` (``python -m lamport.des
bench``), on the wall clock.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections import deque
from fractions import Fraction
from typing import Any

from lamport.config import RunConfig, catalogue
from lamport.core import choose_action, machine_streams
from lamport.des import simulate, time_base
from lamport.des.model import instants
from lamport.des.options import DesOptions
from lamport.stats import percentile


def bare(config: RunConfig, latency: float = DesOptions().latency) -> list[int]:
    """The DES's schedule and rules with no records; return the final clocks."""
    import simpy

    n = config.n_machines
    _, streams = machine_streams(config.seed, n)
    units = time_base(config, DesOptions(latency=latency))
    delay = int(Fraction(latency).limit_denominator(1_000_000) * units)
    end = config.end_units * (units // config.grid)
    clocks = [0] * n
    queues: list[deque[int]] = [deque() for _ in range(n)]
    peers = [[j for j in range(n) if j != i] for i in range(n)]
    env = simpy.Environment()
    scheduled = env._queue  # read directly, as lamport.des.model does (peek() costs 12-21%)
    p_send = config.p_send

    def arrive(event: Any) -> None:
        for recipient, clock in event.value:
            queues[recipient].append(clock)

    paused = gc.isenabled()
    gc.disable()
    try:
        for now, due in instants(config, units, lambda ids: ids):
            while scheduled and scheduled[0][0] <= now:
                env.step()
            batch = []
            for i in due:
                queue = queues[i]
                if queue:
                    message = queue.popleft()
                    clocks[i] = (clocks[i] if clocks[i] > message else message) + 1
                    continue
                clock = clocks[i] = clocks[i] + 1
                action = choose_action(streams[i](), p_send, n - 1)
                if action is None:
                    continue
                targets = peers[i] if action == -1 else [peers[i][action]]
                batch.extend((recipient, clock) for recipient in targets)
            if batch:
                env.timeout(now + delay - int(env.now), batch).callbacks.append(arrive)
        env.run(until=end + 1)
    finally:
        if paused:
            gc.enable()
    return clocks


def timed(run: Any, config: RunConfig, repeat: int) -> list[float]:
    """CPU seconds of ``run(config)`` for each of ``repeat`` calls."""
    seconds = []
    for _ in range(repeat):
        started = time.process_time()
        run(config)
        seconds.append(time.process_time() - started)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=6000.0, help="model seconds (6000)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each, median kept (5)")
    parser.add_argument("--sweep", action="store_true", help="also time sweep --seeds 100")
    args = parser.parse_args(argv)

    print(f"lamport DES benchmark: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(
        f"one core, seed 0, {args.duration:g} model seconds, median (best) of {args.repeat}, "
        "machine-ticks per CPU second:"
    )
    names = ("aligned", "random", "bare")
    header = "".join(f"{name:>23s}" for name in names)
    print(f"  {'experiment':24s} {'ticks':>9s}{header} {'rnd/aln':>8s} {'bare/rnd':>8s}")
    totals = {name: [0.0, 0.0] for name in names}  # median and best seconds
    total_ticks = 0
    for number, exp in sorted(catalogue().items()):
        configs = {
            phase: exp.config(seed=0, duration=args.duration, phase=phase) for phase in names[:2]
        }
        configs["bare"] = configs["random"]
        full = simulate(configs["random"])
        if bare(configs["random"]) != [log[-1].clock if log else 0 for log in full.logs]:
            raise SystemExit(f"exp {number}: the bare loop's clocks differ from simulate's")
        ticks = full.n_events
        del full
        runs = {"aligned": simulate, "random": simulate, "bare": bare}
        seconds: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(args.repeat):  # alternate, so a burst of load hits every kind alike
            for name in names:
                seconds[name] += timed(runs[name], configs[name], 1)
        medians = {name: percentile(seconds[name], 50) for name in names}
        figures = ""
        for name in names:
            totals[name][0] += medians[name]
            totals[name][1] += min(seconds[name])
            figures += f"{f'{ticks / medians[name]:,.0f} ({ticks / min(seconds[name]):,.0f})':>23s}"
        total_ticks += ticks
        label = f"{number:2d} {exp.name}"
        print(
            f"  {label:24s} {ticks:9,d}{figures} {medians['aligned'] / medians['random']:7.2f}x "
            f"{medians['random'] / medians['bare']:7.2f}x"
        )
    figures = "".join(
        f"{f'{total_ticks / t[0]:,.0f} ({total_ticks / t[1]:,.0f})':>23s}" for t in totals.values()
    )
    aligned, random, raw = (totals[name][0] for name in names)
    print(
        f"  {'all eleven':24s} {total_ticks:9,d}{figures} {aligned / random:7.2f}x "
        f"{random / raw:7.2f}x"
    )
    if args.sweep:
        from lamport.des.bench import sweep_wall

        wall, line = sweep_wall(100, 3)
        print("\nsweep --seeds 100, all eleven experiments, interpreter start included:")
        print(f"  best of 3: {wall:.2f} s wall  ({line.split('; summary')[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
