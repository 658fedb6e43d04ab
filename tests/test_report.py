"""lamport.report: report.md and a self-contained report.html, and one-line errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lamport.errors import LogError
from lamport.report import write_report
from lamport.schema import REPORT_HTML, REPORT_MD

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    from lamport.config import experiment
    from lamport.des import simulate

    out = tmp_path_factory.mktemp("report") / "exp4"
    simulate(experiment(4).config(seed=1, phase="aligned")).write(out)  # pinned numbers below
    write_report(out)
    return out


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    from lamport.des.sweep import sweep

    out = tmp_path_factory.mktemp("report") / "sweep"
    sweep(seeds=3, jobs=1, out=out)
    write_report(out)
    return out


def report_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lamport.report", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def assert_self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert "data:image/png;base64," in page
    # nothing fetched from elsewhere: no external images, stylesheets or scripts
    assert re.search(r"<img[^>]+src=\"(?!data:)", page) is None
    assert "<link" not in page and re.search(r"<script[^>]*\bsrc=", page) is None
    assert re.search(r"\b(?:fetch|XMLHttpRequest|import)\(", page) is None


def test_run_report_markdown(run_dir):
    md = (run_dir / REPORT_MD).read_text()
    assert md.startswith("# exp 4 big-differences — des — seed 1\n")
    for heading in ("## Configuration", "## Answers", "## Per-machine statistics"):
        assert heading in md
    assert "## Predicted versus observed" in md and "## Figures" in md
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert links == [f"figures/{s}.png" for s in ("clock", "drift", "queue", "jumps", "spacetime")]
    for link in links:
        assert (run_dir / link).is_file()
    # the answers name the slow machine's drift and growing queue
    assert re.search(r"Machine 0 \(1 tick/s\): .* falls behind the leader by [\d.]+ per second", md)
    assert re.search(r"its queue grows at [\d.]+ msgs/s \(38 waiting at the end\)", md)
    # the per-machine table carries the run's numbers
    assert "| 0 | 1 | 60 | 0 | 0 | 60 | 208 |" in md
    assert "| 0 | 1 | growing | growing |" in md  # theory and observation agree


def test_run_report_html(run_dir):
    page = (run_dir / REPORT_HTML).read_text()
    assert_self_contained(page)
    # four figures; the space-time diagram is the interactive one (report.md keeps its PNG)
    assert page.count("data:image/png;base64,") == 4
    assert page.count('<figure class="lamport-st">') == 1
    # config and its folded details, three per-machine tables, prediction, causality
    assert page.count("<table>") == 7
    assert '<td class="num">208</td>' in page
    assert "exp 4 big-differences — des — seed 1" in page


def test_sweep_report(sweep_dir):
    md = (sweep_dir / REPORT_MD).read_text()
    assert md.startswith("# sweep — des — 11 experiments × 3 seeds\n")
    assert "![" in md and "(figures/overview.png)" in md and "(figures/spread.png)" in md
    assert "| 4 | big-differences | 0 | 1 | 0.3 | 3 |" in md
    assert "Not predicted: experiment(s) 1" in md
    assert re.search(r"Exp 9 high-comm-extreme .*queues grow on machine 0", md)
    page = (sweep_dir / REPORT_HTML).read_text()
    assert_self_contained(page)
    assert page.count("data:image/png;base64,") == 2
    assert "<table>" in page and "±" in page


def test_report_is_rewritable(run_dir):
    before = (run_dir / REPORT_MD).read_text()
    assert write_report(run_dir) == run_dir / REPORT_MD
    assert (run_dir / REPORT_MD).read_text() == before


def test_cli_writes_reports(tmp_path):
    from lamport.config import experiment
    from lamport.des import simulate

    out = simulate(experiment(3).config(seed=2, duration=10)).write(tmp_path / "run")
    done = report_cli(out, "--spacetime-seconds", "3")
    assert done.returncode == 0, done.stderr
    assert str(out / REPORT_MD) in done.stdout
    assert "first 3 s" in (out / REPORT_MD).read_text()
    assert (out / REPORT_HTML).is_file()


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_cli_not_a_run(tmp_path):
    line = one_line_error(report_cli(tmp_path))
    assert str(tmp_path) in line and "neither a run directory" in line
    line = one_line_error(report_cli(tmp_path / "nowhere"))
    assert "nowhere: no such directory" in line


def test_cli_usage_error():
    line = one_line_error(report_cli())
    assert "python -m lamport.report" in line


def test_cli_missing_log(run_dir, tmp_path):
    broken = tmp_path / "run"
    broken.mkdir()
    for name in ("run.json", "machine-0.csv", "machine-1.csv"):
        (broken / name).write_bytes((run_dir / name).read_bytes())
    line = one_line_error(report_cli(broken))
    assert f"{broken / 'machine-2.csv'}: cannot read" in line


def test_cli_malformed_run_json(tmp_path):
    (tmp_path / "run.json").write_text('{"rates": [1, 2]')
    line = one_line_error(report_cli(tmp_path))
    assert f"{tmp_path / 'run.json'}: malformed" in line


def test_cli_invariant_break_names_file_and_row(run_dir, tmp_path):
    broken = tmp_path / "run"
    broken.mkdir()
    for name in ("run.json", "machine-0.csv", "machine-1.csv", "machine-2.csv"):
        (broken / name).write_bytes((run_dir / name).read_bytes())
    log = broken / "machine-2.csv"
    lines = log.read_text().splitlines()
    fields = lines[10].split(",")  # line 11 of the file: the 10th event
    fields[5] = str(int(fields[5]) + 50)  # a clock that breaks the jump invariant
    lines[10] = ",".join(fields)
    log.write_text("\n".join(lines) + "\n")
    line = one_line_error(report_cli(broken))
    assert f"{log} line 11: jump" in line
    assert not (broken / REPORT_MD).exists()
    with pytest.raises(LogError, match="line 11"):
        write_report(broken)


def test_cli_malformed_sweep(sweep_dir, tmp_path):
    bad = tmp_path / "sweep"
    bad.mkdir()
    (bad / "sweep.json").write_text(json.dumps({"backend": "des"}))
    (bad / "summary.csv").write_text("experiment,seed\n1,0\n")
    line = one_line_error(report_cli(bad))
    assert f"{bad / 'summary.csv'}: missing column(s) machine" in line


def test_run_report_has_one_clock_rate_and_one_queue_growth(run_dir):
    md = (run_dir / REPORT_MD).read_text()
    assert "slope)" not in md and "final clock / duration |" not in md
    # machine 0 of exp 4 seed 1: 208 / 60 s and 38 / 60 s, the same in every place
    assert "its clock runs at 3.47 per second" in md
    assert "| 0 | 1 | 60 | 0 | 0 | 60 | 208 | 3.47 |" in md
    assert "its queue grows at 0.63 msgs/s" in md
    assert "| 0 | 20.68 | 38 | 38 | +0.63 | growing |" in md
    assert "| 0.50 | 0.63 | 4.00 | 3.47 |" in md  # predicted versus observed


def test_sweep_report_groups_random_rates_by_rate(sweep_dir):
    md = (sweep_dir / REPORT_MD).read_text()
    rows = [line for line in md.splitlines() if line.startswith("| 1 | default | any |")]
    assert len(rows) == 1  # the first rate group of experiment 1; machine ids mean nothing
    assert re.search(r"Exp 1 default \(rates drawn per seed, p_send 0\.3, 3 seeds, grouped", md)
    assert "Exp 1 default" in md and not re.search(r"Exp 1 default[^\n]*machine \d", md)


def test_overlapping_intervals_are_a_tie():
    import pandas as pd

    from lamport.report.grid import top_groups

    stats = pd.DataFrame(
        {
            "machine": [0, 1, 2],
            "rate": [1.0, 2.0, 3.0],
            "random_rates": [False] * 3,
            "drift_end": [1.8, 1.8, 0.2],
            "drift_end_ci": [0.3, 0.3, 0.1],
        }
    )
    assert list(top_groups(stats, "drift_end")["machine"]) == [0, 1]
    stats.loc[1, "drift_end"] = 1.0  # [0.7, 1.3] against [1.5, 2.1]: no overlap
    assert list(top_groups(stats, "drift_end")["machine"]) == [0]
    stats["drift_end_ci"] = float("nan")  # one seed: only equal means tie
    assert list(top_groups(stats, "drift_end")["machine"]) == [0]


def test_report_of_many_machines_speaks_per_rate(tmp_path):
    from lamport.config import RunConfig
    from lamport.des import simulate

    rates = tuple(float(1 + i % 3) for i in range(24))
    out = simulate(RunConfig(rates=rates, p_send=0.3, duration=5, seed=2)).write(tmp_path / "r")
    md = (write_report(out)).read_text()
    for rate in (1, 2, 3):
        assert f"The 8 machines at {rate} tick/s: clock rate " in md
    assert "Machine 0 (1 tick/s):" not in md
    assert "median across machines" in md


def test_configuration_shows_each_value_once_and_folds_ports_and_epochs():
    from lamport.report.document import Details, Document, Table, to_html, to_markdown
    from lamport.report.run import configuration_blocks

    metadata = {
        "backend": "realtime",
        "rates": [1, 3, 6],
        "options": {"speed": 2.0, "base_port": None, "connect_timeout": 5.0, "latency": 0.0},
        "speed": 2.0,
        "latency": 0.0,
        "start_epoch": 1700000000.5,
        "version": "0.1.0",
        "interrupted": False,
        "ports": [40001, 40002, 40003],
        "kept_up": True,
    }
    table, details = configuration_blocks(metadata)
    assert isinstance(table, Table) and isinstance(details, Details)
    assert [row[0] for row in table.rows] == ["backend", "rates", "speed", "latency", "kept_up"]
    assert dict(map(tuple, table.rows))["speed"] == "2.0"
    (folded,) = details.blocks
    assert isinstance(folded, Table)
    assert dict(map(tuple, folded.rows)) == {
        "start_epoch": "1700000000.5 (2023-11-14T22:13:20+00:00)",
        "version": "0.1.0",
        "interrupted": "False",
        "ports": "40001, 40002, 40003",
        "base_port": "none",
        "connect_timeout": "5.0",
    }
    # an interrupted run says so in the main table; an option that disagrees shows as such
    table, _ = configuration_blocks({**metadata, "interrupted": True, "speed": 1.0})
    rows = dict(map(tuple, table.rows))
    assert rows["interrupted"] == "True" and rows["options speed"] == "2.0"
    doc = Document("t", [table, details])
    page = to_html(doc)
    assert page.count("<details><summary>Details: ports, epochs") == 1
    assert page.index("<details>") < page.index("40001") < page.index("</details>")
    md = to_markdown(doc, Path("."))
    ports = md.index("| ports | 40001, 40002, 40003 |")
    assert md.index("<details>") < ports < md.index("</details>")


def test_run_report_configuration_has_no_options_row(run_dir):
    md = (run_dir / REPORT_MD).read_text()
    config = md[md.index("## Configuration") : md.index("## Answers")]
    keys = re.findall(r"^\| (\w+) \|", config, flags=re.M)
    assert "options" not in keys and "key" in keys
    assert len(keys) == len(set(keys)) + 1  # "key" heads both tables; every other key once
    assert {"latency", "rates", "p_send"} <= set(config.split("<details>")[0].split())
    assert "| start_epoch |" in config.split("<details>")[1]


def test_sweep_report_draws_the_contrasts_in_words(sweep_dir):
    from lamport.analysis import load_sweep, sweep_stats
    from lamport.report.cells import pm
    from lamport.report.grid import contrasts

    stats = sweep_stats(load_sweep(sweep_dir))
    sentences = contrasts(stats)
    assert [s.split(" (exp ")[1][:10] for s in sentences] == [
        "4 → exp 5:",
        "5 → exp 6:",
        "3 → exp 7:",
    ]
    exp4 = stats[stats["experiment"] == 4].set_index("machine")
    slow = exp4.loc[0]  # the 1 tick/s machine drifts most in experiment 4
    assert sentences[0].startswith("What changes when the rates vary less (exp 4 → exp 5: rates ")
    assert (
        f"from {pm(slow['drift_end'], slow['drift_end_ci'], 1)} on machine 0 (1 tick/s)"
        in (sentences[0])
    )
    assert "queues growing: machine 0 (1 tick/s) → none" in sentences[0]
    assert "p_send 0.3 → 0.6" in sentences[1] and "p_send 0.3 → 0.9" in sentences[2]
    md = (sweep_dir / REPORT_MD).read_text()
    section = md[md.index("## Contrasts between experiments") :]
    assert all(f"- {s}" in section for s in sentences)
    # without both experiments of a pair there is nothing to contrast
    assert contrasts(stats[stats["experiment"] != 5]) == [sentences[2]]


def test_a_report_is_published_whole_or_not_at_all(run_dir, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    shutil.rmtree(run / "figures")
    (run / REPORT_MD).unlink()
    (run / REPORT_MD).mkdir()  # in the way of the report: refused before anything moves
    before = sorted(p.name for p in run.iterdir())
    line = one_line_error(report_cli(run, "--quiet"))
    assert line == f"error: {run / REPORT_MD}: is a directory, where the report goes"
    assert sorted(p.name for p in run.iterdir()) == before
    (run / REPORT_MD).rmdir()
    (run / "figures").write_text("not a folder")  # an earlier 'figures' that is a file
    assert report_cli(run, "--quiet").returncode == 0
    assert (run / "figures").is_dir() and any((run / "figures").glob("*.png"))
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []
