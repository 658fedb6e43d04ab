"""lamport installs like a library: a real non-editable build runs from any
directory, the ``lamport`` console command dispatches to the three CLIs, and
``exp FILE.toml`` runs a user's own experiment file."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

from lamport.__main__ import main
from lamport.config import EXPERIMENTS_ENV, experiment
from lamport.des import simulate

ROOT = Path(__file__).resolve().parent.parent
LOGS = ("machine-0.csv", "machine-1.csv", "machine-2.csv", "run.json")
MINE = "name = 'mine'\nrates = [2, 5]\np_send = 0.5\nduration = 30\nquestion = 'mine?'\n"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", EXPERIMENTS_ENV)}
    return {**env, "COLUMNS": "200", **extra}


def _run(args: list[str | Path], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=_env(**env),
        timeout=120,
    )


def _setuptools_problem() -> str | None:
    if importlib.util.find_spec("setuptools") is None:
        return "setuptools is not installed (make install puts it in .venv)"
    try:
        major = int(version("setuptools").split(".")[0])
    except (PackageNotFoundError, ValueError):
        return "setuptools has no readable version"
    if major < 77:
        return f"setuptools {version('setuptools')} is older than pyproject's >= 77"
    return None


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """lamport built from a copy of this checkout and installed (not editable) into a folder."""
    problem = _setuptools_problem()
    if problem:
        pytest.skip(f"cannot build lamport here: {problem}")
    base = tmp_path_factory.mktemp("install")
    source = base / "source"
    source.mkdir()
    # A copy, so the build's build/ and *.egg-info never land in the checkout.
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for name in ("lamport", "experiments"):
        shutil.copytree(ROOT / name, source / name, ignore=junk)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    target = base / "site"
    built = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            target,
            source,
        ],
        cwd=base,
    )
    assert built.returncode == 0, built.stderr
    return target


def test_every_module_of_the_checkout_is_in_the_built_package(installed):
    modules = sorted(p.relative_to(ROOT) for p in (ROOT / "lamport").rglob("*.py"))
    assert len(modules) > 25
    assert [m for m in modules if not (installed / m).is_file()] == []


def test_the_package_ships_the_catalogue_and_not_the_results(installed):
    shipped = installed / "lamport" / "catalogue"
    tomls = sorted(p.name for p in shipped.glob("*.toml"))
    assert tomls == sorted(p.name for p in (ROOT / "experiments").glob("*.toml"))
    assert len(tomls) == 11
    for path in shipped.glob("*.toml"):
        assert path.read_bytes() == (ROOT / "experiments" / path.name).read_bytes()
    assert not list(shipped.glob("*.md")) and not (shipped / "figures").exists()


def test_a_built_package_runs_exp_4_from_any_directory(installed, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = _run(
        [
            sys.executable,
            "-c",
            "import lamport.config as c; print(c.__file__); print(c.experiments_dir())",
        ],
        cwd=elsewhere,
        PYTHONPATH=str(installed),
    )
    module, folder = where.stdout.split()
    assert Path(module) == installed / "lamport" / "config.py"
    assert Path(folder) == installed / "lamport" / "catalogue"

    out = tmp_path / "x"
    run = _run(
        [sys.executable, "-m", "lamport.des", "exp", "4", "--duration", "5", "--out", out],
        cwd=elsewhere,
        PYTHONPATH=str(installed),
    )
    assert run.returncode == 0, run.stderr
    assert "big-differences" in run.stdout
    assert sorted(p.name for p in out.iterdir()) == list(LOGS)
    # The same bytes as this checkout's DES for the same configuration.
    here = simulate(experiment(4).config(duration=5)).write(tmp_path / "here")
    for name in LOGS[:3]:
        assert (out / name).read_bytes() == (here / name).read_bytes()
    assert list(elsewhere.iterdir()) == []


def test_a_built_package_sweeps_and_has_the_lamport_command(installed, tmp_path):
    sweep = _run(
        [
            sys.executable,
            "-m",
            "lamport.des",
            "sweep",
            "--seeds",
            "2",
            "--jobs",
            "1",
            "--duration",
            "5",
            "--out",
            tmp_path / "s",
            "--quiet",
        ],
        cwd=tmp_path,
        PYTHONPATH=str(installed),
    )
    assert sweep.returncode == 0, sweep.stderr
    rows = (tmp_path / "s" / "summary.csv").read_text().splitlines()
    assert len(rows) == 1 + 11 * 2 * 3  # header + experiments x seeds x machines

    script = installed / "bin" / "lamport"
    assert script.is_file()
    run = _run(
        [script, "des", "exp", "9", "--duration", "5", "--out", tmp_path / "x", "--quiet"],
        cwd=tmp_path,
        PYTHONPATH=str(installed),
    )
    assert run.returncode == 0 and run.stdout == "", run.stderr
    assert json.loads((tmp_path / "x" / "run.json").read_text())["name"] == "high-comm-extreme"


# The console command, called in-process and as the installed entry point.


def test_lamport_help_lists_the_commands(capsys):
    for argv in ([], ["--help"], ["-h"]):
        assert main(argv) == 0
        text = capsys.readouterr().out
        assert text.startswith(
            "usage: lamport {list,import,des,realtime,report,check,export,compare}"
        )
        for line in ("  list ", "  import ", "  des ", "  realtime ", "  report ", "  check "):
            assert line in text
        for line in ("  export ", "  compare ", "  -h, --help ", "  --version "):
            assert line in text
        # every subcommand of des and realtime is named
        for word in ("rerun DIR", "sweep", "grid FILE", "bench", "node", "collect"):
            assert word in text


def test_lamport_refuses_an_unknown_command_in_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        main(["simulate", "exp", "4"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: lamport: unknown command 'simulate'")
    assert err.count("\n") == 1


def test_lamport_des_is_python_m_lamport_des(tmp_path, capsys):
    argv = ["des", "exp", "4", "--seed", "2", "--duration", "5", "--out", str(tmp_path / "a")]
    assert main(argv) == 0
    assert "big-differences" in capsys.readouterr().out
    direct = _run(
        [
            sys.executable,
            "-m",
            "lamport.des",
            "exp",
            "4",
            "--seed",
            "2",
            "--duration",
            "5",
            "--out",
            tmp_path / "b",
            "--quiet",
        ],
        cwd=tmp_path,
    )
    assert direct.returncode == 0, direct.stderr
    for name in LOGS[:3]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["des", "exp", "99"], "error: unknown experiment 99 (known: 1, 2, 3"),
        (["des"], "error: lamport des: the following arguments are required"),
        (["des", "exp"], "error: lamport des exp: the following arguments are required"),
        (["check", "--limit", "0"], "error: lamport check: argument --limit"),
        (["realtime", "exp", "abc"], "error: 'abc' is neither an experiment number"),
        (["report", "no/such/run"], "error: "),
    ],
)
def test_lamport_subcommand_errors_are_one_line(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_python_m_lamport_behaves_as_lamport(tmp_path):
    run = _run(
        [sys.executable, "-m", "lamport", "des", "exp", "3", "--duration", "5", "--out", "r"],
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "r" / "run.json").read_text())["rates"] == [3, 3, 3]
    bad = _run([sys.executable, "-m", "lamport", "nope"], cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("error: lamport: unknown command 'nope'")


def test_the_venvs_lamport_command(tmp_path):
    script = Path(sys.executable).parent / "lamport"
    if not script.is_file():
        pytest.skip(f"no {script}: lamport is not installed in this environment (make install)")
    run = _run(
        [script, "des", "exp", "4", "--duration", "5", "--out", "r", "--quiet"], cwd=tmp_path
    )
    assert run.returncode == 0 and run.stdout == "", run.stderr
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == list(LOGS)
    assert _run([script, "--help"], cwd=tmp_path).stdout.startswith("usage: lamport")


# exp FILE.toml: a user's own experiment file.


def test_exp_runs_a_users_file_labelled_by_its_name(tmp_path):
    (tmp_path / "mine.toml").write_text(MINE)
    run = _run(
        [sys.executable, "-m", "lamport.des", "exp", "mine.toml", "--seed", "4"], cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    out = tmp_path / "runs" / "des" / "mine-seed4-d30"  # 30 s, not the default 60
    meta = json.loads((out / "run.json").read_text())
    assert (meta["name"], meta["experiment"], meta["rates"]) == ("mine", None, [2, 5])
    assert (meta["p_send"], meta["duration"], meta["question"]) == (0.5, 30, "mine?")
    assert [len((out / f"machine-{i}.csv").read_text().splitlines()) for i in (0, 1)] == [61, 151]
    # A path with a separator need not end in .toml; the real-time backend takes files too.
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "mine").write_text(MINE)
    rt = _run(
        [
            sys.executable,
            "-m",
            "lamport.realtime",
            "exp",
            "conf/mine",
            "--duration",
            "1",
            "--speed",
            "10",
            "--out",
            "rt",
            "--quiet",
        ],
        cwd=tmp_path,
    )
    assert rt.returncode == 0, rt.stderr
    assert json.loads((tmp_path / "rt" / "run.json").read_text())["name"] == "mine"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (MINE.replace("[2, 5]", "[2, 5"), "malformed TOML"),
        (MINE.replace("= 30", "= true"), "duration must be a number of seconds, got True"),
        (MINE.replace("'mine'", "'../escape'"), "name must be 1 to 64 letters"),
        (MINE + "number = true\n", "number must be a positive integer, got True"),
        (MINE.replace("rates = [2, 5]", "rates = 'random'\nmachines = 20000"), "2..10000"),
        (MINE + "p-send = 0.3\n", "unknown key 'p-send'"),
    ],
)
def test_exp_refuses_a_malformed_file_in_one_line_and_writes_nothing(tmp_path, text, message):
    (tmp_path / "bad.toml").write_text(text)
    for out in ([], ["--out", "x"]):
        run = _run([sys.executable, "-m", "lamport.des", "exp", "bad.toml", *out], cwd=tmp_path)
        assert run.returncode == 2 and run.stdout == ""
        assert run.stderr.startswith("error: bad.toml: ") and message in run.stderr
        assert run.stderr.count("\n") == 1
        assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


def test_exp_names_a_missing_file(tmp_path):
    run = _run([sys.executable, "-m", "lamport.des", "exp", "nope.toml"], cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr == "error: nope.toml: experiment file not found\n"
    assert list(tmp_path.iterdir()) == []


def test_errors_name_the_command_as_it_was_typed(tmp_path):
    """`lamport des`, `python -m lamport des` and `python -m lamport.des` each see their own
    name in usage lines and errors."""
    script = Path(sys.executable).parent / "lamport"
    typed = [
        ([sys.executable, "-m", "lamport", "des", "exp"], "python -m lamport des exp"),
        ([sys.executable, "-m", "lamport.des", "exp"], "python -m lamport.des exp"),
        ([sys.executable, "-m", "lamport.report"], "python -m lamport.report"),
        ([sys.executable, "-m", "lamport", "check"], "python -m lamport check"),
    ]
    if script.is_file():
        typed.append(([script, "des", "exp"], "lamport des exp"))
    for argv, prog in typed:
        run = _run(argv, cwd=tmp_path)
        assert run.returncode == 2
        assert run.stderr.startswith(f"error: {prog}: the following arguments are required"), (
            run.stderr
        )
    usage = _run([sys.executable, "-m", "lamport", "realtime", "run", "--help"], cwd=tmp_path)
    assert usage.stdout.startswith("usage: python -m lamport realtime run ")


# lamport list: the catalogue


def test_lamport_list_shows_every_experiment_with_rates_p_send_and_question(capsys):
    from lamport.config import catalogue

    assert main(["list"]) == 0
    text = capsys.readouterr().out
    experiments = catalogue()
    assert len(experiments) == 11
    lines = text.splitlines()
    for number, exp in experiments.items():
        [line] = [ln for ln in lines if ln.split()[:2] == [str(number), exp.name]]
        assert exp.rates_text in line and f" {exp.p_send:g} " in line
        assert line.rstrip().endswith(exp.question)
    assert experiments[4].rates_text == "1, 3, 6"
    assert experiments[1].rates_text == "3 drawn from 1..6"
    assert "11 experiments in " in text
    # lamport des list is the same table
    assert main(["des", "list"]) == 0
    assert capsys.readouterr().out == text


def test_lamport_list_follows_the_catalogue_folder(tmp_path, monkeypatch, capsys):
    (tmp_path / "01-mine.toml").write_text("number = 1\n" + MINE.replace("'mine'", "'only-one'"))
    monkeypatch.setenv(EXPERIMENTS_ENV, str(tmp_path))
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    assert "only-one" in text and "2, 5" in text and "mine?" in text
    assert "big-differences" not in text and f"1 experiment in {tmp_path};" in text


# make run / make test: what each installs


def _make_commands(target: str, tmp_path: Path) -> str:
    """The commands `make TARGET` runs from a fresh clone (make -n on a copy without .venv)."""
    if shutil.which("make") is None:
        pytest.skip("no make on this machine")
    shutil.copy2(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copy2(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    # --no-print-directory: under `make test` (CI) this make is a nested one, which would
    # otherwise announce the directory it enters and leaves
    dry = _run(["make", "--no-print-directory", "-n", target], cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    return dry.stdout


def test_make_run_installs_what_running_needs_and_shows_progress(tmp_path):
    commands = _make_commands("run", tmp_path)
    installs = [line for line in commands.splitlines() if "pip install" in line]
    assert any("uv pip install" in line for line in installs)
    assert any("-m pip install -e ." in line for line in installs)  # pip when uv is not there
    assert not any("[dev]" in line for line in installs)
    assert "--quiet" not in commands and " -q " not in commands
    assert "installing lamport and what running needs" in commands  # a line, then progress
    assert commands.rstrip().endswith("-m lamport.des sweep --seeds 100")


def test_make_test_adds_the_development_extras(tmp_path):
    commands = _make_commands("test", tmp_path)
    installs = [line for line in commands.splitlines() if "pip install" in line]
    assert any("-e ." in line and "[dev]" not in line for line in installs)
    assert any("-e '.[dev]'" in line for line in installs)
    assert "--quiet" not in commands
    assert commands.rstrip().endswith("-m pytest")
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
