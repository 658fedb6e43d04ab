"""What a parser makes of another implementation's log: records, before they are a run.

A parser (the automatic one, a recipe, ShiViz) turns each source file into a
:class:`SourceLog`: one :class:`Record` per event line, in file order, with
whatever the line said and None where it said nothing, plus what the file's
other lines said (a rate, a send probability) and which lines did not parse.
:mod:`lamport.imports.build` turns the source logs into a run directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lamport.imports.columns import Columns

#: A send's recipient list that means "every other machine" (broadcast, both, all).
EVERYONE = "*"

#: The largest clock a log may hold (docs/spec.md: non-negative integers below 2^63).
CLOCK_LIMIT = 2**63


@dataclass(slots=True)
class Record:
    """One event line of a source log.

    ``line`` is its 1-based line number in the source file; ``time`` is seconds
    on any fixed origin (Unix seconds, seconds of the day, seconds since start);
    ``to`` holds the recipients' names as the log writes them (``("*",)`` for
    every other machine); ``sender`` the sender's name; ``machine`` the logging
    machine's name, if the line says it.
    """

    line: int
    kind: str
    clock: int
    time: float | None = None
    queue: int | None = None
    to: tuple[str, ...] | None = None
    sender: str | None = None
    msg_clock: int | None = None
    msg_id: str | None = None
    machine: str | None = None


@dataclass
class SourceLog:
    """One source file as a parser read it."""

    path: Path
    format: str
    records: list[Record] = field(default_factory=list)
    #: Lines that looked like events but did not parse: (line number, why).
    bad: list[tuple[int, str]] = field(default_factory=list)
    #: Lines passed over on purpose (blank, header, start-up messages).
    skipped: int = 0
    #: Lines that held metadata.
    meta_lines: int = 0
    rate: float | None = None
    p_send: float | None = None
    #: The machine's own name, if the file says it (a header, or every line's prefix).
    name: str | None = None
    #: Two SEND lines of one event (one line per recipient) merged into one record.
    merged: int = 0
    #: Lines of a shape that never carries a clock, by shape (digits as N): skipped.
    clockless: dict[str, int] = field(default_factory=dict)
    #: Their line numbers: an event may hide there, so no increment across them is checked.
    skipped_lines: list[int] = field(default_factory=list)
    #: The events as columns (:mod:`lamport.imports.columns`), when a parser made them
    #: so (the delimited reader); else they are :attr:`records`.
    columns: Columns | None = None

    @property
    def events(self) -> int:
        return len(self.columns) if self.columns is not None else len(self.records)

    @property
    def lines(self) -> int:
        return (
            self.events
            + len(self.bad)
            + self.skipped
            + self.meta_lines
            + sum(self.clockless.values())
        )
