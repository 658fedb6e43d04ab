"""Lamport's rules, checked on another implementation's logs as far as their fields allow.

Lamport (1978) gives a process three rules, and docs/spec.md (the model) writes them
for this exercise:

* an internal event or a send raises the clock by exactly 1 (IR1), and a send
  carries the clock after that increment;
* a receive sets the clock to max(local, message) + 1 (IR2), so it raises the
  clock by at least 1 and puts it above the message's clock;
* hence a received message's clock is below the receive's, and a send's
  clock below its receive's.

Real implementations break them in a few known ways, each named here where it
is seen: a receive that takes max(local + 1, message) with no further +1; a
message that carries the clock from before the send's increment; a clock
raised twice on a send. Each problem names the source file and line.

What the logs do not hold cannot be checked: each such rule is listed with
the reason (:attr:`CheckReport.not_checked`).
"""

from __future__ import annotations

import bisect
import csv
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lamport.core import INTERNAL, RECEIVE, SEND, Event
from lamport.errors import LogError
from lamport.schema import LINE_COLUMN, log_name

__all__ = ["rule_problems", "source_lines"]


def source_lines(run_dir: Path, n_machines: int) -> list[list[int]]:
    """Each event's line in its source file, from the imported logs' ``line`` column."""
    lines: list[list[int]] = []
    for machine in range(n_machines):
        path = Path(run_dir) / log_name(machine)
        try:
            with open(path, newline="", encoding="utf-8") as handle:
                reader = csv.reader(handle)
                header = next(reader, [])
                if LINE_COLUMN not in header:
                    raise LogError(f"{path}: an imported log without its {LINE_COLUMN} column")
                index = header.index(LINE_COLUMN)
                lines.append([int(row[index]) for row in reader])
        except (OSError, ValueError, IndexError, csv.Error) as exc:
            raise LogError(f"{path}: malformed {LINE_COLUMN} column ({exc})") from None
    return lines


class _Where:
    """Names an event by its source file and line."""

    def __init__(self, metadata: Mapping[str, Any], lines: Sequence[Sequence[int]]) -> None:
        info = metadata.get("import") or {}
        files = [Path(f.get("path", "?")).name for f in info.get("files") or []]
        machine_files = info.get("machine_files") or list(range(len(lines)))
        self.names = [
            files[f] if 0 <= f < len(files) else log_name(m) for m, f in enumerate(machine_files)
        ]
        self.ids = info.get("ids") or [str(m) for m in range(len(lines))]
        self.lines = lines

    def __call__(self, machine: int, index: int) -> str:
        return f"{self.names[machine]} line {self.lines[machine][index]}"

    def who(self, machine: int) -> str:
        return str(self.ids[machine]) if machine < len(self.ids) else str(machine)


