"""A run, whichever backend produced it and whether it is in memory or read from disk.

:class:`RunResult` is the one type for "a run": ``lamport.des.simulate``,
the real-time backend and :func:`lamport.analysis.load_run` all return one,
and every analysis, plotting and report function takes one (or the path of
a run directory, which it loads).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamport.config import RunConfig
from lamport.core import TICK_KINDS, Event
from lamport.faults import Drop
from lamport.summary import summarize

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RunResult", "describe"]


def describe(metadata: dict[str, Any]) -> str:
    """A figure or report title: ``exp 4 big-differences — des — seed 1``; for another
    implementation's logs, ``imported logs: a.log, b.log, c.log``."""
    source = metadata.get("import")
    if isinstance(source, dict):
        names = [Path(str(f.get("path", "?"))).name for f in source.get("files") or []]
        shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
        return f"imported logs: {shown}"
    exp = metadata.get("experiment")
    name = metadata.get("name") or "custom"
    head = f"exp {exp} {name}" if exp else name
    return f"{head} — {metadata.get('backend', '?')} — seed {metadata.get('seed', '?')}"


@dataclass
class RunResult:
    """A finished run: its config, every machine's events, what was left queued, and
    the metadata that goes into ``run.json``.

    ``logs[i]`` holds machine ``i``'s events in its order; ``queued_at_end[i]``
    the messages still waiting for it (in its queue or in flight) when the run
    ended. ``dropped`` lists the messages a fault plan lost (the rows of
    ``network.csv``, :class:`lamport.faults.Drop`). ``path`` is the run directory
    the run was read from or last written to, None for a run only in memory.
    """

    config: RunConfig
    logs: list[list[Event]]
    queued_at_end: list[int]
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = field(default=None, kw_only=True)
    dropped: list[Drop] = field(default_factory=list, kw_only=True)

    @property
    def n_machines(self) -> int:
        return len(self.logs)

    @property
    def n_events(self) -> int:
        return sum(len(events) for events in self.logs)

    @property
    def rates(self) -> list[float]:
        """Each machine's tick rate, ticks per model second."""
        return [float(r) for r in self.config.rates]

    @property
    def backend(self) -> str:
        return str(self.metadata.get("backend", "?"))

    @property
    def duration(self) -> float:
        """Model seconds the run covered: ``stopped_at`` if it was interrupted, else its
        configured duration."""
        if self.metadata.get("interrupted") and self.metadata.get("stopped_at") is not None:
            return float(self.metadata["stopped_at"])
        return float(self.config.duration)

    @property
    def title(self) -> str:
        return describe(self.metadata)

    def summary(self) -> list[dict[str, Any]]:
        """One row per machine, the columns of ``summary.csv``."""
        return summarize(self.metadata, self.logs, self.dropped)

    @cached_property
    def events(self) -> pd.DataFrame:
        """All ticks of all machines as a DataFrame, in the log schema's columns and
        dtypes, ordered by model time ``t``, then machine (built on first use).

        A fault's CRASH and RESTART rows are left out (they are no ticks, and
        their jump may be negative): the logs and ``network.csv`` keep them."""
        from lamport.frames import events_frame

        logs = self.logs
        if self.config.faults:
            logs = [[e for e in log if e.event in TICK_KINDS] for log in logs]
        return events_frame(logs)

    def write(self, out: str | Path) -> Path:
        """Write the run directory (``machine-<id>.csv`` per machine and ``run.json``; under
        a fault plan ``network.csv`` too)."""
        from lamport.logs import write_run

        drops = self.dropped if self.config.faults else None
        self.path = write_run(Path(out), self.metadata, self.logs, drops)
        return self.path

    def __repr__(self) -> str:
        where = f", path={str(self.path)!r}" if self.path is not None else ""
        return (
            f"<{type(self).__name__} {self.title}: {self.n_machines} machines, "
            f"{self.n_events} events{where}>"
        )
