"""``lamport check DIR``: an independent validator of a run directory.

:func:`check_run` reads a run directory of either backend and returns a
:class:`CheckReport`: the run's counts and every problem found, each phrased
``machine-<id>.csv line <n>: <what>``. It checks

* the schema: ``run.json`` describes a run and every log parses against the
  columns of :mod:`lamport.schema` (a directory that fails here is unreadable:
  :class:`lamport.errors.LogError`, one line, exit status 2 from the CLI);
* every invariant of docs/spec.md (:func:`lamport.invariants.violations`);
* the clock condition against vector clocks derived from the logs
  (:mod:`lamport.causality`): for every event b and every event a that
  happened before it, C(a) < C(b). One line per event a whose clock is not
  below that of a later event, naming the first such event; a clock reset by a
  crash shows up here, as the violation it is;
* a message received before it was sent (a cycle in happened-before);
* the carried vector clocks, if the logs have a ``vc`` column: equal to the
  derived ones.

The CLI prints ``ok`` with the counts (exit 0), or one line per problem up to
``--limit`` (exit 1).

The logs are read by :func:`lamport.logs.read_logs`, the one reader every command
uses (fast, with the exact reader's verdict): what it refuses, export and report
refuse too, with the same line.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamport.backend import backend_of
from lamport.core import HLC, RECEIVE, RESTART, SEND, TICK_KINDS, VECTOR, Event, physical_clock
from lamport.errors import LogError
from lamport.faults import Drop
from lamport.schema import NETWORK_FILE, RUN_FILE, RUNS_DIR, SWEEP_FILE, log_name

__all__ = ["DEFAULT_LIMIT", "CheckReport", "check_logs", "check_run", "main"]

#: Problems the CLI prints before it says how many more there are.
DEFAULT_LIMIT = 20


@dataclass
class CheckReport:
    """What :func:`check_run` found: counts, and every problem in check order."""

    machines: int
    events: int
    messages: int
    problems: list[str] = field(default_factory=list)
    carried: bool = False
    #: The logs carry hybrid logical clocks, whose guarantees were checked too.
    hlc: bool = False
    #: An imported run (another implementation's logs): the rules its fields allowed to
    #: check, and those they did not, with the reason.
    checked: list[str] | None = None
    not_checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """``ok: 3 machines, 1,049 events, 301 messages received; ...``."""
        what = (
            f"{self.machines} machines, {self.events:,} events, {self.messages:,} messages received"
        )
        if self.checked is not None:
            verdict = (
                f"ok: {what}; every rule of Lamport's that the logs allow holds"
                if self.ok
                else f"{_count(len(self.problems), 'break')} of Lamport's rules: {what}"
            )
            return "\n".join(
                [verdict, *(f"  checked: {rule}" for rule in self.checked)]
                + [f"  not checkable: {rule}" for rule in self.not_checked]
            )
        if self.ok:
            carried = "; carried vector clocks equal the derived ones" if self.carried else ""
            hlc = (
                "; hybrid logical clocks keep their guarantees (l never below physical time, "
                "never decreasing, ordered with happened-before, within the clock offset)"
                if self.hlc
                else ""
            )
            return (
                f"ok: {what}; every invariant of docs/spec.md holds and the clock condition "
                f"holds on every happened-before pair (vector clocks){carried}{hlc}"
            )
        return f"{_count(len(self.problems), 'problem')}: {what}"

    def lines(self, limit: int | None = DEFAULT_LIMIT) -> list[str]:
        """The problems, at most ``limit`` of them, then how many were left out."""
        if limit is None or len(self.problems) <= limit:
            return list(self.problems)
        return [*self.problems[:limit], f"... and {len(self.problems) - limit:,} more"]


def _count(n: int, noun: str) -> str:
    """``1 problem``, ``2 problems``, ``1,049 problems``."""
    return f"{n:,} {noun}{'s' * (n != 1)}"


def _line(machine: int, index: int) -> str:
    return f"{log_name(machine)} line {index + 2}"


def check_logs(
    metadata: Mapping[str, Any],
    logs: Sequence[Sequence[Event]],
    drops: Sequence[Drop] | None = None,
) -> CheckReport:
    """Check a run already in memory: its ``run.json`` content and its logs by machine
    (events with a ``vc`` field, :class:`lamport.core.VectorEvent`, carry vector clocks),
    and, if given, its lost messages (the rows of ``network.csv``)."""
    from lamport import causality
    from lamport.invariants import violations

    problems: list[str] = [str(v) for v in violations(metadata, logs, drops=drops)]
    if drops is not None:
        problems += _drop_problems(metadata, logs, drops)
    all_logs = logs
    # Happened-before orders the ticks; a fault's CRASH and RESTART rows are not events
    # of the protocol, so the causal checks see the ticks alone and name their lines.
    logs, rows = _ticks_only(logs)

    def _where(machine: int, index: int) -> str:
        return _line(machine, rows[machine][index] if rows is not None else index)

    resets = _resets(all_logs, rows)
    problems += [
        f"{_line(machine, row)}: RESTART with the clock reset (a 'reset' crash): each clock "
        "condition broken and each carried vector clock that differs below follows from it"
        for (machine, _), row in resets.items()
    ]
    found, solved = _causal_problems(logs, causality, _where)
    problems += found
    try:
        carried = causality.carried_clocks(logs)
    except ValueError as exc:  # some logs carry vectors and some not, or of the wrong size
        problems.append(str(exc))
        carried = None
    else:
        if carried is not None:
            problems += _carried_problems(carried, solved, _where, logs, resets)
        elif metadata.get("clock") == VECTOR and any(logs):
            problems.append(f"{RUN_FILE} says clock 'vector' but the logs have no vc column")
    problems += _hlc_problems(metadata, all_logs)
    messages = sum(1 for events in logs for e in events if e.event == RECEIVE)
    events = sum(len(x) for x in all_logs)
    hlc = any(hasattr(events[0], "hlc_l") for events in all_logs if events)
    return CheckReport(len(logs), events, messages, problems, carried is not None, hlc)


def physical_clocks(metadata: Mapping[str, Any]) -> list[Callable[[float], int]]:
    """Each machine's physical clock in a run, as the DES keeps it: model time with the
    machine's drift (``run.json``'s ``time_base`` and ``drifts_ppm``), read in whole
    microseconds at an event's ``t`` (:func:`lamport.core.physical_clock`)."""
    n = len(metadata["rates"])
    units = int(metadata.get("time_base") or 10**6)
    drifts = metadata.get("drifts_ppm") or [0.0] * n
    # drifts_ppm is the drift in units of 1e-12 over 10**6: round() gives it back exactly
    return [physical_clock(units, round(ppm * 10**6)) for ppm in drifts]


