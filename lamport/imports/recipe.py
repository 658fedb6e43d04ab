"""Recipe files: a log format described in a few lines of TOML, for logs ``auto`` misreads.

A recipe says how to read one log format (docs/import-formats.md is the
reference, docs/recipes/ holds examples):

``line``
    A Python regular expression an event line matches (``re.search``), with
    named groups: ``kind`` and ``clock`` (required), and any of ``time``,
    ``queue``, ``to``, ``from``, ``peer`` (the recipient of a send, the sender
    of a receive), ``msg_clock``, ``msg_id``, ``machine``. JavaScript's
    ``(?<name>...)`` is accepted for ``(?P<name>...)``.
``[kinds]``
    The words of each kind: ``SEND``, ``RECEIVE``, ``INTERNAL``, each a list of
    words (compared case-insensitively).
``everyone``
    Words that mean "every other machine", as a recipient (``to = both``) or
    as a kind word (``BROADCAST``: a send to every other machine).
``separator``
    A regular expression that splits a ``to`` group naming several machines
    (default: commas, plus signs, ampersands, slashes, ``and``, spaces).
``time``
    ``unix`` (seconds), ``unix_ms``, ``seconds`` or ``milliseconds`` (since any
    origin), a ``strftime`` pattern such as ``%Y-%m-%d %H:%M:%S,%f`` (a pattern
    without a date reads times of day), or ``none``. Default: ``unix`` if the
    line has a ``time`` group, else ``none``.
``rate``, ``p_send``, ``name``
    Regular expressions of metadata lines, with the group ``rate`` (ticks per
    second), ``p`` (the send probability) or ``name`` (the machine's name).
``skip``
    A list of regular expressions of lines to pass over.
``description``
    Free text: what the recipe reads.

Every other non-blank line is an unparsed line, named with its number and why.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lamport.core import INTERNAL, RECEIVE, SEND
from lamport.errors import LogError
from lamport.imports.records import CLOCK_LIMIT, EVERYONE, Record, SourceLog

__all__ = ["GROUPS", "KEYS", "Recipe", "load_recipe"]

#: The named groups ``line`` may have; ``kind`` and ``clock`` are required.
GROUPS = (
    "time",
    "clock",
    "kind",
    "queue",
    "to",
    "from",
    "peer",
    "msg_clock",
    "msg_id",
    "machine",
)
REQUIRED = ("kind", "clock")
#: The keys a recipe may have.
KEYS = (
    "description",
    "line",
    "kinds",
    "everyone",
    "separator",
    "time",
    "rate",
    "p_send",
    "name",
    "skip",
)
#: Time formats by name: (divisor to seconds, kind of times).
TIME_NAMES = {
    "unix": (1.0, "unix"),
    "unix_ms": (1000.0, "unix"),
    "seconds": (1.0, "relative"),
    "milliseconds": (1000.0, "relative"),
}
#: strftime directives that name a day, making the times Unix times (else times of day).
_DATE_DIRECTIVES = set("YymdjbBaAUWGuVcxs")
_JS_GROUP = re.compile(r"\(\?<([A-Za-z_]\w*)>")
_DEFAULT_SEPARATOR = r"\s*(?:[,+&/;]|\band\b)\s*|\s+"
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Recipe:
    """A log format read from a recipe file (see the module docstring)."""

    path: Path
    line: re.Pattern[str]
    kinds: dict[str, str]
    everyone: frozenset[str] = frozenset()
    separator: re.Pattern[str] = field(default_factory=lambda: re.compile(_DEFAULT_SEPARATOR))
    time: str = "none"
    rate: re.Pattern[str] | None = None
    p_send: re.Pattern[str] | None = None
    name: re.Pattern[str] | None = None
    skip: tuple[re.Pattern[str], ...] = ()
    description: str = ""

    @property
    def time_kind(self) -> str:
        """The kind of the times the recipe reads: unix, day, relative or none."""
        if self.time == "none":
            return "none"
        if self.time in TIME_NAMES:
            return TIME_NAMES[self.time][1]
        directives = set(re.findall(r"%([A-Za-z])", self.time))
        return "unix" if directives & _DATE_DIRECTIVES else "day"

    def parse(self, path: Path, lines: list[str]) -> tuple[SourceLog, str]:
        """Read one log in this format: its records, and the kind of its times."""
        source = SourceLog(path=Path(path), format=f"recipe {self.path.name}")
        for number, text in enumerate(lines, start=1):
            if not text.strip() or any(p.search(text) for p in self.skip):
                source.skipped += 1
                continue
            match = self.line.search(text)
            if match is not None:
                try:
                    source.records.append(self._record(number, match))
                except ValueError as exc:
                    source.bad.append((number, str(exc)))
                continue
            if self._meta(source, text):
                source.meta_lines += 1
                continue
            source.bad.append((number, "matches neither the recipe's line nor rate/p_send/skip"))
        return source, self.time_kind

    def _meta(self, source: SourceLog, text: str) -> bool:
        found = False
        if self.rate is not None and (m := self.rate.search(text)):
            try:
                rate = float(m["rate"])
            except (TypeError, ValueError):
                return False
            if rate > 0:
                source.rate = rate
                found = True
        if self.p_send is not None and (m := self.p_send.search(text)):
            try:
                p = float(m["p"])
            except (TypeError, ValueError):
                return False
            if 0.0 <= p <= 1.0:
                source.p_send = p
                found = True
        if self.name is not None and (m := self.name.search(text)) and m["name"]:
            source.name = m["name"].strip()
            found = True
        return found

    def _record(self, number: int, match: re.Match[str]) -> Record:
        """One event line's record. Raise ValueError saying why the line is no event."""
        groups = {k: v for k, v in match.groupdict().items() if v is not None}
        word = groups["kind"].strip()
        kind = self.kinds.get(word.lower())
        if kind is None:
            raise ValueError(f"kind word {word!r} is not in the recipe's [kinds]")
        record = Record(line=number, kind=kind, clock=_integer(groups["clock"], "clock"))
        if word.lower() in self.everyone:
            record.to = (EVERYONE,)
        if "time" in groups:
            record.time = self._time(groups["time"])
        if "queue" in groups:
            record.queue = _integer(groups["queue"], "queue")
        if "msg_clock" in groups:
            record.msg_clock = _integer(groups["msg_clock"], "msg_clock")
        if groups.get("msg_id", "").strip():
            record.msg_id = groups["msg_id"].strip()
        if groups.get("machine", "").strip():
            record.machine = groups["machine"].strip()
        to = groups.get("to", groups.get("peer") if kind == SEND else None)
        if kind == SEND and to is not None and to.strip() and record.to is None:
            names = [n for n in self.separator.split(to.strip()) if n]
            record.to = (
                (EVERYONE,) if any(n.lower() in self.everyone for n in names) else tuple(names)
            )
        sender = groups.get("from", groups.get("peer") if kind == RECEIVE else None)
        if kind == RECEIVE and sender is not None and sender.strip():
            record.sender = sender.strip()
        return record

    def _time(self, text: str) -> float:
        text = text.strip()
        if self.time in TIME_NAMES:
            try:
                value = float(text) / TIME_NAMES[self.time][0]
            except ValueError:
                raise ValueError(f"time {text!r} is not a number ({self.time})") from None
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError(f"time {text!r} is not a finite number")
            return value
        try:
            moment = datetime.strptime(text, self.time)
        except ValueError:
            raise ValueError(f"time {text!r} does not match {self.time!r}") from None
        if self.time_kind == "day":
            return (
                moment.hour * 3600 + moment.minute * 60 + moment.second + moment.microsecond / 1e6
            )
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()


