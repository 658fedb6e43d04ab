"""Grid benchmark: the summaries-only DES path, a 10,000-run grid, memory, Dask, a profile.

``python benchmarks/bench_grid.py`` prints

* ``throughput``: runs per CPU-second on one core of a 60-s, three-machine run
  (rates 1, 3, 6, p_send 0.3), full record (``simulate`` + ``summarize``, what
  a sweep with logs does) against the summaries-only path
  (``simulate_summary``), best of ``--repeat``, under random and aligned phases;
* ``grid``: wall time and peak memory (the process and its workers, sampled
  every 20 ms from /proc) of ``python -m lamport.des grid`` on 100 cells x 100
  seeds (60 s, three machines), interpreter start included;
* ``memory``: peak memory of 100 cells and of 1,000 cells (20 seeds, 20 s each):
  it must not grow with the grid;
* ``dask``: the same 10,000-run grid with ``--dask`` (a LocalCluster with as
  many workers as ``--jobs``) against the local pool;
* ``warm``: the same grid with ``--scheduler`` on a cluster already running (the
  benchmark starts ``dask scheduler`` and ``dask worker --nworkers JOBS`` once, or
  uses ``--scheduler ADDRESS``), interleaved with the local pool: medians and their
  ratio beside the 1.10 target, and the cluster's CPU time beside the client's;
* ``profile``: where one core's time goes on the grid path, by part.

Other work on the machine skews every figure: the load average is printed
with them.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from lamport.config import RunConfig
from lamport.des.model import simulate, simulate_summary
from lamport.summary import summarize

ROOT = Path(__file__).resolve().parent.parent


def grid_text(cells: int, seeds: int, duration: float) -> str:
    """A grid of ``cells`` three-machine cells: rate sets x p_send values."""
    rate_sets = max(1, cells // 10)
    rates = [[1 + i % 5, 3 + i % 3, 6 + i // 15] for i in range(rate_sets)]
    p_sends = [round(0.05 + 0.09 * k, 2) for k in range(cells // rate_sets)]
    return (
        f'name = "bench-{cells}"\nduration = {duration}\nseeds = {seeds}\n[factors]\n'
        f"rates = {rates}\np_send = {p_sends}\n"
    )


def ticks(text: str) -> int:
    """Machine-ticks in every run of a grid, all seeds."""
    import tomllib

    from lamport.des.grid import parse_grid

    grid = parse_grid(tomllib.loads(text))
    total = 0
    for cell in grid.cells():
        config, _ = grid.config(cell, 0)
        total += sum(config.ticks(i) for i in range(config.n_machines))
    return total * grid.seeds


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def throughput(repeat: int, runs: int, phase: str) -> None:
    config = RunConfig(rates=(1, 3, 6), p_send=0.3, duration=60, phase=phase)

    def full(seed: int) -> None:
        result = simulate(config.with_(seed=seed))
        summarize(result.metadata, result.logs)

    def summary(seed: int) -> None:
        simulate_summary(config.with_(seed=seed))

    # CPU time of this process (time.process_time), blocks of the two interleaved, best
    # block kept: other processes on the machine inflate wall time far more than CPU time.
    times: dict[str, list[float]] = {"full record": [], "summaries only": []}
    for _ in range(repeat):
        for name, func in (("full record", full), ("summaries only", summary)):
            started = time.process_time()
            for seed in range(runs):
                func(seed)
            times[name].append((time.process_time() - started) / runs)
    best = {name: min(values) for name, values in times.items()}
    for name, value in best.items():
        print(
            f"  {phase:7s} {name:15s} {value * 1e3:6.3f} ms/run  {1 / value:7.0f} runs/s/core "
            "(CPU time)"
        )
    ratio = best["full record"] / best["summaries only"]
    print(f"  {phase:7s} ratio: {ratio:.2f}x  (load {load()})")


def _tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants, in bytes."""
    total = 0
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                stack.extend(int(c) for c in children)
        except (OSError, ValueError):
            continue
    return total


