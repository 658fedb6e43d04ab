"""From parsed source logs to a run: machines, names, times, rates, matched messages.

:func:`build_run` takes the :class:`~lamport.imports.records.SourceLog` of each
file and returns a :class:`lamport.result.RunResult` whose logs are in the log
schema (docs/spec.md, the log schema) and whose metadata is ``run.json`` for ``backend:
"import"``. It decides, and records in ``run.json`` under ``import``:

* which machine each file (or, for one file, each line) is, and each
  machine's name in the source (``--ids``; else the names the files give;
  else the one name each file never sends to; else ``0, 1, ...``);
* times relative to the earliest event of any machine (or, for logs with no
  time at all, each machine's k-th event at k / rate, marked synthetic);
* rates and ``p_send``, each given, read from the log, or inferred;
* how messages are matched: by the source's message ids, else in FIFO order
  per link (TCP keeps order per connection), else not at all.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lamport import __version__
from lamport.core import INTERNAL, RECEIVE, SEND, Event
from lamport.errors import LogError
from lamport.imports.records import EVERYONE, Record, SourceLog
from lamport.schema import IMPORTED, LINE_COLUMN

__all__ = ["LINE_COLUMN", "ImportOptions", "build_run", "name_key", "sha256"]


@dataclass(frozen=True)
class ImportOptions:
    """The backend options of an imported run: none (it was not run here)."""


def cannot_run(*_: Any, **__: Any) -> Any:
    raise LogError("an imported run cannot be run again: it is another implementation's logs")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_TRAILING = re.compile(r"(\d+)$")


def name_key(name: str) -> str:
    """How names compare: case and surrounding punctuation do not count."""
    return name.strip().strip("[]()<>:#'\"").lower()


class _Names:
    """Machine names of the source, resolved to machine indexes."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        self._exact = {name_key(n): i for i, n in enumerate(names)}
        numbers: dict[int, list[int]] = {}
        for i, n in enumerate(names):
            match = _TRAILING.search(name_key(n))
            if match:
                numbers.setdefault(int(match[1]), []).append(i)
        self._numbers = {k: v[0] for k, v in numbers.items() if len(v) == 1}

    def find(self, name: str) -> int | None:
        key = name_key(name)
        if key in self._exact:
            return self._exact[key]
        match = _TRAILING.search(key)
        if match and key[: match.start()].rstrip("_- ").isalpha() | (match.start() == 0):
            return self._numbers.get(int(match[1]))
        return None


def _peer_names(records: Sequence[Record]) -> set[str]:
    found: set[str] = set()
    for r in records:
        if r.to:
            found.update(name_key(n) for n in r.to if n != EVERYONE)
        if r.sender is not None:
            found.add(name_key(r.sender))
    return found


def _split_single(
    source: SourceLog, ids: Sequence[str] | None
) -> tuple[list[list[Record]], list[str]]:
    """One file whose lines name their machine: the records of each machine, and the names."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for r in source.records:
        if r.machine is None:
            raise LogError(
                f"{source.path}: line {r.line}: names no machine, and only one file was given "
                "(give one file per machine, or a log whose every line names its machine)"
            )
        key = name_key(r.machine)
        if key not in seen:
            seen[key] = len(names)
            names.append(r.machine)
    if ids is not None:
        order = _Names(ids)
        unknown = [n for n in names if order.find(n) is None]
        if unknown:
            raise LogError(f"{source.path}: machine {unknown[0]!r} is not in --ids {','.join(ids)}")
        names = list(ids)
    else:
        names.sort(key=_natural)
    resolve = _Names(names)
    split: list[list[Record]] = [[] for _ in names]
    for r in source.records:
        split[resolve.find(r.machine or "") or 0].append(r)
    return split, names


def _natural(name: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", name))


def _names(sources: Sequence[SourceLog], ids: Sequence[str] | None) -> list[str]:
    """The source's name of each machine (one file each), by the rules of the module doc."""
    n = len(sources)
    if ids is not None:
        if len(ids) != n:
            raise LogError(f"--ids lists {len(ids)} names for {n} files")
        return list(ids)
    own = [s.name or _line_name(s) for s in sources]
    if all(own) and len({name_key(x) for x in own if x}) == n:
        return [x for x in own if x]
    peers = [_peer_names(s.records) for s in sources]
    everyone = set().union(*peers)
    default = [str(i) for i in range(n)]
    if everyone <= {name_key(x) for x in default} or not everyone:
        return default
    one_based = {str(i) for i in range(1, n + 1)}
    if everyone <= one_based:
        return sorted(one_based, key=int)
    if len(everyone) == n:
        spelled = _spellings(sources)
        ordered = sorted(everyone, key=_natural)
        if all(name not in mine for name, mine in zip(ordered, peers, strict=True)):
            return [spelled.get(name, name) for name in ordered]  # files in machine order
        missing = [everyone - p for p in peers]
        if all(len(m) == 1 for m in missing) and len({next(iter(m)) for m in missing}) == n:
            return [spelled.get(next(iter(m)), next(iter(m))) for m in missing]
    resolve = _Names(default)
    for s in sources:
        for r in s.records:
            for name in (*(r.to or ()), *((r.sender,) if r.sender else ())):
                if name != EVERYONE and resolve.find(name) is None:
                    raise LogError(
                        f"{s.path}: line {r.line}: {name!r} names no machine of ids "
                        f"{','.join(default)}; give the names with --ids (in file order)"
                    )
    return default


