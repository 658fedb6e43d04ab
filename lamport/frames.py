"""Event logs as pandas DataFrames, with the same dtypes from every backend."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

import pandas as pd

from lamport.core import Event
from lamport.schema import COLUMNS, DTYPES, header_kind, log_dtypes


def events_frame(logs: Sequence[Sequence[Event]]) -> pd.DataFrame:
    """All machines' events in one frame, ordered by model time, then machine; with
    a clock kind's columns (``vc``, ...) when the events carry them."""
    records = list(chain.from_iterable(logs))
    # a clock kind's records have its columns as more fields (Event's own: none more)
    fields = getattr(type(records[0]), "_fields", COLUMNS) if records else COLUMNS
    dtypes = log_dtypes(header_kind(fields)) if len(fields) > len(COLUMNS) else DTYPES
    columns = tuple(dtypes)
    frame = pd.DataFrame.from_records(records, columns=list(columns))
    if frame["queue"].isna().any():  # an imported run whose source did not log every queue
        dtypes = {**dtypes, "queue": "Int64"}
    frame = frame.astype(dtypes)
    return frame.sort_values(["t", "machine", "tick"], kind="stable").reset_index(drop=True)


def read_log_frame(path: str) -> pd.DataFrame:
    """One machine log read straight into the schema's dtypes (empty strings stay empty)."""
    frame = pd.read_csv(
        path,
        dtype={"peer": "string", "msg_id": "string", "event": "string", "vc": "string"},
        keep_default_na=False,
        na_values={"msg_clock": [""]},
    )
    return frame.astype(DTYPES)
