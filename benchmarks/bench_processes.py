"""Benchmark of ``realtime --processes``: how light a machine's process is, and how many fit.

For each N (default 10, 100, 200) it runs ``python -m lamport.realtime run
--rates 1,1,...  --duration 10 --processes --quiet`` in a subprocess (N
machines at 1 tick a second for 10 seconds, speed 1) and, while the machines
tick, samples every process the launcher started (its node processes, forked
by the fork server, and the server itself):

* unique memory per node process (USS: ``Private_Clean + Private_Dirty`` of
  ``/proc/PID/smaps_rollup``), median and max, and the run's total PSS
  (each shared page split among the processes that share it: what the run
  costs the machine);
* file descriptors and threads, summed over the processes;
* the outcome: exit status, wall time, ``degraded`` in ``run.json``, and
  ``lamport check`` of the run (every invariant of docs/spec.md).

Then, with ``--stop``, the largest N again, stopped by SIGINT 3 s into its
ticking: time to exit, exit status (130), and whether ``run.json`` records
the interruption.

    .venv/bin/python benchmarks/bench_processes.py
    .venv/bin/python benchmarks/bench_processes.py --sizes 10,50 --stop

Targets (issue 23 item 3, issue 22): at most 15 MB unique per machine
process; 200 processes at 1 tick a second for 10 seconds finish cleanly with
every invariant holding (or are refused up front with the estimate, never
``degraded``); a stop is exit 130 and recorded in ``run.json``. Not a test:
the figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
USS_TARGET_MB = 15.0


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``, from one scan of /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found = []
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def _memory(pid: int) -> tuple[float, float] | None:
    """(USS, PSS) of a process in MB, or None if it is gone."""
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
    except OSError:
        return None
    fields = {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in lines)}
    return (fields["Private_Clean"] + fields["Private_Dirty"]) / 1024, fields["Pss"] / 1024


def _count(pid: int) -> tuple[int, int]:
    """(descriptors, threads) of a process; (0, 0) if it is gone."""
    try:
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0, 0
    threads = next(int(line.split()[1]) for line in status.splitlines() if line[:8] == "Threads:")
    return fds, threads


def _sample(launcher: int, n: int) -> dict[str, float] | None:
    pids = _descendants(launcher)
    memory = {pid: m for pid in pids if (m := _memory(pid)) is not None}
    if len(memory) < n:
        return None
    uss = sorted(m[0] for m in memory.values())
    counts = [_count(pid) for pid in [launcher, *pids]]
    return {
        "processes": len(memory),
        # the fork server is the one process a node is not: the largest USS is a node's
        # only if it is not the server's; the median is a node's either way
        "uss_median": uss[len(uss) // 2],
        "uss_max": uss[-2] if len(uss) > n else uss[-1],
        "pss_total": sum(m[1] for m in memory.values()) + (_memory(launcher) or (0, 0))[1],
        "fds": sum(c[0] for c in counts),
        "threads": sum(c[1] for c in counts),
    }


def run_size(n: int, duration: float, stop_after: float | None = None) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="bench-processes-"))
    out = folder / "run"
    rates = ",".join(["1"] * n)
    command = [sys.executable, "-m", "lamport.realtime", "run", "--rates", rates]
    command += ["--duration", str(duration), "--processes", "--quiet", "--out", str(out)]
    began = time.monotonic()
    errors = open(folder / "stderr.txt", "w+", encoding="utf-8")  # noqa: SIM115
    process = subprocess.Popen(  # stderr to a file: a pipe nobody reads would fill
        command,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=errors,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    peak: dict[str, float] = {}
    ticking = None
    stopped_at = None
    while process.poll() is None:
        time.sleep(0.5)
        sample = _sample(process.pid, n)
        if sample is None:
            continue
        ticking = ticking or time.monotonic()
        for key, value in sample.items():
            peak[key] = max(peak.get(key, 0.0), value)
        due = stop_after is not None and time.monotonic() - ticking >= stop_after
        if due and stopped_at is None:
            process.send_signal(signal.SIGINT)
            stopped_at = time.monotonic()
    process.wait()
    ended = time.monotonic()
    errors.seek(0)
    err = errors.read()
    errors.close()
    result: dict[str, Any] = {
        "n": n,
        "exit": process.returncode,
        "wall_s": round(ended - began, 1),
        **{k: round(v, 1) for k, v in peak.items()},
        "stderr": err.strip().splitlines()[-1:] if err.strip() else [],
    }
    if stopped_at is not None:
        result["stop_s"] = round(ended - stopped_at, 2)
    if (out / "run.json").is_file():
        metadata = json.loads((out / "run.json").read_text())
        result["degraded"] = metadata.get("degraded")
        result["interrupted"] = metadata.get("interrupted")
        check = subprocess.run(
            [sys.executable, "-m", "lamport", "check", str(out)],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        result["check"] = "ok" if check.returncode == 0 else check.stdout + check.stderr
    subprocess.run(["rm", "-rf", str(folder)], check=False)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,200", help="numbers of processes")
    parser.add_argument("--duration", type=float, default=10.0, help="model seconds a run")
    parser.add_argument("--stop", action="store_true", help="also stop the largest size")
    args = parser.parse_args()
    print(f"{platform.node()}: {os.cpu_count()} cores, python {platform.python_version()}")
    for n in map(int, args.sizes.split(",")):
        r = run_size(n, args.duration)
        uss = r.get("uss_median")
        clean = r["exit"] == 0 and r.get("degraded") is False and r.get("check") == "ok"
        print(
            f"N = {n:>3}: exit {r['exit']}, wall {r['wall_s']} s, "
            f"degraded {r.get('degraded')}, check {str(r.get('check'))[:200]}"
        )
        if uss is not None:
            met = "met" if r["uss_max"] <= USS_TARGET_MB else "MISSED"
            print(
                f"         USS per node median {uss} MB, max {r['uss_max']} MB "
                f"(target <= {USS_TARGET_MB:g} MB: {met}); "
                f"total PSS {r['pss_total']} MB; {r['fds']:.0f} descriptors, "
                f"{r['threads']:.0f} threads"
            )
        if n >= 200:
            verdict = "met" if clean or "need about" in str(r["stderr"]) else "MISSED"
            print(f"         {n} processes clean or refused up front: {verdict}")
        if r["stderr"]:
            print(f"         stderr: {r['stderr'][0][:300]}")
    if args.stop:
        n = max(map(int, args.sizes.split(",")))
        r = run_size(n, 60.0, stop_after=3.0)
        ok = r["exit"] == 130 and r.get("interrupted") is True
        print(
            f"stop N = {n}: exit {r['exit']} in {r.get('stop_s')} s after SIGINT, "
            f"run.json interrupted {r.get('interrupted')}, degraded {r.get('degraded')}, "
            f"check {str(r.get('check'))[:200]} (target: exit 130, recorded: "
            f"{'met' if ok else 'MISSED'})"
        )


if __name__ == "__main__":
    main()
