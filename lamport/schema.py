"""The log schema and the layout of a run directory (docs/spec.md, the log schema), in one place.

Every writer, reader, DataFrame builder and check imports its column names,
dtypes and file names from here; none restates them.

Event logs
    One ``machine-<id>.csv`` per machine, a header row, then one row per event
    with the columns :data:`COLUMNS` (the fields of :class:`lamport.core.Event`,
    in that order). Empty cells: ``peer`` and ``msg_id`` of an INTERNAL event,
    ``msg_clock`` of an INTERNAL event. Columns may be added after these
    (docs/spec.md, the log schema); a reader keeps the required ones and checks that every
    row has as many cells as the header.

Summaries
    A sweep's ``summary.csv`` has one row per (experiment, seed, machine) with
    :data:`SUMMARY_COLUMNS`; docs/spec.md requires the first :data:`SUMMARY_REQUIRED`.

This module is plain Python (no pandas): dtypes are pandas' names, as strings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from lamport.core import KINDS, LAMPORT_KIND, ClockKind, Event, VectorEvent, vc_cell, vc_components

# -- the files of a run or sweep directory -------------------------------------------------

#: A run's metadata; its presence marks a complete run directory.
RUN_FILE = "run.json"
#: A sweep's metadata; its presence marks a complete sweep directory.
SWEEP_FILE = "sweep.json"
#: One row per (experiment, seed, machine) of a sweep.
SUMMARY_FILE = "summary.csv"
#: A sweep's kept events in one Parquet file (``--keep-logs parquet``).
EVENTS_FILE = "events.parquet"
#: A sweep's kept run directories (``--keep-logs csv``), one per run.
RUNS_DIR = "runs"
#: The real-time backend's log of dropped connections and bad frames.
NETWORK_LOG = "network.log"
#: One row per lost message (fault injection, :mod:`lamport.faults`): :data:`NETWORK_COLUMNS`.
NETWORK_FILE = "network.csv"
#: The columns of ``network.csv``: when the message was lost (model seconds), its link,
#: its id, and why (:data:`lamport.faults.DROP_REASONS`).
NETWORK_COLUMNS = ("t", "sender", "recipient", "msg_id", "reason")
#: A sweep's lost messages beside ``events.parquet`` (``--keep-logs parquet`` under a fault
#: plan): ``experiment, seed`` and :data:`NETWORK_COLUMNS`.
NETWORK_EVENTS_FILE = "network.parquet"
#: Shell pattern of the machine logs in a run directory.
LOG_PATTERN = "machine-*.csv"
#: The report of a run or sweep (:mod:`lamport.report`), its HTML twin and its figures' folder.
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
FIGURES_DIR = "figures"
#: A parameter grid's files beside its Parquet dataset (:mod:`lamport.des.grid`): the
#: grid file as given and its metadata (cells, chunking, progress); the leading "_"
#: makes pyarrow and pandas skip them when they read the directory as a dataset.
GRID_TOML = "_grid.toml"
GRID_JSON = "_grid.json"
#: Where a grid's report goes (report.md, report.html and figures/), out of the dataset.
GRID_REPORT_DIR = "_report"


def log_name(machine: int) -> str:
    """The file name of a machine's event log: ``machine-<id>.csv``."""
    return f"machine-{machine}.csv"


# -- event logs ----------------------------------------------------------------------------

#: The columns of an event log, in file order.
COLUMNS: tuple[str, ...] = Event._fields

#: pandas dtypes of the log columns; ``msg_clock`` is a nullable integer.
DTYPES: dict[str, str] = {
    "t": "float64",
    "wall": "float64",
    "machine": "int64",
    "tick": "int64",
    "event": "string",
    "clock": "int64",
    "jump": "int64",
    "queue": "int64",
    "peer": "string",
    "msg_clock": "Int64",
    "msg_id": "string",
}
assert tuple(DTYPES) == COLUMNS


#: The optional column of carried vector clocks (``--clock vector``): one
#: component per machine, by id, separated by single spaces (``3 0 5``).
VC_COLUMN = "vc"
#: The columns of a log with carried vector clocks: :data:`COLUMNS`, then ``vc``.
VECTOR_COLUMNS: tuple[str, ...] = (*COLUMNS, VC_COLUMN)
assert VectorEvent._fields == VECTOR_COLUMNS
#: pandas dtypes of :data:`VECTOR_COLUMNS`.
VECTOR_DTYPES: dict[str, str] = {**DTYPES, VC_COLUMN: "string"}


#: The extra column of an imported run's logs: each event's line in its source file.
LINE_COLUMN = "line"
#: The backend name of an imported run (``lamport import``).
IMPORTED = "import"


def log_columns(clock: str | None) -> tuple[str, ...]:
    """The columns of a run's logs, by the run's clock kind (``run.json``'s ``clock``):
    :data:`COLUMNS`, then the kind's (:attr:`lamport.core.ClockKind.columns`)."""
    kind = KINDS.get(clock or "", LAMPORT_KIND)
    return (*COLUMNS, *kind.columns)


def log_dtypes(kind: ClockKind) -> dict[str, str]:
    """pandas dtypes of the columns of a log kept by clocks of ``kind``."""
    return {**DTYPES, **dict(zip(kind.columns, kind.dtypes, strict=True))}


def header_kind(header: Sequence[str]) -> ClockKind:
    """The clock kind whose columns a log's header holds (Lamport's if none does)."""
    for kind in KINDS.values():
        if kind.columns and all(column in header for column in kind.columns):
            return kind
    return LAMPORT_KIND