def _line_name(source: SourceLog) -> str | None:
    names = {name_key(r.machine) for r in source.records if r.machine is not None}
    if len(names) == 1 and all(r.machine is not None for r in source.records):
        return next(r.machine for r in source.records if r.machine is not None)
    return None


def _spellings(sources: Sequence[SourceLog]) -> dict[str, str]:
    """Each name key as the logs first spell it."""
    spelled: dict[str, str] = {}
    for s in sources:
        for r in s.records:
            for name in (*(r.to or ()), *((r.sender,) if r.sender else ())):
                spelled.setdefault(name_key(name), name)
    return spelled


def _merge_broadcasts(records: list[Record]) -> tuple[list[Record], int]:
    """One SEND event logged as a line per recipient (same clock, same time) is one event."""
    out: list[Record] = []
    merged = 0
    for r in records:
        last = out[-1] if out else None
        if (
            last is not None
            and r.kind == SEND == last.kind
            and r.clock == last.clock
            and r.time == last.time
            and r.to
            and last.to
            and EVERYONE not in r.to + last.to
            and not set(r.to) & set(last.to)
        ):
            last.to = last.to + r.to
            merged += 1
            continue
        out.append(r)
    return out, merged


def _clockless(sources: Sequence[SourceLog]) -> dict[str, int]:
    """Lines of shapes that never carry a clock, skipped: the five commonest shapes."""
    counts: dict[str, int] = {}
    for s in sources:
        for shape, count in s.clockless.items():
            counts[shape] = counts.get(shape, 0) + count
    return dict(sorted(counts.items(), key=lambda item: -item[1])[:5])


def _rate_of(times: Sequence[float]) -> float | None:
    """Events per second from the median interval between consecutive events."""
    gaps = [b - a for a, b in itertools.pairwise(times) if b > a]
    if len(gaps) < 2:
        return None
    rate = 1.0 / statistics.median(gaps)
    whole = round(rate)
    return float(whole) if whole and abs(rate - whole) <= 0.05 * whole else round(rate, 2)


def _unwrap_day(times: list[float]) -> list[float]:
    """Times of day that pass midnight keep increasing."""
    out, offset, previous = [], 0.0, None
    for x in times:
        if previous is not None and x + offset < previous - 43_200:
            offset += 86_400
        previous = x + offset
        out.append(previous)
    return out


