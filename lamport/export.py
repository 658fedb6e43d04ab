"""``lamport export DIR --format shiviz|perfetto|dot --output FILE``: a run for the field's viewers.

ShiViz (``shiviz``)
    The log file ShiViz (https://distributedclocks.github.io/shiviz/) accepts on
    upload: line 1 the regular expression that parses it (:data:`SHIVIZ_REGEX`:
    ShiViz's groups ``host``, ``clock`` and ``event``, and ``kind`` and
    ``msg_id``, which ShiViz offers as search fields, ``kind=RECEIVE``); line 2
    the delimiter between executions, empty for one run; then two lines per
    event, ``<host> <vector clock as JSON>`` and a description of the event.
    Hosts are short (``m0``: ShiViz cuts longer names to ``..0``). The clock
    lists the host itself and every other machine with a non-zero component
    (ShiViz reads a missing one as 0). ShiViz orders events by their vector
    clocks, not by the file; the export lists them in an order consistent with
    happened-before all the same. ShiViz draws a message arrow only where the
    receiver's clock grows: a message overtaken by a later one from the same
    sender adds nothing new and gets no arrow. Several runs (several run
    directories, or a sweep's kept runs) go into one file as several
    executions, delimited by ``=== <run name> ===`` lines
    (:data:`SHIVIZ_DELIMITER`), which ShiViz shows side by side. Open ShiViz,
    choose "Try out ShiViz" and then "upload a log": ShiViz takes the regular
    expression and delimiter from the file.

Perfetto (``perfetto``)
    Chrome trace-event JSON, which https://ui.perfetto.dev ("Open trace file")
    and ``chrome://tracing`` load: one process for the run, one named track
    (thread, tid = machine + 1: Perfetto reads tid 0 as the process id) per
    machine, one complete slice per event (name = the event kind; args =
    Lamport clock, vector clock, jump, queue, peer, msg_id, msg_clock, tick) and
    one flow arrow per delivered message, from its SEND's slice to its
    RECEIVE's. ``ts`` is in microseconds of model time (``--time model``, the
    default), or of Lamport time (``--time logical``: clock value c starts at c
    milliseconds, so the timeline reads in clock units per millisecond). A slice
    lasts half its machine's tick period (half a millisecond in logical time),
    or half the gap to the machine's next event when that is shorter, so a
    machine's slices never overlap (Perfetto moves a slice that partly overlaps
    another off its track, and its arrows with it). In logical time a clock
    that goes back (a ``reset`` crash) continues on a track of its own.

Graphviz (``dot``)
    The happened-before graph of a small run: one row per machine (a cluster),
    solid edges for program order, dashed ones for messages, each node labelled
    with its kind, Lamport clock and vector clock. Render with
    ``dot -Tsvg run.dot -o run.svg``. A run of more than :data:`DOT_LIMIT` events
    is refused: the drawing would be unreadable; ShiViz and Perfetto scale.
    ``--until SECONDS`` exports the run's first seconds (:func:`window`), in any format.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lamport.core import RECEIVE, SEND, Event
from lamport.errors import LogError

__all__ = [
    "DOT_LIMIT",
    "FORMATS",
    "SHIVIZ_REGEX",
    "dot",
    "export_executions",
    "export_run",
    "host",
    "main",
    "perfetto",
    "shiviz",
    "shiviz_executions",
    "window",
]

#: The formats ``lamport export`` writes.
FORMATS = ("shiviz", "perfetto", "dot")
#: The time bases of the Perfetto export.
TIMES = ("model", "logical")
#: The largest run the dot export draws, in events.
DOT_LIMIT = 400
#: ShiViz's parsing expression (JavaScript syntax: ``(?<name>...)`` groups). ``host``,
#: ``clock`` and ``event`` are ShiViz's own; ``kind`` (the event kind) and ``msg_id``
#: (the message id, empty for other events) become search fields (``kind=SEND``). ShiViz
#: turns every unnamed group into a non-capturing one and so would break an escaped
#: parenthesis: the expression has none.
SHIVIZ_REGEX = (
    r"(?<host>\S+) (?<clock>\{.*\})\n"
    r"(?<event>(?<kind>[A-Z]*) ?(?<msg_id>(?:\d+:\d+)?).*)"
)
#: ShiViz's delimiter between executions (line 2 of a file of several runs): a line
#: ``=== <label> ===``; its ``trace`` group names the execution.
SHIVIZ_DELIMITER = r"=== (?<trace>.*) ==="


def host(machine: int) -> str:
    """A machine's name in the exports: ``m0`` (ShiViz cuts longer names short)."""
    return f"m{machine}"


