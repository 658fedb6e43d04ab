"""Reading a log whose format nobody described: what the lines have in common.

Students' implementations of the exercise write every shape of log. This
module recognises them from what any such log must hold, not from a list of
known formats:

Delimited rows
    Lines that split on one separator (``,`` ``;`` tab ``|`` or runs of
    spaces) into the same number of bare values. A first row of words is a
    header, whose names say what each column is; a column without a name is
    told by its values: date-times or Unix seconds are the time, a few
    repeated words are the kind, an integer that rises from row to row (by
    more than one at receives) is the clock, a small integer that does not is
    the queue, names of machines empty on internal events are the peer.
Labelled fields and sentences
    Any other line is read as words and values: each value takes its meaning
    from the words before it in the same clause (``clock=5``, ``Logical
    clock: 5``, ``clock now 17``), or after it (``3 left in the queue``). A
    word of the send, receive or internal families gives the kind, in any
    case or inflection (``SEND``, ``sent``, ``recv``, ``Received``); ``to`` and
    ``from`` name the peer; ``both``, ``all`` or ``broadcast`` mean every
    other machine. Of two clocks on a receive, the one said to be the
    message's (``msg``, ``message``, ``received``...) is the message clock.
Metadata
    A line with no kind that gives a rate (``tick rate: 4``, ``ticks per
    second 4``) or a send probability (``p_send = 0.3``) is the run's metadata.

When a log does not fit, :func:`parse_auto` says which part it could not find;
a recipe (:mod:`lamport.imports.recipe`) says it for such logs.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from lamport.core import INTERNAL, RECEIVE, SEND
from lamport.errors import LogError
from lamport.imports.columns import table_of
from lamport.imports.records import CLOCK_LIMIT, EVERYONE, Record, SourceLog

__all__ = ["kind_of", "parse_auto", "parse_auto_files", "parse_time", "read_lines", "words"]

# -- words -------------------------------------------------------------------------------

_SPLIT = re.compile(r"(?a)[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


def words(text: str) -> list[str]:
    """Lowercase words of a label: ``logicalClock`` and ``logical_clock`` -> logical, clock."""
    return [w.lower() for w in _SPLIT.findall(text)]


_SEND = re.compile(r"(?a)^(send|sent|sending|sends|snd|sendto|broadcast\w*|bcast|multicast\w*)$")
_RECEIVE = re.compile(
    r"(?a)^(receive\w*|received|recv\w*|rcv\w*|rec|got|deliver\w*|dequeue\w*|pop|popped)$"
)
_INTERNAL = re.compile(r"(?a)^(internal\w*|int|idle|comput\w*|noop|local_event|localevent)$")
_EVERY = {
    "both",
    "all",
    "everyone",
    "everybody",
    "others",
    "broadcast",
    "broadcasted",
    "broadcasting",
    "bcast",
    "multicast",
}

CLOCK_WORDS = {"clock", "lc", "lamport", "logical", "lclock", "lt", "counter", "clk"}
MSG_WORDS = {
    "msg",
    "message",
    "messages",
    "received",
    "recv",
    "remote",
    "incoming",
    "sender",
    "senders",
    "their",
    "carried",
    "carrying",
    "payload",
    "m",
    "rcvd",
    "other",
}
LOCAL_WORDS = {
    "now",
    "new",
    "updated",
    "update",
    "local",
    "own",
    "after",
    "my",
    "set",
    "becomes",
    "current",
    "is",
    "to",
    "self",
}
#: Words that say a value is a real time; with these, even a small integer is a time.
HARD_TIME = {
    "wall",
    "system",
    "systime",
    "real",
    "global",
    "physical",
    "epoch",
    "date",
    "datetime",
    "elapsed",
    "walltime",
}
TIME_WORDS = HARD_TIME | {"time", "timestamp", "ts", "t"}
QUEUE_WORDS = {
    "queue",
    "q",
    "qlen",
    "qsize",
    "queued",
    "pending",
    "backlog",
    "remaining",
    "left",
    "inbox",
    "waiting",
    "buffer",
    "buffered",
    "mailbox",
    "queuelen",
}
TO_WORDS = {
    "to",
    "recipient",
    "recipients",
    "dest",
    "destination",
    "target",
    "receiver",
    "towards",
    "dst",
}
FROM_WORDS = {"from", "sender", "src", "source", "origin"}
PEER_WORDS = {"peer", "partner", "neighbor", "neighbour", "with"}
MACHINE_WORDS = {
    "machine",
    "vm",
    "node",
    "process",
    "proc",
    "host",
    "server",
    "pid",
    "id",
    "name",
    "self",
    "me",
    "worker",
    "client",
}
ID_WORDS = {"id", "uid", "uuid", "seq", "num", "number", "mid"}
RATE_WORDS = {"rate", "ticks", "tps", "hz", "frequency", "freq", "speed"}
P_WORDS = {"probability", "prob", "psend", "p"}
TICK_WORDS = {"tick", "step", "round", "iteration", "iter", "cycle", "line", "index", "n"}
#: Words between "to"/"from" and a machine's name: "to machine 2", "from the peer B".
FILLER = (MACHINE_WORDS - {"pid", "id", "name", "self", "me"}) | {
    "peer",
    "the",
    "a",
    "port",
    "m",
    "p",
}


@lru_cache(maxsize=4096)  # a log has a handful of kind cells, each repeated on many rows
def cell_kind(cell: str) -> tuple[str | None, bool]:
    """The event kind a delimited cell names (``SEND_BOTH``, ``recv``)."""
    return kind_of(" ".join(words(cell)))


def kind_of(text: str) -> tuple[str | None, bool]:
    """The event kind a text names, and whether it names a send to everyone."""
    found = None
    everyone = False
    for w in (w.lower() for w in re.findall(r"[A-Za-z]+", text)):
        if found is None:
            if _SEND.match(w):
                found = SEND
            elif _RECEIVE.match(w):
                found = RECEIVE
            elif _INTERNAL.match(w):
                found = INTERNAL
        if w in _EVERY:
            everyone = True
            found = found or SEND
    return found, everyone and found == SEND


# -- time --------------------------------------------------------------------------------

_DATETIME = re.compile(
    r"(?a)(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<clock>\d{2}:\d{2}:\d{2})(?:[.,](?P<frac>\d{1,9}))?"
    r"(?P<zone>Z|[+-]\d{2}:?\d{2})?"
)
_TIME_OF_DAY = re.compile(
    r"(?a)(?<![\d.:])(?P<clock>\d{1,2}:\d{2}:\d{2})(?:[.,](?P<frac>\d{1,9}))?"
)


def parse_time(text: str) -> tuple[float, str] | None:
    """A date-time or a clock time in ``text``: (seconds, ``unix`` or ``day``)."""
    match = _DATETIME.search(text)
    if match:
        h, m, sec = (int(x) for x in match["clock"].split(":"))
        seconds = _midnight(match["date"]) + h * 3600 + m * 60 + sec
        zone = match["zone"]
        if zone and zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            digits = zone[1:].replace(":", "")
            seconds -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
        return seconds + _fraction(match["frac"]), "unix"
    match = _TIME_OF_DAY.search(text)
    if match:
        h, m, sec = (int(x) for x in match["clock"].split(":"))
        return h * 3600 + m * 60 + sec + _fraction(match["frac"]), "day"
    return None


@lru_cache(maxsize=4096)  # a log spans a few days: each date is worked out once
def _midnight(date: str) -> float:
    """Unix seconds of a date's midnight, UTC: ``2024-06-01``."""
    return datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()