def _hlc_problems(metadata: Mapping[str, Any], logs: Sequence[Sequence[Event]]) -> list[str]:
    """Hybrid logical clocks' own guarantees (docs/spec.md), if the logs carry them: per
    tick, hlc_l is not below the machine's physical time and runs ahead of it by no more
    than the largest offset between the machines' physical clocks then; per machine,
    hlc_l never decreases and (hlc_l, hlc_c) increases; each RECEIVE's pair is above its
    SEND's (so the pair increases along every chain of happened-before)."""
    if not any(hasattr(events[0], "hlc_l") for events in logs if events):
        if metadata.get("clock") == HLC and any(logs):
            return [f"{RUN_FILE} says clock 'hlc' but the logs have no hlc_l, hlc_c columns"]
        return []
    clocks = physical_clocks(metadata)
    problems: list[str] = []
    sent: dict[str, tuple[int, int]] = {}
    receives: list[tuple[int, int, Any]] = []
    for machine, events in enumerate(logs):
        own = clocks[machine]
        previous: tuple[int, int] | None = None
        for index, e in enumerate(events):
            pair = (e.hlc_l, e.hlc_c)  # type: ignore[attr-defined]
            if e.event not in TICK_KINDS:
                if e.event == RESTART and pair == (0, 0):
                    previous = None  # a reset restart forgets the clock on purpose
                continue
            where = _line(machine, index)
            physical = own(e.t)
            ahead = pair[0] - physical
            if ahead < 0:
                problems.append(
                    f"{where}: hlc_l {pair[0]} is below the machine's physical time {physical} us"
                )
            else:
                readings = [clock(e.t) for clock in clocks]
                offset = max(readings) - min(readings)
                if ahead > offset:
                    problems.append(
                        f"{where}: hlc_l runs {ahead} us ahead of the machine's physical time, "
                        f"more than the largest offset between the machines' clocks ({offset} us)"
                    )
            if previous is not None and pair <= previous:
                what = (
                    "hlc_l decreases"
                    if pair[0] < previous[0]
                    else "(hlc_l, hlc_c) does not increase"
                )
                problems.append(f"{where}: {what}: {pair} after {previous}")
            previous = pair
            if e.event == SEND:
                sent[e.msg_id] = pair
            elif e.event == RECEIVE:
                receives.append((machine, index, e))
    for machine, index, e in receives:
        pair = (e.hlc_l, e.hlc_c)
        before = sent.get(e.msg_id)
        if before is not None and pair <= before:
            problems.append(
                f"{_line(machine, index)}: (hlc_l, hlc_c) {pair} of this RECEIVE is not above "
                f"its SEND's {before} ({e.msg_id})"
            )
    return problems