def rule_problems(
    metadata: Mapping[str, Any], logs: Sequence[Sequence[Event]], lines: Sequence[Sequence[int]]
) -> tuple[list[str], list[str], list[str]]:
    """Every break of Lamport's rules in an imported run: (problems, rules checked,
    rules not checkable with the reason)."""
    where = _Where(metadata, lines)
    absent = metadata.get("absent") or {}
    problems: list[str] = []
    checked = [
        "an internal event raises the clock by exactly 1",
        "a send raises the clock by exactly 1",
        "a receive raises the clock by at least 1",
    ]
    not_checked: list[str] = []

    sends: dict[str, tuple[int, int]] = {}
    for m, events in enumerate(logs):
        for k, e in enumerate(events):
            if e.event == SEND and e.msg_id:
                sends[e.msg_id] = (m, k)
    matched = "matching" not in absent

    unlogged = "internal" in absent
    gaps = _gaps(metadata, lines)
    if unlogged:
        checked[:2] = ["a send raises the clock by at least 1"]
        not_checked.append(
            "an internal event or a send raises the clock by exactly 1: " + absent["internal"]
        )
    if any(gaps):
        not_checked.append(
            "the increment across skipped lines that name an event but carry no clock "
            "(see run.json import.lines_without_clock)"
        )
    for m, events in enumerate(logs):
        for k, e in enumerate(events):
            if k == 0:
                continue  # the clock before a log's first line is not in the log
            local = events[k - 1].clock
            here = where(m, k)
            hidden = unlogged or _between(gaps[m], lines[m][k - 1], lines[m][k])
            if e.event == INTERNAL and e.clock != local + 1 and not (hidden and e.clock > local):
                problems.append(
                    f"{here}: internal event moves the clock {local} -> {e.clock}; "
                    f"Lamport's rule raises it by exactly 1 (to {local + 1})"
                )
            elif e.event == SEND and e.clock != local + 1 and not (hidden and e.clock > local):
                twice = " (the clock is raised twice on a send)" if e.clock == local + 2 else ""
                problems.append(
                    f"{here}: send moves the clock {local} -> {e.clock}{twice}; "
                    f"Lamport's rule raises it by exactly 1 (to {local + 1})"
                )
            elif e.event == RECEIVE and e.clock <= local:
                problems.append(
                    f"{here}: receive moves the clock {local} -> {e.clock}; "
                    "a receive must raise it by at least 1"
                )

    notes = []
    for m, events in enumerate(logs):

        def across_gap(k: int, m: int = m) -> bool:
            return unlogged or _between(gaps[m], lines[m][k - 1], lines[m][k])

        note = _logged_before(events, across_gap)
        if note:
            notes.append(f"{where.names[m]}: {note}")
    problems[:0] = notes  # the cause before the breaks that follow from it

    # The clock a send puts in its message: Lamport's rule, the clock after the increment.
    logged_send = any(e.msg_clock is not None for ev in logs for e in ev if e.event == SEND)
    if logged_send:
        checked.append("a send carries its clock after the increment")
        for m, events in enumerate(logs):
            for k, e in enumerate(events):
                if e.event == SEND and e.msg_clock is not None and e.msg_clock != e.clock:
                    before = (
                        " (the clock from before the send's increment)"
                        if e.msg_clock == e.clock - 1
                        else ""
                    )
                    problems.append(
                        f"{where(m, k)}: send carries clock {e.msg_clock}{before}, "
                        f"not its clock {e.clock}"
                    )

    receives_logged = any(e.msg_clock is not None for ev in logs for e in ev if e.event == RECEIVE)
    if receives_logged or matched:
        checked.append("a receive sets the clock to max(local, message) + 1")
    seen_carried: set[str] = set()
    for m, events in enumerate(logs):
        for k, e in enumerate(events):
            if e.event == RECEIVE:
                hidden = k > 0 and (unlogged or _between(gaps[m], lines[m][k - 1], lines[m][k]))
                problems += _receive_problems(
                    logs, sends, where, matched, seen_carried, m, k, hidden
                )

    if matched:
        checked.append("a received message's send has a lower clock")
        checked.append("every receive has a send that accounts for it")
    else:
        reason = absent.get("matching", "messages cannot be matched")
        not_checked.append(f"a receive is above its send; every receive has a send: {reason}")
    if not logged_send:
        if receives_logged and matched:
            checked.append("a send carries its clock after the increment (seen at the receive)")
        else:
            not_checked.append(
                "a send carries its clock after the increment: "
                + (
                    "no message clock is logged; the receive rule is checked assuming it"
                    if matched
                    else "sends do not log it and messages cannot be matched"
                )
            )
    if not receives_logged and not matched:
        not_checked.append(
            "a receive sets the clock to max(local, message) + 1: receives do not log the "
            "message's clock and messages cannot be matched to their sends"
        )
    if "msg_id" in absent and matched:
        checked.append("(messages matched in FIFO order per link, as TCP delivers them)")
    return problems, checked, not_checked


