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
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lamport import __version__
from lamport.core import Event
from lamport.errors import LogError
from lamport.imports.columns import (
    INTERNAL_CODE,
    KIND_NAME,
    RECEIVE_CODE,
    SEND_CODE,
    Columns,
    table_of,
)
from lamport.imports.records import EVERYONE, SourceLog
from lamport.schema import IMPORTED, LINE_COLUMN

__all__ = ["LINE_COLUMN", "ImportOptions", "Imported", "build_run", "name_key", "sha256"]


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


_TRAILING = re.compile(r"(?a)(\d+)$")


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


def _peer_names(table: Columns) -> set[str]:
    found: set[str] = set()
    for to in set(table.to[table.to != None]):  # noqa: E711 - elementwise on an object array
        found.update(name_key(n) for n in to if n != EVERYONE)
    for sender in set(table.sender[table.sender != None]):  # noqa: E711
        found.add(name_key(sender))
    return found


def _split_single(
    source: SourceLog, table: Columns, ids: Sequence[str] | None
) -> tuple[list[Columns], list[str]]:
    """One file whose lines name their machine: the events of each machine, and the names."""
    missing = np.flatnonzero(table.machine == None)  # noqa: E711
    if len(missing):
        raise LogError(
            f"{source.path}: line {table.line[missing[0]]}: names no machine, and only one file "
            "was given (give one file per machine, or a log whose every line names its machine)"
        )
    names: list[str] = []
    seen: dict[str, int] = {}
    for name in table.machine:
        key = name_key(name)
        if key not in seen:
            seen[key] = len(names)
            names.append(name)
    if ids is not None:
        order = _Names(ids)
        unknown = [n for n in names if order.find(n) is None]
        if unknown:
            raise LogError(f"{source.path}: machine {unknown[0]!r} is not in --ids {','.join(ids)}")
        names = list(ids)
    else:
        names.sort(key=_natural)
    resolve = _Names(names)
    index = {name: resolve.find(name) or 0 for name in set(table.machine)}
    owner = np.array([index[name] for name in table.machine], dtype=np.int64)
    return [table.take(owner == m) for m in range(len(names))], names


def _natural(name: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p.lower() for p in re.split(r"(?a)(\d+)", name))


def _names(
    sources: Sequence[SourceLog], tables: Sequence[Columns], ids: Sequence[str] | None
) -> list[str]:
    """The source's name of each machine (one file each), by the rules of the module doc."""
    n = len(sources)
    if ids is not None:
        if len(ids) != n:
            raise LogError(f"--ids lists {len(ids)} names for {n} files")
        return list(ids)
    own = [s.name or _line_name(t) for s, t in zip(sources, tables, strict=True)]
    claimed: dict[str, Path] = {}
    for source, name in zip(sources, own, strict=True):
        if name is None:
            continue
        if name_key(name) in claimed:
            raise LogError(
                f"{claimed[name_key(name)]} and {source.path} both say they are machine "
                f"{name!r}: give one log per machine"
            )
        claimed[name_key(name)] = source.path
    if all(own) and len(claimed) == n:
        return [x for x in own if x]
    peers = [_peer_names(t) for t in tables]
    everyone = set().union(*peers)
    default = [str(i) for i in range(n)]
    if everyone <= {name_key(x) for x in default} or not everyone:
        return default
    spelled = _spellings(tables)
    for candidate in _sequences({spelled.get(x, x) for x in everyone}, n):  # A, B, C; m0, m1
        keys = [name_key(c) for c in candidate]
        if everyone <= set(keys) and all(k not in p for k, p in zip(keys, peers, strict=True)):
            return candidate
    if len(everyone) == n:
        ordered = sorted(everyone, key=_natural)
        if all(name not in mine for name, mine in zip(ordered, peers, strict=True)):
            return [spelled.get(name, name) for name in ordered]  # files in machine order
        missing = [everyone - p for p in peers]
        if all(len(m) == 1 for m in missing) and len({next(iter(m)) for m in missing}) == n:
            return [spelled.get(next(iter(m)), next(iter(m))) for m in missing]
    resolve = _Names(default)
    for s, t in zip(sources, tables, strict=True):
        for k in range(len(t)):
            for name in (*(t.to[k] or ()), *((t.sender[k],) if t.sender[k] else ())):
                if name != EVERYONE and resolve.find(name) is None:
                    raise LogError(
                        f"{s.path}: line {t.line[k]}: {name!r} names no machine of ids "
                        f"{','.join(default)}; give the names with --ids (in file order)"
                    )
    return default