def _drop_problems(
    metadata: Mapping[str, Any], logs: Sequence[Sequence[Event]], drops: Sequence[Drop]
) -> list[str]:
    """Rows of ``network.csv`` that no log bears out: a message never sent to that
    recipient, one its recipient received after all, one lost twice; and more rows for a
    machine than ``run.json`` counts as dropped for it."""
    sent = {
        (e.msg_id, int(r))
        for events in logs
        for e in events
        if e.event == SEND
        for r in e.peer.split("+")
        if r.isascii() and r.isdigit()  # a malformed peer is the invariants' to name
    }
    received = {(e.msg_id, e.machine) for events in logs for e in events if e.event == RECEIVE}
    problems = []
    seen: set[tuple[str, int]] = set()
    for line, d in enumerate(drops, start=2):
        key = (d.msg_id, d.recipient)
        where = f"{NETWORK_FILE} line {line}"
        if key not in sent:
            problems.append(f"{where}: {d.msg_id} was never sent to machine {d.recipient}")
        elif key in received:
            problems.append(f"{where}: {d.msg_id} is lost, but machine {d.recipient} received it")
        elif key in seen:
            problems.append(f"{where}: {d.msg_id} to machine {d.recipient} is lost twice")
        seen.add(key)
    counted = metadata.get("dropped") or [0] * len(logs)
    for machine, count in enumerate(counted):
        rows = sum(1 for d in drops if d.recipient == machine)
        if rows > count:
            problems.append(
                f"{NETWORK_FILE}: {rows} lost messages to machine {machine}, but {RUN_FILE} "
                f"counts {count} dropped"
            )
    return problems


def _ticks_only(
    logs: Sequence[Sequence[Event]],
) -> tuple[Sequence[Sequence[Event]], list[list[int]] | None]:
    """The logs without their fault rows, and each kept row's index in its full log
    (None, and the logs as they are, if there is no fault row)."""
    if all(e.event in TICK_KINDS for events in logs for e in events):
        return logs, None
    rows = [[i for i, e in enumerate(events) if e.event in TICK_KINDS] for events in logs]
    kept = [[events[i] for i in indexes] for events, indexes in zip(logs, rows, strict=True)]
    return kept, rows


def _causal_problems(
    logs: Sequence[Sequence[Event]], causality: Any, _where: Any
) -> tuple[list[str], Any]:
    """Receives before their sends, and breaks of the clock condition; and the analysis."""
    problems: list[str] = []
    solved = causality.analyze(logs)
    for machine, index in solved.unresolved:
        e = logs[machine][index]
        problems.append(
            f"{_where(machine, index)}: RECEIVE of {e.msg_id} before its SEND in "
            "happened-before (a cycle: the message is received before it is sent)"
        )
    breaks = causality.clock_condition(logs, solved)
    # One line per event a whose clock is not below a later event's: the first such b.
    by_cause: dict[tuple[int, int], list[causality.ClockBreak]] = {}
    for b in breaks:
        by_cause.setdefault((b.before_machine, b.before_index), []).append(b)
    for cause, found in sorted(by_cause.items(), key=lambda item: _first(item[1])):
        first = min(found, key=lambda b: (b.index, b.machine))
        later = f"; {len(found) - 1:,} more events after it break it too" if len(found) > 1 else ""
        problems.append(
            f"{_where(first.machine, first.index)}: clock condition broken: "
            f"{_where(*cause)} (clock {first.before_clock}) happened before this event "
            f"(clock {first.clock}){later}"
        )
    return problems, solved


