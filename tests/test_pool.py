"""lamport.des.pool: the forked pool that sweeps and grids share."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from lamport.des.pool import fork_pool, windowed

REPO = Path(__file__).resolve().parent.parent

# A caller whose own SIGTERM handler swallows the signal (a notebook's, a server's, or
# lamport's CLI handler) makes pools and terminates them at once, as a refused or
# interrupted sweep does: a worker that got SIGTERM before setting its handlers used to
# wait forever on the task queue the terminating parent had locked.
SCRIPT = """
import signal, sys
from lamport.des.pool import fork_pool
signal.signal(signal.SIGTERM, lambda *args: None)
for _ in range(int(sys.argv[1])):
    pool = fork_pool(2)
    pool.terminate()
    pool.join()
print("done")
"""


def test_a_pool_terminated_at_once_never_hangs(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    with open(out, "w") as handle:
        # a session of its own: if it hangs, its forked workers are killed with it
        child = subprocess.Popen(
            [sys.executable, "-c", SCRIPT, "150"],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            status = child.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            raise AssertionError("a pool terminated at once hung its parent") from None
    assert (status, out.read_text()) == (0, "done\n")


def test_workers_unblock_the_signals_the_parent_held() -> None:
    before = signal.pthread_sigmask(signal.SIG_BLOCK, set())
    pool = fork_pool(2)
    try:
        assert signal.pthread_sigmask(signal.SIG_BLOCK, set()) == before  # parent restored
        masks = list(windowed(pool, _blocked, range(4), 2))
    finally:
        pool.terminate()
        pool.join()
    assert all(signal.SIGTERM not in m and signal.SIGINT not in m for m in masks)


def _blocked(_: int) -> set[signal.Signals]:
    return signal.pthread_sigmask(signal.SIG_BLOCK, set())