def _fraction(digits: str | None) -> float:
    return int(digits) / 10 ** len(digits) if digits else 0.0


def _epoch(value: float) -> float | None:
    """Unix seconds (or milliseconds, microseconds, nanoseconds) of this century, else None."""
    if 9e8 <= value <= 4.2e9:
        return value
    for scale in (1e3, 1e6, 1e9):
        if 9e8 <= value / scale <= 4.2e9:
            return value / scale
    return None


# -- tokens ------------------------------------------------------------------------------

#: A line's values (ASCII digits only): date-times, times of day, numbers not inside a name.
_VALUE_PATTERN = (
    r"(?P<datetime>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?)"
    r"|(?P<tod>(?<![\d.])\d{1,2}:\d{2}:\d{2}(?:[.,]\d{1,9})?)"
    r"|(?P<number>(?<![\w.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w]))"
)
_TOKEN = re.compile(
    _VALUE_PATTERN + r"|(?P<name>[A-Za-z][A-Za-z0-9]*(?:[_-][A-Za-z0-9]+)*|\d+[A-Za-z_][\w-]*)"
    r"|(?P<stop>[,;|.!?\n]|(?<!\d)\.(?!\d)|->|=>)"
    r"|(?P<other>\S)",
    re.ASCII,
)


#: The token kinds that are a line's values; the rest of a line is its shape.
_VALUE_KINDS = ("datetime", "tod", "number")
#: The values of a line alone, as :data:`_TOKEN` finds them.
_VALUE = re.compile(_VALUE_PATTERN, re.ASCII)
_VALUE_ONLY = re.compile(r"(?a)-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _value_class(match: re.Match[str]) -> str:
    """What a value is, as far as the reading of a line can depend on it."""
    kind = match.lastgroup
    if kind != "number":
        return "\x00D" if kind == "datetime" else "\x00T"
    text = match.group()
    if len(text) <= 8 and text.isdigit():
        return "\x00I"  # below 10^8, so no Unix time at any scale: the common case, quickly
    value = float(text)
    if _epoch(value) is not None:
        return "\x00E"
    if _is_int(text):
        return "\x00I" if abs(int(text)) < 10**8 else "\x00J"
    return "\x00P" if 0 <= value <= 1 else "\x00F"


def _shape_key(line: str) -> tuple[str, list[str]]:
    """A line's shape (its text with each value replaced by the value's class) and its
    values: lines of one shape are read alike."""
    values: list[str] = []

    def note(match: re.Match[str]) -> str:
        values.append(match.group())
        return _value_class(match)

    return _VALUE.sub(note, line), values


def _from_plan(plan: _Line, line: str, values: Sequence[str]) -> _Line:
    """Read a line by the reading of another line of its shape."""
    out = _Line(
        kind=plan.kind,
        everyone=plan.everyone,
        clocks=list(plan.clocks or []),
        to=list(plan.to) if plan.to is not None else None,
        sender=plan.sender,
        peer=plan.peer,
        machine=plan.machine,
        unlabelled=plan.unlabelled,
        slots=plan.slots,
        prefixed=plan.prefixed,
    )
    for name, j in plan.slots:
        text = values[j]
        if name == "time":
            number = _VALUE_ONLY.fullmatch(text)
            if number:
                value = float(text)
                epoch = _epoch(value)
                out.time, out.time_kind = (
                    (epoch, "unix") if epoch is not None else (value, "relative")
                )
            else:
                out.time, out.time_kind = parse_time(text) or (None, None)
        elif name.startswith("clock"):
            assert out.clocks is not None
            n = int(name[5:])
            out.clocks[n] = (int(text), out.clocks[n][1])
        elif name.startswith("to"):
            assert out.to is not None
            out.to[int(name[2:])] = text
        elif name == "from":
            out.sender = text
        elif name == "peer":
            out.peer = text
        elif name == "machine":
            out.machine = text
        elif name == "queue":
            out.queue = int(text)
        elif name == "rate":
            out.rate = float(text)
        elif name == "p_send":
            out.p_send = float(text)
        elif name == "msg_id":
            out.msg_id = text
    match = _MSG_ID.search(line)
    out.msg_id = match[1] if match else out.msg_id
    if plan.prefixed:
        match = _PREFIX_NAME.match(line)
        out.machine = match["name"].replace(" ", "") if match else None
    return out


class _Reader:
    """Reads lines of words and values, each shape once: a line whose shape was read
    before is read by that plan (and a plan is kept only if it reads its own line as
    the full reading does)."""

    def __init__(self) -> None:
        self.plans: dict[str, _Line | None] = {}

    def __call__(self, line: str) -> _Line:
        key, values = _shape_key(line)
        if key not in self.plans:
            said = _read_line(line)
            kept = said if _from_plan(said, line, values) == said else None
            if len(self.plans) < 10_000:
                self.plans[key] = kept
            return said
        plan = self.plans[key]
        return _read_line(line) if plan is None else _from_plan(plan, line, values)


@dataclass
class _Token:
    kind: str  # datetime, tod, number, name, stop, other
    text: str
    start: int


def _tokens(line: str) -> list[_Token]:
    return [_Token(m.lastgroup or "other", m.group(), m.start()) for m in _TOKEN.finditer(line)]


def _is_int(text: str) -> bool:
    return re.fullmatch(r"(?a)-?\d+", text) is not None


def _label_role(label: list[str], value: str) -> str | None:
    """What a value is, from the words that label it."""
    ws = set(label)
    if not ws:
        return None
    if any(kind_of(w)[0] for w in label) and all(
        kind_of(w)[0] or w in {"message", "msg", "a"} for w in label
    ):
        return "msg_clock"  # "Sent: 5", "Received message 4": the clock the message carried
    if ws & RATE_WORDS and not ws & QUEUE_WORDS:
        return "rate"
    if (ws & P_WORDS and not (ws & CLOCK_WORDS)) or ("send" in ws and "probability" in ws):
        return "p_send"
    if ws & ID_WORDS and ws & MSG_WORDS:
        return "msg_id"
    if ws & QUEUE_WORDS:
        return "queue"
    if (
        ws & TO_WORDS - {"to"}
        or (label and label[-1] == "to")
        or ("to" in ws and not ws & CLOCK_WORDS)
    ) and not ws & CLOCK_WORDS:
        return "to"
    if ws & FROM_WORDS and not ws & CLOCK_WORDS:
        return "from"
    if ws & CLOCK_WORDS:
        return "msg_clock" if ws & MSG_WORDS and not ws & LOCAL_WORDS else "clock"
    if ws & TIME_WORDS:
        if _is_int(value) and not ws & HARD_TIME and abs(int(value)) < 10**8:
            return "msg_clock" if ws & MSG_WORDS else "clock"
        return "time"
    if ws & PEER_WORDS:
        return "peer"
    if ws & TICK_WORDS:
        return "tick"
    if ws & MACHINE_WORDS:
        return "machine"
    return None


# -- one line as words and values --------------------------------------------------------


@dataclass
class _Line:
    """What one line said."""

    kind: str | None = None
    everyone: bool = False
    time: float | None = None
    time_kind: str | None = None
    clocks: list[tuple[int, str]] | None = None  # (value, role) in line order
    queue: int | None = None
    to: list[str] | None = None
    sender: str | None = None
    peer: str | None = None
    machine: str | None = None
    msg_id: str | None = None
    rate: float | None = None
    p_send: float | None = None
    unlabelled: int = 0
    #: Which field each value of the line went to: (field, value index), in line order;
    #: a line of the same shape (:func:`_shape_key`) fills the same fields the same way.
    slots: list[tuple[str, int]] = field(default_factory=list)
    #: The machine came from a bracketed prefix (``[m2]``): read again on every line.
    prefixed: bool = False


_MSG_ID = re.compile(
    r"(?ai)\b(?:msg|message)[ _-]?(?:id|uid|uuid|seq|num(?:ber)?)\b\s*[:=#]?\s*\"?([^\s,;|)\]\"]+)"
)
_PREFIX_NAME = re.compile(r"(?a)^\s*[\[<(](?P<name>[A-Za-z_]*\s?\d+|[A-Za-z]\w*)[\]>)]")


def _read_line(line: str) -> _Line:
    out = _Line(clocks=[])
    kind, everyone = kind_of(line)
    out.kind, out.everyone = kind, everyone
    match = _MSG_ID.search(line)
    if match:
        out.msg_id = match[1]
    match = _PREFIX_NAME.match(line)
    if match:
        out.machine = match["name"].replace(" ", "")
        out.prefixed = True
    tokens = _tokens(line)
    slot_of = _slots(tokens)
    label: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.kind == "stop":
            label = []
        elif tok.kind in ("datetime", "tod"):
            parsed = parse_time(tok.text)
            if parsed and out.time is None:
                out.time, out.time_kind = parsed
                out.slots.append(("time", slot_of[i]))
            label = []
        elif tok.kind == "name":
            ws = words(tok.text)
            role = _label_role(label + ws, "") if label else None
            if tok.text.lower() in _EVERY and out.kind == SEND:
                out.everyone = True
            if set(ws) & (TO_WORDS | FROM_WORDS) and set(ws) <= (TO_WORDS | FROM_WORDS):
                start = i + 1
                names, i = _names_after(tokens, start)
                direction = "to" if set(ws) & TO_WORDS else "from"
                if names:
                    taken = [slot_of[k] for k in range(start, i) if k in slot_of]
                    if direction == "to" and out.to is None:
                        out.to = names  # for a receive, "to me": not used
                        out.slots += [(f"to{n}", j) for n, j in _numbered(names, taken)]
                    elif direction == "from" and out.sender is None:
                        out.sender = names[0]
                        out.slots += [("from", j) for n, j in _numbered(names, taken) if n == 0]
                    label = []
                    continue
            if (
                role in ("machine", "peer")
                and _is_name(tok.text)
                and not (tok.text.isalpha() and _known(ws))
            ):
                if role == "machine" and out.machine is None:
                    out.machine = tok.text
                elif role == "peer" and out.peer is None:
                    out.peer = tok.text
                label = []
            elif any(ch.isdigit() for ch in tok.text) and _is_name(tok.text):
                # a name with digits (VM0, m2, node_1) is a value, never a label's word: the
                # machine that logs when it comes before the event's kind
                if out.machine is None and kind_of(line[: tok.start])[0] is None:
                    out.machine = tok.text
                label = []
            else:
                label = [*label, *ws]
        elif tok.kind == "number":
            role = _label_role(label, tok.text)
            if role is None:
                # "2 left in the queue", "3 messages pending": the words after say it
                after = _words_after(tokens, i + 1)
                if after and after[0] in QUEUE_WORDS | {"messages", "message", "msgs"}:
                    role = _label_role(after, tok.text)
            _assign(out, role, tok.text, slot_of[i])
            label = []
        i += 1
    return out


def _slots(tokens: Sequence[_Token]) -> dict[int, int]:
    """Each value token's index among the line's values (datetimes, times, numbers)."""
    slots: dict[int, int] = {}
    for k, tok in enumerate(tokens):
        if tok.kind in _VALUE_KINDS:
            slots[k] = len(slots)
    return slots


def _numbered(names: Sequence[str], slots: Sequence[int]) -> list[tuple[int, int]]:
    """(position among ``names``, value index) for the names that are numbers, in order."""
    numeric = [n for n, name in enumerate(names) if _VALUE_ONLY.fullmatch(name)]
    return list(zip(numeric, slots, strict=False))


def _known(ws: list[str]) -> bool:
    vocab = (
        CLOCK_WORDS
        | QUEUE_WORDS
        | TIME_WORDS
        | RATE_WORDS
        | TO_WORDS
        | FROM_WORDS
        | MACHINE_WORDS
        | TICK_WORDS
        | ID_WORDS
        | MSG_WORDS
    )
    return any(w in vocab for w in ws) or kind_of(" ".join(ws))[0] is not None


def _is_name(text: str) -> bool:
    """A machine's name: a number, one or two capitals (``A``), or a word with digits
    (``m2``, ``vm_3``, ``VM1_cr6``)."""
    return bool(
        re.fullmatch(r"(?a)[A-Z]{1,2}|\d+", text)
        or (re.fullmatch(r"(?a)[A-Za-z_][\w-]*", text) and any(ch.isdigit() for ch in text))
    )


def _names_after(tokens: Sequence[_Token], i: int) -> tuple[list[str], int]:
    """The machine names after ``to`` or ``from``: ``machine 2``, ``m2``, ``B``, ``1 and 2``,
    ``[1, 2]``, ``both``."""
    names: list[str] = []
    while i < len(tokens):
        tok = tokens[i]
        low = tok.text.lower()
        if tok.kind == "name" and low in FILLER and not names and not tok.text.isupper():
            i += 1
            continue
        if tok.kind == "name" and low in _EVERY:
            names.append(EVERYONE)
            i += 1
            continue
        if tok.kind in ("number", "name") and (tok.kind == "number" or _is_name(tok.text)):
            if tok.kind == "name" and tok.text.isalpha() and _known(words(tok.text)):
                break
            if tok.kind == "number" and not _is_int(tok.text):
                break
            names.append(tok.text)
            i += 1
            continue
        if names and (tok.text in {",", "+", "&", "/", "and"} or low == "and"):
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            if (
                nxt is not None
                and (nxt.kind == "number" or _is_name(nxt.text))
                and not (nxt.kind == "name" and nxt.text.isalpha() and _known(words(nxt.text)))
            ):
                i += 1
                continue
            break
        if tok.text in {"[", "(", "{", "'", '"', ":", "="} and not names:
            i += 1
            continue
        if tok.text in {"]", ")", "}", "'", '"'}:
            i += 1
            continue
        break
    return names, i


def _words_after(tokens: Sequence[_Token], i: int) -> list[str]:
    out: list[str] = []
    while i < len(tokens) and tokens[i].kind == "name":
        out += words(tokens[i].text)
        i += 1
    return out


def _assign(out: _Line, role: str | None, text: str, slot: int) -> None:
    """Put a number where its role says, noting which value of the line it was."""
    value = float(text)
    if role is None:
        epoch = _epoch(value)
        if epoch is not None and out.time is None:
            out.time, out.time_kind = epoch, "unix"
            out.slots.append(("time", slot))
        else:
            out.unlabelled += 1
        return
    if role == "time":
        if out.time is None:
            epoch = _epoch(value)
            out.time, out.time_kind = (epoch, "unix") if epoch is not None else (value, "relative")
            out.slots.append(("time", slot))
    elif role in ("clock", "msg_clock"):
        if not _is_int(text):
            raise _BadLine(f"clock {text!r} is not an integer")
        assert out.clocks is not None
        out.slots.append((f"clock{len(out.clocks)}", slot))
        out.clocks.append((int(text), role))
    elif role == "queue" and _is_int(text) and out.queue is None:
        out.queue = int(text)
        out.slots.append(("queue", slot))
    elif role in ("to", "from", "peer", "machine") and _is_int(text):
        if role == "to":
            out.slots.append((f"to{len(out.to or [])}", slot))
            out.to = (out.to or []) + [text]
        elif role == "from" and out.sender is None:
            out.sender = text
            out.slots.append(("from", slot))
        elif role == "peer" and out.peer is None:
            out.peer = text
            out.slots.append(("peer", slot))
        elif role == "machine" and out.machine is None:
            out.machine = text
            out.slots.append(("machine", slot))
    elif role == "rate" and out.rate is None and value > 0:
        out.rate = value
        out.slots.append(("rate", slot))
    elif role == "p_send" and out.p_send is None and 0 <= value <= 1:
        out.p_send = value
        out.slots.append(("p_send", slot))
    elif role == "msg_id" and out.msg_id is None:
        out.msg_id = text
        out.slots.append(("msg_id", slot))


class _BadLine(ValueError):
    """A line that looks like an event but does not parse: the reason."""


def _record(line_no: int, said: _Line) -> Record:
    """The record of an event line, or _BadLine saying what it lacks."""
    assert said.kind is not None and said.clocks is not None
    clocks = said.clocks
    if not clocks:
        raise _BadLine(f"{said.kind} with no clock")
    clock_values = [v for v, role in clocks if role == "clock"]
    msg_values = [v for v, role in clocks if role == "msg_clock"]
    if len(clocks) == 1:
        clock, msg_clock = clocks[0][0], None
        if clocks[0][1] == "msg_clock" and said.kind != RECEIVE:
            msg_clock = clock
    elif clock_values and msg_values:
        clock, msg_clock = clock_values[-1], msg_values[0]
    else:
        # two clocks said alike: the message's comes first ("4 -> 5"), the clock after it
        clock, msg_clock = clocks[-1][0], clocks[0][0]
    for value in (clock, msg_clock):
        if value is not None and not 0 <= value < CLOCK_LIMIT:
            raise _BadLine(f"clock {value} is outside 0..2^63-1")
    to = said.to
    sender = said.sender
    if said.peer is not None:
        if said.kind == SEND and to is None:
            to = [said.peer]
        elif said.kind == RECEIVE and sender is None:
            sender = said.peer
    if said.kind == SEND and said.everyone:
        to = [EVERYONE]
    return Record(
        line=line_no,
        kind=said.kind,
        clock=clock,
        time=said.time,
        queue=said.queue,
        to=tuple(to) if said.kind == SEND and to else None,
        sender=sender if said.kind == RECEIVE else None,
        msg_clock=msg_clock,
        msg_id=said.msg_id,
        machine=said.machine,
    )


# -- delimited rows ----------------------------------------------------------------------

#: Lines of each file that decide the shape and the columns' roles.
SAMPLE = 2000

_DELIMITERS = (",", "\t", ";", "|")
_LABELLED_FIELD = re.compile(r"(?a)^\s*[A-Za-z_][\w ]*\s*[:=]")


@dataclass
class _Table:
    delimiter: str | None  # None: runs of spaces
    width: int
    header: list[str] | None


def _split(line: str, delimiter: str | None) -> list[str]:
    if delimiter is None:
        line = _DATETIME.sub(lambda m: m.group().replace(" ", "T"), line)
        return line.split()
    cells = line.split(delimiter)
    if '"' in line:
        return [cell.strip().strip('"') for cell in cells]
    if " " in line or "\t" in line:
        return [cell.strip() for cell in cells]
    return cells


def _find_table(lines: Sequence[str]) -> _Table | None:
    """The separator and width most lines share, if the log is rows of bare values."""
    content = [line for line in lines[:SAMPLE] if line.strip()]
    if not content:
        return None
    best: _Table | None = None
    best_share = 0.0
    for delimiter in (*_DELIMITERS, None):
        widths: dict[int, int] = {}
        for line in content:
            width = len(_split(line, delimiter))
            widths[width] = widths.get(width, 0) + 1
        width, count = max(widths.items(), key=lambda item: (item[1], item[0]))
        share = count / len(content)
        if width < 3 or share < 0.8:
            continue
        rows = [
            _split(line, delimiter) for line in content if len(_split(line, delimiter)) == width
        ]
        cells = [cell for row in rows[1:] for cell in row]
        labelled = sum(1 for cell in cells if _LABELLED_FIELD.match(cell))
        prose = sum(1 for cell in cells if len(_DATETIME.sub("T", cell).split()) > 3)
        if labelled > 0.3 * len(cells) or prose > 0.2 * len(cells):
            continue
        if delimiter is None:
            alpha = [sum(1 for cell in row if re.search(r"[A-Za-z]{3,}", cell)) for row in rows[1:]]
            if alpha and max(alpha) > 2:
                continue
        if share > best_share:
            best, best_share = _Table(delimiter, width, None), share
    if best is None:
        return None
    first = next(
        cells
        for cells in (_split(line, best.delimiter) for line in content)
        if len(cells) == best.width
    )
    if all(
        not re.fullmatch(r"(?a)-?[\d.:eE+-]+", cell) and parse_time(cell) is None for cell in first
    ) and all(re.search(r"[A-Za-z]", cell) for cell in first):
        best.header = first
    return best


def _column_roles(table: _Table, rows: list[list[str]]) -> dict[str, int]:
    """Which column is which: by the header's names first, then by the values."""
    roles: dict[str, int] = {}
    if table.header:
        for index, name in enumerate(table.header):
            role = _label_role(words(name), "")
            if role in ("to", "from", "peer") and words(name) == ["to"]:
                role = "to"
            if role == "msg_clock" and all(kind_of(w)[0] for w in words(name)):
                role = None  # a column headed "received" or "event": its values say what it is
            if role is not None and role not in roles:
                roles[role] = index
    width = table.width
    columns = [[row[c] for row in rows] for c in range(width)]
    if "kind" not in roles:
        best = max(
            range(width),
            key=lambda c: sum(1 for v in columns[c] if cell_kind(v)[0]),
        )
        if sum(1 for v in columns[best] if cell_kind(v)[0]) > 0.5 * len(rows):
            roles["kind"] = best
    if "kind" not in roles:
        return roles
    kind_col = columns[roles["kind"]]
    row_kinds = [cell_kind(v)[0] for v in kind_col]
    taken = set(roles.values())
    if "time" not in roles:
        for c in range(width):
            if c in taken:
                continue
            values = [v for v in columns[c] if v]
            if values and all(_cell_time(v) is not None for v in values):
                roles["time"] = c
                taken.add(c)
                break
    integer_cols = [
        c
        for c in range(width)
        if c not in taken and any(columns[c]) and all(_is_int(v) for v in columns[c] if v)
    ]
    full = [c for c in integer_cols if all(columns[c])]

    def rising(c: int) -> float:
        values = [int(v) for v in columns[c]]
        steps = list(itertools.pairwise(values))
        return sum(1 for a, b in steps if b > a) / max(1, len(steps))

    def jumps(c: int) -> int:
        values = [int(v) for v in columns[c]]
        return sum(1 for a, b in itertools.pairwise(values) if b - a > 1)

    if "clock" not in roles:
        candidates = [c for c in full if rising(c) >= 0.9]
        if candidates:
            chosen = max(candidates, key=lambda c: (jumps(c) > 0, rising(c), c))
            roles["clock"] = chosen
            taken.add(chosen)
    if "tick" not in roles:
        for c in full:
            if c not in taken and rising(c) >= 0.9:
                roles["tick"] = c
                taken.add(c)
    has_internal = INTERNAL in row_kinds
    on_messages = [
        c
        for c in range(width)
        if c not in taken
        and any(columns[c])
        and all(not v for v, k in zip(columns[c], row_kinds, strict=True) if k == INTERNAL)
        and (has_internal or not all(columns[c]))
    ]
    for c in on_messages:
        distinct = {v for v in columns[c] if v}
        if all(_is_int(v) for v in distinct) and len(distinct) > 12 and "msg_clock" not in roles:
            roles["msg_clock"] = c
            taken.add(c)
        elif "peer" not in roles and "to" not in roles and "from" not in roles:
            roles["peer"] = c
            taken.add(c)
    if "queue" not in roles:
        for c in integer_cols:
            if c not in taken and all(int(v) >= 0 for v in columns[c] if v):
                roles["queue"] = c
                taken.add(c)
                break
    if "machine" not in roles:
        for c in range(width):
            if c not in taken and not any(_is_int(v) and int(v) > 10**6 for v in columns[c]):
                distinct = set(columns[c])
                if (
                    1 <= len(distinct) <= 64
                    and all(distinct)
                    and len(rows) > 2 * len(distinct)
                    and all(_is_name(v) for v in distinct)
                ):
                    roles["machine"] = c
                    taken.add(c)
                    break
    return roles


def _cell_time(cell: str) -> tuple[float, str] | None:
    parsed = parse_time(cell)
    if parsed is not None:
        return parsed
    try:
        value = float(cell)
    except ValueError:
        return None
    epoch = _epoch(value)
    return (epoch, "unix") if epoch is not None else None


def _peers_in(cell: str) -> tuple[list[str] | None, str | None]:
    """The recipients and the sender a cell names in words (``SEND TO B``)."""
    try:
        said = _read_line(cell)
    except _BadLine:
        return None, None
    to = [EVERYONE] if said.everyone else said.to
    return to, said.sender


def _table_rows(
    source: SourceLog, lines: Sequence[str], table: _Table
) -> tuple[list[int], list[str]]:
    """The line numbers and lines of a delimited log's rows; blank lines, the header and
    lines of another width (metadata, start-up messages) are counted aside."""
    numbers: list[int] = []
    rows: list[str] = []
    delimiter = table.delimiter
    separators = table.width - 1
    head = table.header[0] if table.header else None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            source.skipped += 1
            continue
        if delimiter is not None and line.count(delimiter) == separators and '"' not in line:
            fits = True
        else:
            fits = len(_split(line, delimiter)) == table.width
        if fits and head is not None and head in line and _split(line, delimiter) == table.header:
            source.skipped += 1
        elif fits:
            numbers.append(number)
            rows.append(line)
        else:
            _meta_or_skip(source, number, line)
    return numbers, rows


@lru_cache(maxsize=4096)
def _peer_cell(text: str) -> tuple[tuple[str, ...], bool]:
    """The machine names in a peer cell (``1+2``, ``A and B``), and whether it means all."""
    names = tuple(n for n in re.split(r"[+&/ ]+|\band\b", text) if n)
    return names, any(n.lower() in _EVERY for n in names)


# -- the file ----------------------------------------------------------------------------


_CONTROL = re.compile(r"(?a)[\x00-\x08\x0b\x0c\x0e-\x1f]")


def read_lines(path: Path) -> list[str]:
    """A log's lines. Raise LogError for a file that is not text."""
    from lamport.files import read_bytes, reason

    try:
        data = read_bytes(path)  # a regular file only: a FIFO would block
    except OSError as exc:
        raise LogError(f"{path}: cannot read ({reason(exc)})") from None
    if not data.strip():
        raise LogError(f"{path}: empty file")
    if b"\0" in data[:65536]:
        raise LogError(f"{path}: a binary file, not a log")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # any bytes decode; a log in a legacy encoding reads
    head = text[:65536]
    if len(_CONTROL.findall(head)) > len(head) / 100:
        raise LogError(f"{path}: a binary file, not a log")
    return text.splitlines()


def shape_of(lines: Sequence[str]) -> str:
    """A few words for the log's shape (compared across the files of one import)."""
    table = _find_table(lines)
    if table is None:
        return "words and values"
    sep = {",": "comma", "\t": "tab", ";": "semicolon", "|": "bar", None: "space"}[table.delimiter]
    head = "with a header" if table.header else "without a header"
    return f"{sep}-separated rows of {table.width} fields {head}"


def parse_auto(path: Path, lines: Sequence[str] | None = None) -> tuple[SourceLog, str]:
    """Read one log of an unknown format: its records, and the kind of its times
    (``unix``, ``day``, ``relative``, or ``none``)."""
    return parse_auto_files([Path(path)], [read_lines(path) if lines is None else lines])[0]


def parse_auto_files(
    paths: Sequence[Path], texts: Sequence[Sequence[str]]
) -> list[tuple[SourceLog, str]]:
    """Read the logs of one run, all in one unknown format: each file's records and the
    kind of its times. Delimited columns are told apart on the rows of every file."""
    table = _find_table(texts[0])
    sources = [SourceLog(path=Path(p), format="auto") for p in paths]
    kinds: list[list[str]] = [[] for _ in paths]
    if table is not None:
        from lamport.imports.table import read_rows

        rows = [
            _table_rows(source, lines, table) for source, lines in zip(sources, texts, strict=True)
        ]
        sample = [_split(line, table.delimiter) for mine in rows for line in mine[1][:SAMPLE]]
        roles = _column_roles(table, sample)
        missing = [r for r in ("kind", "clock") if r not in roles]
        if missing:
            raise LogError(
                f"{paths[0]}: rows of {table.width} fields, but no column is the event "
                f"{' or the '.join(missing)}; describe the format in a recipe (docs/import.md)"
            )
        for source, (numbers, mine), found in zip(sources, rows, kinds, strict=True):
            source.columns, source.bad, time_kinds = read_rows(
                mine,
                numbers,
                table.delimiter,
                table.width,
                roles,
                cell_kind,
                _peer_cell,
                parse_time,
                _epoch,
                _peers_in,
                lambda line: _split(line, None),
            )
            found += sorted(time_kinds)
    else:
        for source, lines, found in zip(sources, texts, kinds, strict=True):
            _read_words(source, lines, found)
    out = []
    for source, found in zip(sources, kinds, strict=True):
        _name_from_lines(source)
        distinct = set(found)
        time_kind = (
            "none" if not distinct else ("unix" if distinct == {"unix"} else sorted(distinct)[0])
        )
        out.append((source, time_kind))
    return out


def _read_words(source: SourceLog, lines: Sequence[str], time_kinds: list[str]) -> None:
    """Read a log of words and values: line by line, or, where an event spans several
    lines (its kind on one, its clock on the next), block by block: a block starts at a
    line that names a kind and takes the lines after it up to the next kind or blank line.
    Whichever reads more events wins."""
    numbered = list(enumerate(lines, start=1))
    best = _read_units(numbered)
    if best.bad and len(best.bad) >= len(best.records) / 2:
        blocks = _read_units(_blocks(numbered))
        if len(blocks.records) > len(best.records):
            best = blocks
    source.records = best.records
    source.bad = best.bad
    source.skipped += best.skipped
    for said in best.meta:
        _take_meta(source, said)
    time_kinds += best.time_kinds
    _skip_clockless_shapes(source, lines)


@dataclass
class _Units:
    records: list[Record]
    bad: list[tuple[int, str]]
    skipped: int
    meta: list[_Line]
    time_kinds: list[str]


def _read_units(units: Sequence[tuple[int, str]]) -> _Units:
    out = _Units([], [], 0, [], [])
    read = _Reader()
    for number, line in units:
        if not line.strip():
            out.skipped += 1
            continue
        try:
            said = read(line)
        except _BadLine as exc:
            out.bad.append((number, str(exc)))
            continue
        if said.kind is None:
            if said.clocks and not (said.rate or said.p_send):
                out.bad.append((number, "a clock but no event kind"))
            else:
                out.meta.append(said)
            continue
        try:
            record = _record(number, said)
        except _BadLine as exc:
            out.bad.append((number, str(exc)))
            continue
        if said.time_kind:
            out.time_kinds.append(said.time_kind)
        out.records.append(record)
    return out


def _blocks(numbered: Sequence[tuple[int, str]]) -> list[tuple[int, str]]:
    """Lines joined into events: a line naming a kind, and the lines after it up to the
    next kind or blank line (numbered by the kind's line)."""
    out: list[tuple[int, str]] = []
    for number, line in numbered:
        if line.strip() and kind_of(line)[0] is not None:
            out.append((number, line))
        elif line.strip() and out and out[-1][1].strip():
            out[-1] = (out[-1][0], f"{out[-1][1]} | {line}")
        else:
            out.append((number, line))
    return out


_DIGITS = re.compile(r"(?a)\d+")


def _shape(line: str) -> str:
    line = _DATETIME.sub("", line)
    return _DIGITS.sub("N", line).strip()


def _skip_clockless_shapes(source: SourceLog, lines: Sequence[str]) -> None:
    """Lines of a shape that never carries a clock and has no word for one (``Failed to
    receive message!``) are not events this log can tell about: skipped and counted (by
    shape, in ``run.json``), not unparsed."""
    if not source.records or not source.bad:
        return
    parsed = {_shape(lines[r.line - 1]) for r in source.records if r.line <= len(lines)}
    shapes: dict[str, list[int]] = {}
    for number, _ in source.bad:
        shapes.setdefault(_shape(lines[number - 1]), []).append(number)
    kept = []
    for number, why in source.bad:
        shape = _shape(lines[number - 1])
        if shape not in parsed and "no clock" in why and not set(words(shape)) & CLOCK_WORDS:
            source.clockless[shape] = source.clockless.get(shape, 0) + 1
            source.skipped_lines.append(number)
        else:
            kept.append((number, why))
    source.bad = kept


def _meta_or_skip(source: SourceLog, number: int, line: str) -> None:
    try:
        said = _read_line(line)
    except _BadLine:
        source.skipped += 1
        return
    _take_meta(source, said)


def _take_meta(source: SourceLog, said: _Line) -> None:
    if said.rate is not None or said.p_send is not None:
        source.meta_lines += 1
        source.rate = source.rate if source.rate is not None else said.rate
        source.p_send = source.p_send if source.p_send is not None else said.p_send
        if said.machine and source.name is None:
            source.name = said.machine
    else:
        source.skipped += 1
        if said.machine and source.name is None and not source.records:
            source.name = said.machine


def _name_from_lines(source: SourceLog) -> None:
    """A file whose every event names the same machine is that machine."""
    machine = table_of(source).machine
    every = len(machine) and not (machine == None).any()  # noqa: E711 - elementwise
    if every and len({str(name).lower() for name in set(machine)}) == 1:
        source.name = str(machine[0])