def _logged_before(events: Sequence[Event], hidden: Callable[[int], bool]) -> str | None:
    """A diagnosis, if the log reads better as each event's clock *before* its update:
    a common slip that makes every later line look broken."""

    def fits(k: int, now: int, after: int) -> bool:
        e = events[k]
        if e.event == RECEIVE:
            return e.msg_clock is None or after == max(now, e.msg_clock) + 1
        return after == now + 1

    steps = [k for k in range(1, len(events)) if not hidden(k)]  # event k-1 -> event k
    n = len(steps)
    if n < 10:
        return None
    as_after = sum(fits(k, events[k - 1].clock, events[k].clock) for k in steps)
    as_before = sum(fits(k - 1, events[k - 1].clock, events[k].clock) for k in steps)
    if as_before >= 0.9 * n and as_before - as_after >= max(3, 0.05 * n):
        return (
            f"the log reads as each event's clock before its update: {as_before} of {n} "
            f"events fit Lamport's rules read that way, {as_after} read as logged after "
            "(lamport expects the clock after the event; the breaks below follow from that)"
        )
    return None


def _gaps(metadata: Mapping[str, Any], lines: Sequence[Sequence[int]]) -> list[list[int]]:
    """Each machine's skipped source lines (sorted): an unlogged event may hide there."""
    info = metadata.get("import") or {}
    skipped = info.get("skipped_lines") or []
    files = info.get("machine_files") or list(range(len(lines)))
    out = []
    for m in range(len(lines)):
        f = files[m] if m < len(files) else m
        out.append(sorted(skipped[f]) if 0 <= f < len(skipped) else [])
    return out


def _between(gaps: Sequence[int], after: int, before: int) -> bool:
    """Whether a skipped line lies strictly between two source lines."""
    index = bisect.bisect_right(gaps, after)
    return index < len(gaps) and gaps[index] < before


def _receive_problems(
    logs: Sequence[Sequence[Event]],
    sends: Mapping[str, tuple[int, int]],
    where: _Where,
    matched: bool,
    seen_carried: set[str],
    m: int,
    k: int,
    hidden: bool = False,
) -> list[str]:
    """The breaks at one receive: what its message carried, then one line for its clock
    (the receive rule where the clock before it is known, else that it is above its send
    and the message's clock). ``hidden``: events may be missing from the log just before
    it, so the receive rule gives only a lower bound."""
    events = logs[m]
    e = events[k]
    found: list[str] = []
    send = sends.get(e.msg_id) if e.msg_id else None
    message = e.msg_clock
    assumed = False
    s = None
    if send is not None:
        s = logs[send[0]][send[1]]
        if message is None:
            message = s.msg_clock if s.msg_clock is not None else s.clock
            assumed = s.msg_clock is None
        if (
            e.msg_clock is not None
            and s.msg_clock is None
            and e.msg_clock != s.clock
            and e.msg_id not in seen_carried
        ):
            seen_carried.add(e.msg_id)
            before = (
                " (the clock from before the send's increment)"
                if e.msg_clock == s.clock - 1
                else ""
            )
            found.append(
                f"{where(*send)}: the message received at {where(m, k)} carries clock "
                f"{e.msg_clock}{before}, not the send's clock {s.clock}"
            )
    elif e.msg_id == "" and matched:
        sender = f" from {where.who(int(e.peer))}" if e.peer else ""
        found.append(f"{where(m, k)}: receive{sender} that no send can account for")
    if message is not None and k > 0:
        local = events[k - 1].clock
        want = max(local, message) + 1
        # with events unlogged before it, the local clock may be higher than the log shows
        if e.clock != want and not (hidden and e.clock > want):
            what = (
                f"{where(m, k)}: receive of clock {message} at local clock {local} gives {e.clock}"
            )
            if e.clock == max(local + 1, message) and message > local:
                found.append(
                    f"{what}: it took max(local + 1, message) with no further +1; "
                    f"Lamport's rule gives max(local, message) + 1 = {want}"
                )
            else:
                taken = " (the message's clock taken from its send)" if assumed else ""
                found.append(
                    f"{what}; Lamport's rule gives max(local, message) + 1 = {want}{taken}"
                )
            return found
    if s is not None and e.clock <= s.clock:
        found.append(
            f"{where(m, k)}: receive at clock {e.clock} is not above its send's clock "
            f"{s.clock} ({where(*send)})"  # type: ignore[misc]
        )
    elif message is not None and e.clock <= message:
        found.append(
            f"{where(m, k)}: receive at clock {e.clock} is not above the message's clock {message}"
        )
    return found