def _describe(e: Event) -> str:
    if e.event == SEND:
        what = f"SEND {e.msg_id} to {e.peer.replace('+', ', ')}"
    elif e.event == RECEIVE:
        what = f"RECEIVE {e.msg_id} from {e.peer} (message clock {e.msg_clock})"
    else:
        what = e.event
    return f"{what}; Lamport clock {e.clock} (jump {e.jump}), queue {e.queue}, t {e.t!r} s"


def _shiviz_events(logs: Sequence[Sequence[Event]], causality: Any = None) -> list[str]:
    """Two lines per event, in an order consistent with happened-before."""
    from lamport import causality as hb

    solved = hb.analyze(logs) if causality is None else causality
    names = [host(m) for m in range(len(logs))]
    lines = []
    for machine, index in hb.topological_order(solved):
        vc = solved.clocks[machine][index].tolist()
        clock = {names[j]: c for j, c in enumerate(vc) if c or j == machine}
        lines.append(f"{names[machine]} {json.dumps(clock, separators=(',', ':'))}")
        lines.append(_describe(logs[machine][index]))
    return lines


def shiviz(logs: Sequence[Sequence[Event]], causality: Any = None) -> str:
    """The run as a ShiViz log file (see the module docstring)."""
    return "\n".join([SHIVIZ_REGEX, "", *_shiviz_events(logs, causality)]) + "\n"


def shiviz_executions(runs: Sequence[tuple[str, Sequence[Sequence[Event]]]]) -> str:
    """Several runs as the executions of one ShiViz file, each under its label
    (``=== label ===``, :data:`SHIVIZ_DELIMITER`), for ShiViz to compare side by side.

    Raise ValueError if two labels are the same (ShiViz refuses the file) or a label
    spans lines.
    """
    labels = [label for label, _ in runs]
    if len(set(labels)) < len(labels) or any("\n" in label for label in labels):
        raise ValueError(f"execution labels must be distinct single lines, got {labels!r}")
    lines = [SHIVIZ_REGEX, SHIVIZ_DELIMITER]
    for label, logs in runs:
        lines.append(f"=== {label} ===")
        lines += _shiviz_events(logs)
    return "\n".join(lines) + "\n"


