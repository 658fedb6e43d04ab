"""Parameter grids: grid files, the summaries-only path, Parquet output, resume, Dask,
the memory guard and the grid report."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lamport.config import RunConfig, catalogue
from lamport.des.grid import (
    MAX_CELLS,
    TASKS_PER_WORKER,
    _tasks,
    chunk_seeds,
    expand,
    load_grid,
    parse_grid,
    plan,
    read_dataset,
    run_grid,
    task_seeds,
)
from lamport.des.model import simulate, simulate_summary
from lamport.des.options import DesOptions
from lamport.errors import ConfigError, LogError, NetworkError
from lamport.schema import GRID_JSON, GRID_TOML, SUMMARY_COLUMNS
from lamport.summary import summarize

ROOT = Path(__file__).resolve().parent.parent
GRIDS = ROOT / "experiments" / "grids"

SMALL = """
name = "small"
duration = 5
seeds = 6
[factors]
rates = [[1, 3, 6], [2, 2, 5]]
p_send = [0.2, 0.8]
latency = [0.001, 0.25]
"""


def small_grid(**changes):
    import tomllib

    data = tomllib.loads(SMALL)
    data.update(changes)
    return parse_grid(data, SMALL)


# -- summaries-only path -------------------------------------------------------------------


@pytest.mark.parametrize("number", sorted(catalogue()))
def test_summaries_only_equals_full_record_on_the_catalogue(number):
    exp = catalogue()[number]
    for seed in range(3):
        config = exp.config(seed)
        full = simulate(config)
        assert simulate_summary(config) == summarize(full.metadata, full.logs)


def test_summaries_only_equals_full_record_on_random_configs():
    draw = random.Random(14)
    for _ in range(40):
        n = draw.randint(2, 6)
        config = RunConfig(
            rates=tuple(draw.choice([0.5, 1, 1.5, 2, 3, 4.25, 7]) for _ in range(n)),
            p_send=draw.choice([0.0, 0.05, 0.3, 0.66, 1.0]),
            duration=draw.choice([0.5, 3, 7.5, 20]),
            seed=draw.randrange(10**6),
        )
        options = DesOptions(latency=draw.choice([0.0, 0.001, 0.4, 2.0]))
        full = simulate(config, options)
        assert simulate_summary(config, options) == summarize(full.metadata, full.logs), config


# -- grid files ----------------------------------------------------------------------------


def test_compact_ranges():
    assert expand({"from": 0.1, "to": 0.9, "step": 0.2}, "p") == [0.1, 0.3, 0.5, 0.7, 0.9]
    assert expand({"from": 1, "to": 4, "step": 1}, "x") == [1, 2, 3, 4]
    assert expand({"from": 0, "to": 1, "num": 3}, "x") == [0, 0.5, 1]
    rates = expand({"product": [{"from": 1, "to": 3, "step": 1}, [1, 2, 3], [6]]}, "rates")
    assert len(rates) == 9 and rates[0] == [1, 1, 6]
    ascending = expand({"product": [[1, 2, 3], [1, 2, 3], [6]], "ascending": True}, "rates")
    assert ascending == [[1, 1, 6], [1, 2, 6], [1, 3, 6], [2, 2, 6], [2, 3, 6], [3, 3, 6]]


def test_cells_and_configs():
    grid = small_grid()
    assert grid.n_cells == 8 and grid.n_runs == 48
    cells = list(grid.cells())
    assert [grid.cell(i) for i in range(8)] == cells
    assert cells[1] == {"rates": [1, 3, 6], "p_send": 0.2, "latency": 0.25}
    config, options = grid.config(cells[1], 4)
    assert config.rates == (1, 3, 6) and config.p_send == 0.2 and config.seed == 4
    assert config.duration == 5 and config.name == "small" and options.latency == 0.25


def test_shipped_grids_load():
    stability = load_grid(GRIDS / "stability.toml")
    assert stability.n_cells == 55 * 5
    assert all(sorted(c["rates"]) == c["rates"] for c in stability.cells())
    assert load_grid(GRIDS / "example.toml").n_cells == 12


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"factors": {"colour": [1, 2]}}, "unknown factor 'colour'"),
        ({"factors": {"p_send": []}}, "factor 'p_send' has no values"),
        ({"factors": {}}, "[factors] must be a table"),
        ({"factors": {"rates": [[1, 2]], "p_send": [0.1, 1.5]}}, "factor 'p_send': value 1.5"),
        ({"factors": {"rates": [[1]]}}, "factor 'rates': value [1]"),
        # a bad first value is blamed on its own factor, not on the first one checked
        ({"factors": {"rates": [[1, 2]], "p_send": [1.5, 0.1]}}, "factor 'p_send': value 1.5"),
        ({"factors": {"rates": [[1, 2]], "p_send": [1.5]}}, "factor 'p_send': value 1.5"),
        ({"factors": {"seed": [1, 2]}}, "unknown factor 'seed'"),
        ({"factors": {"p_send": {"from": 0.1, "to": 0.2}}}, "a range is"),
        ({"factors": {"p_send": [0.1, 0.1]}}, "lists a value twice"),
        ({"factors": {"p_send": [0.1]}}, "no rates: give it as a fixed key or a factor"),
        ({"seeds": 0}, "seeds must be"),
        ({"name": "../x"}, "name must be"),
        ({"speed": 3}, "unknown key 'speed'"),
        ({"p_send": 0.3}, "'p_send' is both fixed and a factor"),
    ],
)
def test_bad_grid_files_fail_in_one_line(change, message):
    with pytest.raises(ConfigError) as info:
        small_grid(**change)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_grid_file_on_the_command_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('name = "bad"\n[factors]\nwobble = [1]\n')
    done = _cli(["grid", str(path), "--out", str(tmp_path / "o")], tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "unknown factor 'wobble'" in done.stderr
    assert "Traceback" not in done.stderr


def test_too_many_cells_need_force(tmp_path):
    factors = {
        "rates": [[1, 2]],
        "p_send": {"from": 0, "to": 1, "num": 101},
        "latency": {"from": 0, "to": 1, "num": MAX_CELLS // 100},
    }
    with pytest.raises(ConfigError, match=r"has 10,100 cells .* use --force"):
        small_grid(factors=factors)
    import tomllib

    grid = parse_grid({**tomllib.loads(SMALL), "factors": factors}, force=True)
    assert grid.n_cells > MAX_CELLS
    with pytest.raises(ConfigError, match="use --force"):
        run_grid(grid, tmp_path / "o")


# -- running -------------------------------------------------------------------------------


def test_rows_are_the_runs_summaries(tmp_path):
    grid = small_grid()
    result = run_grid(grid, tmp_path / "o", jobs=2)
    assert result.runs == 48 and result.skipped == 0
    frame = result.frame()
    assert len(frame) == 48 * 3
    assert list(frame.columns[: len(SUMMARY_COLUMNS)]) == list(SUMMARY_COLUMNS)
    assert {"rates", "latency", "cell"} <= set(frame.columns)
    assert sorted(frame["cell"].unique()) == list(range(8))
    # One cell, one seed, by hand.
    cell = grid.cell(5)
    config, options = grid.config(cell, 3)
    full = simulate(config, options)
    expected = summarize(full.metadata, full.logs)
    got = frame[(frame["cell"] == 5) & (frame["seed"] == 3)]
    assert got[list(SUMMARY_COLUMNS)].to_dict("records") == expected
    assert set(got["rates"]) == {",".join(str(r) for r in cell["rates"])}
    meta = json.loads((tmp_path / "o" / GRID_JSON).read_text())
    assert meta["complete"] and meta["runs"] == 48
    assert (tmp_path / "o" / GRID_TOML).read_text() == SMALL


def test_jobs_do_not_change_rows(tmp_path):
    one = run_grid(small_grid(), tmp_path / "one", jobs=1).frame()
    two = run_grid(small_grid(), tmp_path / "two", jobs=2).frame()
    assert one.equals(two)


def test_resume_writes_no_duplicate_and_loses_no_cell(tmp_path, monkeypatch):
    import lamport.des.grid as grid_module

    # Tasks of a few seeds, so the grid is many tasks and the stop falls between two.
    monkeypatch.setattr(grid_module, "TASK_SECONDS", 0.004)
    grid = small_grid(seeds=40)
    reference = run_grid(grid, tmp_path / "ref", jobs=1).frame()
    out = tmp_path / "o"
    calls = []

    def stop_after_three(done, total):
        calls.append(done)
        if len(calls) == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_grid(grid, out, jobs=1, progress=stop_after_three)
    partial = read_dataset(out)
    assert 0 < len(partial) < len(reference)
    assert not any(p.name.startswith(".") for p in out.rglob("*") if p.is_file())
    resumed = run_grid(grid, out, jobs=2)
    assert resumed.skipped == len(partial) // 3 and resumed.runs == grid.n_runs - resumed.skipped
    assert read_dataset(out).equals(reference)
    again = run_grid(grid, out, jobs=2)  # complete: nothing to run
    assert again.runs == 0 and read_dataset(out).equals(reference)
    # --force replaces a different grid only: this one (say, over the cell limit,
    # which needs --force to run at all) still resumes
    forced = run_grid(grid, out, jobs=2, force=True)
    assert forced.runs == 0 and forced.skipped == grid.n_runs


def test_out_holding_another_grid_is_refused(tmp_path):
    out = tmp_path / "o"
    run_grid(small_grid(seeds=2), out, jobs=1)
    with pytest.raises(LogError, match="holds a different grid"):
        run_grid(small_grid(seeds=3), out, jobs=1)
    # refused before any executor starts: no cluster, no scheduler tried
    started = time.monotonic()
    with pytest.raises(LogError, match="holds a different grid"):
        run_grid(small_grid(seeds=3), out, scheduler="tcp://127.0.0.1:1")
    assert time.monotonic() - started < 2
    result = run_grid(small_grid(seeds=3), out, jobs=1, force=True)
    assert result.runs == 24 and len(result.frame()) == 72
    stranger = tmp_path / "mine"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("keep me")
    with pytest.raises(LogError, match=r"holds no _grid\.json"):
        run_grid(small_grid(), stranger, force=True)
    assert (stranger / "notes.txt").exists()


def test_dask_local_cluster_gives_the_same_rows(tmp_path):
    distributed = pytest.importorskip("distributed")
    grid = small_grid()
    local = run_grid(grid, tmp_path / "local", jobs=2).frame()
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        on_dask = run_grid(grid, tmp_path / "dask", client=client).frame()
        by_address = run_grid(
            grid, tmp_path / "address", scheduler=cluster.scheduler_address
        ).frame()
    assert on_dask.equals(local)
    assert by_address.equals(local)
    # Dask's workers encode the files (the client only writes bytes): the very bytes
    # the local pool's parent writes.
    files = sorted(
        p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*.parquet")
    )
    assert files and files == sorted(
        p.relative_to(tmp_path / "dask") for p in (tmp_path / "dask").rglob("*.parquet")
    )
    for name in files:
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()


def test_a_failing_task_on_dask_raises_its_error(tmp_path, monkeypatch):
    # Results are fetched as tasks finish; a task's error still reaches the caller, and
    # a cancelled task raises rather than being written as a result.
    distributed = pytest.importorskip("distributed")
    from lamport.des import grid as grid_module

    def broken(grid, chunks, keep=False, types=None):
        raise RuntimeError("task broke")

    monkeypatch.setattr(grid_module, "run_chunks", broken)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        with pytest.raises(RuntimeError, match="task broke"):
            run_grid(small_grid(), tmp_path / "o", client=client)
        future = client.submit(time.sleep, 2, pure=False)  # the cluster waits for it
        future.cancel()
        with pytest.raises(distributed.client.FutureCancelledError):
            grid_module._value(future, "not a result")
    assert not list((tmp_path / "o").rglob("*.parquet"))


def test_dask_cli_on_worker_processes_gives_the_same_rows(tmp_path):
    # --dask: a LocalCluster whose workers fork from a preloaded forkserver.
    pytest.importorskip("distributed")
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    # Another cluster's scheduler on Dask's default port must not make ours warn.
    held = socket.socket()
    with contextlib.suppress(OSError):  # taken already: just as good
        held.bind(("127.0.0.1", 8787))
        held.listen()
    with held:
        done = _cli(
            ["grid", str(path), "--out", str(tmp_path / "dask"), "--dask", "--jobs", "2"], tmp_path
        )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    local = run_grid(small_grid(), tmp_path / "local", jobs=1).frame()
    assert read_dataset(tmp_path / "dask").equals(local)


def test_small_cells_share_a_task():
    grid = small_grid(seeds=40)  # 320 runs of 5 s: one worker's share, 80 seeds a task
    per_task = task_seeds(grid)
    assert chunk_seeds(grid) == 40 < per_task
    chunks = list(plan(grid, 40))
    tasks = list(_tasks(iter(chunks), per_task))
    assert len(chunks) == grid.n_cells and len(tasks) < len(chunks)
    assert [c for task in tasks for c in task] == chunks
    long_runs = small_grid(seeds=100_000, duration=3600)  # a task is a few seeds
    assert chunk_seeds(long_runs) == task_seeds(long_runs) < 100
    # A run's fixed cost counts: a task of 1-s runs is some hundreds, not 70,000.
    assert 500 < task_seeds(small_grid(seeds=10**6, duration=1)) < 2000
    # Every worker gets several tasks, however cheap the runs.
    tiny = small_grid(seeds=10, duration=1)
    tasks = list(_tasks(plan(tiny, chunk_seeds(tiny, 2)), task_seeds(tiny, 2)))
    assert len(tasks) >= 2 * TASKS_PER_WORKER


def test_forkserver_ignores_ctrl_c_and_the_caller_keeps_its_handler():
    pytest.importorskip("distributed")
    from multiprocessing import forkserver

    from lamport.des.grid import _start_forkserver

    before = signal.getsignal(signal.SIGINT)
    _start_forkserver()
    assert signal.getsignal(signal.SIGINT) is before
    assert signal.pthread_sigmask(signal.SIG_BLOCK, set()) == set()
    pid = forkserver._forkserver._forkserver_pid
    status = Path(f"/proc/{pid}/status").read_text()
    ignored = int(
        next(line for line in status.splitlines() if line.startswith("SigIgn:")).split()[1], 16
    )
    assert ignored & (1 << (signal.SIGINT - 1))


def test_unreachable_scheduler_fails_fast(tmp_path):
    pytest.importorskip("distributed")
    import socket

    with socket.socket() as held:  # a port nobody listens on, held for the test
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(NetworkError, match="cannot reach the Dask scheduler"):
            run_grid(small_grid(), tmp_path / "o", scheduler=f"tcp://127.0.0.1:{port}")
        assert time.monotonic() - started < 15
        assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("greeting", [b"", b"SSH-2.0-OpenSSH_9.6\r\n" * 20])
def test_a_service_that_is_not_dask_fails_in_one_line(tmp_path, greeting):
    # Something listens but is no Dask scheduler: it says nothing (an HTTP server
    # waiting for a request) or sends its own bytes first (an SSH banner).
    pytest.importorskip("distributed")
    from lamport.des.grid import _Dask

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        accepted = []

        def serve():
            with contextlib.suppress(OSError):
                while True:
                    connection, _ = server.accept()
                    accepted.append(connection)
                    connection.sendall(greeting)

        threading.Thread(target=serve, daemon=True).start()
        address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(NetworkError, match="cannot reach the Dask scheduler") as info:
            _Dask(2, scheduler=address, timeout=1.0)
        assert time.monotonic() - started < 10
        assert "\n" not in str(info.value) and accepted
        for connection in accepted:
            connection.close()


def test_unreachable_scheduler_on_the_command_line(tmp_path):
    pytest.importorskip("distributed")
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        path = tmp_path / "g.toml"
        path.write_text(SMALL)
        done = _cli(
            [
                "grid",
                str(path),
                "--out",
                str(tmp_path / "o"),
                "--scheduler",
                f"tcp://127.0.0.1:{port}",
            ],
            tmp_path,
        )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "cannot reach the Dask scheduler" in done.stderr


def test_grid_cli_and_report(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text(
        'name = "tiny-stability"\nduration = 20\nseeds = 4\n[factors]\n'
        "rates = { product = [[2, 6, 10], [2, 6, 10], [10]], ascending = true }\n"
        "p_send = [0.3, 0.7]\n"
    )
    out = tmp_path / "o"
    done = _cli(["grid", str(path), "--out", str(out), "--report", "--jobs", "2"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "12 cells x 4 seeds, 48 runs" in done.stdout
    report = (out / "_report" / "report.md").read_text()
    assert "How close must the rates be?" in report
    for name in ("growing-share", "slowest-drift", "largest-jump"):
        assert (out / "_report" / "figures" / f"phase-{name}.png").stat().st_size > 10_000
    assert (out / "_report" / "report.html").is_file()
    import pandas as pd  # the report does not get in the way of reading the dataset

    assert len(pd.read_parquet(out)) == len(read_dataset(out)) == 48 * 3


def test_duckdb_reads_the_dataset(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    run_grid(small_grid(), tmp_path / "o", jobs=1)
    query = (
        f"SELECT cell, count(*) AS n FROM read_parquet('{tmp_path}/o/**/*.parquet', "
        "hive_partitioning=true) GROUP BY cell ORDER BY cell"
    )
    assert duckdb.sql(query).fetchall() == [(c, 18) for c in range(8)]


# -- helpers -------------------------------------------------------------------------------


def _cli(args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "lamport.des", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


#: 9,600 runs of 20 s: a dozen quarter-second tasks, so a stop at the first file
#: written falls well before the end, whatever the machine's load.
INTERRUPTIBLE = SMALL.replace("seeds = 6", "seeds = 1200").replace("duration = 5", "duration = 20")


def _interrupt(path, out, *extra, after=None):
    """Start the grid CLI in its own session, send SIGINT to the whole group (as a
    terminal's Ctrl-C does) ``after`` seconds, or once a chunk file exists; return the
    exit status and stderr."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "lamport.des", "grid", str(path), "--out", str(out)]
    proc = subprocess.Popen(
        [*command, "--jobs", "2", *extra],
        cwd=path.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        if after is not None:
            time.sleep(after)
        else:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not list(out.glob("cell=*/*.parquet")):
                time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # leave nothing running behind a failed test
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    return proc.returncode, err


def test_interrupted_grid_cli_resumes(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text(INTERRUPTIBLE)
    out = tmp_path / "o"
    returncode, err = _interrupt(path, out)
    assert returncode == 130 and err.strip() == "interrupted"
    partial = len(read_dataset(out, ["seed"]))
    assert 0 < partial < 8 * 1200 * 3
    done = _cli(["grid", str(path), "--out", str(out)], tmp_path)
    assert done.returncode == 0, done.stderr
    frame = read_dataset(out, ["cell", "seed", "machine"])
    assert len(frame) == 8 * 1200 * 3
    assert not frame.duplicated().any()


def test_ctrl_c_stops_a_dask_grid_with_one_line(tmp_path):
    # The terminal's SIGINT reaches the workers too: they ignore it, the client
    # stops them, and nothing but "interrupted" is printed.
    pytest.importorskip("distributed")
    path = tmp_path / "g.toml"
    path.write_text(INTERRUPTIBLE)
    returncode, err = _interrupt(path, tmp_path / "o", "--dask")
    assert (returncode, err.strip()) == (130, "interrupted")


@pytest.mark.parametrize("moment", [0.3, 0.7, 1.1])
def test_ctrl_c_while_a_dask_grid_starts_is_one_line(tmp_path, moment):
    # Whenever it lands (importing, starting the cluster, scattering the grid,
    # running), Ctrl-C to the group ends the command with "interrupted" alone.
    pytest.importorskip("distributed")
    path = tmp_path / "g.toml"
    path.write_text(INTERRUPTIBLE)
    returncode, err = _interrupt(path, tmp_path / "o", "--dask", "--quiet", after=moment)
    assert (returncode, err.strip()) in ((130, "interrupted"), (0, ""))


def test_dask_missing_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    with pytest.raises(ConfigError) as info:
        run_grid(small_grid(), tmp_path / "o", dask=True)
    assert str(info.value) == "Dask is not installed: pip install 'lamport[dask]'"
    assert not (tmp_path / "o").exists()


def test_lamport_report_writes_a_grid_report(tmp_path):
    from lamport.report import write_report

    run_grid(small_grid(), tmp_path / "o", jobs=1)
    written = write_report(tmp_path / "o")
    assert written == tmp_path / "o" / "_report" / "report.md"
    text = written.read_text()
    # rates differ in their fastest machine: no phase diagram, the per-cell table only
    assert "## Per cell" in text and "Phase diagrams" not in text
    assert text.count("| 1,3,6 |") == 4
    from lamport.report.grid import cell_table

    table = cell_table(str(tmp_path / "o"))  # a path as text, as the docs write it
    assert len(table) == 8 and set(table["runs"]) == {6}


def test_float_fixed_point_matches_the_theory():
    from lamport.des.size import _arrival_rates
    from lamport.theory import predict

    draw = random.Random(9)
    for _ in range(30):
        rates = tuple(draw.choice([0.5, 1, 2, 3, 5, 8]) for _ in range(draw.randint(3, 9)))
        p_send = draw.choice([0.1, 0.3, 0.6, 0.9])
        floats = [arrival for arrival, _ in _arrival_rates(rates, p_send)]
        exact = [m.arrival_rate for m in predict(rates, p_send)]
        assert floats == pytest.approx(exact, rel=1e-9, abs=1e-12)


def test_integer_and_float_values_of_one_factor_share_a_column_type(tmp_path):
    grid = small_grid(
        seeds=2,
        factors={"rates": [[1, 2], [1.5, 2]], "p_send": [0, 0.5], "latency": [0, 0.25]},
    )
    run_grid(grid, tmp_path / "o", jobs=1)
    frame = read_dataset(tmp_path / "o")
    assert len(frame) == 8 * 2 * 2
    assert str(frame["latency"].dtype) == str(frame["rate"].dtype) == "float64"
    assert sorted(set(frame["latency"])) == [0.0, 0.25] and sorted(set(frame["rate"])) == [
        1,
        1.5,
        2,
    ]


def test_grid_report_summarizes_many_cells_and_writes_them_all(tmp_path):
    import pandas as pd

    from lamport.report.document import Paragraph, Table
    from lamport.report.grid import CELL_ROWS, CELLS_CSV, interesting_cells, per_cell_blocks

    shares = [0.0] * 10 + [1.0] * 12 + [0.25, 0.5, 0.75, 0.5] + [0.1] * 4 + [0.9] * 5
    table = pd.DataFrame(
        {
            "cell": range(len(shares)),
            "p_send": [0.3] * len(shares),
            "runs": [4] * len(shares),
            "growing_share": shares,
            "slowest_drift": [0.01 * i for i in range(len(shares))],
            "largest_jump": [2.0] * len(shares),
        }
    )
    paragraph, shown = per_cell_blocks(table, tmp_path / "_report")
    assert isinstance(paragraph, Paragraph) and isinstance(shown, Table)
    assert paragraph.text.startswith("35 cells: in 10 no queue grows in any seed, in 12 some")
    assert "and 13 are mixed" in paragraph.text
    assert len(shown.rows) == CELL_ROWS == 20
    # share 0.5 first (cell 25 drifts faster than cell 23), then 0.25 and 0.75 ...
    assert [row[0] for row in shown.rows[:4]] == ["0.3"] * 4
    assert list(interesting_cells(table)["cell"][:4]) == [25, 23, 24, 22]
    assert len(pd.read_csv(tmp_path / "_report" / CELLS_CSV)) == 35
    # a small grid shows every cell
    (every,) = per_cell_blocks(table.head(5), tmp_path / "small")
    assert len(every.rows) == 5 and CELLS_CSV in every.caption


def test_phase_diagram_explains_the_empty_triangle(tmp_path):
    import pandas as pd

    from lamport.report.grid import NO_CELLS, phase_caption, phase_diagram

    frame = pd.DataFrame(
        {
            "cell": [0, 1, 2],
            "rates": ["2,6,10", "6,6,10", "2,2,10"],
            "p_send": [0.3] * 3,
            "runs": [4] * 3,
            "growing_share": [1.0, 0.0, 1.0],
            "slowest_drift": [1.0, 0.0, 2.0],
            "largest_jump": [3.0, 2.0, 4.0],
            "x": [0.2, 0.6, 0.2],
            "y": [0.6, 0.6, 0.2],
        }
    )
    figure = phase_diagram(frame, "growing_share", tmp_path / "phase.png")
    labels = [t.get_text() for legend in figure.legends for t in legend.get_texts()]
    assert labels == ["predicted stability boundary", NO_CELLS]
    (ax,) = [a for a in figure.axes if a.get_label() != "<colorbar>"]
    triangle = [p for p in ax.patches if p.get_hatch() == "//"]
    assert len(triangle) == 1 and triangle[0].get_xy()[:3].tolist() == [
        [0, 0],
        [1.02, 0],
        [1.02, 1.02],
    ]
    assert "no cells, since the middle machine's rate is never below" in phase_caption("share")


def test_a_grid_report_is_published_in_one_step(tmp_path):
    import resource

    grid_file = tmp_path / "stable.toml"
    grid_file.write_text(
        'name = "stable"\nduration = 5\nseeds = 3\n[factors]\n'
        "rates = [[2, 5, 10], [5, 5, 10], [10, 10, 10]]\np_send = [0.3, 0.9]\n"
    )
    out = tmp_path / "o"
    done = _cli(["grid", str(grid_file), "--out", str(out), "--report", "--quiet"], tmp_path)
    assert done.returncode == 0, done.stderr
    before = {p.relative_to(out): p.read_bytes() for p in (out / "_report").rglob("*.*")}
    assert Path("_report/figures/phase-growing-share.png") in before

    def limit() -> None:  # a figure outgrows 10 KB
        resource.setrlimit(resource.RLIMIT_FSIZE, (10_000, 10_000))

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    again = subprocess.run(
        [sys.executable, "-m", "lamport.report", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=300,
    )
    assert again.returncode == 2
    assert again.stderr == f"error: {out}: cannot write the report (file too large)\n"
    after = {p.relative_to(out): p.read_bytes() for p in (out / "_report").rglob("*.*")}
    assert after == before  # the earlier report, whole
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


def _held_back(args: tuple[str, int]) -> int:
    """Task 0 waits for the others to finish (at most 20 s) and says how many did;
    every other task leaves a file and returns its number."""
    folder, number = args
    if number:
        Path(folder, str(number)).touch()
        return number
    deadline = time.monotonic() + 20
    while len(os.listdir(folder)) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    return -len(os.listdir(folder))


def test_a_slow_task_does_not_leave_the_other_workers_idle(tmp_path):
    # The first task waits until five later ones have run: with two workers and a
    # window of two, the pool must hand the free worker more tasks while the slow one
    # holds the results back (head-of-line blocking left it idle: the first task saw
    # one, after 20 s). Results still come in task order.
    from lamport.des.pool import fork_pool, windowed

    pool = fork_pool(2)
    try:
        results = list(windowed(pool, _held_back, ((str(tmp_path), n) for n in range(10)), 2))
    finally:
        pool.terminate()
        pool.join()
    assert results[0] <= -5
    assert results[1:] == list(range(1, 10))
