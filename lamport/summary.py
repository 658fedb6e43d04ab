"""Per-machine summaries of a run and the tables the CLIs print.

:func:`summarize` turns a run's events into one row per machine with the
columns of a sweep's ``summary.csv`` (SPEC section 3) plus a few more. It is
plain Python on purpose: a sweep summarizes hundreds of runs per second and
must not pay for pandas.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from lamport.core import INTERNAL, RECEIVE, SEND, Event

#: Columns of summary.csv, SPEC's first, then ours.
SUMMARY_COLUMNS = (
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
)


def run_length(metadata: Mapping[str, Any]) -> float:
    """Model seconds the run actually covered: ``stopped_at`` if it was interrupted."""
    if metadata.get("interrupted") and metadata.get("stopped_at") is not None:
        return float(metadata["stopped_at"])
    return float(metadata["duration"])


def summarize(metadata: Mapping[str, Any], logs: Sequence[Sequence[Event]]) -> list[dict[str, Any]]:
    """One summary row per machine.

    ``final_queue`` is the messages left in the queue when the run ended
    (``queued_at_end`` from the metadata when present, else the queue after the
    machine's last event). ``clock_rate`` is final clock / duration, in clock
    ticks per model second; ``drift_end`` is the highest final clock minus this
    machine's.
    """
    duration = float(run_length(metadata))
    queued = metadata.get("queued_at_end")
    finals = [events[-1].clock if events else 0 for events in logs]
    top = max(finals) if finals else 0
    rows = []
    for machine, events in enumerate(logs):
        counts = {INTERNAL: 0, SEND: 0, RECEIVE: 0}
        max_queue = 0
        max_jump = 0
        messages = 0
        for e in events:
            counts[e.event] = counts.get(e.event, 0) + 1
            if e.queue > max_queue:
                max_queue = e.queue
            if e.jump > max_jump:
                max_jump = e.jump
            if e.event == SEND:
                messages += e.peer.count("+") + 1
        final_clock = finals[machine]
        ticks = len(events)
        final_queue = queued[machine] if queued is not None else (events[-1].queue if events else 0)
        rows.append(
            {
                "experiment": metadata.get("experiment") or 0,
                "seed": metadata.get("seed", 0),
                "machine": machine,
                "rate": metadata["rates"][machine],
                "p_send": metadata["p_send"],
                "ticks": ticks,
                "n_internal": counts[INTERNAL],
                "n_send": counts[SEND],
                "n_receive": counts[RECEIVE],
                "final_clock": final_clock,
                "final_queue": final_queue,
                "max_queue": max(max_queue, final_queue),
                "mean_jump": round(final_clock / ticks, 6) if ticks else 0.0,
                "max_jump": max_jump,
                "name": metadata.get("name", ""),
                "duration": duration,
                "clock_rate": round(final_clock / duration, 6),
                "messages_sent": messages,
                "drift_end": top - final_clock,
            }
        )
    return rows


def t_quantile_975(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom.

    Exact table values for small df, then the Cornish-Fisher expansion around
    the normal quantile, which is within 1e-4 of the exact value from df = 8 up.
    """
    table = {1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764, 5: 2.5706, 6: 2.4469, 7: 2.3646}
    if df in table:
        return table[df]
    z = 1.959963984540054
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    return z + g1 / df + g2 / df**2 + g3 / df**3


def mean_ci(values: Sequence[float]) -> tuple[float, float]:
    """Mean and half-width of its 95% confidence interval (Student's t)."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = statistics.fmean(values)
    if n == 1:
        return mean, math.nan
    return mean, t_quantile_975(n - 1) * statistics.stdev(values) / math.sqrt(n)


#: Columns of the per-machine table printed after one run: (header, key, format).
RUN_TABLE = (
    ("m", "machine", "{}"),
    ("rate", "rate", "{:g}"),
    ("ticks", "ticks", "{}"),
    ("int", "n_internal", "{}"),
    ("send", "n_send", "{}"),
    ("recv", "n_receive", "{}"),
    ("clock", "final_clock", "{}"),
    ("clock\n/s", "clock_rate", "{:.2f}"),
    ("behind", "drift_end", "{}"),
    ("max\nq", "max_queue", "{}"),
    ("end\nq", "final_queue", "{}"),
    ("jump\nmean", "mean_jump", "{:.2f}"),
    ("jump\nmax", "max_jump", "{}"),
)

RUN_CAPTION = (
    "m: machine; int/send/recv: events by kind; clock: final logical clock; "
    "behind: gap to the highest final clock; q: messages queued; jump: clock increase per event"
)


def run_table(rows: Sequence[Mapping[str, Any]], title: str) -> Any:
    """The per-machine summary of one run, a :class:`FittedTable` keyed by machine."""
    cells = [[fmt.format(row[key]) for _, key, fmt in RUN_TABLE] for row in rows]
    columns = [Column(header) for header, _, _ in RUN_TABLE]
    return FittedTable(columns, cells, keys=1, title=title, caption=RUN_CAPTION)


@dataclass(frozen=True)
class Column:
    """A column of a :class:`FittedTable`: its header and how its cells are justified."""

    header: str
    justify: Literal["left", "right"] = "right"


class FittedTable:
    """A table that never truncates a cell, whatever the console width.

    Rendered, it measures the width it needs. If that is more than the
    console has, the columns are split over several tables, each repeating
    the first ``keys`` columns (the row's key, e.g. the machine); if even one
    column beside the keys does not fit, every row is stacked as
    ``header: value`` lines. Table cells never wrap or shrink; only a stacked
    line longer than the whole console folds onto the next line. The title
    and the caption are printed as text that wraps. ``sections[i]`` ends a
    section (a blank line) after row ``i``.
    """

    def __init__(
        self,
        columns: Sequence[Column],
        rows: Sequence[Sequence[str]],
        keys: int = 1,
        title: str | None = None,
        caption: str | None = None,
        sections: Sequence[bool] | None = None,
        boxed: bool = True,
    ) -> None:
        self.columns = list(columns)
        self.rows = [list(row) for row in rows]
        self.keys = keys
        self.title = title
        self.caption = caption
        self.sections = list(sections) if sections is not None else [False] * len(self.rows)
        self.boxed = boxed

    def table(self, indices: Sequence[int]) -> Any:
        """A rich Table of the chosen columns."""
        from rich import box
        from rich.table import Table

        table = Table(
            box=box.SIMPLE_HEAD if self.boxed else None,
            padding=(0, 0, 0, 2),
            show_edge=self.boxed,
        )
        for index in indices:
            column = self.columns[index]
            table.add_column(column.header, justify=column.justify, no_wrap=True)
        for row, end in zip(self.rows, self.sections, strict=True):
            table.add_row(*(row[i] for i in indices), end_section=end)
        return table

    def groups(self, console: Any, width: int) -> list[list[int]] | None:
        """Column indices of each table that fits ``width``; None if one column cannot fit."""
        keys = list(range(self.keys))
        groups: list[list[int]] = []
        current = list(keys)
        for index in range(self.keys, len(self.columns)):
            if self._width(console, [*current, index]) <= width:
                current.append(index)
                continue
            if len(current) == len(keys) or self._width(console, [*keys, index]) > width:
                return None
            groups.append(current)
            current = [*keys, index]
        groups.append(current)
        return self._balanced(console, width, groups)

    def _balanced(self, console: Any, width: int, groups: list[list[int]]) -> list[list[int]]:
        """The same number of tables with the columns spread evenly, if that fits too."""
        rest = list(range(self.keys, len(self.columns)))
        size = -(-len(rest) // len(groups))
        keys = list(range(self.keys))
        even = [keys + rest[start : start + size] for start in range(0, len(rest), size)]
        if len(even) == len(groups) and all(self._width(console, g) <= width for g in even):
            return even
        return groups

    def _width(self, console: Any, indices: Sequence[int]) -> int:
        from rich.measure import Measurement

        options = console.options.update_width(1_000_000)
        return int(Measurement.get(console, options, self.table(indices)).maximum)

    def stacked(self) -> Any:
        """Every row as ``header: value`` lines, one block per row; long lines fold."""
        from rich.console import Group
        from rich.text import Text

        lines = []
        for number, row in enumerate(self.rows):
            if number:
                lines.append(Text(""))
            for column, cell in zip(self.columns, row, strict=True):
                header = " ".join(column.header.split())
                lines.append(Text(f"{header}: {cell}", overflow="fold"))
        return Group(*lines)

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.text import Text

        if self.title:
            yield Text(self.title)
        groups = self.groups(console, options.max_width)
        if groups is None:
            yield self.stacked()
        else:
            for group in groups:
                yield self.table(group)
        if self.caption:
            yield Text(self.caption, style="dim")


#: Columns of the sweep table: (header, key).
SWEEP_METRICS = (
    ("final clock", "final_clock"),
    ("clock/s", "clock_rate"),
    ("final queue", "final_queue"),
    ("max queue", "max_queue"),
    ("max jump", "max_jump"),
)


def aggregate(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per (experiment, machine): the mean and 95% CI half-width of each sweep metric."""
    groups: dict[tuple[int, int], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["experiment"], row["machine"]), []).append(row)
    out = []
    for (exp, machine), members in sorted(groups.items()):
        rates = sorted({m["rate"] for m in members})
        entry: dict[str, Any] = {
            "experiment": exp,
            "name": members[0].get("name", ""),
            "machine": machine,
            "rate": f"{rates[0]:g}" if len(rates) == 1 else f"{rates[0]:g}..{rates[-1]:g}",
            "p_send": members[0]["p_send"],
            "seeds": len(members),
        }
        for _, key in SWEEP_METRICS:
            mean, half = mean_ci([float(m[key]) for m in members])
            entry[key] = mean
            entry[f"{key}_ci"] = half
        out.append(entry)
    return out


def sweep_table(aggregated: Sequence[Mapping[str, Any]], title: str) -> Any:
    """The sweep's per-experiment, per-machine table (mean +- 95% CI), a :class:`FittedTable`."""
    columns = [Column("experiment", "left"), Column("m"), Column("rate")]
    columns += [Column(header) for header, _ in SWEEP_METRICS]
    rows = []
    sections = []
    line = 0
    for index, row in enumerate(aggregated):
        line = line + 1 if index and aggregated[index - 1]["experiment"] == row["experiment"] else 0
        label = {0: f"{row['experiment']} {row['name']}", 1: f"p_send {row['p_send']:g}"}
        cells = [label.get(line, ""), str(row["machine"]), row["rate"]]
        for _, key in SWEEP_METRICS:
            cells.append(sweep_cell(key, row[key], row[f"{key}_ci"]))
        rows.append(cells)
        following = aggregated[index + 1] if index + 1 < len(aggregated) else None
        sections.append(following is None or following["experiment"] != row["experiment"])
    return FittedTable(columns, rows, keys=2, title=title, sections=sections)


def sweep_cell(key: str, mean: float, half: float) -> str:
    """A sweep table cell: the mean and its CI half-width, to 2 digits below 10, else 1."""
    digits = 2 if key == "clock_rate" or abs(mean) < 10 else 1
    if math.isnan(half):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f}±{half:.{digits}f}"
