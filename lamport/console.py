"""What lamport prints on a terminal: tables, the progress bar and the live display.

Every table is a :class:`FittedTable`, which never truncates a value whatever
the width (it splits into several tables, or stacks rows, instead). The
builders here turn summary rows (:mod:`lamport.summary`) and a sweep's
aggregated rows (:func:`lamport.des.sweep.aggregate`) into tables; the CLIs
print them with :func:`console_out`, as wide as the terminal, ``COLUMNS``, or
:data:`FILE_WIDTH` for a file or a pipe.

rich is imported only when something is rendered, so importing this module
costs nothing.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from lamport.schema import SWEEP_METRICS as SWEEP_KEYS

# -- the console ---------------------------------------------------------------------------

#: Table width when stdout is a file or a pipe and COLUMNS is not set.
FILE_WIDTH = 120


def console_width() -> int | None:
    """The width tables are laid out for: the terminal's; else ``COLUMNS``; else 120.

    None means a terminal on stdout, which rich measures itself (it also reads ``COLUMNS``).
    """
    if sys.stdout.isatty():
        return None
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return FILE_WIDTH


def console_out() -> Any:
    """A rich Console on stdout, as wide as :func:`console_width` says."""
    from rich.console import Console

    return Console(width=console_width())


# -- tables that never truncate ------------------------------------------------------------


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


# -- one run -------------------------------------------------------------------------------

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
    ("drift", "drift_end", "{}"),
    ("max\nq", "max_queue", "{}"),
    ("end\nq", "final_queue", "{}"),
    ("jump\nmean", "mean_jump", "{:.2f}"),
    ("jump\nmax", "max_jump", "{}"),
)

#: The run table's column for a run under a fault plan: messages lost on their way in.
LOST_COLUMN = ("lost", "dropped", "{}")

RUN_CAPTION = (
    "m: machine; int/send/recv: events by kind; clock: final logical clock; "
    "drift: the highest final clock minus this machine's; q: messages queued; "
    "jump: clock increase per event"
)
LOST_CAPTION = "; lost: messages to the machine that were lost (network.csv)"


def run_table(rows: Sequence[Mapping[str, Any]], title: str, lost: bool = False) -> FittedTable:
    """The per-machine summary of one run (rows of :func:`lamport.summary.summarize`);
    with ``lost`` (a run under a fault plan) a column of the messages each machine lost."""
    table = (*RUN_TABLE, LOST_COLUMN) if lost else RUN_TABLE
    cells = [[fmt.format(row[key]) for _, key, fmt in table] for row in rows]
    columns = [Column(header) for header, _, _ in table]
    caption = RUN_CAPTION + (LOST_CAPTION if lost else "")
    return FittedTable(columns, cells, keys=1, title=title, caption=caption)


def run_title(metadata: Mapping[str, Any]) -> str:
    """One line naming a run: backend, experiment or name, seed, duration, p_send."""
    name = metadata.get("name", "custom")
    exp = metadata.get("experiment")
    head = f"experiment {exp} ({name})" if exp else name
    return (
        f"{metadata['backend']}: {head}, seed {metadata['seed']}, "
        f"{metadata['duration']:g} s, p_send {metadata['p_send']:g}"
    )


def print_run_summary(
    metadata: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    out: Path | None,
    seconds: float,
) -> None:
    """Print the per-machine table of a finished run and where its logs are."""
    console = console_out()
    lost = bool(metadata.get("faults")) or any(row.get("dropped") for row in rows)
    console.print(run_table(rows, run_title(metadata), lost))
    if out is not None:
        console.print(f"logs: {out}  ({seconds * 1000:.0f} ms)")


# -- a sweep -------------------------------------------------------------------------------

#: Headers of the sweep table's metric columns, by summary column.
SWEEP_HEADERS = {
    "final_clock": "final clock",
    "clock_rate": "clock/s",
    "final_queue": "final queue",
    "max_queue": "max queue",
    "max_jump": "max jump",
    "dropped": "lost",
}

#: Columns of the sweep table: (header, key), in :data:`lamport.schema.SWEEP_METRICS` order.
SWEEP_METRICS = tuple((SWEEP_HEADERS[key], key) for key in SWEEP_KEYS)

SWEEP_CAPTION = (
    "mean ± half-width of its 95% CI over n machine-runs; an experiment that draws its "
    "rates per seed (m = *) is grouped by rate, not by machine"
)
#: The end of the sweep table's caption when it has the lost column (a fault plan lost some).
SWEEP_LOST_CAPTION = "; lost: messages to the machine that were lost (network.csv)"


def sweep_table(aggregated: Sequence[Mapping[str, Any]], title: str) -> FittedTable:
    """The sweep's table (mean ± 95% CI), one row per group of
    :func:`lamport.des.sweep.aggregate`: per machine, or per rate (``machine`` None)."""
    # the lost messages only when a fault plan lost some
    metrics = [
        (header, key)
        for header, key in SWEEP_METRICS
        if key != "dropped" or any(row.get(key) for row in aggregated)
    ]
    columns = [Column("experiment", "left"), Column("m"), Column("rate"), Column("n")]
    columns += [Column(header) for header, _ in metrics]
    rows = []
    sections = []
    line = 0
    for index, row in enumerate(aggregated):
        line = line + 1 if index and aggregated[index - 1]["experiment"] == row["experiment"] else 0
        label = {0: f"{row['experiment']} {row['name']}", 1: f"p_send {row['p_send']:g}"}
        machine = "*" if row["machine"] is None else str(row["machine"])
        cells = [label.get(line, ""), machine, f"{row['rate']:g}", str(row["n"])]
        for _, key in metrics:
            cells.append(sweep_cell(key, row[key], row[f"{key}_ci"]))
        rows.append(cells)
        following = aggregated[index + 1] if index + 1 < len(aggregated) else None
        sections.append(following is None or following["experiment"] != row["experiment"])
    lost = any(key == "dropped" for _, key in metrics)
    caption = SWEEP_CAPTION + (SWEEP_LOST_CAPTION if lost else "")
    return FittedTable(columns, rows, keys=2, title=title, caption=caption, sections=sections)


def sweep_cell(key: str, mean: float, half: float) -> str:
    """A sweep table cell: the mean and its CI half-width, to 2 digits below 10, else 1."""
    digits = 2 if key == "clock_rate" or abs(mean) < 10 else 1
    if math.isnan(half):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f}±{half:.{digits}f}"


# -- the catalogue -------------------------------------------------------------------------


class Listed(Protocol):
    """What the catalogue table shows of an experiment (:class:`lamport.config.Experiment`)."""

    @property
    def number(self) -> int | None: ...
    @property
    def name(self) -> str: ...
    @property
    def rates_text(self) -> str: ...
    @property
    def p_send(self) -> float: ...
    @property
    def duration(self) -> float: ...
    @property
    def question(self) -> str: ...


def catalogue_table(experiments: Sequence[Listed]) -> FittedTable:
    """One row per experiment: number, name, tick rates, p_send, duration and question."""
    columns = [Column("exp"), Column("name", "left"), Column("rates (tick/s)", "left")]
    columns += [Column("p_send"), Column("s"), Column("question", "left")]
    rows = [
        [
            "" if e.number is None else str(e.number),
            e.name,
            e.rates_text,
            f"{e.p_send:g}",
            f"{e.duration:g}",
            e.question,
        ]
        for e in experiments
    ]
    return FittedTable(
        columns,
        rows,
        keys=2,
        title="the catalogue of experiments",
        caption="rates: ticks per second, one per machine; p_send: probability that a machine "
        "with an empty queue sends; s: model seconds of a run",
    )


# -- progress ------------------------------------------------------------------------------


@contextmanager
def progress_bar(
    description: str, show: bool | None = None
) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr while the block runs; yields ``update(done, total)``.

    Shown only if ``show`` (default: stderr is a terminal); otherwise yields None,
    which library functions take as "no progress reports". The bar disappears
    when the block ends.
    """
    if show is None:
        show = sys.stderr.isatty()
    if not show:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        "eta",
        TimeRemainingColumn(),
        transient=True,
        console=Console(stderr=True),
    )
    task = bar.add_task(description, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    with bar:
        yield update


class MachineState(Protocol):
    """What the live display shows of a machine (the real-time backend's progress)."""

    @property
    def machine(self) -> int: ...
    @property
    def rate(self) -> float: ...
    @property
    def tick(self) -> int: ...
    @property
    def ticks(self) -> int: ...
    @property
    def clock(self) -> int: ...
    @property
    def queue(self) -> int: ...


#: Headers of the live display, one line per machine.
LIVE_HEADERS = ("machine", "rate", "tick", "clock", "queue")


def live_table(states: Sequence[MachineState], title: str) -> FittedTable:
    """One line per machine: its rate, tick of ticks, clock and queue."""
    rows = [
        [str(s.machine), f"{s.rate:g}", f"{s.tick}/{s.ticks}", str(s.clock), str(s.queue)]
        for s in states
    ]
    columns = [Column(header) for header in LIVE_HEADERS]
    return FittedTable(columns, rows, title=title, boxed=False)


def live_display(
    title: str = "real time (Ctrl-C stops)",
) -> tuple[Callable[[Sequence[MachineState]], None], Callable[[], None]]:
    """A live table on the terminal, updated in place; and a function that ends it.

    ``update(states)`` redraws the table from the machines' states.
    """
    from rich.live import Live

    display = Live(transient=True, auto_refresh=False)
    display.start()

    def update(states: Sequence[MachineState]) -> None:
        display.update(live_table(states, title), refresh=True)

    return update, display.stop
