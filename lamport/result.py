"""The result of one run, whichever backend produced it."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamport.config import RunConfig
from lamport.core import Event
from lamport.summary import summarize

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class RunResult:
    """A finished run: its config, every machine's events, what was left queued, and
    the metadata that goes into ``run.json``."""

    config: RunConfig
    logs: list[list[Event]]
    queued_at_end: list[int]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def n_events(self) -> int:
        return sum(len(events) for events in self.logs)

    def summary(self) -> list[dict[str, Any]]:
        """One row per machine, the columns of ``summary.csv``."""
        return summarize(self.metadata, self.logs)

    @cached_property
    def events(self) -> pd.DataFrame:
        """All events of all machines as a DataFrame, in the log schema's columns."""
        from lamport.frames import events_frame

        return events_frame(self.logs)

    def write(self, out: Path) -> Path:
        """Write the run directory (``machine-<id>.csv`` per machine and ``run.json``)."""
        from lamport.logs import write_run

        return write_run(out, self.metadata, self.logs)