def _first(found: list[Any]) -> tuple[int, int]:
    return min((b.index, b.machine) for b in found)


def _resets(
    logs: Sequence[Sequence[Event]], rows: list[list[int]] | None
) -> dict[tuple[int, int], int]:
    """Each RESTART whose clock went back (a ``reset`` crash), keyed by (machine, index
    among the machine's ticks of the first tick after it), valued by its row in the
    machine's full log."""
    if rows is None:
        return {}
    found = {}
    for machine, events in enumerate(logs):
        after = 0  # index among the ticks of the next tick
        for row, e in enumerate(events):
            if e.event in TICK_KINDS:
                after += 1
            elif e.event == RESTART and e.jump < 0:
                found[(machine, after)] = row
    return found


def _carried_problems(
    carried: Sequence[Any],
    solved: Any,
    _where: Any,
    logs: Sequence[Sequence[Event]] = (),
    resets: Mapping[tuple[int, int], int] | None = None,
) -> list[str]:
    """Lines for the events whose logged ``vc`` differs from the derived vector clock.

    A machine that carries a wrong vector clock passes it on: every event after it on
    that machine and every receive of its messages differ too. So a mismatch whose
    predecessors in happened-before (the previous event on its machine, the SEND it
    receives) all match is a cause and gets its own line; the mismatches that follow
    from it are counted on one line after it. A cause right after a reset restart
    (``resets``, see :func:`_resets`) names that restart.
    """
    import numpy as np

    from lamport import causality

    problems = []
    wrong: list[np.ndarray] = []
    for machine, (logged, derived) in enumerate(zip(carried, solved.clocks, strict=True)):
        if logged.shape != derived.shape:
            problems.append(
                f"{log_name(machine)}: vc column has {logged.shape[1]} components, "
                f"the run has {derived.shape[1]} machines"
            )
            wrong.append(np.zeros(len(derived), dtype=bool))
            continue
        wrong.append((logged != derived).any(axis=1))
    if not any(w.any() for w in wrong):
        return problems
    send_of = {r: s for s, r in causality.messages(logs)} if logs else {}
    cause_of: dict[tuple[int, int], tuple[int, int]] = {}
    followers: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for machine, index in causality.topological_order(solved):
        if not wrong[machine][index]:
            continue
        before = [(machine, index - 1), send_of.get((machine, index))]
        causes = [cause_of[p] for p in before if p is not None and p in cause_of]
        if causes:
            cause_of[(machine, index)] = min(causes)
            followers[min(causes)].append((machine, index))
        else:
            cause_of[(machine, index)] = (machine, index)
            followers[(machine, index)] = []
    resets = resets or {}
    for cause in sorted(followers, key=lambda c: (c[1], c[0])):
        machine, index = cause
        logged, derived = carried[machine][index], solved.clocks[machine][index]
        difference = (
            f"carried vector clock {_vc_text(logged)} but happened-before gives {_vc_text(derived)}"
        )
        if cause in resets:
            difference += f" (the reset at {_line(machine, resets[cause])})"
        later = followers[cause]
        if later:
            per_machine = ", ".join(
                f"{log_name(m)} {n:,} from line {_where(m, first).rsplit(' ', 1)[1]}"
                for m, n, first in _per_machine(later)
            )
            difference += (
                f"; {len(later):,} more carried vector clocks follow from this one and differ "
                f"too ({per_machine})"
            )
        problems.append(f"{_where(machine, index)}: {difference}")
    return problems