def timed_grid(
    text: str, jobs: int, extra: list[str] | None = None, reap: bool = True
) -> tuple[float, int, str, dict[str, Any]]:
    """Wall seconds, peak tree RSS, load after, and ``_grid.json`` of
    ``python -m lamport.des grid`` on the grid text. ``reap``: wait for the command's
    orphans (never while this process has a cluster of its own running)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "grid.toml"
        path.write_text(text)
        command = [sys.executable, "-m", "lamport.des", "grid", str(path), "--quiet"]
        command += ["--out", str(Path(tmp) / "out"), "--jobs", str(jobs), *(extra or [])]
        peak = 0
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=tmp, stderr=subprocess.PIPE, text=True)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _tree_rss(proc.pid))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, err = proc.communicate()
        wall = time.perf_counter() - started
        done.set()
        sampler.join()
        if reap:
            _reap_orphans()
        if proc.returncode != 0:
            raise SystemExit(f"grid failed: {err.strip()}")
        metadata = json.loads((Path(tmp) / "out" / "_grid.json").read_text())
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        # CPU seconds of the whole tree (workers are reaped by their parents, and orphans
        # such as Dask's forkserver and its workers by us: so all count): a figure the
        # machine's other load does not inflate the way it inflates wall time.
        metadata["cpu_seconds"] = (after.ru_utime + after.ru_stime) - (
            before.ru_utime + before.ru_stime
        )
        return wall, peak, load(), metadata


def _become_subreaper() -> None:
    """Adopt orphaned descendants (Linux): a process that outlives its parent, such as
    Dask's forkserver and the workers forked from it, is then reaped here and its CPU
    time counts in RUSAGE_CHILDREN. Elsewhere, such CPU time goes uncounted."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    PR_SET_CHILD_SUBREAPER = 36
    if ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("note: not a subreaper; Dask's forkserver CPU time goes uncounted")


def _reap_orphans() -> None:
    """Wait for every adopted descendant to end. Called right after a grid command
    ends, when the benchmark has no other child: those left are the command's orphans
    (they hold its stderr until they end, so ``communicate`` has waited for them)."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


class WarmCluster:
    """``dask scheduler`` and ``dask worker --nworkers JOBS --nthreads 1`` started once,
    as a user with a cluster has them, on this host; stopped (by their process ids)
    when the block ends. ``cpu()`` is the CPU seconds the cluster's processes used."""

    def __init__(self, jobs: int, folder: Path, tuned: bool = False) -> None:
        self.jobs = jobs
        self.folder = folder
        # tuned: the settings ``--dask`` gives its own LocalCluster (CLUSTER_CONFIG: no
        # statistical profiler, monitors every second or two), as environment variables
        self.env = dict(os.environ)
        if tuned:
            from lamport.des.grid import CLUSTER_CONFIG

            for key, value in CLUSTER_CONFIG.items():
                if key != "distributed.worker.multiprocessing-method":
                    name = "DASK_" + key.upper().replace(".", "__").replace("-", "_")
                    self.env[name] = str(value)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.address = ""

    def __enter__(self) -> WarmCluster:
        dask = str(Path(sys.executable).with_name("dask"))
        info = self.folder / "scheduler.json"
        quiet: dict[str, Any] = {
            "stdout": subprocess.DEVNULL,
            "stderr": subprocess.DEVNULL,
            "env": self.env,
        }
        self.procs.append(
            subprocess.Popen(
                [
                    *(dask, "scheduler", "--host", "127.0.0.1", "--port", "0"),
                    *("--no-dashboard", "--scheduler-file", str(info)),
                ],
                **quiet,
            )
        )
        deadline = time.monotonic() + 60
        while not info.is_file() or not info.read_text().strip():
            if time.monotonic() > deadline:
                raise SystemExit("the Dask scheduler did not start")
            time.sleep(0.1)
        self.address = json.loads(info.read_text())["address"]
        self.procs.append(
            subprocess.Popen(
                [
                    *(dask, "worker", "--scheduler-file", str(info)),
                    *("--nworkers", str(self.jobs), "--nthreads", "1", "--no-dashboard"),
                ],
                **quiet,
            )
        )
        from distributed import Client

        with Client(self.address) as client:
            client.wait_for_workers(self.jobs, timeout=60)
        return self

    def cpu(self) -> float:
        return sum(_tree_cpu(proc.pid) for proc in self.procs)

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its living descendants, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{current}/task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError, IndexError):
            continue
    return total


