"""lamport.schema: the log's columns, dtypes and rows, and the run directory's file names."""

from __future__ import annotations

import csv
import io
import subprocess
import sys

import pytest

from lamport.core import Event
from lamport.schema import (
    COLUMNS,
    DROP_COLUMNS,
    DTYPES,
    SUMMARY_COLUMNS,
    SUMMARY_DTYPES,
    SUMMARY_REQUIRED,
    log_name,
    parse_row,
)

# The columns and summary columns docs/spec.md (the log schema) names.
SCHEMA_COLUMNS = [
    "t",
    "wall",
    "machine",
    "tick",
    "event",
    "clock",
    "jump",
    "queue",
    "peer",
    "msg_clock",
    "msg_id",
]
SCHEMA_SUMMARY = [
    "experiment",
    "seed",
    "machine",
    "rate",
    "p_send",
    "ticks",
    "n_internal",
    "n_send",
    "n_receive",
    "final_clock",
    "final_queue",
    "max_queue",
    "mean_jump",
    "max_jump",
]


def test_columns_are_specs_in_order():
    assert list(COLUMNS) == SCHEMA_COLUMNS
    assert list(DTYPES) == SCHEMA_COLUMNS
    assert list(SUMMARY_COLUMNS[:SUMMARY_REQUIRED]) == SCHEMA_SUMMARY
    assert list(SUMMARY_DTYPES) == list(SUMMARY_COLUMNS)
    assert log_name(12) == "machine-12.csv"


def test_drop_columns_name_every_reason():
    from lamport.faults import DROP_REASONS

    assert ("dropped", *(f"dropped_{r}" for r in DROP_REASONS)) == DROP_COLUMNS
    assert SUMMARY_COLUMNS[-len(DROP_COLUMNS) :] == DROP_COLUMNS


@pytest.mark.parametrize(
    "event",
    [
        Event(0.5, 1000.5, 0, 1, "INTERNAL", 1, 1, 0, "", None, ""),
        Event(1.0, 1001.0, 2, 2, "SEND", 2, 1, 0, "0+1", 2, "2:1"),
        Event(1.25, 1001.25, 1, 3, "RECEIVE", 9, 6, 4, "2", 8, "2:7"),
    ],
)
def test_a_row_written_by_csv_parses_back_to_the_same_event(event):
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(event)
    (row,) = csv.reader(io.StringIO(buffer.getvalue()))
    assert parse_row(row) == event


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        (["nan", "1", "0", "1", "INTERNAL", "1", "1", "0", "", "", ""], "finite"),
        (["1", "1", "0", "x", "INTERNAL", "1", "1", "0", "", "", ""], "tick 'x' is not an integer"),
        (["1", "1", "0", "٣", "INTERNAL", "1", "1", "0", "", "", ""], "tick '٣' is not an integer"),
        (["1", "1", "0", "5.0", "INTERNAL", "1", "1", "0", "", "", ""], "tick '5.0' is not"),
        (["1_0", "1", "0", "1", "INTERNAL", "1", "1", "0", "", "", ""], "t '1_0' is not a finite"),
        (["1", "1", "0", "1", "INTERNAL", str(2**63), "1", "0", "", "", ""], "outside 0 .. 2"),
        (["1", "1", "0", "1", "INTERNAL", "-1", "1", "0", "", "", ""], "clock -1 is outside"),
        (["1", "1", "0", "1", "INTERNAL", "1", "1", "0", "", str(2**64), ""], "msg_clock"),
        (["1", "1", "0", "1", "INTERNAL", "1", str(-(2**63) - 1), "0", "", "", ""], "jump"),
        (["1", "1", "0"], "3 cells"),
    ],
)
def test_parse_row_refuses_malformed_rows(row, problem):
    with pytest.raises(ValueError, match=problem):
        parse_row(row)


def test_schema_stats_and_backend_contract_import_nothing_heavy():
    code = (
        "import sys, lamport.schema, lamport.stats, lamport.backend\n"
        "bad = {'socket', 'simpy', 'pandas', 'numpy', 'matplotlib'} & set(sys.modules)\n"
        "print(','.join(sorted(bad)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