def _per_machine(events: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """(machine, how many, first index) for each machine among ``events``."""
    found: dict[int, list[int]] = {}
    for machine, index in events:
        found.setdefault(machine, []).append(index)
    return [(m, len(found[m]), min(found[m])) for m in sorted(found)]


def _vc_text(row: Any) -> str:
    return "[" + ",".join(str(int(x)) for x in row) + "]"


def check_run(run_dir: str | Path, reference: bool = False) -> CheckReport:
    """Check a run directory: schema, invariants (docs/spec.md), clock condition, carried clocks.

    The columnar checker (:mod:`lamport.fastcheck`) decides first: a run it finds
    sound gets its report; any other run is read and checked by the reference
    (:func:`check_logs` on :func:`lamport.logs.read_logs`), which names every
    problem. ``reference``: the reference alone. Both give the same report.
    Raise LogError (one line naming the file and the problem) if the directory
    is not a readable run: missing, no or malformed ``run.json``, a log missing
    or not parsing against the schema.
    """
    from lamport.logs import read_drops, read_logs, read_metadata

    run_dir = Path(run_dir)
    # The check allocates records and no reference cycles: the cycle collector's
    # walks over millions of them would cost more than the check.
    paused = gc.isenabled()
    gc.disable()
    try:
        if (run_dir / SWEEP_FILE).is_file() and not (run_dir / RUN_FILE).is_file():
            raise LogError(
                f"{run_dir}: a sweep directory ({SWEEP_FILE}), not a run: check checks one run "
                f"(a sweep run with --keep-logs csv keeps each in {run_dir / RUNS_DIR}/<label>); "
                f"lamport report {run_dir} reports the sweep"
            )
        metadata = read_metadata(run_dir)
        if not backend_of(metadata).strict:
            return _check_imported(run_dir, metadata)
        if not reference:
            from lamport import fastcheck

            sound = fastcheck.check_run(run_dir, metadata)
            if sound is not None:
                return CheckReport(*sound[:3], carried=sound.carried, hlc=sound.hlc)
        logs = read_logs(run_dir, len(metadata["rates"]))
        drops = read_drops(run_dir, len(logs))
        return check_logs(metadata, logs, drops)
    finally:
        if paused:
            gc.enable()


def _check_imported(run_dir: Path, metadata: Mapping[str, Any]) -> CheckReport:
    """Lamport's rules on an imported run, as far as its fields allow, naming source lines."""
    from lamport.imports.rules import rule_problems, source_lines
    from lamport.logs import read_drops, read_logs

    n = len(metadata["rates"])
    logs = read_logs(run_dir, n, imported=True)
    read_drops(run_dir, n)  # none in an import, but one there is read as report reads it
    lines = source_lines(run_dir, n)
    problems, checked, not_checked = rule_problems(metadata, logs, lines)
    messages = sum(1 for events in logs for e in events if e.event == RECEIVE)
    events = sum(len(x) for x in logs)
    return CheckReport(n, events, messages, problems, checked=checked, not_checked=not_checked)


def main(argv: list[str] | None = None) -> int:
    """``lamport check DIR [--limit N] [--reference]``: exit 0 ok, 1 problems, 2 unreadable."""
    from lamport.args import Parser, bounded_int

    parser = Parser(
        prog="lamport check",
        description=(
            "Check a run directory (either backend): the log schema, every docs/spec.md "
            "invariant, and the clock condition against vector clocks derived from the logs. "
            "Prints 'ok' and the counts (exit 0) or one line per problem (exit 1); an "
            "unreadable directory is one line on stderr, exit 2."
        ),
    )
    parser.add_argument("dir", type=Path, help="a run directory")
    parser.add_argument(
        "--limit",
        type=bounded_int(1, 10**9),
        default=DEFAULT_LIMIT,
        help=f"problems printed at most (default {DEFAULT_LIMIT})",
    )
    parser.add_argument(
        "--reference",
        action="store_true",
        help="check with the reference checker alone (record by record, in Python; "
        "the same report, slower) instead of deciding on columns first",
    )
    args = parser.parse_args(argv)
    report = check_run(args.dir, reference=args.reference)
    if report.ok:
        print(report.summary())
        return 0
    if report.checked is not None:
        for line in report.lines(args.limit):
            print(line)
        print(report.summary())
        return 1
    for line in report.lines(args.limit):
        print(line)
    print(report.summary())
    return 1
