"""ShiViz and GoVector logs: every host's events in one file, each with its vector clock.

A ShiViz log (https://distributedclocks.github.io/shiviz/, written by GoVector
and by ``lamport export --format shiviz``) starts with two lines: the regular
expression that parses an event (JavaScript syntax, named groups ``host``,
``clock`` and usually ``event``; it may span lines) and the delimiter between
executions (empty for one). The rest is the events, each with its host's vector
clock as JSON (``{"A":2,"B":1}``, a missing host reads as 0).

Two readings, chosen for the whole file:

Exact
    When every event's description is one ``lamport export`` writes (``SEND 0:1
    to 1, 2; Lamport clock 3 (jump 1), queue 0, t 0.5 s``), each event is read
    from it: kind, Lamport clock, queue, peers, message clock and id, and its
    time in seconds since the run's start. Exporting a run and importing the
    file gives back the same events.
Derived
    Otherwise the events are told from the vector clocks alone. An event that
    raises another host's component is a receive; its sender is the host whose
    event with that component value, merged with the receiver's previous clock,
    gives the receive's clock; that event is a send (to every host that
    received it). Other events are internal. The Lamport clocks are then set by
    Lamport's rules (Lamport 1978) along that happened-before order, so
    checking them is moot; ``run.json``'s format says they were derived.

One :class:`~lamport.imports.records.SourceLog` per host, hosts in natural
order of their names (``m2`` before ``m10``).
"""

from __future__ import annotations

import itertools
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lamport.core import INTERNAL, RECEIVE, SEND
from lamport.errors import LogError
from lamport.files import parse_json
from lamport.imports.records import CLOCK_LIMIT, Record, SourceLog

__all__ = ["DERIVED", "EXACT", "parse_shiviz"]

#: The format names an import records.
EXACT = "shiviz"
DERIVED = "shiviz (Lamport clocks derived from the vector clocks)"

_JS_GROUP = re.compile(r"\(\?<([A-Za-z_]\w*)>")
_NUM = r"(?:\d+|None)"
#: What ``lamport.export._describe`` writes.
_DESCRIPTION = re.compile(
    r"^(?P<kind>[A-Z]+)"
    r"(?:\s+(?!to\b|from\b)(?P<msg_id>[^\s;]+))?"
    r"(?:\s+to\s+(?P<to>\d+(?:,\s*\d+)*))?"
    r"(?:\s+from\s+(?P<sender>\d+)\s+\(message clock (?P<msg_clock>" + _NUM + r")\))?"
    r"; Lamport clock (?P<clock>\d+) \(jump -?\d+\), queue (?P<queue>" + _NUM + r"), "
    r"t (?P<t>[-+0-9.eE]+|nan|inf) s$"
)


@dataclass
class _Event:
    line: int
    host: str
    vc: dict[str, int]
    text: str


def _natural(name: str) -> tuple[Any, ...]:
    return tuple((0, int(p)) if p.isdigit() else (1, p.lower()) for p in re.split(r"(\d+)", name))


