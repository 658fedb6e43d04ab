"""How fast ``lamport import`` reads logs: a DES run written in students' shapes, imported back.

    python benchmarks/bench_import.py [--lines 1000000] [--shapes csv_header,labelled]

Prints, per shape, the lines read, the wall and CPU seconds taken and lines per
CPU-second (CPU time is steadier than wall time on a busy machine). The target
is a million log lines in under 5 s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from shapes import write_shape

from lamport.config import RunConfig
from lamport.des import simulate
from lamport.imports import import_logs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="log lines in all")
    parser.add_argument("--shapes", default="csv_header,labelled,sentences", help="shapes to time")
    args = parser.parse_args()
    rates = (6.0, 6.0, 6.0)
    duration = args.lines / sum(rates)
    run = simulate(RunConfig(rates=rates, p_send=0.3, duration=duration, seed=1))
    print(f"{run.n_events:,} events ({duration:,.0f} model seconds, 3 machines at 6/s)")
    for shape in args.shapes.split(","):
        with tempfile.TemporaryDirectory() as folder:
            paths, _ = write_shape(run, shape, Path(folder))
            lines = sum(p.read_text().count("\n") for p in paths)
            start, cpu = time.perf_counter(), time.process_time()
            import_logs(paths, Path(folder) / "out", rates=list(rates))
            seconds = time.perf_counter() - start
            cpu = time.process_time() - cpu
        print(
            f"{shape:<16} {lines:>10,} lines {seconds:7.2f} s wall {cpu:7.2f} s CPU "
            f"{lines / cpu:>10,.0f} lines per CPU-second"
        )


if __name__ == "__main__":
    main()