def perfetto(
    logs: Sequence[Sequence[Event]],
    metadata: Mapping[str, Any],
    time: str = "model",
    causality: Any = None,
) -> dict[str, Any]:
    """The run as a Chrome trace-event document (see the module docstring).

    Raise ValueError for a ``time`` other than ``model`` or ``logical``.
    """
    from lamport import causality as hb

    if time not in TIMES:
        raise ValueError(f"time must be one of {', '.join(TIMES)}, got {time!r}")
    solved = hb.analyze(logs) if causality is None else causality
    rates = list(metadata.get("rates") or [1.0] * len(logs))
    title = str(metadata.get("name") or metadata.get("experiment") or "run")
    trace: list[dict[str, Any]] = [
        {
            "name": "process_name",
            "ph": "M",
            "pid": 1,
            "args": {"name": f"lamport {metadata.get('backend', '?')} {title}"},
        }
    ]

    def start(e: Event) -> float:
        return e.clock * 1000.0 if time == "logical" else e.t * 1e6

    # Perfetto's JSON importer reads tid 0 as "the process id" (pid 1 here, machine 1's
    # track), and moves a slice that partly overlaps another on its track to a track of
    # its own, where flow arrows no longer find it. So tids start at 1 (tid = machine +
    # 1) and a machine's slices never overlap: each starts after the one before and
    # lasts at most half the gap to the next (a crash mid-tick, a late tick). A clock
    # that goes back (logical time after a reset crash) starts a new track.
    at: dict[tuple[int, int], tuple[int, float]] = {}  # (machine, index) -> tid, ts
    next_tid = len(logs) + 1
    for machine, events in enumerate(logs):
        rate = float(rates[machine]) if machine < len(rates) else 1.0
        nominal = 500.0 if time == "logical" else 0.5e6 / rate
        tid = machine + 1
        starts: list[tuple[int, float]] = []
        previous = -math.inf
        for e in events:
            ts = start(e)
            if ts < previous and time == "logical":
                tid, next_tid = next_tid, next_tid + 1
                _track(
                    trace, tid, f"machine {machine} after its clock went back", machine, len(starts)
                )
            elif ts <= previous:
                ts = previous + _NUDGE  # same instant: one microsecond later
            starts.append((tid, ts))
            previous = ts
        _track(trace, machine + 1, f"machine {machine} ({rate:g} tick/s)", machine, 0)
        vcs = solved.clocks[machine].tolist()
        for index, e in enumerate(events):
            tid, ts = starts[index]
            nxt = starts[index + 1] if index + 1 < len(starts) else None
            dur = nominal if nxt is None or nxt[0] != tid else min(nominal, (nxt[1] - ts) / 2)
            at[(machine, index)] = (tid, ts)
            args: dict[str, Any] = {
                "clock": e.clock,
                "vector clock": vcs[index],
                "jump": e.jump,
                "queue": e.queue,
                "tick": e.tick,
                "t": e.t,
            }
            if e.event in (SEND, RECEIVE):
                args.update(peer=e.peer, msg_id=e.msg_id, msg_clock=e.msg_clock)
            trace.append(
                {
                    "name": e.event,
                    "cat": "event",
                    "ph": "X",
                    "ts": ts,
                    "dur": dur,
                    "pid": 1,
                    "tid": tid,
                    "args": args,
                }
            )
    for flow, (sent, received) in enumerate(hb.messages(logs), start=1):
        send = logs[sent[0]][sent[1]]
        common = {"name": f"message {send.msg_id}", "cat": "message", "id": flow, "pid": 1}
        (stid, sts), (rtid, rts) = at[sent], at[received]
        trace.append({**common, "ph": "s", "ts": sts, "tid": stid})
        trace.append({**common, "ph": "f", "bp": "e", "ts": rts, "tid": rtid})
    unit = "logical: 1 ms = 1 clock unit" if time == "logical" else "model seconds"
    return {
        "traceEvents": trace,
        "displayTimeUnit": "ms",
        "otherData": {"exported by": "lamport export", "time": unit},
    }


#: How far a slice is moved when it starts at the same instant as the one before, in µs.
_NUDGE = 1.0


def _track(trace: list[dict[str, Any]], tid: int, name: str, machine: int, first: int) -> None:
    """Name a track and sort it by machine (then by the index of its first event)."""
    trace.append({"name": "thread_name", "ph": "M", "pid": 1, "tid": tid, "args": {"name": name}})
    trace.append(
        {
            "name": "thread_sort_index",
            "ph": "M",
            "pid": 1,
            "tid": tid,
            "args": {"sort_index": machine * 1_000_000 + first},
        }
    )


