"""Console tables: at any width, every value is shown whole, in its row, or not at all."""

from __future__ import annotations

import io
import math
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
from rich.console import Console

from lamport.console import (
    RUN_TABLE,
    SWEEP_METRICS,
    Column,
    FittedTable,
    live_table,
    run_table,
    sweep_cell,
    sweep_table,
)
from lamport.des import sweep

WIDTHS = (60, 80, 120)


def render(renderable, width):
    console = Console(width=width, file=io.StringIO(), force_terminal=False)
    console.print(renderable)
    return console.file.getvalue()


def table_rows(text, n_rows):
    """Per table in the output: its first n_rows non-blank lines after the header rule."""
    lines = text.splitlines()
    tables = []
    for index, line in enumerate(lines):
        if "───" in line:
            data = [x for x in lines[index + 1 :] if x.strip()][:n_rows]
            tables.append(data)
    return tables


def check_rows(text, expected, keys, width):
    """Every row's cells, in order, across the split tables; keys repeated in each table."""
    assert "…" not in text
    assert max(len(line.rstrip()) for line in text.splitlines()) <= width
    tables = table_rows(text, len(expected))
    assert tables, text
    for number, cells in enumerate(expected):
        key_tokens = " ".join(cells[:keys]).split()
        shown = tables[0][number].split()
        for table in tables[1:]:
            tokens = table[number].split()
            assert tokens[: len(key_tokens)] == key_tokens, text
            shown += tokens[len(key_tokens) :]
        assert shown == " ".join(cells).split(), f"row {number}:\n{text}"
    return tables


def run_cells(rows):
    return [[fmt.format(row[key]) for _, key, fmt in RUN_TABLE] for row in rows]


def big_rows(n=10):
    """Ten machines with large clocks, ticks and jumps."""
    rows = []
    for m in range(n):
        rows.append(
            {
                "machine": m,
                "rate": 12.5 + m,
                "ticks": 1234567 + m,
                "n_internal": 1000000 + m,
                "n_send": 200000 + m,
                "n_receive": 34567 + m,
                "final_clock": 123456 + m,
                "clock_rate": 2057.6,
                "drift_end": 9 * m,
                "max_queue": 98765,
                "final_queue": 4321,
                "mean_jump": 1.04,
                "max_jump": 16,
            }
        )
    return rows


@pytest.mark.parametrize("width", WIDTHS)
def test_run_table_of_experiment_4_hides_no_number(width, exp4_run):
    result, _ = exp4_run
    rows = result.summary()
    assert [row["max_jump"] for row in rows][:2] == [13, 16]
    text = render(run_table(rows, "des: experiment 4 (big-differences), seed 1"), width)
    tables = check_rows(text, run_cells(rows), keys=1, width=width)
    assert len(tables) == (1 if width >= 100 else 2)
    assert "big-differences" in text and "jump: clock increase per event" in " ".join(text.split())


@pytest.mark.parametrize("width", WIDTHS)
def test_run_table_with_large_numbers_and_ten_machines(width):
    rows = big_rows()
    text = render(run_table(rows, "ten machines"), width)
    check_rows(text, run_cells(rows), keys=1, width=width)
    assert "123456" in text and "1234567" in text


def aggregated_rows():
    rows = []
    for exp, name in ((1, "default"), (9, "high-comm-extreme"), (11, "a-rather-long-name-here")):
        for m in range(3):
            row = {
                "experiment": exp,
                "name": name,
                "machine": None if exp == 1 else m,
                "rate": float(m + 1),
                "p_send": 0.9,
                "seeds": 100,
                "n": 123 if exp == 1 else 100,
            }
            for index, (_, key) in enumerate(SWEEP_METRICS):
                row[key] = 123456.78 / (index + 1) if m == 0 else 0.5 * index
                row[f"{key}_ci"] = 1234.5 if m == 0 else (math.nan if m == 2 else 0.25)
            rows.append(row)
    return rows


def sweep_cells(aggregated, lost=False):
    """The cells a sweep table shows; the lost-messages column only under a fault plan."""
    metrics = [(h, key) for h, key in SWEEP_METRICS if lost or key != "dropped"]
    cells = []
    for index, row in enumerate(aggregated):
        first = index == 0 or aggregated[index - 1]["experiment"] != row["experiment"]
        second = not first and (
            index < 2 or aggregated[index - 2]["experiment"] != row["experiment"]
        )
        label = f"{row['experiment']} {row['name']}" if first else ""
        label = f"p_send {row['p_send']:g}" if second else label
        machine = "*" if row["machine"] is None else str(row["machine"])
        line = [label, machine, f"{row['rate']:g}", str(row["n"])]
        line += [sweep_cell(key, row[key], row[f"{key}_ci"]) for _, key in metrics]
        cells.append(line)
    return cells


@pytest.mark.parametrize("width", WIDTHS)
def test_sweep_table_with_large_numbers(width):
    aggregated = aggregated_rows()
    text = render(sweep_table(aggregated, "sweep"), width)
    check_rows(text, sweep_cells(aggregated, lost=True), keys=2, width=width)
    assert "123456.8±1234.5" in text and "a-rather-long-name-here" in text


@pytest.fixture(scope="module")
def small_sweep():
    return sweep(experiments=[1, 4, 9], seeds=4, jobs=1)


@pytest.mark.parametrize("width", WIDTHS)
def test_sweep_table_of_a_real_sweep(width, small_sweep):
    text = render(sweep_table(small_sweep.aggregated, "des sweep"), width)
    check_rows(text, sweep_cells(small_sweep.aggregated), keys=2, width=width)


