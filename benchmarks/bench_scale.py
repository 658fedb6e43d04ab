"""DES scale benchmark: machine-ticks per second as N grows, and memory against the estimate.

``python benchmarks/bench_scale.py`` prints, each figure beside its target:

* **throughput**: machine-ticks per CPU second of :func:`lamport.des.simulate`
  (full event records) and :func:`lamport.des.simulate_summary` at N = 3, 100,
  1,000 and 10,000 machines, rates drawn from 1..6 (experiment 1's draw),
  p_send 0.3, each run long enough for about ``--ticks`` machine-ticks (set-up
  included: building N machines is part of a run's cost). The target: the cost
  of a tick does not grow with N;
* **memory**: each run in a fresh interpreter, its peak RSS (``ru_maxrss``)
  beside :func:`lamport.des.size.estimate_memory`'s total; the targets: 10,000
  machines for 10 model seconds in under 2 GB and 60 s, 100,000 machines for
  one model second refused or run with an estimate within 25% of the peak;
* **command line**: ``lamport des exp`` of an experiment file with 10,000
  machines for 10 model seconds, run directory written, timed and measured
  the same way (it writes 10,000 log files to a temporary folder).

Figures, not a test: times are CPU seconds of this process (``time.process_time``)
for throughput, wall seconds for the memory runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def scale_config(machines: int, duration: float, seed: int = 0, p_send: float = 0.3) -> Any:
    """``machines`` machines with rates drawn from 1..6 by the seed, as experiment 1 draws
    its three."""
    from lamport.config import Experiment

    experiment = Experiment(
        number=None,
        name=f"scale-{machines}",
        rates=None,
        p_send=p_send,
        duration=duration,
        question="",
        machines=machines,
    )
    return experiment.config(seed=seed)


def child(machines: int, duration: float, record: bool) -> dict[str, Any]:
    """Run one configuration in this (fresh) process; return its figures."""
    from lamport.des.model import simulate, simulate_summary
    from lamport.des.size import estimate_memory

    config = scale_config(machines, duration)
    estimate = estimate_memory(config, record)
    started_rss = _peak_rss()
    started = time.perf_counter()
    cpu = time.process_time()
    if record:
        ticks = simulate(config).n_events
    else:
        ticks = sum(row["ticks"] for row in simulate_summary(config))
    return {
        "machines": machines,
        "duration": duration,
        "record": record,
        "ticks": ticks,
        "wall": time.perf_counter() - started,
        "cpu": time.process_time() - cpu,
        "rss_before": started_rss,
        "peak": _peak_rss(),
        "estimate": estimate,
    }


def _peak_rss() -> int:
    """This process's peak resident set size, bytes: ``VmHWM`` of ``/proc/self/status``,
    which starts afresh at exec (``ru_maxrss`` keeps the forking parent's size: a test run
    from a large pytest process read 139 MB where the run alone peaks at 86 MB)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def measure(machines: int, duration: float, record: bool = True) -> dict[str, Any]:
    """:func:`child`'s figures, from a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, __file__, "--child", str(machines), str(duration)]
    if not record:
        command.append("--summary")
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def throughput(machines: int, ticks: int, repeat: int) -> tuple[int, float, float]:
    """(machine-ticks, best full-record and best summaries-only ticks per CPU second)."""
    from lamport.des.model import simulate, simulate_summary

    duration = max(ticks / (3.5 * machines), 1.0)
    config = scale_config(machines, duration)
    best = [0.0, 0.0]
    done = 0
    for _ in range(repeat):
        for path, run in enumerate((simulate, simulate_summary)):
            started = time.process_time()
            result = run(config)
            elapsed = time.process_time() - started
            if path == 0:
                done = result.n_events  # type: ignore[union-attr]
            best[path] = max(best[path], done / elapsed)
            del result
    return done, best[0], best[1]


def cli_run(machines: int, duration: float) -> dict[str, Any]:
    """``lamport des exp`` of a file with ``machines`` random-rate machines, its run
    directory written: wall seconds (interpreter start included), the command's peak RSS
    and the logs written."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scale.toml"
        path.write_text(
            f'name = "scale"\nrates = "random"\nmachines = {machines}\n'
            f"p_send = 0.3\nduration = {duration}\n"
        )
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        arguments = ["exp", str(path), "--quiet", "--out", str(Path(tmp) / "run")]
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, __file__, "--cli-child", *arguments],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        wall = time.perf_counter() - started
        files = len(list((Path(tmp) / "run").glob("machine-*.csv")))
    return {"wall": wall, "peak": json.loads(done.stdout.splitlines()[-1])["peak"], "files": files}