def _sequences(names: set[str], n: int) -> list[list[str]]:
    """Name sequences of n machines the given names may be part of: ``A, B, C``,
    ``1, 2, 3``, ``m0, m1, m2`` or ``vm_1, vm_2, vm_3`` (a common prefix, 0- or 1-based)."""
    found: list[list[str]] = []
    if names and all(len(x) == 1 and x.isalpha() for x in names):
        first = "A" if all(x.isupper() for x in names) else "a"
        found.append([chr(ord(first) + i) for i in range(n)])
    prefixes = {_TRAILING.split(x)[0] for x in names if _TRAILING.search(x)}
    if names and len(prefixes) == 1 and all(_TRAILING.search(x) for x in names):
        prefix = next(iter(prefixes))
        found += [[f"{prefix}{i + base}" for i in range(n)] for base in (0, 1)]
    return found


def _line_name(table: Columns) -> str | None:
    if not len(table) or (table.machine == None).any():  # noqa: E711
        return None
    names = {name_key(name) for name in set(table.machine)}
    return str(table.machine[0]) if len(names) == 1 else None


def _spellings(tables: Sequence[Columns]) -> dict[str, str]:
    """Each name key as the logs first spell it."""
    spelled: dict[str, str] = {}
    for t in tables:
        for k in range(len(t)):
            for name in (*(t.to[k] or ()), *((t.sender[k],) if t.sender[k] else ())):
                spelled.setdefault(name_key(name), name)
    return spelled


def _merge_broadcasts(table: Columns) -> tuple[Columns, int]:
    """One SEND event logged as a line per recipient (same clock, same time) is one event."""
    send = table.kind == SEND_CODE
    same = np.zeros(len(table), dtype=bool)
    if len(table) > 1:
        same[1:] = (
            send[1:]
            & send[:-1]
            & (table.clock[1:] == table.clock[:-1])
            & (
                (table.time[1:] == table.time[:-1])
                | (np.isnan(table.time[1:]) & np.isnan(table.time[:-1]))
            )
        )
    candidates = np.flatnonzero(same)
    if not len(candidates):
        return table, 0
    keep = np.ones(len(table), dtype=bool)
    to = table.to.copy()
    merged = 0
    for k in candidates:
        first = k - 1
        while not keep[first]:
            first -= 1
        a, b = to[first], to[k]
        if a and b and EVERYONE not in a + b and not set(a) & set(b):
            to[first] = a + b
            keep[k] = False
            merged += 1
    table.to = to
    return table.take(keep), merged


def _rate_of(times: np.ndarray) -> float | None:
    """Events per second from the median interval between consecutive events."""
    gaps = np.diff(times)
    gaps = gaps[gaps > 0]
    if len(gaps) < 2:
        return None
    rate = 1.0 / float(np.median(gaps))
    whole = round(rate)
    return float(whole) if whole and abs(rate - whole) <= 0.05 * whole else round(rate, 2)


def _unwrap_day(times: np.ndarray) -> np.ndarray:
    """Times of day that pass midnight keep increasing."""
    wraps = np.concatenate([[0], np.cumsum(np.diff(times) < -43_200)])
    return times + 86_400 * wraps


def _clockless(sources: Sequence[SourceLog]) -> dict[str, int]:
    """Lines of shapes that never carry a clock, skipped: the five commonest shapes."""
    counts: dict[str, int] = {}
    for s in sources:
        for shape, count in s.clockless.items():
            counts[shape] = counts.get(shape, 0) + count
    return dict(sorted(counts.items(), key=lambda item: -item[1])[:5])


