"""The shared log writer and reader."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lamport.errors import LogError
from lamport.logs import RunWriter, read_log, read_metadata, read_run
from lamport.schema import COLUMNS


def test_round_trip_and_header(exp4_run):
    result, path = exp4_run
    header = (path / "machine-0.csv").read_text().splitlines()[0]
    assert header == ",".join(COLUMNS)
    meta, logs = read_run(path)
    assert logs == result.logs and meta == result.metadata


def test_internal_rows_have_empty_fields(exp4_run):
    _, path = exp4_run
    line = next(x for x in (path / "machine-2.csv").read_text().splitlines() if "INTERNAL" in x)
    assert line.endswith(",0,,,")


def test_writer_publishes_atomically(tmp_path, exp4_run):
    result, _ = exp4_run
    out = tmp_path / "run"
    with RunWriter(out, 3) as writer:
        writer.write(result.logs[0][0])
        writer.flush()
        assert not out.exists()
        assert (writer.staging / "machine-0.csv").read_text().count("\n") == 2
        writer.finish(result.metadata)
    assert out.is_dir() and not writer.staging.exists()


def test_writer_without_finish_leaves_nothing_unless_asked(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(RuntimeError), RunWriter(out, 2):
        raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError), RunWriter(out, 2, keep_partial=True) as writer:
        raise RuntimeError("crash")
    assert not out.exists() and writer.staging.is_dir()
    assert ".partial" in writer.staging.name


def test_reader_errors_name_the_file(tmp_path, exp4_run):
    path = Path(shutil.copytree(exp4_run[1], tmp_path / "copy"))
    with pytest.raises(LogError, match="not a run directory"):
        read_metadata(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text(",".join(COLUMNS) + "\n1.0,2.0,0,1,INTERNAL,one,1,0,,,\n")
    with pytest.raises(LogError, match=r"bad\.csv: line 2: malformed row"):
        read_log(bad)
    bad.write_text("a,b,c\n")
    with pytest.raises(LogError, match="header"):
        read_log(bad)
    (path / "machine-1.csv").unlink()
    with pytest.raises(LogError, match=r"machine-1\.csv: cannot read"):
        read_run(path)


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("nan,0.5,0,1,INTERNAL,1,1,0,,,", "not a finite number"),
        ("1.0,inf,0,1,INTERNAL,1,1,0,,,", "not a finite number"),
        ("1.0,1.0,0,1,INTERNAL,1,1,0,,,,extra", "12 cells, the header has 11"),
        ("1.0,1.0,0,1,INTERNAL,1,1", "7 cells, the header has 11"),
    ],
)
def test_read_log_refuses_rows_that_do_not_fit_the_schema(tmp_path, row, problem):
    bad = tmp_path / "machine-0.csv"
    bad.write_text(",".join(COLUMNS) + "\n" + row + "\n")
    with pytest.raises(LogError, match=f"machine-0.csv: line 2: .*{problem}"):
        read_log(bad)


def test_read_log_refuses_invalid_utf8(tmp_path):
    bad = tmp_path / "machine-0.csv"
    bad.write_bytes(",".join(COLUMNS).encode() + b"\n1.0,1.0,0,1,INTERN\xff\xfe,1,1,0,,,\n")
    with pytest.raises(LogError, match="not UTF-8"):
        read_log(bad)


#: Characters a hostile cell is made of: what numbers are written with, and what they are not.
CELL_ALPHABET = "0123456789-+.eE xX_,:٣१\t" + "SENDRCIVITAL"


@pytest.fixture(scope="module")
def small_logs(tmp_path_factory):
    """Small runs of each clock kind and imported ones, written once."""
    from lamport.config import RunConfig
    from lamport.des import simulate

    folder = tmp_path_factory.mktemp("small")
    runs = {}
    for clock in ("lamport", "vector", "hlc"):
        config = RunConfig(rates=(2.0, 3.0), p_send=0.6, duration=2.0, seed=4, clock=clock)
        runs[clock] = simulate(config).write(folder / clock)
    from lamport.imports import import_logs

    logs = [runs["lamport"] / f"machine-{m}.csv" for m in range(2)]
    runs["import"] = import_logs(logs, folder / "import", fmt="lamport").path
    # and one whose source logged no queue: an imported log's queue cells may be empty
    lines = (runs["import"] / "machine-1.csv").read_text(encoding="utf-8").splitlines()
    rows = [line.split(",") for line in lines]
    for cells in rows[1::2]:
        cells[7] = ""
    (folder / "import-no-queue").mkdir()
    text = "".join(",".join(cells) + "\n" for cells in rows)
    (folder / "import-no-queue" / "machine-1.csv").write_text(text, encoding="utf-8")
    runs["import-no-queue"] = folder / "import-no-queue"
    return runs


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    clock=st.sampled_from(["lamport", "vector", "hlc", "import", "import-no-queue"]),
    row=st.integers(0, 10),
    column=st.integers(0, 13),
    untouched=st.booleans(),
    cell=st.text(CELL_ALPHABET, max_size=22)
    | st.sampled_from(["1e308", str(2**63), str(2**63 - 1), "-0", "5.0", "+5", " 5", "1e3"]),
)
def test_the_fast_reader_takes_exactly_what_the_exact_reader_takes(
    small_logs, tmp_path_factory, clock, row, column, untouched, cell
):
    """One reader, one verdict: a log with any one cell changed reads to the same events
    through both readers, or the fast one declines it and the exact one decides."""
    from lamport.logs import _read_fast

    lines = (small_logs[clock] / "machine-1.csv").read_text(encoding="utf-8").splitlines()
    cells = lines[1 + row % (len(lines) - 1)].split(",")
    if not untouched:
        cells[column % len(cells)] = cell
    lines[1 + row % (len(lines) - 1)] = ",".join(cells)
    path = tmp_path_factory.mktemp("cell") / "machine-1.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    imported = clock.startswith("import")
    try:
        exact = read_log(path, imported)
    except LogError:
        exact = None
    fast = _read_fast(path, imported)
    assert fast is None or fast == exact, (cell, fast and fast[:1], exact and exact[:1])
    if untouched:  # a log as it was written: the fast reader takes it
        assert fast is not None and fast == exact