def warm(
    jobs: int, attempts: int, scheduler: str | None, seeds: int = 100, tuned: bool = False
) -> None:
    """The grid of 100 cells x ``seeds`` (10,000 runs by default) through ``--scheduler``
    on a running cluster against the local pool, interleaved (a burst of load from
    elsewhere hits both), medians and ratio."""
    import statistics

    text = grid_text(100, seeds, 60)
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        cluster = None
        if scheduler is None:
            started = time.perf_counter()
            cluster = stack.enter_context(WarmCluster(jobs, Path(tmp), tuned))
            scheduler = cluster.address
            print(f"  cluster at {scheduler} up in {time.perf_counter() - started:.1f} s")
        # One grid first: the workers import lamport once, as a warm cluster has.
        timed_grid(grid_text(10, 20, 10), jobs, ["--scheduler", scheduler], reap=False)
        locals_: list[float] = []
        remotes: list[float] = []
        for attempt in range(1, attempts + 1):
            local, _, after_local, lmeta = timed_grid(text, jobs, reap=False)
            before = cluster.cpu() if cluster else 0.0
            remote, _, after_remote, meta = timed_grid(
                text, jobs, ["--scheduler", scheduler], reap=False
            )
            used = cluster.cpu() - before if cluster else float("nan")
            locals_.append(local)
            remotes.append(remote)
            print(
                f"  warm #{attempt}: local pool {local:.2f} s, {lmeta['cpu_seconds']:.1f} CPU-s "
                f"(load {after_local}); --scheduler {remote:.2f} s, client "
                f"{meta['cpu_seconds']:.1f} CPU-s + cluster {used:.1f} CPU-s, connect "
                f"{meta['executor_seconds']:.2f} s (load {after_remote}): {remote / local:.2f}x"
            )
        ratios = sorted(r / q for r, q in zip(remotes, locals_, strict=True))
        local_median = statistics.median(locals_)
        remote_median = statistics.median(remotes)
        print(
            f"warm cluster{' (tuned)' if tuned else ''}, {100 * seeds:,} runs: median "
            f"{remote_median:.2f} s against the local pool's "
            f"{local_median:.2f} s: {remote_median / local_median:.2f}x (target < 1.10); "
            f"median pair {statistics.median(ratios):.2f}x, pairs "
            f"{', '.join(f'{r:.2f}' for r in ratios)} (load {load()})"
        )