@dataclass
class Imported:
    """What :func:`build_run` makes of the source logs: ``run.json``'s content and each
    machine's events as columns of the log schema, plus each event's source ``line``."""

    metadata: dict[str, Any]
    columns: list[dict[str, np.ndarray]]

    def events(self) -> list[list[Event]]:
        """Each machine's events as :class:`lamport.core.Event` records."""
        logs = []
        new = tuple.__new__
        for c in self.columns:
            queue = c["queue"].astype(object)
            queue[~c["has_queue"]] = None  # the source did not log it
            msg_clock = c["msg_clock"].astype(object)
            msg_clock[~c["has_msg_clock"]] = None
            rows = zip(
                c["t"].tolist(),
                c["wall"].tolist(),
                c["machine"].tolist(),
                c["tick"].tolist(),
                c["event"].tolist(),
                c["clock"].tolist(),
                c["jump"].tolist(),
                queue.tolist(),
                c["peer"].tolist(),
                msg_clock.tolist(),
                c["msg_id"].tolist(),
                strict=True,
            )
            logs.append([new(Event, row) for row in rows])
        return logs

    @property
    def lines(self) -> list[list[int]]:
        return [c[LINE_COLUMN].tolist() for c in self.columns]


def build_run(
    sources: Sequence[SourceLog],
    *,
    ids: Sequence[str] | None = None,
    rates: Sequence[float] | None = None,
    p_send: float | None = None,
    time_kind: str = "unix",
) -> Imported:
    """The run the source logs describe: ``run.json``'s content and each machine's events
    in the log schema, with each event's line in its source file.

    ``time_kind`` says what the parsed times are (``unix``, ``day`` for seconds of a day
    from clock times, ``relative``, ``model`` for seconds since the run's common start,
    kept as they are). Raise LogError naming the problem if the logs cannot make a run
    (no events, a name that is no machine, no time and no rate, lists of the wrong length).
    """
    tables = [table_of(s) for s in sources]
    first = tables[0]
    if (
        len(sources) == 1
        and len(first)
        and not (first.machine == None).any()  # noqa: E711
        and len({name_key(x) for x in set(first.machine)}) > 1
    ):
        machines, names = _split_single(sources[0], first, ids)
        files = [0] * len(names)
    else:
        names = _names(sources, tables, ids)
        machines = list(tables)
        files = list(range(len(sources)))
    n = len(machines)
    if n < 2:
        raise LogError("one machine's log: a run needs at least two machines")
    for i, table in enumerate(machines):
        if not len(table):
            raise LogError(f"{sources[files[i]].path}: no events for machine {names[i]}")
    merged = 0
    for i, table in enumerate(machines):
        machines[i], count = _merge_broadcasts(table)
        merged += count
    resolve = _Names(names)
    everything = Columns.concat(machines)
    kinds = everything.kind

    # -- time ------------------------------------------------------------------------------
    has_time = not np.isnan(everything.time).any()
    if has_time and time_kind == "day":
        for table in machines:
            table.time = _unwrap_day(table.time)
    if rates is not None and len(rates) != n:
        raise LogError(f"--rates lists {len(rates)} rates for {n} machines")
    rate_list: list[float] = []
    rate_from: list[str] = []
    for i, table in enumerate(machines):
        logged = sources[files[i]].rate if len(sources) > 1 else None
        if rates is not None:
            rate_list.append(float(rates[i]))
            rate_from.append("given")
        elif logged is not None:
            rate_list.append(logged)
            rate_from.append("log")
        else:
            inferred = _rate_of(table.time) if has_time else None
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
        origin = 0.0 if time_kind == "model" else float(np.min(everything.time))
        times = [table.time - origin for table in machines]
    else:
        origin = 0.0
        times = [np.arange(1, len(table) + 1) / rate_list[i] for i, table in enumerate(machines)]

    # -- messages --------------------------------------------------------------------------
    def recipients_of(i: int, to: tuple[str, ...] | None, line: int) -> tuple[int, ...] | None:
        if to is None:
            return tuple(j for j in range(n) if j != i) if n == 2 else None
        if EVERYONE in to:
            return tuple(j for j in range(n) if j != i)
        found = []
        for name in to:
            j = resolve.find(name)
            if j is None or j == i:
                raise LogError(
                    f"{sources[files[i]].path}: line {line}: send to {name!r}, which "
                    f"is no other machine of {','.join(names)}"
                )
            found.append(j)
        return tuple(sorted(set(found)))

    def sender_of(i: int, name: str | None, line: int) -> int:
        if name is None:
            return 1 - i if n == 2 else -1
        j = resolve.find(name)
        if j is None or j == i:
            raise LogError(
                f"{sources[files[i]].path}: line {line}: receive from {name!r}, "
                f"which is no other machine of {','.join(names)}"
            )
        return j

    recipients: list[dict[int, tuple[int, ...] | None]] = []  # by machine: index -> ids
    senders: list[np.ndarray] = []  # by machine: the sender of each receive, -1 unknown
    for i, table in enumerate(machines):
        cache: dict[Any, tuple[int, ...] | None] = {}
        mine: dict[int, tuple[int, ...] | None] = {}
        for k in np.flatnonzero(table.kind == SEND_CODE).tolist():
            to = table.to[k]
            if to not in cache:
                cache[to] = recipients_of(i, to, int(table.line[k]))
            mine[k] = cache[to]
        recipients.append(mine)
        who = np.full(len(table), -1, dtype=np.int64)
        found: dict[Any, int] = {}
        for k in np.flatnonzero(table.kind == RECEIVE_CODE).tolist():
            name = table.sender[k]
            if name not in found:
                found[name] = sender_of(i, name, int(table.line[k]))
            who[k] = found[name]
        senders.append(who)

    # Each machine's sends numbered 1, 2, ...: the message id <sender>:<n>.
    send_number = [np.cumsum(table.kind == SEND_CODE) for table in machines]
    n_sends = int(np.sum(kinds == SEND_CODE))
    n_receives = int(np.sum(kinds == RECEIVE_CODE))
    matched: list[dict[int, tuple[int, int]]] = [{} for _ in range(n)]  # receive k -> send
    send_ids = everything.msg_id[kinds == SEND_CODE]
    receive_ids = everything.msg_id[kinds == RECEIVE_CODE]
    if n_receives and not (send_ids == None).any() and not (receive_ids == None).any():  # noqa: E711
        matching = "msg_id"
        unique = len(set(send_ids)) == n_sends
        by_id: dict[Any, tuple[int, int]] = {}
        for i, table in enumerate(machines):
            for k in np.flatnonzero(table.kind == SEND_CODE).tolist():
                by_id[table.msg_id[k] if unique else (i, table.msg_id[k])] = (i, k)
        for i, table in enumerate(machines):
            for k in np.flatnonzero(table.kind == RECEIVE_CODE).tolist():
                key = table.msg_id[k] if unique else (int(senders[i][k]), table.msg_id[k])
                if key in by_id:
                    matched[i][k] = by_id[key]
    elif (
        n_receives
        and n_sends
        and all(to is not None for mine in recipients for to in mine.values())
        and all(
            (who[table.kind == RECEIVE_CODE] >= 0).all()
            for who, table in zip(senders, machines, strict=True)
        )
    ):
        matching = "fifo"
        links: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for i in range(n):
            for k, to in recipients[i].items():
                for j in to or ():
                    links.setdefault((i, j), []).append((i, k))
        for j, table in enumerate(machines):
            taken: dict[int, int] = {}
            for k in np.flatnonzero(table.kind == RECEIVE_CODE).tolist():
                s = int(senders[j][k])
                position = taken.get(s, 0)
                sent = links.get((s, j), [])
                if position < len(sent):
                    matched[j][k] = sent[position]
                taken[s] = position + 1
    else:
        matching = "none"

    # -- events ----------------------------------------------------------------------------
    columns: list[dict[str, np.ndarray]] = []
    for i, table in enumerate(machines):
        size = len(table)
        t = np.round(times[i], 9)
        wall = np.round(origin + times[i], 6) if has_time and time_kind == "unix" else t
        peer = np.full(size, "", dtype=object)
        msg_id = np.full(size, "", dtype=object)
        for k, to in recipients[i].items():
            peer[k] = "+".join(map(str, to)) if to else ""
            msg_id[k] = f"{i}:{send_number[i][k]}"
        for k in np.flatnonzero(table.kind == RECEIVE_CODE).tolist():
            s = int(senders[i][k])
            if s >= 0:
                peer[k] = str(s)
            if k in matched[i]:
                si, sk = matched[i][k]
                msg_id[k] = f"{si}:{send_number[si][sk]}"
                if s < 0:
                    peer[k] = str(si)
        columns.append(
            {
                "t": t,
                "wall": wall,
                "machine": np.full(size, i, dtype=np.int64),
                "tick": np.arange(1, size + 1, dtype=np.int64),
                "event": np.array(KIND_NAME, dtype=object)[table.kind],
                "clock": table.clock,
                "jump": np.diff(table.clock, prepend=0),
                "queue": table.queue,
                "has_queue": table.has_queue,
                "peer": peer,
                "msg_clock": table.msg_clock,
                "has_msg_clock": table.has_msg_clock,
                "msg_id": msg_id,
                LINE_COLUMN: table.line,
            }
        )

    # -- what the logs held ----------------------------------------------------------------
    def every(code: int, present: np.ndarray) -> bool:
        chosen = kinds == code
        return bool(chosen.any()) and bool(present[chosen].all())

    has_to = everything.to != None  # noqa: E711
    has_sender = everything.sender != None  # noqa: E711
    has_id = everything.msg_id != None  # noqa: E711
    has_machine = everything.machine != None  # noqa: E711
    internals = bool((kinds == INTERNAL_CODE).any())
    absent: dict[str, str] = {}
    if not has_time:
        absent["time"] = "the logs record no time: event k of a machine is placed at k / rate"
    if not everything.has_queue.any():
        absent["queue"] = "the logs record no queue length"
    else:
        if n_sends and not every(SEND_CODE, everything.has_queue):
            absent["queue_send"] = "sends carry no queue length"
        if internals and not every(INTERNAL_CODE, everything.has_queue):
            absent["queue_internal"] = "internal events carry no queue length"
    if n_sends and not every(SEND_CODE, has_to) and n > 2:
        absent["send_to"] = "sends do not name their recipient"
    if n_receives and not every(RECEIVE_CODE, has_sender) and n > 2:
        absent["receive_from"] = "receives do not name their sender"
    if n_receives and not every(RECEIVE_CODE, everything.has_msg_clock):
        absent["msg_clock"] = "receives do not log the clock the message carried"
    if not internals:
        absent["internal"] = "the logs record no internal events (unlogged events may lie between)"
    if not has_id.any():
        absent["msg_id"] = "the logs carry no message ids"
    if matching == "none":
        absent["matching"] = "messages cannot be matched: " + (
            "no sends or no receives"
            if not (n_sends and n_receives)
            else "sends must name recipients and receives senders (or both carry ids)"
        )
    present = ["clock", "kind"]
    present += [
        name
        for name, found_any in (
            ("time", has_time),
            ("queue", everything.has_queue.any()),
            ("msg_id", has_id.any()),
            ("machine", has_machine.any()),
        )
        if found_any
    ]
    if n_sends and every(SEND_CODE, has_to):
        present.append("send_to")
    if n_receives and every(RECEIVE_CODE, has_sender):
        present.append("receive_from")
    if everything.has_msg_clock[kinds == SEND_CODE].any():
        present.append("msg_clock_send")
    if everything.has_msg_clock[kinds == RECEIVE_CODE].any():
        present.append("msg_clock_receive")

    if p_send is not None:
        p, p_from = float(p_send), "given"
    elif (
        len(sources) > 1 and len({s.p_send for s in sources}) == 1 and sources[0].p_send is not None
    ) or (sources[0].p_send is not None and len(sources) == 1):
        p, p_from = float(sources[0].p_send), "log"
    else:
        draws = n_sends + int(np.sum(kinds == INTERNAL_CODE))
        p = round(n_sends / draws, 3) if draws else 0.0
        p_from = "inferred"

    sent_to = [0] * n
    for i in range(n):
        for to in recipients[i].values():
            for j in to or ():
                sent_to[j] += 1

    def left_at_end(j: int) -> int:
        """Messages still queued for machine j at the end: sent to it and never received;
        without matched messages, the last queue length its log gives (else 0)."""
        if matching != "none":
            return max(0, sent_to[j] - int(np.sum(machines[j].kind == RECEIVE_CODE)))
        logged = np.flatnonzero(machines[j].has_queue)
        return int(machines[j].queue[logged[-1]]) if len(logged) else 0

    queued = [left_at_end(j) for j in range(n)]
    # The logs span first to last event; the run began before its first tick and ended
    # after its last one, each about half a period of the fastest machine away.
    duration = max(float(np.max(x)) for x in times if len(x)) + 1 / max(rate_list)
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
            "events": len(everything),
            "unparsed_lines": sum(len(s.bad) for s in sources),
            "first_unparsed": [
                f"{s.path.name} line {line}: {why}" for s in sources for line, why in s.bad[:3]
            ][:5],
            "merged_sends": merged,
            "lines_without_clock": _clockless(sources),
            "skipped_lines": [s.skipped_lines for s in sources],
        },
    }
    return Imported(metadata, columns)