def format_vc(vc: Sequence[int]) -> str:
    """A vector clock as a ``vc`` cell: ``[3, 0, 5]`` -> ``"3 0 5"``."""
    return vc_cell(list(vc))


def parse_vc(cell: str) -> list[int]:
    """A ``vc`` cell as its components. Raise ValueError unless it is integers >= 0
    separated by single spaces."""
    return vc_components(cell)


#: How an integer cell and a number cell read: ASCII digits only (docs/spec.md), no
#: spaces, no ``_``. Both log readers (the exact one and the fast one in
#: :mod:`lamport.logs`) hold every cell to these.
INTEGER_TEXT = r"-?[0-9]+"
NUMBER_TEXT = r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
_NUMBER = re.compile(NUMBER_TEXT, re.ASCII)
#: Every integer cell fits 64 bits: -2^63 <= n < 2^63; a clock is 0 <= n < 2^63 (docs/spec.md).
INT64_LIMIT = 2**63
#: The columns that hold clocks, which are never negative.
CLOCK_COLUMNS = ("clock", "msg_clock")


def parse_number(text: str, column: str) -> float:
    """A number cell of ``column`` (:data:`NUMBER_TEXT`), finite; raise ValueError naming it."""
    if _NUMBER.fullmatch(text):
        value = float(text)
        if value - value == 0.0:  # finite: inf - inf is nan
            return value
    raise ValueError(f"{column} {text!r} is not a finite number")


def parse_integer(text: str, column: str, low: int = -INT64_LIMIT) -> int:
    """An integer cell of ``column`` (:data:`INTEGER_TEXT`) in ``low`` .. 2^63-1 (64 bits;
    ``low`` 0 for a clock, :data:`CLOCK_COLUMNS`); raise ValueError naming it."""
    if (text.isdigit() or (text[:1] == "-" and text[1:].isdigit())) and text.isascii():
        value = int(text)
        if low <= value < INT64_LIMIT:
            return value
        bounds = {0: "0", -INT64_LIMIT: "-2^63"}.get(low, str(low))
        raise ValueError(f"{column} {text} is outside {bounds} .. 2^63-1")
    raise ValueError(f"{column} {text!r} is not an integer")


def parse_row(row: list[str], imported: bool = False) -> Event:
    """One log row (its first ``len(COLUMNS)`` cells) as an Event.

    In an imported run (another implementation's logs) the queue may be empty:
    its source did not log it, and the event's ``queue`` is None.
    Raise ValueError if a number is not ASCII digits (:data:`INTEGER_TEXT`,
    :data:`NUMBER_TEXT`), a time is not finite, an integer does not fit 64 bits, a
    clock is negative, or the row is short.
    """
    if len(row) < len(COLUMNS):
        raise ValueError(f"{len(row)} cells, expected {len(COLUMNS)}")
    t, wall, machine, tick, event, clock, jump, queue, peer, msg_clock, msg_id = row[:11]
    return Event(
        parse_number(t, "t"),
        parse_number(wall, "wall"),
        parse_integer(machine, "machine"),
        parse_integer(tick, "tick"),
        event,
        parse_integer(clock, "clock", 0),
        parse_integer(jump, "jump"),
        None if imported and queue == "" else parse_integer(queue, "queue"),  # type: ignore[arg-type]
        peer,
        parse_integer(msg_clock, "msg_clock", 0) if msg_clock != "" else None,
        msg_id,
    )


# -- summaries -----------------------------------------------------------------------------

#: The summary's lost-message columns: in all, then by :data:`lamport.faults.DROP_REASONS`.
DROP_COLUMNS: tuple[str, ...] = ("dropped", "dropped_crash", "dropped_partition", "dropped_loss")

#: Columns of summary.csv: docs/spec.md's first, then lamport's own.
SUMMARY_COLUMNS: tuple[str, ...] = (
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
    "name",
    "duration",
    "clock_rate",
    "messages_sent",
    "drift_end",
    *DROP_COLUMNS,
)

#: The summary columns a sweep reports as mean and 95% CI (console table, ``aggregate``).
SWEEP_METRICS: tuple[str, ...] = (
    "final_clock",
    "clock_rate",
    "final_queue",
    "max_queue",
    "max_jump",
    "dropped",
)
assert set(SWEEP_METRICS) <= set(SUMMARY_COLUMNS)

#: How many of :data:`SUMMARY_COLUMNS` docs/spec.md (the log schema) requires of every summary.csv.
SUMMARY_REQUIRED = 14

#: pandas dtypes of the summary columns.
SUMMARY_DTYPES: dict[str, str] = {
    "experiment": "int64",
    "seed": "int64",
    "machine": "int64",
    "rate": "float64",
    "p_send": "float64",
    "ticks": "int64",
    "n_internal": "int64",
    "n_send": "int64",
    "n_receive": "int64",
    "final_clock": "int64",
    "final_queue": "int64",
    "max_queue": "int64",
    "mean_jump": "float64",
    "max_jump": "int64",
    "name": "string",
    "duration": "float64",
    "clock_rate": "float64",
    "messages_sent": "int64",
    "drift_end": "int64",
    "dropped": "int64",
    "dropped_crash": "int64",
    "dropped_partition": "int64",
    "dropped_loss": "int64",
}
assert tuple(SUMMARY_DTYPES) == SUMMARY_COLUMNS