def _integer(text: str, what: str) -> int:
    text = text.strip()
    if not _DIGITS.fullmatch(text):
        raise ValueError(f"{what} {text!r} is not a non-negative integer")
    value = int(text)
    if value >= CLOCK_LIMIT:
        raise ValueError(f"{what} {text} is not below 2^63")
    return value


#: The largest recipe file read: a recipe is a few lines of TOML.
RECIPE_LIMIT = 2**20


def load_recipe(path: Path) -> Recipe:
    """Read a recipe file. Raise LogError (one line naming the file) if it is not one."""
    from lamport.files import read_text, reason

    path = Path(path)
    try:
        data = tomllib.loads(read_text(path, limit=RECIPE_LIMIT))
    except FileNotFoundError:
        raise LogError(f"recipe {path}: no such file") from None
    except OSError as exc:
        raise LogError(f"recipe {path}: cannot read ({reason(exc)})") from None
    except UnicodeDecodeError:
        raise LogError(f"recipe {path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise LogError(f"recipe {path}: not TOML ({exc})") from None
    try:
        return _recipe(path, data)
    except ValueError as exc:
        raise LogError(f"recipe {path}: {exc}") from None


def _recipe(path: Path, data: dict[str, Any]) -> Recipe:
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (keys: {', '.join(KEYS)})")
    if "line" not in data:
        raise ValueError("no 'line' (the regular expression of an event line)")
    line = _regex(data["line"], "line")
    missing = [g for g in REQUIRED if g not in line.groupindex]
    if missing:
        raise ValueError(f"line: no group {missing[0]!r} (required: {', '.join(REQUIRED)})")
    strange = sorted(set(line.groupindex) - set(GROUPS))
    if strange:
        raise ValueError(f"line: unknown group {strange[0]!r} (groups: {', '.join(GROUPS)})")
    everyone = frozenset(w.lower() for w in _words(data.get("everyone", []), "everyone"))
    kinds_table = data.get("kinds")
    if not isinstance(kinds_table, dict) or not kinds_table:
        raise ValueError("no [kinds] table (SEND, RECEIVE, INTERNAL: the words of each kind)")
    kinds: dict[str, str] = {}
    for kind, words in kinds_table.items():
        if kind.upper() not in (SEND, RECEIVE, INTERNAL):
            raise ValueError(f"[kinds]: unknown kind {kind!r} (SEND, RECEIVE, INTERNAL)")
        for word in _words(words, f"kinds.{kind}"):
            other = kinds.setdefault(word.lower(), kind.upper())
            if other != kind.upper():
                raise ValueError(f"[kinds]: {word!r} is both {other} and {kind.upper()}")
    for word in everyone:
        if kinds.setdefault(word, SEND) != SEND:
            raise ValueError(f"everyone: {word!r} is a {kinds[word]} word in [kinds]")
    default_time = "unix" if "time" in line.groupindex else "none"
    time = data.get("time", default_time)
    if not isinstance(time, str) or not time:
        raise ValueError("time: give unix, unix_ms, seconds, milliseconds, none, or a pattern")
    if time not in TIME_NAMES and time != "none":
        _check_pattern(time)
    if time != "none" and "time" not in line.groupindex:
        raise ValueError(f"time is {time!r}, but line has no group 'time'")
    rate = _meta_regex(data, "rate", "rate")
    p_send = _meta_regex(data, "p_send", "p")
    name = _meta_regex(data, "name", "name")
    skip = tuple(_regex(s, "skip") for s in _words(data.get("skip", []), "skip"))
    separator = _regex(data.get("separator", _DEFAULT_SEPARATOR), "separator")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ValueError("description: not a string")
    return Recipe(
        path=path,
        line=line,
        kinds=kinds,
        everyone=everyone,
        separator=separator,
        time=time,
        rate=rate,
        p_send=p_send,
        name=name,
        skip=skip,
        description=description,
    )


def _words(value: Any, key: str) -> Sequence[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(w, str) and w for w in value):
        raise ValueError(f"{key}: give a list of non-empty strings")
    return value


def _regex(value: Any, key: str) -> re.Pattern[str]:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key}: give a regular expression as a string")
    try:
        return re.compile(_JS_GROUP.sub(r"(?P<\1>", value))
    except re.error as exc:
        raise ValueError(f"{key}: the regular expression does not compile ({exc})") from None


def _meta_regex(data: dict[str, Any], key: str, group: str) -> re.Pattern[str] | None:
    if key not in data:
        return None
    pattern = _regex(data[key], key)
    if group not in pattern.groupindex:
        raise ValueError(f"{key}: the regular expression has no group {group!r}")
    return pattern


def _check_pattern(pattern: str) -> None:
    """Raise ValueError unless ``pattern`` is a strftime pattern that reads back what it writes."""
    if "%" not in pattern:
        raise ValueError(
            f"time {pattern!r}: give unix, unix_ms, seconds, milliseconds, none, "
            "or a strftime pattern such as '%Y-%m-%d %H:%M:%S,%f'"
        )
    sample = datetime(2024, 5, 31, 16, 8, 37, 247000, tzinfo=UTC)
    try:
        datetime.strptime(sample.strftime(pattern), pattern)
    except ValueError as exc:
        raise ValueError(
            f"time {pattern!r} is not a strftime pattern that reads back ({exc})"
        ) from None
