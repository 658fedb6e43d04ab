"""Benchmark of ``lamport check`` on a run of about a million events, beside its target.

``python benchmarks/bench_check.py`` simulates a DES run of ``--events``
events (rates 6, 5, 4 ticks/s, p_send 0.6, seed 0; the duration follows from
the event count; ``--clock vector`` for a run that carries vector clocks),
writes it to a temporary directory, and times

* ``python -m lamport check DIR`` end to end (a fresh process: interpreter,
  imports, reading the logs, every check), ``--repeat`` times, against the
  target of issue 23: **a million events checked in under 1 s**;
* ``python -m lamport check DIR --reference`` (the record-by-record checker)
  once, for comparison;
* in-process, each phase of the columnar checker (:mod:`lamport.fastcheck`):
  reading the logs into columns, docs/spec.md's invariants, the derived vector
  clocks with the clock condition (and the carried ones compared), and their
  total; then the reference's phases: reading the logs into records
  (:func:`lamport.logs.read_logs`), the invariants
  (:func:`lamport.invariants.violations`), the derived vector clocks, the
  clock condition, and the concurrency metrics (which the report computes).

Wall seconds and CPU seconds are both printed: on a loaded machine wall time
includes waiting for a core. The load average is printed last.
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
    print(f"  {label:<32} {wall:6.2f} s wall {cpu:6.2f} s cpu")
    return value


TARGET = 1.0  # seconds for a million events, end to end (issue 23)


def _verdict(seconds: float, events: int) -> str:
    target = TARGET * events / 1_000_000
    return f"target {target:.2f} s: {'met' if seconds < target else 'missed'}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--clock", choices=("lamport", "vector"), default="lamport")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference's timings")
    args = parser.parse_args()

    duration = round(args.events / sum(RATES))
    with tempfile.TemporaryDirectory(prefix="bench-check-") as tmp:
        run_dir = Path(tmp) / "run"
        started = time.perf_counter()
        config = RunConfig(rates=RATES, p_send=0.6, duration=duration, seed=0, clock=args.clock)
        result = simulate(config)
        result.write(run_dir)
        events = sum(len(log) for log in result.logs)
        del result
        size = sum(p.stat().st_size for p in run_dir.glob("machine-*.csv"))
        print(
            f"run: rates {','.join(f'{r:g}' for r in RATES)}, p_send 0.6, {duration} s, "
            f"clock {args.clock}: {events:,} events, {size / 1e6:.0f} MB of logs, "
            f"written in {time.perf_counter() - started:.1f} s"
        )

        walls, cpus = [], []
        for _ in range(args.repeat):
            wall, cpu, out = _command(run_dir)
            walls.append(wall)
            cpus.append(cpu)
            print(f"lamport check: {wall:.2f} s wall, {cpu:.2f} s cpu, exit {out.returncode}")
        print(f"  {out.stdout.strip() or out.stderr.strip()}")
        best, median = min(walls), percentile(walls, 50)
        print(
            f"lamport check: median {median:.2f} s wall (best {best:.2f}), median "
            f"{percentile(cpus, 50):.2f} s cpu; {_verdict(median, events)}"
        )
        if not args.no_reference:
            wall, cpu, out = _command(run_dir, "--reference")
            print(f"lamport check --reference: {wall:.2f} s wall, {cpu:.2f} s cpu, ", end="")
            print(f"exit {out.returncode}")

        from lamport import causality, fastcheck, invariants
        from lamport.logs import read_drops, read_logs, read_metadata

        gc.disable()
        metadata = read_metadata(run_dir)
        n = len(RATES)
        print("the columnar checker, in-process:")
        clock = time.perf_counter(), time.process_time()
        columns = _timed("reading", lambda: fastcheck.read_run_columns(run_dir, n))

        def _invariants():  # type: ignore[no-untyped-def]
            own = all(fastcheck._own_rows(m, c) for m, c in enumerate(columns))
            messages = fastcheck._messages(columns)
            drops = read_drops(run_dir, n)
            return own and messages is not None and fastcheck._invariants(
                metadata, columns, messages, drops
            ), messages

        held, messages = _timed("docs/spec.md invariants", _invariants)

        def _clocks():  # type: ignore[no-untyped-def]
            clocks = fastcheck.derived_vector_clocks(columns, messages)
            carried = [c.vc for c in columns if c.vc is not None]
            return (
                clocks is not None
                and fastcheck._clock_condition(columns, clocks)
                and all((c == v).all() for c, v in zip(carried, clocks, strict=False))
            )

        sound = _timed("vector clocks, clock condition", _clocks)
        wall, cpu = time.perf_counter() - clock[0], time.process_time() - clock[1]
        print(f"  {'total':<32} {wall:6.2f} s wall {cpu:6.2f} s cpu; {_verdict(wall, events)}")
        print(f"  invariants hold: {held}; clocks hold: {sound}")
        if args.no_reference:
            return 0
        print("the reference, in-process:")
        logs = _timed("reading", lambda: read_logs(run_dir, n))
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


def _command(run_dir: Path, *extra: str):  # type: ignore[no-untyped-def]
    """``python -m lamport check DIR`` in a fresh process: wall and CPU seconds, result."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    before = os.times()
    wall = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "lamport", "check", str(run_dir), *extra],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    wall = time.perf_counter() - wall
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return wall, cpu, out


if __name__ == "__main__":
    sys.exit(main())
