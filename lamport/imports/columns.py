"""A source log's events as columns: what :func:`lamport.imports.build.build_run` works on.

Parsers that read line by line make :class:`~lamport.imports.records.Record` objects;
the delimited reader of :mod:`lamport.imports.auto` makes columns directly, so a
million-line CSV never becomes a million Python objects before it is a run.
:meth:`Columns.from_records` joins the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from lamport.core import EVENT_KINDS, INTERNAL, RECEIVE, SEND
from lamport.imports.records import Record, SourceLog

__all__ = ["KIND_CODE", "KIND_NAME", "Columns", "table_of"]

#: Event kinds as small integers in :attr:`Columns.kind`, and back: the three of the
#: protocol first, then the fault rows a lamport run's own logs may hold (CRASH, ...).
KIND_NAME = (
    INTERNAL,
    SEND,
    RECEIVE,
    *(k for k in EVENT_KINDS if k not in (INTERNAL, SEND, RECEIVE)),
)
KIND_CODE = {name: code for code, name in enumerate(KIND_NAME)}
INTERNAL_CODE, SEND_CODE, RECEIVE_CODE = 0, 1, 2


@dataclass
class Columns:
    """One source log's events, one array per field, in file order.

    ``time`` is NaN where a line gave none; ``queue`` and ``msg_clock`` hold 0 where
    ``has_queue`` / ``has_msg_clock`` are False. ``to`` holds tuples of recipient names
    (``("*",)`` for every other machine) or None; ``sender``, ``msg_id`` and ``machine``
    strings or None.
    """

    line: np.ndarray
    kind: np.ndarray
    clock: np.ndarray
    time: np.ndarray
    queue: np.ndarray
    has_queue: np.ndarray
    msg_clock: np.ndarray
    has_msg_clock: np.ndarray
    to: np.ndarray
    sender: np.ndarray
    msg_id: np.ndarray
    machine: np.ndarray

    def __len__(self) -> int:
        return len(self.line)

    def take(self, index: np.ndarray) -> Columns:
        """The events at ``index`` (positions or a boolean mask), in that order."""
        return Columns(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @classmethod
    def empty(cls) -> Columns:
        return cls.from_records([])

    @classmethod
    def from_records(cls, records: Sequence[Record]) -> Columns:
        def objects(values: list[object]) -> np.ndarray:
            out = np.empty(len(values), dtype=object)
            out[:] = values
            return out

        return cls(
            line=np.array([r.line for r in records], dtype=np.int64),
            kind=np.array([KIND_CODE[r.kind] for r in records], dtype=np.int8),
            clock=np.array([r.clock for r in records], dtype=np.int64),
            time=np.array(
                [np.nan if r.time is None else r.time for r in records], dtype=np.float64
            ),
            queue=np.array([r.queue or 0 for r in records], dtype=np.int64),
            has_queue=np.array([r.queue is not None for r in records], dtype=bool),
            msg_clock=np.array([r.msg_clock or 0 for r in records], dtype=np.int64),
            has_msg_clock=np.array([r.msg_clock is not None for r in records], dtype=bool),
            to=objects([r.to for r in records]),
            sender=objects([r.sender for r in records]),
            msg_id=objects([r.msg_id for r in records]),
            machine=objects([r.machine for r in records]),
        )

    @classmethod
    def concat(cls, parts: Sequence[Columns]) -> Columns:
        if not parts:
            return cls.empty()
        return cls(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)}
        )


def table_of(source: SourceLog) -> Columns:
    """A parsed log's events as columns, whichever way its parser kept them."""
    return source.columns if source.columns is not None else Columns.from_records(source.records)