def cli_child(arguments: list[str]) -> None:
    """Run ``python -m lamport.des ARGUMENTS`` in this process, then print its peak RSS."""
    import runpy

    sys.argv = ["lamport.des", *arguments]
    try:
        runpy.run_module("lamport.des", run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        if stop.code:
            raise
    print(json.dumps({"peak": _peak_rss()}))


def _mb(size: float) -> str:
    return f"{size / 1e6:,.0f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=350_000, help="machine-ticks per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, best kept (3)")
    parser.add_argument("--sizes", default="3,100,1000,10000", help="N for the throughput")
    parser.add_argument(
        "--skip", nargs="*", default=[], help="parts to skip: throughput, memory, cli"
    )
    parser.add_argument("--child", nargs=2, metavar=("N", "DURATION"), help=argparse.SUPPRESS)
    parser.add_argument("--summary", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cli-child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        figures = child(int(args.child[0]), float(args.child[1]), not args.summary)
        print(json.dumps(figures))
        return 0
    if args.cli_child:
        cli_child(args.cli_child)
        return 0

    print(f"lamport DES scale benchmark: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    if "throughput" not in args.skip:
        print_throughput(args.sizes, args.ticks, args.repeat)
    if "memory" not in args.skip:
        print_memory()
    if "cli" not in args.skip:
        from lamport.des.size import estimate_memory

        figures = cli_run(10_000, 10.0)
        peak = figures["peak"]
        estimate = estimate_memory(scale_config(10_000, 10.0), written=True)["total"]
        print(
            f"\ncommand line, lamport des exp of 10,000 machines for 10 s, run directory "
            f"written ({figures['files']:,} logs): {figures['wall']:.1f} s wall, peak "
            f"{_mb(peak)}, estimate {_mb(estimate)} ({(estimate - peak) / peak:+.0%})  "
            "target: < 60 s, < 2 GB"
        )
    return 0


def print_throughput(sizes: str, ticks_per_run: int, repeat: int) -> None:
    """The throughput table: machine-ticks per CPU second at each N, against N = 3's."""
    print(
        f"\nthroughput, one core, rates drawn from 1..6, p_send 0.3, about {ticks_per_run:,} "
        f"machine-ticks per run, best of {repeat}, machine-ticks per CPU second "
        "(target: a tick costs no more as N grows):"
    )
    print(
        f"  {'N':>7s} {'ticks':>9s} {'full records':>14s} {'vs N=3':>7s} {'summaries':>12s} "
        f"{'vs N=3':>7s}"
    )
    first: tuple[float, float] | None = None
    for machines in (int(n) for n in sizes.split(",")):
        ticks, full, summary = throughput(machines, ticks_per_run, repeat)
        first = first or (full, summary)
        print(
            f"  {machines:7,d} {ticks:9,d} {full:14,.0f} {full / first[0]:6.2f}x "
            f"{summary:12,.0f} {summary / first[1]:6.2f}x"
        )


#: (machines, model seconds, full records, target) of the memory runs.
MEMORY_CASES = [
    (10_000, 10.0, True, "< 2 GB and < 60 s; estimate within 25%"),
    (10_000, 10.0, False, "estimate within 25%"),
    (100_000, 1.0, True, "refused, or estimate within 25%"),
    (100_000, 1.0, False, "refused, or estimate within 25%"),
    (3, 100_000.0, True, "estimate within 25%"),
]


def print_memory() -> None:
    """Each memory run's time, peak RSS and estimate."""
    print("\nmemory, each run in a fresh interpreter (peak RSS against the estimate):")
    for machines, duration, record, target in MEMORY_CASES:
        figures = measure(machines, duration, record)
        estimate = figures["estimate"]["total"]
        peak = figures["peak"]
        path = "full records" if record else "summaries"
        print(
            f"  N = {machines:7,d}, {duration:8g} s, {path:12s}: {figures['ticks']:9,d} ticks "
            f"in {figures['wall']:5.2f} s, peak {_mb(peak):>8s}, estimate {_mb(estimate):>8s} "
            f"({(estimate - peak) / peak:+.0%})  target: {target}"
        )


if __name__ == "__main__":
    sys.exit(main())
