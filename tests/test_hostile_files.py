"""Hostile files: every file a command reads may be something other than a regular file, and
every output may meet a file-size limit.

* Any command that reads a user's file, handed any kind of non-regular file (a FIFO, a
  directory, a character device, a socket, a symbolic link to a FIFO) in place of it,
  says so in one line and exits 2 at once (a FIFO opened for reading would block until
  a writer came: the test would time out), and writes nothing.
* Under a file-size limit (``RLIMIT_FSIZE``, SIGXFSZ ignored, so a write fails with
  EFBIG), ``report`` and ``export`` exit 2 with one line and leave the directory as it
  was: no half-written ``figures/``, report or export, and an earlier report unchanged.
"""

from __future__ import annotations

import hashlib
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hostile import KINDS, make_non_regular

from lamport.schema import FIGURES_DIR, NETWORK_FILE, REPORT_HTML, REPORT_MD, RUN_FILE

ROOT = Path(__file__).resolve().parent.parent


def lamport(
    *args: str | Path, cwd: Path, timeout: float = 60, **kwargs
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lamport", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        **kwargs,
    )


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` (hidden ones too) and, for files, a hash of the bytes."""
    found = {}
    for path in sorted(folder.rglob("*")):
        name = str(path.relative_to(folder))
        if path.is_symlink() or not path.is_file():
            found[name] = "link" if path.is_symlink() else "dir" if path.is_dir() else "other"
        else:
            found[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """A small run with lost messages (so it has a network.csv), and files beside it that
    other commands read: an experiment file, a recipe, a secret."""
    folder = tmp_path_factory.mktemp("hostile")
    run = folder / "run"
    done = lamport(
        "des", "run", "--rates", "2,3,4", "--p-send", "0.5", "--duration", "4", "--seed", "3",
        "--fault", "loss 0.2", "--out", run, cwd=folder,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (run / NETWORK_FILE).is_file()
    return run


NODE = ("realtime", "node", "--config", f"run/{RUN_FILE}", "--id", "0", "--listen", "127.0.0.1:0",
        "--peer", "1=127.0.0.1:9", "--peer", "2=127.0.0.1:9", "--secret-file", "secret",
        "--out", "o")  # fmt: skip

#: Each command that reads a user's file: (the file it reads, in a copy of a run called
#: ``run`` inside the test's folder; the command's arguments).
READERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "check: a log": ("run/machine-1.csv", ("check", "run")),
    "check: run.json": (f"run/{RUN_FILE}", ("check", "run")),
    "check: network.csv": (f"run/{NETWORK_FILE}", ("check", "run")),
    "export: a log": ("run/machine-0.csv", ("export", "run", "--format", "shiviz", "-o", "x.log")),
    "export: run.json": (f"run/{RUN_FILE}", ("export", "run", "--format", "dot", "-o", "x.dot")),
    "report: a log": ("run/machine-2.csv", ("report", "run")),
    "report: network.csv": (f"run/{NETWORK_FILE}", ("report", "run")),
    "compare: a log": ("run/machine-0.csv", ("compare", "run", "--seeds", "3")),
    "rerun: run.json": (f"run/{RUN_FILE}", ("des", "rerun", "run", "--out", "again")),
    "import: a source": ("run/machine-0.csv", ("import", "run/machine-0.csv", "run/machine-1.csv",
                                               "--out", "imported")),
    "import: a recipe": ("recipe.toml", ("import", "run/machine-0.csv", "--format", "recipe.toml",
                                         "--out", "imported")),
    "des: an experiment file": ("exp.toml", ("des", "exp", "exp.toml", "--out", "o")),
    "des: a grid file": ("grid.toml", ("des", "grid", "grid.toml", "--out", "o")),
    "realtime node: --config": (f"run/{RUN_FILE}", NODE),
    "realtime collect: a node report": ("run/node-0.json", ("realtime", "collect", "run",
                                                           "--out", "collected")),
    "realtime node: --secret-file": ("secret", NODE),
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_non_regular_file_is_one_line_exit_2_and_no_hang(pristine, tmp_path, reader, kind):
    target, args = READERS[reader]
    shutil.copytree(pristine, tmp_path / "run")
    path = tmp_path / target
    make_non_regular(path, kind)
    before = snapshot(tmp_path)
    done = lamport(*args, cwd=tmp_path, timeout=60)  # a FIFO opened blocking would hang here
    line = one_line(done)
    assert f"{path.name}: " in line and f"{KINDS[kind]}" in line, line
    assert snapshot(tmp_path) == before  # nothing written, nothing left half-way


def _limited(limit: int) -> Callable[[], None]:
    def start() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails: EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return start


@pytest.fixture(scope="module")
def report_sizes(pristine, tmp_path_factory) -> dict[str, int]:
    """The sizes of the files a report of the pristine run writes, to pick limits between."""
    run = tmp_path_factory.mktemp("sizes") / "run"
    shutil.copytree(pristine, run)
    done = lamport("report", run, "--quiet", cwd=run.parent, timeout=300)
    assert done.returncode == 0, done.stderr
    sizes = {p.name: p.stat().st_size for p in (run / FIGURES_DIR).iterdir()}
    sizes.update({name: (run / name).stat().st_size for name in (REPORT_MD, REPORT_HTML)})
    return sizes


@pytest.mark.parametrize("where", ["first figure", "a later figure", "report.html"])
@pytest.mark.parametrize("earlier", [False, True])
def test_a_report_under_a_file_size_limit_leaves_the_run_as_it_was(
    pristine, tmp_path, report_sizes, where, earlier
):
    run = tmp_path / "run"
    shutil.copytree(pristine, run)
    if earlier:  # a report from before: it must survive the failed one
        assert lamport("report", run, "--quiet", cwd=tmp_path, timeout=300).returncode == 0
    figures = sorted(size for name, size in report_sizes.items() if name.endswith(".png"))
    limit = {
        "first figure": 1000,
        "a later figure": figures[0] + 1,
        "report.html": max(figures) + 1,
    }[where]
    assert limit < report_sizes[REPORT_HTML]  # so something cannot be written
    before = snapshot(run)
    done = lamport("report", run, cwd=tmp_path, timeout=300, preexec_fn=_limited(limit))
    line = one_line(done)
    assert "file too large" in line, line
    assert snapshot(run) == before


@pytest.mark.parametrize("fmt", ["shiviz", "perfetto", "dot"])
def test_an_export_under_a_file_size_limit_writes_nothing(pristine, tmp_path, fmt):
    output = tmp_path / "out" / "x"
    output.parent.mkdir()
    done = lamport("export", pristine, "--format", fmt, "-o", output, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    size = output.stat().st_size
    output.unlink()
    for earlier in (False, True):
        if earlier:
            output.write_text("an earlier export\n")
        before = snapshot(output.parent)
        done = lamport(
            "export", pristine, "--format", fmt, "-o", output, cwd=tmp_path,
            preexec_fn=_limited(size // 2),
        )  # fmt: skip
        assert "file too large" in one_line(done)
        assert snapshot(output.parent) == before


#: JSON nested far deeper than any of lamport's files: closed, and never closed.
DEEP_JSON = {
    "closed": '{"rates": ' + "[" * 5000 + "]" * 5000 + "}",
    "unclosed": "[" * 200_000,
}

#: Each command that reads a JSON file: (the file, the command's arguments).
JSON_READERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "check": (f"run/{RUN_FILE}", ("check", "run")),
    "export": (f"run/{RUN_FILE}", ("export", "run", "--format", "shiviz", "-o", "x.log")),
    "report": (f"run/{RUN_FILE}", ("report", "run")),
    "compare": (f"run/{RUN_FILE}", ("compare", "run", "--seeds", "3")),
    "rerun": (f"run/{RUN_FILE}", ("des", "rerun", "run", "--out", "again")),
    "realtime node": (f"run/{RUN_FILE}", NODE),
    "report of a sweep": ("sweep/sweep.json", ("report", "sweep")),
}


@pytest.mark.parametrize("depth", sorted(DEEP_JSON))
@pytest.mark.parametrize("reader", sorted(JSON_READERS))
def test_json_nested_too_deep_is_one_line_exit_2(pristine, tmp_path, reader, depth):
    shutil.copytree(pristine, tmp_path / "run")
    (tmp_path / "sweep").mkdir()
    (tmp_path / "secret").write_text("00" * 32 + "\n")
    (tmp_path / "secret").chmod(0o600)
    target, args = JSON_READERS[reader]
    (tmp_path / target).write_text(DEEP_JSON[depth])
    before = snapshot(tmp_path)
    line = one_line(lamport(*args, cwd=tmp_path))
    assert "nested deeper than 32 levels" in line and Path(target).name in line, line
    assert snapshot(tmp_path) == before


def test_a_shiviz_clock_nested_too_deep_is_a_bad_line_not_a_traceback(pristine, tmp_path):
    log = tmp_path / "run.log"
    assert (
        lamport("export", pristine, "--format", "shiviz", "-o", log, cwd=tmp_path).returncode == 0
    )
    lines = log.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("m0 {"))
    lines[at] = "m0 " + '{"m0":' * 5000 + "1" + "}" * 5000
    log.write_text("\n".join(lines) + "\n")
    done = lamport("import", log, "--format", "shiviz", "--out", "imported", cwd=tmp_path)
    assert "Traceback" not in done.stderr
    assert done.returncode in (0, 2), done.stderr
    if done.returncode == 2:
        one_line(done)


@pytest.mark.parametrize("delay", [0.8, 1.6, 2.4, 3.2])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_report_stopped_at_any_moment_is_whole_or_absent(pristine, tmp_path, delay, signum):
    import time

    run = tmp_path / "run"
    shutil.copytree(pristine, run)
    before = snapshot(run)
    process = subprocess.Popen(
        [sys.executable, "-m", "lamport", "report", str(run), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    time.sleep(delay)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert "Traceback" not in stderr
    after = snapshot(run)
    # -signum: the signal came as the interpreter shut down, its handlers gone (the report
    # was in place by then); a shell shows that as 128 + signum too.
    assert process.returncode in (0, 128 + signum, -signum), (process.returncode, stderr)
    # Whole (the signal came after it was in place, or during the renames, which finish
    # first) or absent (nothing of it, nothing hidden left behind).
    whole = {REPORT_MD, REPORT_HTML, FIGURES_DIR} <= set(after)
    if whole:
        assert (run / REPORT_HTML).read_text().rstrip().endswith("</html>")
        links = re.findall(r"\]\((figures/[^)]+)\)", (run / REPORT_MD).read_text())
        assert links and all((run / link).is_file() for link in links)
    else:
        assert process.returncode != 0 and after == before
    assert not [name for name in after if name.startswith(".")]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_non_regular_run_json_beside_imported_logs_is_passed_over(pristine, tmp_path, kind):
    """``import --format lamport`` reads rates from a run.json beside the logs if it can;
    one that is no regular file is passed over (rates inferred), never waited on."""
    shutil.copytree(pristine, tmp_path / "run")
    make_non_regular(tmp_path / "run" / RUN_FILE, kind)
    logs = [f"run/machine-{m}.csv" for m in range(3)]
    done = lamport("import", *logs, "--format", "lamport", "--out", "imported", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "imported" / RUN_FILE).is_file()
