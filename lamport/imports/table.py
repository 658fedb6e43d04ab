"""Delimited rows, read a column at a time.

Once :mod:`lamport.imports.auto` has found a log's separator and what each
column is (on a sample of its rows), every row is read here as columns with
pandas: kind words and peer cells through their few distinct values, clocks,
queues and times converted a column at a time. A million-line CSV takes about
a second this way, against several row by row. Each row that does not convert
is named with its line and the reason, as the row-by-row reader would.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from lamport.imports.columns import KIND_CODE, SEND_CODE, Columns
from lamport.imports.records import CLOCK_LIMIT, EVERYONE

__all__ = ["read_rows"]

_ASCII_INT = r"-?[0-9]+"


def read_rows(
    lines: Sequence[str],
    numbers: Sequence[int],
    delimiter: str | None,
    width: int,
    roles: dict[str, int],
    kind_of_cell: Callable[[str], tuple[str | None, bool]],
    peer_cell: Callable[[str], tuple[tuple[str, ...], bool]],
    parse_time: Callable[[str], tuple[float, str] | None],
    epoch: Callable[[float], float | None],
    peers_in: Callable[[str], tuple[list[str] | None, str | None]],
    split_words: Callable[[str], list[str]],
) -> tuple[Columns, list[tuple[int, str]], set[str]]:
    """The rows ``lines`` (their line numbers ``numbers``) as columns: the events, the
    rows that did not convert (line, why), and the kinds of time found.

    ``peers_in`` reads the peers a kind cell names itself (``SEND TO B``), for logs
    with no column of their own for them; ``split_words`` splits a row when there is no
    ``delimiter`` (words separated by spaces)."""
    import pandas as pd

    if not lines:
        return Columns.empty(), [], set()
    if delimiter is None:
        frame = pd.DataFrame([split_words(line) for line in lines], dtype=object)
    else:
        frame = pd.read_csv(
            io.StringIO("\n".join(lines)),
            sep=delimiter,
            header=None,
            names=list(range(width)),
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            engine="c",
            quoting=csv.QUOTE_MINIMAL,
            skip_blank_lines=False,
        )
    if len(frame) != len(lines):  # a quoted cell across lines: leave nothing half-read
        raise ValueError("rows and lines differ")
    size = len(frame)
    numbers_arr = np.asarray(numbers, dtype=np.int64)
    bad = np.zeros(size, dtype=bool)
    why = np.full(size, "", dtype=object)

    spaced = any(" " in line or "\t" in line for line in lines) if delimiter else False

    def column(role: str) -> Any:
        if role not in roles:
            return None
        values = frame[roles[role]].astype(object)
        return values.str.strip() if spaced else values

    def fail(mask: np.ndarray, reason: Callable[[int], str]) -> None:
        """Mark the rows of ``mask`` not yet refused, each with ``reason(row)``."""
        for k in np.flatnonzero(mask & ~bad).tolist():
            why[k] = reason(k)
            bad[k] = True

    # kind: through the column's few distinct words
    kind_cells = column("kind")
    distinct = {cell: kind_of_cell(cell) for cell in kind_cells.unique()}
    kind_name = kind_cells.map(lambda cell: distinct[cell][0]).to_numpy(dtype=object)
    everyone = kind_cells.map(lambda cell: distinct[cell][1]).to_numpy(dtype=bool)
    no_kind = kind_name == None  # noqa: E711 - elementwise on an object array
    fail(no_kind, lambda k: f"no event kind in {kind_cells.iloc[k]!r}")
    kind = np.array([KIND_CODE.get(k, 0) for k in kind_name.tolist()], dtype=np.int8)

    def integers(role: str, what: str, required: bool) -> tuple[np.ndarray, np.ndarray]:
        cells = column(role)
        if cells is None:
            return np.zeros(size, dtype=np.int64), np.zeros(size, dtype=bool)
        empty = (cells == "").to_numpy()
        values = np.zeros(size, dtype=np.int64)
        given = cells[~empty]
        converted = pd.to_numeric(given, errors="coerce")
        if converted.dtype == np.int64:  # every given cell an integer: the fast path
            values[~empty] = converted.to_numpy()
            present = ~empty
            negative = present & (values < 0)
            fail(negative, lambda k: f"{what} {values[k]} is outside 0..2^63-1")
            if required:
                fail(empty, lambda k: f"{what} '' is not an integer")
            return values, present & ~negative
        shaped = cells.str.fullmatch(_ASCII_INT).to_numpy(dtype=bool)
        short = (cells.str.len() <= 18).to_numpy()
        fast = shaped & short
        values[fast] = cells[fast].astype(np.int64).to_numpy()
        present = shaped.copy()
        for k in np.flatnonzero(shaped & ~short).tolist():  # 19 digits or more: exactly
            value = int(cells.iloc[k])
            if 0 <= value < CLOCK_LIMIT:
                values[k] = value
            else:
                present[k] = False
                message = f"{what} {value} is outside 0..2^63-1"
                fail(_one(size, k), _saying(message))
        malformed = ~shaped & (~empty | required)
        fail(malformed, lambda k: f"{what} {cells.iloc[k]!r} is not an integer")
        negative = present & (values < 0)
        fail(negative, lambda k: f"{what} {values[k]} is outside 0..2^63-1")
        return values, present & ~negative

    clock, _ = integers("clock", "clock", required=True)
    msg_clock, has_msg_clock = integers("msg_clock", "message clock", required=False)
    queue, has_queue = integers("queue", "queue", required=False)

    # time: numbers (Unix seconds or relative), else date-times, else times of day
    time = np.full(size, np.nan)
    time_kinds: set[str] = set()
    cells = column("time")
    if cells is not None:
        numeric = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=float)
        is_number = ~np.isnan(numeric) & (cells != "").to_numpy()
        if is_number.any():
            found = numeric[is_number]
            unix = np.array([epoch(x) for x in found.tolist()], dtype=object)
            is_unix = unix != None  # noqa: E711
            found[is_unix] = unix[is_unix].astype(float)
            time[is_number] = found
            time_kinds |= {"unix"} if is_unix.any() else set()
            time_kinds |= {"relative"} if (~is_unix).any() else set()
        rest = ~is_number & (cells != "").to_numpy()
        if rest.any():
            dotted = cells[rest].str.replace(",", ".", regex=False)
            stamps = pd.to_datetime(dotted, errors="coerce", format="ISO8601", utc=True)
            seconds = (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
            if np.isnan(seconds).all():
                span = pd.to_timedelta(dotted, errors="coerce").dt.total_seconds().to_numpy()
                if not np.isnan(span).all():
                    seconds, kind_found = span, "day"
                else:
                    kind_found = "unix"
            else:
                kind_found = "unix"
            index = np.flatnonzero(rest)
            converted = ~np.isnan(seconds)
            time[index[converted]] = seconds[converted]
            if converted.any():
                time_kinds.add(kind_found)
            texts = cells[rest].to_numpy(dtype=object)
            for k in np.flatnonzero(~converted).tolist():  # by the row-by-row rules
                parsed = parse_time(texts[k])
                if parsed is None:
                    message = f"time {texts[k]!r} is neither a date-time nor a number"
                    fail(_one(size, index[k]), _saying(message))
                    continue
                time[index[k]], kind_here = parsed
                time_kinds.add(kind_here)

    # peers: through the few distinct cells
    send = kind == SEND_CODE
    to = np.full(size, None, dtype=object)
    sender = np.full(size, None, dtype=object)
    to_cells = column("to")
    peer_cells = column("peer")
    from_cells = column("from")
    target = to_cells if to_cells is not None else peer_cells
    if target is not None:
        cells = target.to_numpy(dtype=object)
        parsed_peers = {cell: peer_cell(cell) for cell in set(cells.tolist()) if cell}
        for k in np.flatnonzero(send & (cells != "")).tolist():
            names, all_others = parsed_peers[cells[k]]
            to[k] = (EVERYONE,) if all_others else (names or None)
    for k in np.flatnonzero(send & everyone).tolist():
        to[k] = (EVERYONE,)
    source = from_cells if from_cells is not None else peer_cells
    if target is None or source is None:  # the kind cell may name the peer: "SEND TO B"
        named = {cell: peers_in(cell) for cell in distinct}
        for k in np.flatnonzero(send & (to == None)).tolist():  # noqa: E711
            in_cell = named[kind_cells.iloc[k]][0]
            if in_cell:
                to[k] = (EVERYONE,) if EVERYONE in in_cell else tuple(in_cell)
        if source is None:
            receive = kind == KIND_CODE["RECEIVE"]
            for k in np.flatnonzero(receive).tolist():
                sender[k] = named[kind_cells.iloc[k]][1]
    if source is not None:
        receive = kind == KIND_CODE["RECEIVE"]
        cells = source.to_numpy(dtype=object)
        first = {cell: (peer_cell(cell)[0] or (None,))[0] for cell in set(cells.tolist()) if cell}
        for k in np.flatnonzero(receive & (cells != "")).tolist():
            sender[k] = first[cells[k]]

    def text(role: str) -> np.ndarray:
        cells = column(role)
        out = np.full(size, None, dtype=object)
        if cells is not None:
            values = cells.to_numpy(dtype=object)
            given = values != ""
            out[given] = values[given]
        return out

    keep = ~bad
    table = Columns(
        line=numbers_arr,
        kind=kind,
        clock=clock,
        time=time,
        queue=queue,
        has_queue=has_queue,
        msg_clock=msg_clock,
        has_msg_clock=has_msg_clock,
        to=to,
        sender=sender,
        msg_id=text("msg_id"),
        machine=text("machine"),
    ).take(keep)
    rejected = [(int(n), str(w)) for n, w in zip(numbers_arr[bad], why[bad], strict=True)]
    return table, rejected, time_kinds


def _saying(message: str) -> Callable[[int], str]:
    """The same reason for any row."""
    return lambda _: message


def _one(size: int, k: int) -> np.ndarray:
    mask = np.zeros(size, dtype=bool)
    mask[k] = True
    return mask