def dot(logs: Sequence[Sequence[Event]], causality: Any = None, limit: int = DOT_LIMIT) -> str:
    """The happened-before graph in Graphviz's dot language.

    Raise LogError if the run has more than ``limit`` events.
    """
    from lamport import causality as hb

    total = sum(len(events) for events in logs)
    if total > limit:
        raise LogError(
            f"dot export: {total:,} events are too many to draw readably (limit {limit:,}); "
            "export the first seconds with --until SECONDS, or use --format shiviz or perfetto"
        )
    solved = hb.analyze(logs) if causality is None else causality
    out = [
        "digraph happened_before {",
        "  rankdir=LR;",
        '  node [shape=box, fontname="Helvetica", fontsize=9];',
        '  edge [fontname="Helvetica", fontsize=8];',
    ]
    for machine, events in enumerate(logs):
        out.append(f"  subgraph cluster_{machine} {{")
        out.append(f'    label="{host(machine)}"; color=gray;')
        for index, e in enumerate(events):
            vc = ",".join(map(str, solved.clocks[machine][index].tolist()))
            extra = f"\\n{e.msg_id}" if e.msg_id else ""
            out.append(f'    m{machine}_{index} [label="{e.event} C={e.clock}\\n[{vc}]{extra}"];')
        for index in range(1, len(events)):
            out.append(f"    m{machine}_{index - 1} -> m{machine}_{index};")
        out.append("  }")
    for (sm, sk), (rm, rk) in hb.messages(logs):
        label = logs[sm][sk].msg_id
        out.append(f'  m{sm}_{sk} -> m{rm}_{rk} [style=dashed, color=blue, label="{label}"];')
    out.append("}")
    return "\n".join(out) + "\n"


def window(logs: Sequence[Sequence[Event]], until: float) -> list[list[Event]]:
    """The run up to model time ``until``: each machine's events from its first to the
    last one at ``t <= until``, and, where a message received there was sent later than
    ``until`` (a real-time run's late tick), its sender's events up to that SEND too.

    The result is a consistent cut: a prefix of every log in which every received message
    was sent, so the exports' happened-before graph is that of the whole run, cut short.
    """
    from lamport import causality as hb

    keep = [next((i for i, e in enumerate(events) if e.t > until), len(events)) for events in logs]
    pairs = hb.messages(logs)
    grown = True
    while grown:
        grown = False
        for (sender, send), (recipient, receive) in pairs:
            if receive < keep[recipient] and send >= keep[sender]:
                keep[sender] = send + 1
                grown = True
    return [list(events[:k]) for events, k in zip(logs, keep, strict=True)]


def export_run(
    run_dir: str | Path,
    fmt: str,
    output: str | Path,
    time: str = "model",
    until: float | None = None,
) -> Path:
    """Read a run directory and write it to ``output`` in format ``fmt``; return ``output``.
    With ``until``, only the run's first ``until`` model seconds (:func:`window`).

    Raise LogError (one line) if the directory is not a readable run, the format
    or time base is unknown, the run (or its window) is too large for ``dot`` or the
    window holds no event, or ``output`` cannot be written.
    """
    from lamport.analysis.load import load_run

    if fmt not in FORMATS:
        raise LogError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    if time not in TIMES:
        raise LogError(f"unknown time base {time!r} (choose from {', '.join(TIMES)})")
    output = Path(output)
    _check_output(output)
    run = load_run(run_dir)  # the reader report uses: the same refusals, the same line
    metadata, logs = run.metadata, run.logs
    if until is not None:
        logs = window(logs, until)
        if not any(logs):
            raise LogError(f"--until {until:g}: no event of {run_dir} at or before t = {until:g} s")
    if fmt == "shiviz":
        text = shiviz(logs)
    elif fmt == "dot":
        text = dot(logs)
    else:
        text = json.dumps(perfetto(logs, metadata, time), separators=(",", ":"))
    return _write(output, text)


def _write(output: Path, text: str) -> Path:
    """Write an export whole or not at all. Raise LogError (one line) if it cannot be."""
    from lamport.logs import replace_text

    try:
        replace_text(output, text)
    except OSError as exc:
        raise LogError(
            f"--output {output}: cannot write ({(exc.strerror or str(exc)).lower()})"
        ) from None
    return output