def test_sweep_table_shows_lost_messages_under_a_fault_plan():
    from lamport.des.sweep import sweep

    faulted = sweep(experiments=[4], seeds=3, jobs=1, faults=["crash 1 at 10 for 5"])
    text = render(sweep_table(faulted.aggregated, "des sweep"), 120)
    assert "lost" in text
    check_rows(text, sweep_cells(faulted.aggregated, lost=True), keys=2, width=120)
    lost = [row["dropped"] for row in faulted.aggregated]
    assert lost[0] == lost[2] == 0 and lost[1] > 0


def test_run_table_shows_lost_messages_when_asked():
    rows = [dict(row, dropped=7 * row["machine"]) for row in big_rows(3)]
    text = render(run_table(rows, "faulted", lost=True), 200)
    assert [line.split()[-1] for line in table_rows(text, 3)[0]] == ["0", "7", "14"]
    assert "lost" not in render(run_table(rows, "plain"), 200)


def test_sweep_table_groups_experiment_1_by_rate(small_sweep):
    """Experiment 1 draws its rates per seed: its rows are rates, machine shown as *."""
    aggregated = small_sweep.aggregated
    first = [row for row in aggregated if row["experiment"] == 1]
    drawn = sorted({row["rate"] for row in small_sweep.rows if row["experiment"] == 1})
    assert [row["rate"] for row in first] == drawn and len(drawn) > 1
    assert all(row["machine"] is None for row in first)
    assert sum(row["n"] for row in first) == 4 * 3
    text = render(sweep_table(aggregated, "des sweep"), 120)
    rows = table_rows(text, len(aggregated))[0]
    assert all("*" in line.split() for line in rows[: len(first)])
    assert not any("*" in line.split() for line in rows[len(first) :])
    fixed = [row["machine"] for row in aggregated if row["experiment"] == 4]
    assert fixed == [0, 1, 2]


def test_too_narrow_for_any_split_stacks_every_value():
    rows = big_rows(2)
    text = render(run_table(rows, "narrow"), 12)
    assert "…" not in text and "───" not in text
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 12
    expected = " ".join(
        f"{' '.join(header.split())}: {fmt.format(row[key])}"
        for row in rows
        for header, key, fmt in RUN_TABLE
    )
    assert expected in " ".join(text.split()), text


@pytest.mark.parametrize("width", (30, 60))
def test_unboxed_live_table_shows_whole_values(width):
    columns = [Column(h) for h in ("machine", "rate", "tick", "clock", "queue")]
    rows = [[str(m), "6", f"{123456 + m}/360000", str(9876543 + m), "4321"] for m in range(10)]
    text = render(FittedTable(columns, rows, title="real time", boxed=False), width)
    assert "…" not in text
    assert max(len(line.rstrip()) for line in text.splitlines()) <= width
    tokens = text.split()
    for row in rows:
        assert all(cell in tokens for cell in row), row


@pytest.mark.parametrize("width", (30, *WIDTHS))
def test_live_table_of_machine_states(width):
    states = [
        SimpleNamespace(
            machine=m,
            rate=2.5 * (m + 1),
            tick=123456 + m,
            ticks=360000,
            clock=9876543 + m,
            queue=4321,
        )
        for m in range(12)
    ]
    text = render(live_table(states, "real time (Ctrl-C stops)"), width)
    assert "…" not in text
    assert max(len(line.rstrip()) for line in text.splitlines()) <= width
    tokens = text.split()
    for s in states:
        cells = [str(s.machine), f"{s.rate:g}", f"{s.tick}/{s.ticks}", str(s.clock), "4321"]
        assert all(cell in tokens for cell in cells), cells


def des(*args, columns=None):
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run(
        [sys.executable, "-m", "lamport.des", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize("columns", (60, 80, None))
def test_cli_table_width_follows_columns(columns, tmp_path, exp4_run):
    out = des(
        "exp",
        "4",
        "--seed",
        "1",
        "--phase",
        "aligned",
        "--out",
        str(tmp_path / "r"),
        columns=columns,
    )
    assert out.returncode == 0, out.stderr
    width = columns or 120
    result, _ = exp4_run
    tables = check_rows(out.stdout, run_cells(result.summary()), keys=1, width=width)
    assert len(tables) == (1 if columns is None else 2)


def test_sweep_caption_explains_lost_only_when_the_column_is_there(small_sweep):
    from lamport.console import SWEEP_LOST_CAPTION, sweep_table

    plain = sweep_table(small_sweep.aggregated, "t")
    assert "lost" not in [c.header for c in plain.columns]
    assert plain.caption is not None and "lost" not in plain.caption
    lossy = [{**row, "dropped": 2.0, "dropped_ci": 0.5} for row in small_sweep.aggregated]
    table = sweep_table(lossy, "t")
    assert "lost" in [c.header for c in table.columns]
    assert table.caption is not None and table.caption.endswith(SWEEP_LOST_CAPTION)


def test_catalogue_table_lists_rates_p_send_and_question():
    from lamport.config import catalogue
    from lamport.console import catalogue_table

    table = catalogue_table(list(catalogue().values()))
    assert [c.header for c in table.columns][:3] == ["exp", "name", "rates (tick/s)"]
    by_number = {row[0]: row for row in table.rows}
    assert by_number["1"][1:5] == ["default", "3 drawn from 1..6", "0.3", "60"]
    assert by_number["9"][1:5] == ["high-comm-extreme", "1, 1, 6", "0.9", "60"]
    assert by_number["9"][5] == "heavy traffic, two slow machines"
    text = render(table, 60)
    assert "heavy traffic, two slow machines" in " ".join(text.split())
