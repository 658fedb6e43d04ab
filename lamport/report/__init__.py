"""Reports of a run or a sweep: ``report.md`` and a self-contained ``report.html``.

:func:`write_report` reads a run directory (either backend) or a sweep output
directory, draws its figures into ``<dir>/figures/`` and writes both reports
beside them: the configuration, the summary tables, the figures, the
queueing theory's predictions next to what was observed, and a few sentences
that answer the lab's questions. ``python -m lamport.report DIR`` is the CLI.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lamport.errors import LogError
from lamport.validate import is_integer

__all__ = ["FIGURES_DIR", "REPORT_HTML", "REPORT_MD", "build_report", "write_report"]

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
FIGURES_DIR = "figures"


def write_report(path: str | Path, spacetime_seconds: float | None = None) -> Path:
    """Write ``report.md``, ``report.html`` and ``figures/*.png`` into a run or sweep directory.

    Return the path of ``report.md`` (``report.html`` sits beside it). A grid
    directory (:mod:`lamport.des.grid`) gets its report in ``_report/``. Raise
    LogError, with a one-line message naming the file and the problem, if the
    directory is neither a run nor a sweep, a file is missing or malformed, a
    log breaks an invariant of docs/spec.md, or the report cannot be written.
    """
    from lamport.report.document import to_html, to_markdown

    path = Path(path)
    if (path / "_grid.json").is_file():  # lamport.des.grid.GRID_JSON: a parameter grid
        from lamport.report.grid import write_grid_report

        return write_grid_report(path)
    document = build_report(path, spacetime_seconds)
    md, page = path / REPORT_MD, path / REPORT_HTML
    try:
        md.write_text(to_markdown(document, path), encoding="utf-8")
        page.write_text(to_html(document), encoding="utf-8")
    except OSError as exc:
        raise LogError(f"{exc.filename or path}: cannot write report ({exc.strerror})") from None
    return md


def build_report(path: str | Path, spacetime_seconds: float | None = None) -> Any:
    """Load the directory, draw its figures and return the report as a Document."""
    from lamport.analysis import load
    from lamport.result import RunResult

    path = Path(path)
    loaded = load(path)
    try:
        if isinstance(loaded, RunResult):
            from lamport.report.run import run_document

            return run_document(loaded, path / FIGURES_DIR, spacetime_seconds)
        from lamport.report.sweep import sweep_document

        return sweep_document(loaded, path / FIGURES_DIR)
    except OSError as exc:
        raise LogError(f"{exc.filename or path}: cannot write figures ({exc.strerror})") from None


# Formatting shared by the run and sweep reports.


def num(value: Any, digits: int = 2) -> str:
    """A cell: integers as they are, floats to ``digits`` places, NaN as ``n/a``."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    value = float(value)
    if math.isnan(value):
        return "n/a"
    return f"{value:.{digits}f}"


def pm(mean: float, half: float, digits: int = 2) -> str:
    """``mean ± half`` (the 95% CI half-width), or the mean alone when the CI is undefined."""
    if math.isnan(half):
        return num(mean, digits)
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def signed(value: float, digits: int = 2) -> str:
    """A signed number, with no sign on a value that rounds to zero."""
    if math.isnan(value):
        return "n/a"
    text = f"{value:+.{digits}f}"
    return text[1:] if float(text) == 0 else text


def config_rows(metadata: Mapping[str, Any], skip: Sequence[str] = ()) -> list[list[str]]:
    """run.json or sweep.json as (key, value) rows, lists joined, the start epoch as a date."""
    rows = []
    for key, value in metadata.items():
        if key in skip:
            continue
        if isinstance(value, list):
            text = _list_text(value)
        elif isinstance(value, dict):
            text = ", ".join(f"{k} {v}" for k, v in value.items())
        elif value is None:
            text = "each experiment's own" if key == "duration" else "none"
        elif key in ("start_epoch", "started") and isinstance(value, int | float) and value > 0:
            when = datetime.fromtimestamp(value, tz=UTC).isoformat(timespec="seconds")
            text = f"{value} ({when})"
        else:
            text = str(value)
        rows.append([key, text])
    return rows


def _list_text(values: list[Any]) -> str:
    """A list for the config table; a long run of consecutive integers as ``lo..hi (n)``."""
    ints = all(is_integer(v) for v in values)
    if ints and len(values) > 5 and values == list(range(values[0], values[0] + len(values))):
        return f"{values[0]}..{values[-1]} ({len(values)})"
    return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)
