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

import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamport.errors import LogError
from lamport.schema import FIGURES_DIR, GRID_JSON, REPORT_HTML, REPORT_MD

if TYPE_CHECKING:
    from lamport.analysis import Sweep
    from lamport.report.causality import Replayed
    from lamport.result import RunResult

__all__ = ["build_report", "publish_report", "replay_causality", "write_report"]


def write_report(path: str | Path, spacetime_seconds: float | None = None) -> Path:
    """Write ``report.md``, ``report.html`` and ``figures/*.png`` into a run or sweep directory.

    Return the path of ``report.md`` (``report.html`` sits beside it). A grid
    directory (:mod:`lamport.des.grid`) gets its report in ``_report/``. Raise
    LogError, with a one-line message naming the file and the problem, if the
    directory is neither a run nor a sweep, a file is missing or malformed, a
    log breaks an invariant of docs/spec.md, or the report cannot be written.

    A report is published in one step, like a run: it is drawn and written into a
    hidden folder in the directory (``.report.partial-<pid>``), then moved into place
    by renames that no signal interrupts; a failed write (a full disk, a file size
    limit) or a stop leaves the directory as it was, with any earlier report.
    """
    path = Path(path)
    if (path / GRID_JSON).is_file():  # a parameter grid
        from lamport.report.grid import write_grid_report

        return write_grid_report(path)
    from lamport.analysis import load

    loaded = load(path)  # an unreadable directory is refused before anything is written
    return publish_report(
        path, lambda staging: build_report(path, spacetime_seconds, staging, loaded)
    )


def publish_report(path: Path, build: Callable[[Path], Any]) -> Path:
    """Write the report ``build`` returns into ``path`` in one step; return ``report.md``.

    ``build(staging)`` draws its figures into ``staging / figures`` and returns the
    Document. Raise LogError (one line) if anything cannot be written; then nothing
    of the new report is left and an earlier one is as it was.
    """
    from lamport.errors import stops_held
    from lamport.logs import remove_stale
    from lamport.report.document import to_html, to_markdown

    path = Path(path)
    staging = path / f".report.partial-{os.getpid()}"
    aside = path / f".{FIGURES_DIR}.old-{os.getpid()}"
    names = (REPORT_MD, REPORT_HTML, FIGURES_DIR)
    try:
        remove_stale(path)  # the stagings of reports whose process is gone
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir()
        document = build(staging)
        (staging / REPORT_MD).write_text(to_markdown(document, staging), encoding="utf-8")
        (staging / REPORT_HTML).write_text(to_html(document), encoding="utf-8")
        (staging / FIGURES_DIR).mkdir(exist_ok=True)
        for name in (REPORT_MD, REPORT_HTML):  # a rename onto a directory would fail half-way
            if (path / name).is_dir() and not (path / name).is_symlink():
                raise LogError(f"{path / name}: is a directory, where the report goes")
        with stops_held():  # the renames happen all or none
            if (path / FIGURES_DIR).exists():
                os.replace(path / FIGURES_DIR, aside)
            for name in names:
                os.replace(staging / name, path / name)
    except OSError as exc:
        if aside.exists() and not (path / FIGURES_DIR).exists():
            os.replace(aside, path / FIGURES_DIR)
        raise LogError(f"{path}: cannot write the report ({_reason(exc)})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if aside.is_dir() and not aside.is_symlink():
            shutil.rmtree(aside, ignore_errors=True)
        else:  # an earlier figures that was a file
            aside.unlink(missing_ok=True)
    return path / REPORT_MD


def _reason(exc: OSError) -> str:
    if exc.errno == errno.EFBIG:
        return "file too large"
    return (exc.strerror or str(exc)).lower()


def build_report(
    path: str | Path,
    spacetime_seconds: float | None = None,
    folder: Path | None = None,
    loaded: RunResult | Sweep | None = None,
) -> Any:
    """Load the directory (unless it is ``loaded`` already), run the simulations its
    report quotes, draw its figures (into ``folder / figures``; ``folder`` is ``path``
    unless given) and return the report as a Document.

    An imported run is compared with the model (:func:`lamport.compare.compare_run`); a
    sweep that kept no events has runs replayed (:func:`replay_causality`).
    """
    from lamport.analysis import load
    from lamport.result import RunResult
    from lamport.schema import IMPORTED

    path = Path(path)
    figures = Path(folder if folder is not None else path) / FIGURES_DIR
    if loaded is None:
        loaded = load(path)
    if isinstance(loaded, RunResult):
        from lamport.compare import compare_run
        from lamport.report.run import run_document

        comparison = compare_run(loaded) if loaded.metadata.get("backend") == IMPORTED else None
        try:
            return run_document(loaded, figures, spacetime_seconds, comparison)
        except OSError as exc:
            raise LogError(f"{path}: cannot write figures ({_reason(exc)})") from None
    from lamport.report.grid import sweep_document

    replayed = replay_causality(loaded)
    try:
        return sweep_document(loaded, figures, replayed)
    except OSError as exc:
        raise LogError(f"{path}: cannot write figures ({_reason(exc)})") from None


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