def parse_shiviz(path: Path, lines: list[str]) -> tuple[list[SourceLog], str]:
    """Read a ShiViz log: one source log per host, and the kind of the times (``model``
    for a lamport export, else ``none``).

    Raise LogError (one line) if the first line is no usable regular expression, the
    file holds several executions, or no event parses.
    """
    path = Path(path)
    if len(lines) < 3:
        raise LogError(
            f"{path}: not a ShiViz log (line 1 a regular expression, line 2 a "
            "delimiter, then events)"
        )
    try:
        pattern = re.compile(_JS_GROUP.sub(r"(?P<\1>", lines[0]), re.MULTILINE)
    except re.error as exc:
        raise LogError(f"{path}: line 1: not a regular expression ({exc})") from None
    missing = [g for g in ("host", "clock") if g not in pattern.groupindex]
    if missing:
        raise LogError(f"{path}: line 1: the regular expression has no group {missing[0]!r}")
    events_lines = lines[2:]
    if lines[1].strip():
        # As ShiViz reads it: the whole line, JavaScript groups, a ``trace`` group naming
        # the executions (lamport's own: ``=== (?<trace>.*) ===``).
        try:
            delimiter = re.compile("^" + _JS_GROUP.sub(r"(?P<\1>", lines[1].strip()) + "$")
        except re.error as exc:
            raise LogError(f"{path}: line 2: not a regular expression ({exc})") from None
        cut = [k for k, line in enumerate(events_lines) if delimiter.match(line)]
        bounds = [-1, *cut, len(events_lines)]
        parts = sum(
            any(x.strip() for x in events_lines[a + 1 : b]) for a, b in itertools.pairwise(bounds)
        )
        if parts > 1:
            names = ""
            if "trace" in delimiter.groupindex:
                labels = [delimiter.match(events_lines[k])["trace"] for k in cut]  # type: ignore[index]
                names = ": " + ", ".join(labels[:5]) + (", ..." if len(labels) > 5 else "")
            raise LogError(
                f"{path}: holds {parts} executions{names}; a run is one: cut the file "
                "to one execution"
            )
        events_lines = ["" if k in cut else line for k, line in enumerate(events_lines)]
    body = "\n".join(events_lines)
    starts = [0]
    for line in events_lines:
        starts.append(starts[-1] + len(line) + 1)

    def line_of(offset: int) -> int:
        lo, hi = 0, len(starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo + 3

    events: list[_Event] = []
    bad: list[tuple[int, str]] = []
    skipped = 0
    end = 0
    for match in pattern.finditer(body):
        if match.end() == match.start():
            continue
        gap = body[end : match.start()]
        skipped += gap.count("\n")
        for k, text in enumerate(gap.split("\n")):
            if text.strip():
                bad.append((line_of(end) + k, "does not match the regular expression of line 1"))
        end = match.end()
        number = line_of(match.start())
        host = (match["host"] or "").strip()
        try:
            vc = _vector_clock(match["clock"] or "")
        except ValueError as exc:
            bad.append((number, str(exc)))
            continue
        if not host:
            bad.append((number, "no host"))
            continue
        event = match.groupdict().get("event") or ""
        events.append(_Event(number, host, vc, event.strip()))
    for k, text in enumerate(body[end:].split("\n")):
        if text.strip():
            bad.append((line_of(end) + k, "does not match the regular expression of line 1"))
    if not events:
        first = f" (line {bad[0][0]}: {bad[0][1]})" if bad else ""
        raise LogError(f"{path}: no event matches the regular expression of line 1{first}")
    hosts = sorted({e.host for e in events}, key=_natural)
    described = [_DESCRIPTION.match(e.text) for e in events]
    if all(described):
        sources = _exact(path, hosts, events, described)
        kind = "model"
    else:
        sources = _derived(path, hosts, events, bad)
        kind = "none"
    sources[0].bad.extend(bad)
    return sources, kind


def _vector_clock(text: str) -> dict[str, int]:
    try:
        clock = parse_json(text)  # nested too deep is not JSON for lamport, no RecursionError
    except ValueError:
        raise ValueError(f"vector clock {text[:40]!r} is not JSON") from None
    if not isinstance(clock, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v < CLOCK_LIMIT
        for v in clock.values()
    ):
        raise ValueError(f"vector clock {text[:40]!r} is not host: integer >= 0 pairs")
    return {str(k): v for k, v in clock.items()}


def _exact(
    path: Path, hosts: Sequence[str], events: Sequence[_Event], described: Sequence[Any]
) -> list[SourceLog]:
    """Each event read from lamport's own description of it."""
    sources = {h: SourceLog(path=path, format=EXACT, name=h) for h in hosts}
    # lamport's descriptions name machines by id; the hosts are machine-<id>
    by_id = {m[1]: h for h in hosts if (m := re.fullmatch(r".*?(\d+)", h))}

    def name(machine_id: str) -> str:
        return by_id.get(machine_id, machine_id)

    for e, m in zip(events, described, strict=True):
        clock = int(m["clock"])
        record = Record(
            line=e.line,
            kind=m["kind"],
            clock=clock,
            time=float(m["t"]),
            queue=None if m["queue"] == "None" else int(m["queue"]),
            msg_id=m["msg_id"] or None,
            machine=e.host,
        )
        if m["kind"] == SEND:
            record.to = tuple(name(p.strip()) for p in m["to"].split(",")) if m["to"] else None
            record.msg_clock = clock
        elif m["kind"] == RECEIVE:
            record.sender = name(m["sender"]) if m["sender"] else None
            record.msg_clock = None if m["msg_clock"] in (None, "None") else int(m["msg_clock"])
        sources[e.host].records.append(record)
    return [sources[h] for h in hosts]


def _derived(
    path: Path, hosts: Sequence[str], events: Sequence[_Event], bad: list[tuple[int, str]]
) -> list[SourceLog]:
    """Kinds from the vector clocks, Lamport clocks by Lamport's rules along them."""
    own: dict[str, list[_Event]] = {h: [] for h in hosts}
    for e in events:
        own[e.host].append(e)
    at: dict[tuple[str, int], _Event] = {}
    for h in hosts:
        kept = []
        for e in sorted(own[h], key=lambda e: e.vc.get(h, 0)):
            value = e.vc.get(h, 0)
            if value < 1 or (h, value) in at:
                bad.append((e.line, f"{h}'s own clock component {value} does not increase"))
                continue
            at[(h, value)] = e
            kept.append(e)
        own[h] = kept
    sender: dict[int, _Event] = {}  # receive line -> the send it took
    received_by: dict[int, list[str]] = {}  # send line -> receiving hosts
    for h in hosts:
        previous: dict[str, int] = {}
        for e in own[h]:
            raised = [g for g in hosts if g != h and e.vc.get(g, 0) > previous.get(g, 0)]
            source = _sender(h, e, previous, raised, at)
            if source is not None:
                sender[e.line] = source
                received_by.setdefault(source.line, []).append(h)
            elif raised:
                bad.append(
                    (e.line, f"raises {raised[0]}'s component, but no event of it sent this")
                )
            previous = e.vc
    # Lamport's clocks in a happened-before order (Kahn's algorithm over program order
    # and messages).
    waiting: dict[int, int] = {}
    after: dict[int, list[_Event]] = {}
    for h in hosts:
        for k, e in enumerate(own[h]):
            waiting[e.line] = (k > 0) + (e.line in sender)
            if k > 0:
                after.setdefault(own[h][k - 1].line, []).append(e)
            if e.line in sender:
                after.setdefault(sender[e.line].line, []).append(e)
    ready = deque(own[h][0] for h in hosts if own[h] and waiting[own[h][0].line] == 0)
    clock: dict[int, int] = {}
    last: dict[str, int] = dict.fromkeys(hosts, 0)
    while ready:
        e = ready.popleft()
        source = sender.get(e.line)
        clock[e.line] = max(last[e.host], clock[source.line] if source else 0) + 1
        last[e.host] = clock[e.line]
        for nxt in after.get(e.line, []):
            waiting[nxt.line] -= 1
            if waiting[nxt.line] == 0:
                ready.append(nxt)
    if len(clock) < sum(len(v) for v in own.values()):
        raise LogError(f"{path}: the vector clocks order the events in a cycle")
    sources = []
    for h in hosts:
        source_log = SourceLog(path=path, format=DERIVED, name=h)
        for e in own[h]:
            record = Record(line=e.line, kind=INTERNAL, clock=clock[e.line], machine=h)
            if e.line in sender:
                s = sender[e.line]
                record.kind = RECEIVE
                record.sender = s.host
                record.msg_clock = clock[s.line]
                record.msg_id = f"{s.host}:{s.vc[s.host]}"
            elif e.line in received_by:
                record.kind = SEND
                record.to = tuple(sorted(set(received_by[e.line]), key=_natural))
                record.msg_clock = clock[e.line]
                record.msg_id = f"{h}:{e.vc[h]}"
            source_log.records.append(record)
        sources.append(source_log)
    return sources


def _sender(
    h: str,
    e: _Event,
    previous: dict[str, int],
    raised: Sequence[str],
    at: dict[tuple[str, int], _Event],
) -> _Event | None:
    """The event whose message ``e`` received: its clock merged with h's previous one
    gives e's (exactly, else the closest that e's clock covers)."""
    covered = None
    for g in raised:
        s = at.get((g, e.vc.get(g, 0)))
        if s is None:
            continue
        keys = (set(s.vc) | set(previous) | set(e.vc)) - {h}
        if all(max(previous.get(k, 0), s.vc.get(k, 0)) == e.vc.get(k, 0) for k in keys):
            return s
        if covered is None and all(s.vc.get(k, 0) <= e.vc.get(k, 0) for k in keys):
            covered = s
    return covered
