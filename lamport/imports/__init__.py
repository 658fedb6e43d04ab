"""``lamport import FILE... --out DIR``: another implementation's logs as a run directory.

Every student of the exercise writes their own implementation, and its own
log format. :func:`import_logs` reads such logs (one file per machine, in
machine order, or one file whose lines name their machine) and writes a run
directory like any other (docs/spec.md, the log schema): ``machine-<i>.csv`` in the log
schema, with the fields the source did not log left empty and an extra
``line`` column naming each event's line in its source file, and ``run.json``
with ``backend: "import"``, the source files and their SHA-256, the format,
the fields present, the machine ids, the rates and ``p_send`` and where each
came from, and how messages were matched. ``report``, ``check``, ``export``,
``compare`` and :func:`lamport.analysis.load_run` take it as they take any run.

Formats: ``auto`` (:mod:`lamport.imports.auto`, recognises the shapes
students write), ``lamport`` (a lamport run's own logs), ``shiviz``
(:mod:`lamport.imports.shiviz`) and a recipe file ``NAME.toml``
(:mod:`lamport.imports.recipe`). docs/import.md walks through it.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lamport.errors import LogError
from lamport.files import open_fd, reason
from lamport.imports.build import LINE_COLUMN, Imported, build_run
from lamport.imports.records import SourceLog

__all__ = ["FORMATS", "LINE_COLUMN", "import_logs", "main", "read_sources"]

#: The named formats; anything ending in ``.toml`` is a recipe file.
FORMATS = ("auto", "lamport", "shiviz")

#: More unparsed lines than this share of a file's event-like lines refuses the import.
REFUSE_SHARE = 0.5


def read_sources(files: Sequence[str | Path], fmt: str = "auto") -> tuple[list[SourceLog], str]:
    """Parse the files in one format: their source logs, and the kind of their times.

    Raise LogError for a file that is missing, not a regular file, binary,
    empty, of another shape than the first, or mostly unparsable.
    """
    from lamport.imports.auto import parse_auto_files, read_lines, shape_of

    paths = [Path(f) for f in files]
    if not paths:
        raise LogError("no log files given")
    seen: dict[Path, Path] = {}
    for path in paths:
        if not path.exists() and not path.is_symlink():
            raise LogError(f"{path}: no such file")
        try:  # a regular file only (a FIFO would block a reader): say what it is
            os.close(open_fd(path))
        except OSError as exc:
            raise LogError(f"{path}: cannot read ({reason(exc)})") from None
        key = path.resolve()
        if key in seen:
            raise LogError(f"{path}: given twice (two machines cannot share one log)")
        seen[key] = path
    sources: list[SourceLog] = []
    kinds: list[str] = []
    if fmt.endswith(".toml"):
        from lamport.imports.recipe import load_recipe

        recipe = load_recipe(Path(fmt))
        for path in paths:
            source, kind = recipe.parse(path, read_lines(path))
            sources.append(source)
            kinds.append(kind)
    elif fmt == "shiviz":
        from lamport.imports.shiviz import parse_shiviz

        if len(paths) != 1:
            raise LogError("--format shiviz reads one file (every host's events are in it)")
        sources, kind = parse_shiviz(paths[0], read_lines(paths[0]))
        kinds.append(kind)
    elif fmt == "lamport":
        sources = _parse_lamport(paths)
        kinds = ["model"] * len(sources)
    elif fmt == "auto":
        texts = [read_lines(path) for path in paths]
        shapes = []
        for path, lines in zip(paths, texts, strict=True):
            if fmt == "auto" and lines and lines[0].startswith("(?<host>"):
                raise LogError(f"{path}: a ShiViz log; import it with --format shiviz")
            shapes.append(shape_of(lines))
        if len(set(shapes)) > 1:
            first = shapes[0]
            other = next(i for i, s in enumerate(shapes) if s != first)
            raise LogError(
                f"{paths[other]} is {shapes[other]}, but {paths[0]} is {first}: "
                "files of one import must share one format"
            )
        for source, kind in parse_auto_files(paths, texts):
            source.format = fmt
            sources.append(source)
            kinds.append(kind)
    else:
        raise LogError(f"--format {fmt!r}: choose {', '.join(FORMATS)}, or a recipe file NAME.toml")
    for source in sources:
        _refuse_unparsable(source)
    time_kinds = set(kinds) - {"none"}
    if time_kinds and "none" in kinds:
        raise LogError("some files have times and some do not: one format per import")
    if len(time_kinds) > 1:
        raise LogError(f"the files' times differ in kind ({', '.join(sorted(time_kinds))})")
    return sources, next(iter(time_kinds), "none")


def _parse_lamport(paths: Sequence[Path]) -> list[SourceLog]:
    """A lamport run's own logs, read by the schema's reader: each event as it was, in
    the order of the machine ids. Rates and ``p_send`` come from ``run.json`` beside them.
    """
    from lamport.core import RECEIVE, SEND
    from lamport.files import read_json
    from lamport.imports.records import Record
    from lamport.logs import read_log
    from lamport.schema import RUN_FILE

    found: dict[int, SourceLog] = {}
    for path in paths:
        events = read_log(path, imported=True)
        if not events:
            raise LogError(f"{path}: no events (a header only)")
        machine = events[0].machine
        other = next((k for k, e in enumerate(events) if e.machine != machine), None)
        if other is not None:
            raise LogError(
                f"{path}: line {other + 2}: machine {events[other].machine}, but line 2 is "
                f"machine {machine} (a lamport log holds one machine)"
            )
        if machine in found:
            raise LogError(f"{path}: machine {machine} again (also {found[machine].path})")
        source = SourceLog(path=path, format="lamport", name=str(machine))
        try:
            meta = read_json(path.parent / RUN_FILE)
            source.rate = float(meta["rates"][machine])
            source.p_send = float(meta["p_send"])
        except (OSError, ValueError, TypeError, KeyError, IndexError):
            pass  # no usable run.json beside the log: rates and p_send are inferred
        for k, e in enumerate(events):
            source.records.append(
                Record(
                    line=k + 2,
                    kind=e.event,
                    clock=e.clock,
                    time=e.t,
                    queue=e.queue,
                    to=tuple(e.peer.split("+")) if e.event == SEND and e.peer else None,
                    sender=e.peer or None if e.event == RECEIVE else None,
                    msg_clock=e.msg_clock,
                    msg_id=e.msg_id or None,
                    machine=str(machine),
                )
            )
        found[machine] = source
    return [found[m] for m in sorted(found)]


def _refuse_unparsable(source: SourceLog) -> None:
    if not source.events:
        first = f" (line {source.bad[0][0]}: {source.bad[0][1]})" if source.bad else ""
        raise LogError(
            f"{source.path}: no event found{first}; see docs/import.md for the shapes "
            "--format auto reads, or write a recipe"
        )
    if len(source.bad) > REFUSE_SHARE * (len(source.bad) + source.events):
        named = "; ".join(f"line {n}: {why}" for n, why in source.bad[:3])
        raise LogError(
            f"{source.path}: {len(source.bad):,} of {len(source.bad) + source.events:,} "
            f"event lines do not parse ({named}); see docs/import.md"
        )


def import_logs(
    files: Sequence[str | Path],
    out: str | Path | None = None,
    *,
    fmt: str = "auto",
    ids: Sequence[str] | None = None,
    rates: Sequence[float] | None = None,
    p_send: float | None = None,
) -> Any:
    """Import other logs as a run: a :class:`lamport.result.RunResult` (``backend``
    ``import``), written to ``out`` as a run directory if given.

    Raise LogError (one line) if the files cannot make a run; nothing is written then.
    """
    # The import allocates records and no reference cycles: the cycle collector's walks
    # over a million of them would cost more than the import (as in lamport.check).
    paused = gc.isenabled()
    gc.disable()
    try:
        return _import(files, out, fmt, ids, rates, p_send)
    finally:
        if paused:
            gc.enable()


def _import(
    files: Sequence[str | Path],
    out: str | Path | None,
    fmt: str,
    ids: Sequence[str] | None,
    rates: Sequence[float] | None,
    p_send: float | None,
) -> Any:
    from lamport.config import RunConfig
    from lamport.errors import ConfigError
    from lamport.logs import claim_out
    from lamport.result import RunResult

    sources, time_kind = read_sources(files, fmt)
    imported = build_run(sources, ids=ids, rates=rates, p_send=p_send, time_kind=time_kind)
    metadata = imported.metadata
    try:
        config = RunConfig.from_metadata(metadata)
    except ConfigError as exc:
        raise LogError(f"the imported run is not a valid model ({exc})") from None
    path = None
    if out is not None:
        claim_out(Path(out), {}, force=True)
        path = write_import(Path(out), imported)
    result = RunResult(config, imported.events(), list(metadata["queued_at_end"]), metadata)
    result.path = path
    result.source_lines = imported.lines  # type: ignore[attr-defined]
    return result


def write_import(out: Path, imported: Imported) -> Path:
    """Write an imported run directory in one rename: each machine's log in the schema's
    columns and ``line`` (pyarrow's CSV writer: a million rows in a fraction of a second),
    then ``run.json``. Raise LogError (and leave nothing) if a write fails."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    from lamport.logs import Staging, cannot_write, write_json
    from lamport.schema import COLUMNS, RUN_FILE, log_name

    header = (",".join((*COLUMNS, LINE_COLUMN)) + "\n").encode()
    options = pcsv.WriteOptions(include_header=False, quoting_style="none")
    staging = Staging(out)
    folder = staging.create()
    try:
        for machine, c in enumerate(imported.columns):
            table = pa.table(
                {
                    "t": c["t"],
                    "wall": c["wall"],
                    "machine": c["machine"],
                    "tick": c["tick"],
                    "event": pa.array(c["event"], pa.string()),
                    "clock": c["clock"],
                    "jump": c["jump"],
                    "queue": pa.array(c["queue"], mask=~c["has_queue"]),
                    "peer": pa.array(c["peer"], pa.string()),
                    "msg_clock": pa.array(c["msg_clock"], mask=~c["has_msg_clock"]),
                    "msg_id": pa.array(c["msg_id"], pa.string()),
                    LINE_COLUMN: c[LINE_COLUMN],
                }
            )
            with open(folder / log_name(machine), "wb") as handle:
                handle.write(header)
                pcsv.write_csv(table, handle, options)
        write_json(folder / RUN_FILE, imported.metadata)
    except OSError as exc:
        staging.discard()
        raise cannot_write(out, exc) from None
    except BaseException:
        staging.discard()
        raise
    return staging.publish()


def main(argv: list[str] | None = None) -> int:
    """``lamport import FILE... --out DIR [--format F] [--ids ...] [--rates ...] [--p-send P]``."""
    from lamport.args import Parser, probability
    from lamport.config import parse_rates

    parser = Parser(
        prog="lamport import",
        description=(
            "Import another implementation's logs as a lamport run directory, which "
            "report, check, export and compare then take. Give one log per machine in "
            "machine order (the first file is machine 0), or one log whose lines name "
            "their machine. See docs/import.md."
        ),
    )
    parser.add_argument("files", nargs="+", type=Path, help="the log files")
    parser.add_argument("--out", type=Path, required=True, help="the run directory to write")
    parser.add_argument(
        "--format",
        default="auto",
        metavar="F",
        help="auto (default: recognise the shape), lamport, shiviz, or a recipe file NAME.toml",
    )
    parser.add_argument(
        "--ids",
        type=lambda text: [part.strip() for part in text.split(",")],
        help="how the logs name the machines, in file order: A,B,C or 1,2,3 "
        "(default: the names the logs give, else 0,1,2,...)",
    )
    parser.add_argument(
        "--rates",
        type=_rates(parse_rates),
        help="ticks per second of each machine, in file order (default: a rate the log "
        "states, else inferred from the median interval between events)",
    )
    parser.add_argument(
        "--p-send",
        type=probability,
        help="the send probability (default: one the log states, else the share of draws "
        "that sent)",
    )
    args = parser.parse_args(argv)
    if args.ids is not None and (
        any(not i for i in args.ids) or len(set(args.ids)) != len(args.ids)
    ):
        parser.error("--ids must list distinct, non-empty names")
    result = import_logs(
        args.files,
        args.out,
        fmt=str(args.format),
        ids=args.ids,
        rates=args.rates,
        p_send=args.p_send,
    )
    _print_summary(result)
    return 0


def _rates(parse: Any) -> Any:
    import argparse

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except Exception as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = "rates"
    return convert


def _print_summary(result: Any) -> None:
    meta = result.metadata
    info = meta["import"]
    print(f"imported {info['events']:,} events of {result.n_machines} machines -> {result.path}")
    rates = ", ".join(
        f"{name}={rate:g} ({origin})"
        for name, rate, origin in zip(info["ids"], meta["rates"], info["rates_from"], strict=True)
    )
    print(f"  machines and rates: {rates}")
    print(
        f"  p_send {meta['p_send']:g} ({info['p_send_from']}); duration {meta['duration']:g} s; "
        f"messages matched: {info['matching']}"
    )
    if info["unparsed_lines"]:
        print(
            f"  {info['unparsed_lines']:,} lines did not parse: {'; '.join(info['first_unparsed'])}"
        )
    for shape, count in info.get("lines_without_clock", {}).items():
        print(f"  skipped {count:,} lines that never carry a clock: {shape[:70]!r}")
    for field, why in meta["absent"].items():
        print(f"  not in the logs: {field}: {why}")
    print(
        f"next: lamport check {result.path} | lamport report {result.path} | "
        f"lamport compare {result.path}"
    )
