"""DES benchmark: full event records against a bare SimPy loop of the same rules.

``python benchmarks/bench_des.py`` prints, for every catalogue experiment run
for ``--duration`` model seconds (seed 0, one core), the machine-ticks per
second of

* ``simulate``: :func:`lamport.des.simulate`, a core ``Machine`` per machine and
  a full :class:`lamport.core.Event` record per tick;
* ``bare``: the same schedule, the same draws and the same clock rules written
  inline on plain integers and deques, with no records at all;

and the ratio bare / simulate: what the records and the core's API cost. The
bare loop's final clocks are checked against simulate's, so both run the same
rules. Figures are the median and the best of ``--repeat`` runs (median by
:func:`lamport.stats.percentile`). ``--sweep`` also times the full
``sweep --seeds 100`` (``python -m lamport.des bench``).
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import sys
import time
from collections import deque
from fractions import Fraction
from typing import Any

from lamport.config import RunConfig, catalogue, exact_rate
from lamport.core import choose_action, machine_streams
from lamport.des import simulate, time_base
from lamport.des.model import tick_pattern
from lamport.des.options import DesOptions
from lamport.stats import percentile


def bare(config: RunConfig, latency: float = DesOptions().latency) -> list[int]:
    """The DES's schedule and rules with no records; return the final clocks."""
    import simpy
    from simpy.events import URGENT
    from simpy.events import Event as SimEvent

    n = config.n_machines
    _, streams = machine_streams(config.seed, n)
    units = time_base(config, DesOptions(latency=latency))
    periods = [int(units / exact_rate(rate)) for rate in config.rates]
    delay = int(Fraction(latency).limit_denominator(1_000_000) * units)
    end = math.floor(Fraction(config.duration) * units)
    clocks = [0] * n
    queues: list[deque[int]] = [deque() for _ in range(n)]
    peers = [[j for j in range(n) if j != i] for i in range(n)]
    env = simpy.Environment()
    p_send = config.p_send

    def arrive(event: SimEvent) -> None:
        for recipient, clock in event._value:
            queues[recipient].append(clock)

    def metronome() -> Any:
        due_at = tick_pattern(periods, end)
        span = math.lcm(*periods)
        base = 0
        while base < end:
            for offset, due in due_at:
                now = base + offset
                if now > end:
                    return
                yield env.timeout(now - env.now)
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
                    arrival = SimEvent(env)
                    arrival._ok = True
                    arrival._value = batch
                    arrival.callbacks = [arrive]
                    env.schedule(arrival, URGENT, delay)
            base += span

    env.process(metronome())
    paused = gc.isenabled()
    gc.disable()
    try:
        env.run(until=end + 1)
    finally:
        if paused:
            gc.enable()
    return clocks


def timed(run: Any, config: RunConfig, repeat: int) -> list[float]:
    """Wall seconds of ``run(config)`` for each of ``repeat`` calls."""
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        run(config)
        seconds.append(time.perf_counter() - started)
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
        "machine-ticks per second:"
    )
    print(f"  {'experiment':24s} {'ticks':>9s} {'simulate':>20s} {'bare':>20s} {'bare/sim':>8s}")
    totals = {"simulate": [0.0, 0.0], "bare": [0.0, 0.0]}  # median and best seconds
    total_ticks = 0
    for number, exp in sorted(catalogue().items()):
        config = exp.config(seed=0, duration=args.duration)
        full = simulate(config)
        if bare(config) != [log[-1].clock if log else 0 for log in full.logs]:
            raise SystemExit(f"exp {number}: the bare loop's clocks differ from simulate's")
        ticks = full.n_events
        del full
        figures = {}
        medians = {}
        for name, run in (("simulate", simulate), ("bare", bare)):
            seconds = timed(run, config, args.repeat)
            medians[name] = percentile(seconds, 50)
            totals[name][0] += medians[name]
            totals[name][1] += min(seconds)
            figures[name] = f"{ticks / medians[name]:10,.0f} ({ticks / min(seconds):,.0f})"
        ratio = medians["simulate"] / medians["bare"]
        total_ticks += ticks
        label = f"{number:2d} {exp.name}"
        print(
            f"  {label:24s} {ticks:9,d} {figures['simulate']:>20s} {figures['bare']:>20s} "
            f"{ratio:7.2f}x"
        )
    sim, raw = totals["simulate"], totals["bare"]
    summary = {
        name: f"{total_ticks / t[0]:10,.0f} ({total_ticks / t[1]:,.0f})"
        for name, t in (("simulate", sim), ("bare", raw))
    }
    print(
        f"  {'all eleven':24s} {total_ticks:9,d} {summary['simulate']:>20s} "
        f"{summary['bare']:>20s} {sim[0] / raw[0]:7.2f}x"
    )
    if args.sweep:
        from lamport.des.bench import sweep_wall

        wall, line = sweep_wall(100, 3)
        print("\nsweep --seeds 100, all eleven experiments, interpreter start included:")
        print(f"  best of 3: {wall:.2f} s wall  ({line.split('; summary')[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