def build_run(
    sources: Sequence[SourceLog],
    *,
    ids: Sequence[str] | None = None,
    rates: Sequence[float] | None = None,
    p_send: float | None = None,
    time_kind: str = "unix",
) -> tuple[dict[str, Any], list[list[Event]], list[list[int]]]:
    """The run the source logs describe: ``run.json``'s content, each machine's events in
    the log schema, and each event's line in its source file.

    ``time_kind`` says what the parsed times are (``unix``, ``day`` for seconds of a day
    from clock times, ``relative``, ``model`` for seconds since the run's common start,
    kept as they are). Raise LogError naming the problem if the logs cannot make a run
    (no events, a name that is no machine, no time and no rate, lists of the wrong length).
    """
    if (
        len(sources) == 1
        and sources[0].records
        and all(r.machine is not None for r in sources[0].records)
        and len({name_key(r.machine or "") for r in sources[0].records}) > 1
    ):
        machines, names = _split_single(sources[0], ids)
        files = [0] * len(names)
    else:
        names = _names(sources, ids)
        machines = [list(s.records) for s in sources]
        files = list(range(len(sources)))
    n = len(machines)
    if n < 2:
        raise LogError("one machine's log: a run needs at least two machines")
    for i, records in enumerate(machines):
        if not records:
            raise LogError(f"{sources[files[i]].path}: no events for machine {names[i]}")
    merged = 0
    for i, records in enumerate(machines):
        machines[i], count = _merge_broadcasts(records)
        merged += count
    resolve = _Names(names)

    # -- time ------------------------------------------------------------------------------
    has_time = all(r.time is not None for records in machines for r in records)
    if has_time and time_kind == "day":
        for records in machines:
            for r, x in zip(records, _unwrap_day([r.time or 0.0 for r in records]), strict=True):
                r.time = x
    if rates is not None and len(rates) != n:
        raise LogError(f"--rates lists {len(rates)} rates for {n} machines")
    rate_list: list[float] = []
    rate_from: list[str] = []
    for i, records in enumerate(machines):
        logged = sources[files[i]].rate if len(sources) > 1 else None
        if rates is not None:
            rate_list.append(float(rates[i]))
            rate_from.append("given")
        elif logged is not None:
            rate_list.append(logged)
            rate_from.append("log")
        else:
            inferred = (
                _rate_of([r.time for r in records if r.time is not None]) if has_time else None
            )
            if inferred is None:
                why = "the logs have no times" if not has_time else "too few events"
                raise LogError(
                    f"{sources[files[i]].path}: cannot infer machine {names[i]}'s rate "
                    f"({why}); give --rates"
                )
            rate_list.append(inferred)
            rate_from.append("inferred")
    if has_time:
        # ``model``: the source's times are already seconds since the run's common start
        # (a lamport run's own logs, its ShiViz export), so they are kept as they are.
        origin = (
            0.0
            if time_kind == "model"
            else min(r.time for records in machines for r in records if r.time is not None)
        )
        times = [[(r.time or 0.0) - origin for r in records] for records in machines]
    else:
        origin = 0.0
        times = [
            [k / rate_list[i] for k in range(1, len(records) + 1)]
            for i, records in enumerate(machines)
        ]

    # -- messages --------------------------------------------------------------------------
    recipients: list[list[tuple[int, ...] | None]] = []
    for i, records in enumerate(machines):
        row: list[tuple[int, ...] | None] = []
        for r in records:
            if r.kind != SEND:
                row.append(None)
            elif r.to is None:
                row.append(tuple(j for j in range(n) if j != i) if n == 2 else None)
            elif EVERYONE in r.to:
                row.append(tuple(j for j in range(n) if j != i))
            else:
                found = []
                for name in r.to:
                    j = resolve.find(name)
                    if j is None or j == i:
                        raise LogError(
                            f"{sources[files[i]].path}: line {r.line}: send to {name!r}, which "
                            f"is no other machine of {','.join(names)}"
                        )
                    found.append(j)
                row.append(tuple(sorted(set(found))))
        recipients.append(row)
    senders: list[list[int | None]] = []
    for i, records in enumerate(machines):
        row2: list[int | None] = []
        for r in records:
            if r.kind != RECEIVE:
                row2.append(None)
            elif r.sender is None:
                row2.append(1 - i if n == 2 else None)
            else:
                j = resolve.find(r.sender)
                if j is None or j == i:
                    raise LogError(
                        f"{sources[files[i]].path}: line {r.line}: receive from {r.sender!r}, "
                        f"which is no other machine of {','.join(names)}"
                    )
                row2.append(j)
        senders.append(row2)

    # Each machine's sends numbered 1, 2, ...: the message id <sender>:<n>.
    send_ids: list[list[str]] = []
    for i, records in enumerate(machines):
        count = 0
        row3 = []
        for r in records:
            if r.kind == SEND:
                count += 1
                row3.append(f"{i}:{count}")
            else:
                row3.append("")
        send_ids.append(row3)

    all_sends = [r for records in machines for r in records if r.kind == SEND]
    all_receives = [r for records in machines for r in records if r.kind == RECEIVE]
    matched: dict[tuple[int, int], tuple[int, int]] = {}  # receive (m, k) -> send (m, k)
    if all_receives and all(r.msg_id for r in all_sends + all_receives):
        matching = "msg_id"
        unique = len({r.msg_id for r in all_sends}) == len(all_sends)
        by_id: dict[Any, tuple[int, int]] = {}
        for i, records in enumerate(machines):
            for k, r in enumerate(records):
                if r.kind == SEND:
                    by_id[r.msg_id if unique else (i, r.msg_id)] = (i, k)
        for i, records in enumerate(machines):
            for k, r in enumerate(records):
                if r.kind == RECEIVE:
                    key = r.msg_id if unique else (senders[i][k], r.msg_id)
                    if key in by_id:
                        matched[(i, k)] = by_id[key]
    elif (
        all_receives
        and all_sends
        and all(
            recipients[i][k] is not None
            for i, records in enumerate(machines)
            for k, r in enumerate(records)
            if r.kind == SEND
        )
        and all(
            senders[i][k] is not None
            for i, records in enumerate(machines)
            for k, r in enumerate(records)
            if r.kind == RECEIVE
        )
    ):
        matching = "fifo"
        links: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for i in range(n):
            for k, to in enumerate(recipients[i]):
                for j in to or ():
                    links.setdefault((i, j), []).append((i, k))
        taken: dict[tuple[int, int], int] = {}
        for j in range(n):
            for k, s in enumerate(senders[j]):
                if s is None:
                    continue
                position = taken.get((s, j), 0)
                sent = links.get((s, j), [])
                if position < len(sent):
                    matched[(j, k)] = sent[position]
                taken[(s, j)] = position + 1
    else:
        matching = "none"

    # -- events ----------------------------------------------------------------------------
    logs: list[list[Event]] = []
    lines: list[list[int]] = []
    for i, records in enumerate(machines):
        previous = 0
        events = []
        for k, r in enumerate(records):
            t = round(times[i][k], 9)
            wall = round(origin + times[i][k], 6) if has_time and time_kind == "unix" else t
            msg_clock = r.msg_clock
            msg_id = ""
            if r.kind == SEND:
                to = recipients[i][k]
                peer = "+".join(str(j) for j in to) if to else ""
                msg_id = send_ids[i][k]
            elif r.kind == RECEIVE:
                s = senders[i][k]
                peer = "" if s is None else str(s)
                if (i, k) in matched:
                    si, sk = matched[(i, k)]
                    msg_id = send_ids[si][sk]
                    if s is None:
                        peer = str(si)
            else:
                peer = ""
            events.append(
                Event(
                    t,
                    wall,
                    i,
                    k + 1,
                    r.kind,
                    r.clock,
                    r.clock - previous,
                    r.queue,  # type: ignore[arg-type]  # None: the source did not log it
                    peer,
                    msg_clock,
                    msg_id,
                )
            )
            previous = r.clock
        logs.append(events)
        lines.append([r.line for r in records])

    # -- what the logs held ----------------------------------------------------------------
    def every(kind: str, attr: str) -> bool:
        chosen = [r for records in machines for r in records if r.kind == kind]
        return bool(chosen) and all(getattr(r, attr) is not None for r in chosen)

    def some(attr: str) -> bool:
        return any(getattr(r, attr) is not None for records in machines for r in records)

    absent: dict[str, str] = {}
    if not has_time:
        absent["time"] = "the logs record no time: event k of a machine is placed at k / rate"
    if not some("queue"):
        absent["queue"] = "the logs record no queue length"
    else:
        if all_sends and not every(SEND, "queue"):
            absent["queue_send"] = "sends carry no queue length"
        internals = any(r.kind == INTERNAL for records in machines for r in records)
        if internals and not every(INTERNAL, "queue"):
            absent["queue_internal"] = "internal events carry no queue length"
    if all_sends and not every(SEND, "to") and n > 2:
        absent["send_to"] = "sends do not name their recipient"
    if all_receives and not every(RECEIVE, "sender") and n > 2:
        absent["receive_from"] = "receives do not name their sender"
    if all_receives and not every(RECEIVE, "msg_clock"):
        absent["msg_clock"] = "receives do not log the clock the message carried"
    if not any(r.kind == INTERNAL for records in machines for r in records):
        absent["internal"] = "the logs record no internal events (unlogged events may lie between)"
    if not some("msg_id"):
        absent["msg_id"] = "the logs carry no message ids"
    if matching == "none":
        absent["matching"] = "messages cannot be matched: " + (
            "no sends or no receives"
            if not (all_sends and all_receives)
            else "sends must name recipients and receives senders (or both carry ids)"
        )
    present = ["clock", "kind"]
    present += [
        f
        for f, attr in (
            ("time", "time"),
            ("queue", "queue"),
            ("msg_id", "msg_id"),
            ("machine", "machine"),
        )
        if some(attr)
    ]
    if all_sends and every(SEND, "to"):
        present.append("send_to")
    if all_receives and every(RECEIVE, "sender"):
        present.append("receive_from")
    if any(r.msg_clock is not None for r in all_sends):
        present.append("msg_clock_send")
    if any(r.msg_clock is not None for r in all_receives):
        present.append("msg_clock_receive")

    if p_send is not None:
        p, p_from = float(p_send), "given"
    elif (
        len(sources) > 1 and len({s.p_send for s in sources}) == 1 and sources[0].p_send is not None
    ) or (sources[0].p_send is not None and len(sources) == 1):
        p, p_from = float(sources[0].p_send), "log"
    else:
        draws = sum(1 for r in all_sends) + sum(
            1 for records in machines for r in records if r.kind == INTERNAL
        )
        p = round(len(all_sends) / draws, 3) if draws else 0.0
        p_from = "inferred"

    received_from_link = [0] * n
    for j in range(n):
        received_from_link[j] = sum(1 for r in machines[j] if r.kind == RECEIVE)
    sent_to = [0] * n
    for i in range(n):
        for to in recipients[i]:
            for j in to or ():
                sent_to[j] += 1
    queued = [
        max(0, sent_to[j] - received_from_link[j]) if matching != "none" else 0 for j in range(n)
    ]
    # The logs span first to last event; the run began before its first tick and ended
    # after its last one, each about half a period of the fastest machine away.
    duration = max(max(row) for row in times if row) + 1 / max(rate_list)
    duration = math.ceil(duration * 1000) / 1000

    metadata: dict[str, Any] = {
        "backend": IMPORTED,
        "experiment": None,
        "name": "import",
        "seed": 0,
        "rates": rate_list,
        "p_send": p,
        "duration": duration,
        "phase": "random",
        "start_epoch": origin if has_time and time_kind == "unix" else 0.0,
        "version": __version__,
        "queued_at_end": queued,
        "absent": absent,
        "import": {
            "format": sources[0].format,
            "files": [
                {"path": str(s.path), "sha256": sha256(s.path), "lines": s.lines} for s in sources
            ],
            "machine_files": files,
            "ids": names,
            "rates_from": rate_from,
            "p_send_from": p_from,
            "fields_present": present,
            "time": time_kind if has_time else "none",
            "matching": matching,
            "events": sum(len(records) for records in machines),
            "unparsed_lines": sum(len(s.bad) for s in sources),
            "first_unparsed": [
                f"{s.path.name} line {line}: {why}" for s in sources for line, why in s.bad[:3]
            ][:5],
            "merged_sends": merged,
            "lines_without_clock": _clockless(sources),
            "skipped_lines": [s.skipped_lines for s in sources],
        },
    }
    return metadata, logs, lines