def profile() -> None:
    """One core's time on the grid path, by part."""
    import tomllib

    from lamport.des.grid import parse_grid, run_grid

    grid = parse_grid(tomllib.loads(grid_text(20, 50, 60)))
    with tempfile.TemporaryDirectory() as tmp:
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        run_grid(grid, Path(tmp) / "out", jobs=1)
        profiler.disable()
        wall = time.perf_counter() - started
    stats = pstats.Stats(profiler)
    parts = {
        "imports (once per process)": 0.0,
        "set-up (streams, machines, time base, metadata)": 0.0,
        "simulation (metronome, core ticks, arrivals)": 0.0,
        "summaries (tally, rows)": 0.0,
        "parquet (tables, writes)": 0.0,
        "grid (cells, chunks, files)": 0.0,
        "other": 0.0,
    }
    setup = ("machine_streams", "draws", "time_base", "tick_pattern", "check_size", "config")
    loading = ("marshal", "_imp.", "'read' of '_io", "find_spec", "_bootstrap")
    for (filename, _, function), row in stats.stats.items():  # type: ignore[attr-defined]
        tottime = row[2]
        if (
            "importlib" in filename
            or "_bootstrap" in filename
            or any(k in function for k in loading)
        ):
            part = "imports (once per process)"
        elif "summary.py" in filename:
            part = "summaries (tally, rows)"
        elif "pyarrow" in filename or function in ("write_table", "_write_chunk"):
            part = "parquet (tables, writes)"
        elif "grid.py" in filename:
            part = "grid (cells, chunks, files)"
        elif function in setup or any(
            k in filename for k in ("numpy", "fractions", "dataclasses", "config.py")
        ):
            part = "set-up (streams, machines, time base, metadata)"
        elif filename == "~" or any(k in filename for k in ("simpy", "core.py", "model.py")):
            # builtins are the loop's heap pushes, generator sends, tuple and list work
            part = "simulation (metronome, core ticks, arrivals)"
        else:
            part = "other"
        parts[part] += tottime
    total = sum(parts.values())
    print(f"  1,000 runs on one core in {wall:.2f} s (under the profiler, load {load()}):")
    for name, seconds in parts.items():
        print(f"    {name:50s} {seconds / total * 100:5.1f}%")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--runs", type=int, default=300, help="runs per throughput timing")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip", nargs="*", default=[], help="parts to skip")
    parser.add_argument("--attempts", type=int, default=3, help="Dask against local pool pairs")
    parser.add_argument(
        "--warm-seeds", type=int, default=100, help="warm: seeds per cell (100 cells)"
    )
    parser.add_argument(
        "--warm-tuned",
        action="store_true",
        help="warm: start the cluster with --dask's settings (no profiler, slower monitors)",
    )
    parser.add_argument("--only", nargs="*", default=None, help="run only these parts")
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="warm: a running cluster's scheduler (default: start one on this host)",
    )
    args = parser.parse_args()
    if args.only is not None:
        parts = {"throughput", "grid", "memory", "dask", "warm", "profile"}
        args.skip = sorted(parts - set(args.only))
    _become_subreaper()
    print(f"cores: {os.cpu_count()}, jobs: {args.jobs}, load before: {load()}")
    if "throughput" not in args.skip:
        print("throughput (one core, 60 s, rates 1,3,6, p_send 0.3):")
        for phase in ("random", "aligned"):
            throughput(args.repeat, args.runs, phase)
    if "grid" not in args.skip:
        wall, peak, after, meta = timed_grid(grid_text(100, 100, 60), args.jobs)
        cpu = meta["cpu_seconds"]
        print(
            f"grid: 100 cells x 100 seeds = 10,000 runs ({ticks(grid_text(100, 100, 60)):,} "
            f"machine-ticks) in {wall:.2f} s wall (interpreter "
            f"included), {cpu:.1f} CPU-s in all processes (= {cpu / args.jobs:.1f} s on "
            f"{args.jobs} idle cores), peak {peak / 1e6:.0f} MB (load {after})"
        )
    if "memory" not in args.skip:
        for cells in (100, 1000):
            wall, peak, after, _ = timed_grid(grid_text(cells, 20, 20), args.jobs)
            print(
                f"memory: {cells:5d} cells x 20 seeds: peak {peak / 1e6:.0f} MB, "
                f"{wall:.2f} s (load {after})"
            )
    if "dask" not in args.skip:
        # Interleaved, so a burst of load from elsewhere hits both.
        for attempt in range(1, args.attempts + 1):
            local, _, after_local, lmeta = timed_grid(grid_text(100, 100, 60), args.jobs)
            dask, _, after_dask, meta = timed_grid(grid_text(100, 100, 60), args.jobs, ["--dask"])
            start = meta["executor_seconds"]
            print(
                f"dask #{attempt}: local pool {local:.2f} s, {lmeta['cpu_seconds']:.1f} CPU-s "
                f"(load {after_local}); LocalCluster {dask:.2f} s, {meta['cpu_seconds']:.1f} "
                f"CPU-s, {start:.2f} s of it starting the cluster (load {after_dask}): "
                f"wall {dask / local:.2f}x, CPU {meta['cpu_seconds'] / lmeta['cpu_seconds']:.2f}x"
            )
    if "warm" not in args.skip:
        print(f"warm cluster ({args.jobs} workers of one thread), {args.attempts} pairs:")
        warm(args.jobs, args.attempts, args.scheduler, args.warm_seeds, args.warm_tuned)
    if "profile" not in args.skip:
        print("profile:")
        profile()
    return 0


if __name__ == "__main__":
    sys.exit(main())
