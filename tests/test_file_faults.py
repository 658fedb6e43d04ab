"""Nothing lost, no traceback: a full disk, a failed publish, two runs at one --out, stale partials.

A full disk is played by RLIMIT_FSIZE (the write fails as it would on a full
filesystem, without needing root), and where mounting is allowed by a real one
(a 64 KB tmpfs); concurrent runs are real processes racing for the same folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lamport.config import experiment
from lamport.des import simulate
from lamport.errors import LogError
from lamport.logs import Staging, claim_out, lock_out, remove_stale, unlock_out, write_run

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args: str, cwd: Path, limit: int | None = None) -> subprocess.Popen[str]:
    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.Popen(
        [sys.executable, "-m", "lamport.des", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limited if limit is not None else None,
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    _, err = process.communicate(timeout=120)
    return process.returncode, err


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(path.name.encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


BIG = ("run", "--rates", "6,6,6,6,6,6", "--duration", "600", "--quiet")


def test_a_full_disk_is_one_line_and_keeps_the_earlier_run(tmp_path):
    code, err = _finish(_cli(*BIG, "--out", "r", cwd=tmp_path))
    assert code == 0, err
    before = _digest(tmp_path / "r")
    code, err = _finish(_cli(*BIG, "--out", "r", cwd=tmp_path, limit=200_000))
    assert code == 2
    assert err.startswith("error: --out ") and "cannot write (file too large)" in err
    assert len(err.strip().splitlines()) == 1, err
    assert _digest(tmp_path / "r") == before  # the earlier run is untouched
    assert _hidden(tmp_path) == []  # no partial, no lock file


def test_a_full_disk_during_a_sweep_is_one_line(tmp_path):
    args = ("sweep", "--seeds", "3", "--exp", "4", "--keep-logs", "csv", "--quiet", "--out", "s")
    code, err = _finish(_cli(*args, cwd=tmp_path, limit=5_000))
    assert (code, len(err.strip().splitlines())) == (2, 1), err
    assert "cannot write (file too large)" in err
    assert not (tmp_path / "s").exists() and _hidden(tmp_path) == []


def test_two_runs_at_one_out_never_lose_a_run(tmp_path):
    for attempt in range(4):
        out = f"r{attempt}"
        first = _cli(*BIG, "--seed", "1", "--out", out, cwd=tmp_path)
        second = _cli(*BIG, "--seed", "2", "--out", out, cwd=tmp_path)
        results = [_finish(first), _finish(second)]
        codes = sorted(code for code, _ in results)
        assert codes == [0, 2], results  # exactly one lands; the other says why
        for code, err in results:
            assert "Traceback" not in err
            if code == 2:
                assert len(err.strip().splitlines()) == 1
                assert "another run is writing it now" in err or "holds a different run" in err
        winner = 1 if results[0][0] == 0 else 2
        recorded = json.loads((tmp_path / out / "run.json").read_text())
        assert recorded["seed"] == winner
    assert _hidden(tmp_path) == []


def test_a_held_out_is_refused_in_process(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from lamport.logs import lock_out; lock_out(sys.argv[1]);"
            " print('held', flush=True); time.sleep(60)",
            str(tmp_path / "r"),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LogError, match="another run is writing it now"):
            claim_out(tmp_path / "r", {"seed": 0})
    finally:
        holder.kill()
        holder.wait()
    claim_out(tmp_path / "r", {"seed": 0})  # free again once its holder is gone
    unlock_out(tmp_path / "r")


def test_a_failed_publish_puts_the_earlier_run_back(tmp_path, monkeypatch):
    result = simulate(experiment(4).config(seed=1, duration=5))
    out = write_run(tmp_path / "r", result.metadata, result.logs)
    before = _digest(out)
    staging = Staging(out)
    staging.create()
    (staging.path / "run.json").write_text("{}")
    real_replace = os.replace

    def replace(src, dst):
        if Path(src) == staging.path:
            raise OSError(16, "Device or resource busy")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(LogError, match=r"cannot put the run in place \(device or resource busy\)"):
        staging.publish()
    assert _digest(out) == before
    assert _hidden(tmp_path) == []


def test_an_unusable_out_is_refused_before_the_run(tmp_path):
    (tmp_path / "file").write_text("x")
    code, err = _finish(_cli("exp", "4", "--out", "file", cwd=tmp_path))
    assert code == 2 and "exists and is not a directory" in err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    code, err = _finish(_cli("exp", "4", "--out", "full", cwd=tmp_path))
    assert code == 2 and "holds no run.json" in err
    assert (tmp_path / "full" / "notes.txt").read_text() == "mine"


def test_stale_partials_of_dead_processes_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = [tmp_path / f".r.partial-{dead.pid}", tmp_path / f".q.old-{dead.pid}"]
    live = tmp_path / f".r.partial-{os.getppid()}"  # our parent is alive
    for folder in (*stale, live):
        folder.mkdir()
        (folder / "machine-0.csv").write_text("cut off")
    result = simulate(experiment(4).config(seed=1, duration=5))
    write_run(tmp_path / "r", result.metadata, result.logs)
    assert not any(folder.exists() for folder in stale)
    assert live.exists()
    assert remove_stale(tmp_path) == []


def test_the_lock_is_released_after_publishing(tmp_path):
    lock_out(tmp_path / "r")
    result = simulate(experiment(4).config(seed=1, duration=5))
    write_run(tmp_path / "r", result.metadata, result.logs)
    assert _hidden(tmp_path) == []
    lock_out(tmp_path / "r")  # ours to take again
    unlock_out(tmp_path / "r")


#: Every mode that writes a run, with a model whose logs grow to ~5 KB a machine.
MODES = {
    "des": ("lamport.des", ()),
    "threads": ("lamport.realtime", ("--speed", "10")),
    "processes": ("lamport.realtime", ("--speed", "10", "--processes")),
    "processes-faults": (
        "lamport.realtime",
        ("--speed", "10", "--processes", "--fault", "loss 0.2"),
    ),
    "real-crash": (
        "lamport.realtime",
        ("--speed", "10", "--processes", "--real-crash", "--fault", "crash 1 at 8 for 3"),
    ),
}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_a_file_size_limit_is_one_line_exit_2_and_nothing_left_in_every_mode(tmp_path, mode):
    """Issue 22's class: a write that fails (RLIMIT_FSIZE, SIGXFSZ ignored: EFBIG as a full
    disk gives ENOSPC) in any mode, at any point (the launcher's private files, a node's
    log at its first rows or mid-run) is one line, exit status 2, no run published, no
    partial directory, no private directory left, and an earlier run untouched."""
    module, extra = MODES[mode]
    args = ("run", "--rates", "6,6,6", "--duration", "20", "--quiet", *extra, "--out", "r")
    temp = tmp_path / "tmp"
    temp.mkdir()

    def start(limit: int | None) -> subprocess.Popen[str]:
        def limited() -> None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        return subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=tmp_path,
            env={**os.environ, "COLUMNS": "200", "TMPDIR": str(temp)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=limited if limit is not None else None,
        )

    code, err = _finish(start(None))
    assert code == 0, err
    before = _digest(tmp_path / "r")
    for limit in (100, 1500, 4000):
        code, err = _finish(start(limit))
        assert code == 2, (limit, code, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (limit, err)
        assert "file too large" in lines[0], (limit, err)
        assert _digest(tmp_path / "r") == before, limit
        assert _hidden(tmp_path) == [], limit
        assert list(temp.iterdir()) == [], limit  # the nodes' private directory is gone


def test_a_real_full_disk_is_one_line_exit_2_and_nothing_left_in_every_mode(tmp_path):
    """A 64 KB tmpfs as --out's filesystem (where mounting is allowed: root): ENOSPC in
    every mode is one line, exit status 2, and the filesystem left empty."""
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("mounting a small tmpfs is not allowed here")
    try:
        for mode, (module, extra) in sorted(MODES.items()):
            args = ("run", "--rates", "6,6,6,6,6,6", "--duration", "60", "--quiet", *extra)
            done = subprocess.run(
                [sys.executable, "-m", module, *args, "--out", str(small / "r")],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=120,
            )
            lines = done.stderr.strip().splitlines()
            assert done.returncode == 2, (mode, done.stderr)
            assert lines == [f"error: --out {small / 'r'}: cannot write (no space left on device)"]
            assert list(small.iterdir()) == [], mode
    finally:
        subprocess.run(["umount", str(small)], check=False)


def test_a_threads_run_ends_at_its_first_failed_write_not_at_its_end(tmp_path):
    """A run that can no longer be published stops at once: a 60 s run (600 model seconds
    at speed 10) whose first rows cannot be written gives its one line long before its end
    (it ran to the end before, and only then said so)."""

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100))

    args = ("run", "--rates", "6,6,6", "--duration", "600", "--speed", "10", "--quiet")
    done = subprocess.run(
        [sys.executable, "-m", "lamport.realtime", *args, "--out", "r"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        preexec_fn=limited,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == "error: --out r: cannot write (file too large)"
    assert not (tmp_path / "r").exists() and _hidden(tmp_path) == []
