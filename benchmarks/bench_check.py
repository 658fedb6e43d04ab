"""Benchmark of ``lamport check`` on a run of about a million events.

``python benchmarks/bench_check.py`` simulates a DES run of ``--events``
events (rates 6, 5, 4 ticks/s, p_send 0.6, seed 0; the duration follows from
the event count), writes it to a temporary directory, and times

* ``python -m lamport check DIR`` end to end (a fresh process: imports, reading
  the logs, every check), ``--repeat`` times;
* in-process, each phase of :func:`lamport.check.check_run` once: reading the
  logs, docs/spec.md's invariants (:func:`lamport.invariants.violations`), the derived
  vector clocks, the clock condition, and the concurrency metrics (which the
  report computes, not the checker).

Wall seconds and CPU seconds of the process are both printed: on a loaded
machine wall time includes waiting for a core. The target (issue 13): a
million events checked in under 10 s.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lamport.config import RunConfig
from lamport.des import simulate
from lamport.stats import percentile

RATES = (6.0, 5.0, 4.0)


def _timed(label: str, work):  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    value = work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"  {label:<28} {wall:6.2f} s wall {cpu:6.2f} s cpu")
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    duration = round(args.events / sum(RATES))
    with tempfile.TemporaryDirectory(prefix="bench-check-") as tmp:
        run_dir = Path(tmp) / "run"
        started = time.perf_counter()
        result = simulate(RunConfig(rates=RATES, p_send=0.6, duration=duration, seed=0))
        result.write(run_dir)
        del result
        print(
            f"run: rates {','.join(f'{r:g}' for r in RATES)}, p_send 0.6, {duration} s, "
            f"written in {time.perf_counter() - started:.1f} s"
        )

        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        walls = []
        for _ in range(args.repeat):
            before = os.times()
            wall = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-m", "lamport", "check", str(run_dir)],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            walls.append(time.perf_counter() - wall)
            after = os.times()
            cpu = (after.children_user - before.children_user) + (
                after.children_system - before.children_system
            )
            print(f"lamport check: {walls[-1]:.2f} s wall, {cpu:.2f} s cpu, exit {out.returncode}")
            print(f"  {out.stdout.strip() or out.stderr.strip()}")
        print(f"lamport check: median {percentile(walls, 50):.2f} s, best {min(walls):.2f} s wall")

        from lamport import causality, invariants
        from lamport.logs import read_logs
        from lamport.logs import read_metadata

        print("phases, in-process:")
        gc.disable()
        metadata = read_metadata(run_dir)
        logs = _timed("read logs (fast reader)", lambda: read_logs(run_dir, len(RATES)))
        print(f"  events: {sum(len(x) for x in logs):,}")
        _timed("docs/spec.md invariants", lambda: invariants.violations(metadata, logs))
        solved = _timed("derived vector clocks", lambda: causality.analyze(logs))
        _timed("clock condition", lambda: causality.clock_condition(logs, solved))
        found = _timed("concurrency metrics", lambda: causality.concurrency(logs, solved))
        print(
            f"  concurrent share {found.concurrent_share:.3g}, "
            f"invented share {found.invented_share:.3g}"
        )
    print(
        f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cpus"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