def _is_sweep(path: Path) -> bool:
    from lamport.schema import SWEEP_FILE

    return (path / SWEEP_FILE).is_file()


def export_executions(dirs: Sequence[str | Path], output: str | Path) -> Path:
    """Write several runs to ``output`` as the executions of one ShiViz file, labelled by
    their directory names; a sweep directory stands for its kept runs (``runs/``).
    Return ``output``.

    Raise LogError (one line) if a directory is not a readable run, a sweep kept no
    runs, or ``output`` cannot be written. Runs of the same name are labelled by path.
    """
    from lamport.analysis.load import load_run
    from lamport.schema import RUN_FILE, RUNS_DIR

    output = Path(output)
    _check_output(output)
    run_dirs: list[Path] = []
    for folder in map(Path, dirs):
        if _is_sweep(folder):
            kept = sorted(p for p in (folder / RUNS_DIR).glob("*") if (p / RUN_FILE).is_file())
            if not kept:
                raise LogError(
                    f"{folder}: a sweep that kept no runs (run the sweep with --keep-logs csv)"
                )
            run_dirs += kept
        else:
            run_dirs.append(folder)
    names = [folder.name for folder in run_dirs]
    runs = []
    for folder, name in zip(run_dirs, names, strict=True):
        label = name if names.count(name) == 1 else str(folder)  # ShiViz wants distinct labels
        runs.append((label, load_run(folder).logs))
    try:
        text = shiviz_executions(runs)
    except ValueError as exc:
        raise LogError(f"cannot label the runs for ShiViz: {exc}") from None
    return _write(output, text)


def _check_output(output: Path) -> None:
    """Raise LogError unless ``output`` names a file that can be created or replaced."""
    if output.is_dir():
        raise LogError(f"--output {output}: is a directory")
    folder = output.parent
    if not folder.is_dir():
        raise LogError(f"--output {output}: no such directory {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise LogError(f"--output {output}: {folder} is not writable")


def main(argv: list[str] | None = None) -> int:
    """``lamport export DIR --format F --output FILE [--time model|logical]``."""
    from lamport.args import Parser, non_negative_float

    parser = Parser(
        prog="lamport export",
        description=(
            "Write a run directory (either backend) for a viewer: 'shiviz' (upload it at "
            "https://distributedclocks.github.io/shiviz/), 'perfetto' (Chrome trace JSON for "
            "https://ui.perfetto.dev or chrome://tracing) or 'dot' (Graphviz, small runs). "
            "docs/causality.md explains each."
        ),
    )
    parser.add_argument(
        "dir",
        type=Path,
        nargs="+",
        help="a run directory; for shiviz also several, or a sweep directory with kept runs "
        "(each run one execution of the file)",
    )
    parser.add_argument("--format", required=True, choices=FORMATS, help="what to write")
    parser.add_argument("--output", "-o", required=True, type=Path, help="the file to write")
    parser.add_argument(
        "--time",
        choices=TIMES,
        default="model",
        help="perfetto: timestamps in model seconds (default) or Lamport clock units",
    )
    parser.add_argument(
        "--until",
        type=non_negative_float,
        default=None,
        metavar="SECONDS",
        help="only the run's first SECONDS of model time (and the sends of the messages "
        "received in them): e.g. a dot drawing of a 60 s run's first 10 s",
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    args = parser.parse_args(argv)
    if args.time != "model" and args.format != "perfetto":
        parser.error("--time applies to --format perfetto only")
    if len(args.dir) > 1 or _is_sweep(args.dir[0]):
        if args.format != "shiviz":
            parser.error("several runs (or a sweep) export to --format shiviz only")
        if args.until is not None:
            parser.error("--until applies to one run")
        path = export_executions(args.dir, args.output)
    else:
        path = export_run(args.dir[0], args.format, args.output, args.time, args.until)
    if not args.quiet:
        print(f"{args.format}: {path}")
    return 0
