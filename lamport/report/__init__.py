"""Reports of a run or a sweep: ``report.md`` and a self-contained ``report.html``.

:func:`write_report` reads a run directory (either backend) or a sweep output
directory, draws its figures into ``<dir>/figures/`` and writes both reports
beside them: the configuration, the summary tables, the figures, the
queueing theory's predictions next to what was observed, and a few sentences
that answer the lab's questions. ``python -m lamport.report DIR`` is the CLI.

The report modules only lay out what they are given: the simulations a report
quotes (an imported run against the model, a sweep's runs replayed for causality)
are run here, by :func:`build_report`, through :mod:`lamport.compare` and
:mod:`lamport.des.rerun`, and handed to the builders.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamport.errors import LogError
from lamport.schema import FIGURES_DIR, GRID_JSON, REPORT_HTML, REPORT_MD

if TYPE_CHECKING:
    from lamport.analysis import Sweep
    from lamport.report.causality import Replayed

__all__ = ["build_report", "replay_causality", "write_report"]


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
    if (path / GRID_JSON).is_file():  # a parameter grid
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
    """Load the directory, run the simulations its report quotes, draw its figures and
    return the report as a Document.

    An imported run is compared with the model (:func:`lamport.compare.compare_run`); a
    sweep that kept no events has runs replayed (:func:`replay_causality`).
    """
    from lamport.analysis import load
    from lamport.result import RunResult
    from lamport.schema import IMPORTED

    path = Path(path)
    loaded = load(path)
    if isinstance(loaded, RunResult):
        from lamport.compare import compare_run
        from lamport.report.run import run_document

        comparison = compare_run(loaded) if loaded.metadata.get("backend") == IMPORTED else None
        try:
            return run_document(loaded, path / FIGURES_DIR, spacetime_seconds, comparison)
        except OSError as exc:
            raise LogError(
                f"{exc.filename or path}: cannot write figures ({exc.strerror})"
            ) from None
    from lamport.report.sweep import sweep_document

    replayed = replay_causality(loaded)
    try:
        return sweep_document(loaded, path / FIGURES_DIR, replayed)
    except OSError as exc:
        raise LogError(f"{exc.filename or path}: cannot write figures ({exc.strerror})") from None


def replay_causality(sweep: Sweep) -> Replayed | None:
    """Replay on the DES the runs a sweep's causality table needs
    (:func:`lamport.report.causality.runs_to_replay`) and measure each; None if it needs
    none (the sweep kept its events, or is not a DES sweep)."""
    from lamport import causality
    from lamport.des.rerun import replay_sweep
    from lamport.report.causality import Replayed, runs_to_replay

    wanted = runs_to_replay(sweep)
    if not wanted:
        return None
    found, mismatched = {}, 0
    for key, result in replay_sweep(sweep.metadata, wanted):
        if result is None:
            mismatched += 1
        else:
            found[key] = causality.concurrency(result.logs)
    return Replayed(found, mismatched)
