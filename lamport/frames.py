"""Event logs as pandas DataFrames, with the same dtypes from every backend."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

import pandas as pd

from lamport.core import COLUMNS, Event

#: pandas dtypes of the log schema; ``msg_clock`` is a nullable integer.
DTYPES = {
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


def events_frame(logs: Sequence[Sequence[Event]]) -> pd.DataFrame:
    """All machines' events in one frame, ordered by model time, then machine."""
    frame = pd.DataFrame.from_records(list(chain.from_iterable(logs)), columns=list(COLUMNS))
    frame = frame.astype(DTYPES)
    return frame.sort_values(["t", "machine", "tick"], kind="stable").reset_index(drop=True)


def read_log_frame(path: str) -> pd.DataFrame:
    """One machine log read straight into the schema's dtypes (empty strings stay empty)."""
    frame = pd.read_csv(
        path,
        dtype={"peer": "string", "msg_id": "string", "event": "string"},
        keep_default_na=False,
        na_values={"msg_clock": [""]},
    )
    return frame.astype(DTYPES)
