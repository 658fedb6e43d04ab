"""The fault plan: crashes, pauses, partitions, message loss and extra delay, as data.

A plan is a tuple of the frozen dataclasses below, the ``faults`` field of
:class:`lamport.config.RunConfig`: part of the model, so every backend plays
the same faults and ``run.json`` records them (key ``faults``, a list of
tables, :func:`fault_table`). It is written three ways, all read here:

* a ``--fault`` string (:func:`parse_fault`)::

    crash 1 at 10 for 5            machine 1 down in [10, 15) s, clock kept
    crash 1 at 10 for 5 reset      the same, the clock restarts at 0
    pause 1 at 10 for 5            machine 1 does not tick in [10, 15) s, keeps all it has
    partition 0|1,2 at 20 for 10   messages across the cut sent in [20, 30) s are lost
    loss 0.05                      each message, per recipient, lost with p = 0.05
    delay 0->2 +0.5 at 30 for 5    messages 0 -> 2 sent in [30, 35) s take 0.5 s longer

* an experiment file's ``[[faults]]`` tables, or ``run.json``'s ``faults`` list
  (:func:`fault_from_table`): ``kind`` and the dataclass's fields, e.g.
  ``{kind = "crash", machine = 1, at = 10, duration = 5, reset = true}``,
  ``{kind = "partition", groups = [[0], [1, 2]], at = 20, duration = 10}``;
  a table may instead be ``{fault = "crash 1 at 10 for 5"}``.

:func:`check_plan` validates a plan against a run (machines, duration); every
error is a ConfigError naming the fault. Each kind also says what it does, as
data: the windows it opens on a machine (:meth:`Fault.windows`: a crash's CRASH
and RESTART rows, :data:`lamport.core.STATE_CHANGES`) and what it does to a
link's messages (:meth:`Fault.links`: lost for a reason, or delayed).
:mod:`lamport.plan` compiles a plan from those once, for every backend alike
(docs/faults.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar, NamedTuple

from lamport.core import CRASH, PAUSE
from lamport.errors import ConfigError
from lamport.validate import is_integer, is_number

#: Reasons a message is lost: the ``reason`` column of ``network.csv``.
DROP_REASONS = ("crash", "partition", "loss")


class Drop(NamedTuple):
    """One lost message: a row of ``network.csv`` (:data:`lamport.schema.NETWORK_COLUMNS`)."""

    t: float
    sender: int
    recipient: int
    msg_id: str
    reason: str


class Window(NamedTuple):
    """A machine out of its ticking state for a while: from ``at`` (a change of kind
    ``start``, a row of :data:`lamport.core.STATE_CHANGES`) for ``duration`` seconds,
    until the change that ends it (the start's ``until``), which forgets the clock if
    ``reset``."""

    machine: int
    at: float
    duration: float
    start: str
    reset: bool = False


class LinkRule(NamedTuple):
    """What a fault does to the messages of the link ``sender -> recipient`` sent in
    [at, at + duration) seconds (``duration`` inf: to the run's end): lose them for
    ``reason`` (every one when ``p`` is None, else each with probability ``p``: one draw
    of the link's loss stream per message), or delay them by ``extra`` seconds."""

    sender: int
    recipient: int
    at: float
    duration: float
    reason: str = ""
    p: float | None = None
    extra: float = 0.0


class Fault:
    """A fault kind: its ``--fault`` form, its checks, and its compiled effect.

    A kind is a frozen dataclass of this base that names its ``kind``, its ``--fault``
    ``pattern`` (read by :meth:`from_match`, written back by :meth:`text`) and
    ``form``, checks itself against a run (:meth:`check`) and says what it does: the
    windows it opens on machines (:meth:`windows`) and what it does to each link's
    messages (:meth:`links`). :mod:`lamport.plan` composes those for every kind alike,
    so a new kind is one class here and one entry of :data:`FAULT_KINDS` (and its rows
    in :data:`lamport.core.STATE_CHANGES` if its windows are of a new kind).
    """

    kind: ClassVar[str]
    pattern: ClassVar[re.Pattern[str]]
    form: ClassVar[str]
    #: Whether a plan holds at most one fault of this kind.
    once: ClassVar[bool] = False

    @classmethod
    def from_match(cls, g: dict[str, Any], text: str) -> Fault:
        """The fault of a ``pattern`` match's groups. Raise ConfigError if malformed."""
        raise NotImplementedError

    def text(self) -> str:
        """The ``--fault`` string (parses back to this fault)."""
        raise NotImplementedError

    def check(self, n_machines: int, duration: float) -> None:
        """Raise ConfigError naming the fault unless it fits a run of ``n_machines``
        lasting ``duration`` seconds."""

    def windows(self) -> tuple[Window, ...]:
        """The windows it opens on machines (none by default)."""
        return ()

    def links(self, n_machines: int) -> tuple[LinkRule, ...]:
        """What it does to links' messages (nothing by default)."""
        return ()


_NUM = r"[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?"
_WINDOW = rf"\s+at\s+(?P<at>{_NUM})\s+for\s+(?P<for>{_NUM})"
_ID = r"[0-9]+"


def _pattern(text: str) -> re.Pattern[str]:
    # ASCII only: numbers are ASCII digits, so "crash \u0661 at 10 for 5" never parses
    return re.compile(text, re.ASCII)


def _links(n_machines: int) -> list[tuple[int, int]]:
    return [(s, r) for s in range(n_machines) for r in range(n_machines) if s != r]


@dataclass(frozen=True)
class Crash(Fault):
    """Machine ``machine`` is down in [at, at + duration): it does not tick, its queue is
    lost at the crash and every message arriving while it is down is lost. On restart its
    clock is restored, or set to 0 with ``reset``."""

    machine: int
    at: float
    duration: float
    reset: bool = False

    kind: ClassVar[str] = "crash"
    pattern: ClassVar[re.Pattern[str]] = _pattern(
        rf"crash\s+(?P<m>{_ID}){_WINDOW}(?P<reset>\s+reset)?"
    )
    form: ClassVar[str] = "crash M at T for D [reset]"

    @classmethod
    def from_match(cls, g: dict[str, Any], text: str) -> Crash:
        return cls(int(g["m"]), float(g["at"]), float(g["for"]), bool(g["reset"]))

    def text(self) -> str:
        reset = " reset" if self.reset else ""
        return f"crash {self.machine} at {_num(self.at)} for {_num(self.duration)}{reset}"

    def check(self, n_machines: int, duration: float) -> None:
        _window(self, duration, self.text())
        _machine(self.machine, n_machines, self.text())

    def windows(self) -> tuple[Window, ...]:
        return (Window(self.machine, self.at, self.duration, CRASH, self.reset),)


@dataclass(frozen=True)
class Pause(Fault):
    """Machine ``machine`` is paused in [at, at + duration): it does not tick, and keeps
    its clock, its queue (messages go on arriving into it) and its links; it resumes
    where it was."""

    machine: int
    at: float
    duration: float

    kind: ClassVar[str] = "pause"
    pattern: ClassVar[re.Pattern[str]] = _pattern(rf"pause\s+(?P<m>{_ID}){_WINDOW}")
    form: ClassVar[str] = "pause M at T for D"

    @classmethod
    def from_match(cls, g: dict[str, Any], text: str) -> Pause:
        return cls(int(g["m"]), float(g["at"]), float(g["for"]))

    def text(self) -> str:
        return f"pause {self.machine} at {_num(self.at)} for {_num(self.duration)}"

    def check(self, n_machines: int, duration: float) -> None:
        _window(self, duration, self.text())
        _machine(self.machine, n_machines, self.text())

    def windows(self) -> tuple[Window, ...]:
        return (Window(self.machine, self.at, self.duration, PAUSE),)


@dataclass(frozen=True)
class Partition(Fault):
    """Messages sent in [at, at + duration) between machines of different ``groups`` are lost."""

    groups: tuple[tuple[int, ...], ...]
    at: float
    duration: float

    kind: ClassVar[str] = "partition"
    pattern: ClassVar[re.Pattern[str]] = _pattern(rf"partition\s+(?P<groups>[0-9,|\s]+?){_WINDOW}")
    form: ClassVar[str] = "partition A,B|C at T for D"

    @classmethod
    def from_match(cls, g: dict[str, Any], text: str) -> Partition:
        groups = []
        for part in g["groups"].replace(" ", "").split("|"):
            if not part or not all(x.isascii() and x.isdigit() for x in part.split(",")):
                raise ConfigError(f"fault {text!r}: malformed groups (e.g. 0|1,2)")
            groups.append(tuple(int(x) for x in part.split(",")))
        return cls(tuple(groups), float(g["at"]), float(g["for"]))

    def text(self) -> str:
        groups = "|".join(",".join(map(str, g)) for g in self.groups)
        return f"partition {groups} at {_num(self.at)} for {_num(self.duration)}"

    def check(self, n_machines: int, duration: float) -> None:
        name = self.text()
        _window(self, duration, name)
        members = [m for g in self.groups for m in g]
        for m in members:
            _machine(m, n_machines, name)
        if (
            len(self.groups) < 2
            or any(not g for g in self.groups)
            or sorted(members) != list(range(n_machines))
        ):
            raise ConfigError(
                f"fault {name!r}: groups must split machines 0..{n_machines - 1} into two "
                "or more non-empty groups, each machine in exactly one"
            )

    def links(self, n_machines: int) -> tuple[LinkRule, ...]:
        side = {m: g for g, group in enumerate(self.groups) for m in group}
        return tuple(
            LinkRule(s, r, self.at, self.duration, "partition")
            for s, r in _links(n_machines)
            if side[s] != side[r]
        )


@dataclass(frozen=True)
class Loss(Fault):
    """Each message, per recipient, is lost with probability ``p`` (draws of its own)."""

    p: float

    kind: ClassVar[str] = "loss"
    pattern: ClassVar[re.Pattern[str]] = _pattern(rf"loss\s+(?P<p>-?{_NUM})")
    form: ClassVar[str] = "loss P"
    once: ClassVar[bool] = True

    @classmethod
    def from_match(cls, g: dict[str, Any], text: str) -> Loss:
        return cls(float(g["p"]))

    def text(self) -> str:
        return f"loss {_num(self.p)}"

    def check(self, n_machines: int, duration: float) -> None:
        if not (math.isfinite(self.p) and 0.0 <= self.p <= 1.0):
            raise ConfigError(f"fault {self.text()!r}: loss probability outside [0, 1]")

    def links(self, n_machines: int) -> tuple[LinkRule, ...]:
        if self.p <= 0:
            return ()
        return tuple(LinkRule(s, r, 0.0, math.inf, "loss", self.p) for s, r in _links(n_machines))


@dataclass(frozen=True)
class Delay(Fault):
    """Messages ``sender -> recipient`` sent in [at, at + duration) take ``extra`` seconds
    longer (FIFO on the link kept)."""

    sender: int
    recipient: int
    extra: float
    at: float
    duration: float

    kind: ClassVar[str] = "delay"
    pattern: ClassVar[re.Pattern[str]] = _pattern(
        rf"delay\s+(?P<s>{_ID})\s*->\s*(?P<r>{_ID})\s+\+(?P<extra>{_NUM}){_WINDOW}"
    )
    form: ClassVar[str] = "delay S->R +SEC at T for D"

    @classmethod
    def from_match(cls, g: dict[str, Any], text: str) -> Delay:
        return cls(int(g["s"]), int(g["r"]), float(g["extra"]), float(g["at"]), float(g["for"]))

    def text(self) -> str:
        return (
            f"delay {self.sender}->{self.recipient} +{_num(self.extra)} "
            f"at {_num(self.at)} for {_num(self.duration)}"
        )

    def check(self, n_machines: int, duration: float) -> None:
        name = self.text()
        _window(self, duration, name)
        _machine(self.sender, n_machines, name)
        _machine(self.recipient, n_machines, name)
        if self.sender == self.recipient:
            raise ConfigError(f"fault {name!r}: a link joins two different machines")
        if not (math.isfinite(self.extra) and self.extra >= 0):
            raise ConfigError(f"fault {name!r}: extra delay must be a number >= 0")

    def links(self, n_machines: int) -> tuple[LinkRule, ...]:
        return (LinkRule(self.sender, self.recipient, self.at, self.duration, extra=self.extra),)


#: The fault kinds, in the order ``--fault``'s forms list them.
FAULT_KINDS: tuple[type[Fault], ...] = (Crash, Pause, Partition, Loss, Delay)
_KINDS: dict[str, type[Fault]] = {cls.kind: cls for cls in FAULT_KINDS}
_FORMS = " | ".join(cls.form for cls in FAULT_KINDS)


def fault_forms() -> str:
    """Every kind's ``--fault`` form, quoted, for a command's help."""
    return ", ".join(f"'{cls.form}'" for cls in FAULT_KINDS)


def parse_fault(text: str) -> Fault:
    """One ``--fault`` string as a fault. Raise ConfigError naming it if malformed
    (numbers are ASCII digits)."""
    spec = " ".join(str(text).split())
    cls = _KINDS.get(spec.split(" ", 1)[0])
    match = cls.pattern.fullmatch(spec) if cls is not None else None
    if cls is None or match is None:
        raise ConfigError(f"fault {text!r}: malformed (forms: {_FORMS})")
    return cls.from_match(match.groupdict(), text)


def _num(x: float) -> str:
    return f"{x:g}" if not float(x).is_integer() else str(int(x))


def fault_text(fault: Fault) -> str:
    """The ``--fault`` string of a fault (parses back to it)."""
    return fault.text()


def fault_table(fault: Fault) -> dict[str, Any]:
    """A fault as a JSON/TOML table: ``kind`` and its fields (``run.json``'s ``faults``)."""
    table: dict[str, Any] = {"kind": fault.kind}
    for field in fields(fault):  # type: ignore[arg-type]  # every kind is a dataclass
        name = field.name
        value = getattr(fault, name)
        if name == "groups":
            value = [list(g) for g in value]
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        table[name] = value
    return table


def fault_from_table(table: Mapping[str, Any]) -> Fault:
    """A fault from its table (see the module docstring). Raise ConfigError if malformed."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"fault {table!r}: a fault is a table")
    if set(table) == {"fault"}:
        return parse_fault(table["fault"])
    kind = table.get("kind")
    cls = _KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ConfigError(f"fault {dict(table)!r}: kind must be one of {', '.join(_KINDS)}")
    kind_fields = fields(cls)  # type: ignore[arg-type]
    names = [f.name for f in kind_fields]
    flags = {f.name for f in kind_fields if isinstance(f.default, bool)}
    given = {k: v for k, v in table.items() if k != "kind"}
    unknown = sorted(set(given) - set(names))
    required = [f.name for f in kind_fields if f.default is MISSING]
    missing = [f for f in required if f not in given]
    if unknown or missing:
        what = f"unknown key {unknown[0]!r}" if unknown else f"missing key {missing[0]!r}"
        raise ConfigError(f"fault {dict(table)!r}: {what} (keys: kind, {', '.join(names)})")
    values: dict[str, Any] = {}
    for name, value in given.items():
        if name == "groups":
            if not isinstance(value, list | tuple) or not all(
                isinstance(g, list | tuple) and all(is_integer(x) for x in g) for g in value
            ):
                raise ConfigError(f"fault {dict(table)!r}: groups must be lists of machine ids")
            value = tuple(tuple(int(x) for x in g) for g in value)
        elif name in flags:
            if not isinstance(value, bool):
                raise ConfigError(f"fault {dict(table)!r}: {name} must be true or false")
        elif name in ("machine", "sender", "recipient"):
            if not is_integer(value):
                raise ConfigError(f"fault {dict(table)!r}: {name} must be a machine id")
            value = int(value)
        else:
            if not is_number(value):
                raise ConfigError(f"fault {dict(table)!r}: {name} must be a number")
            value = float(value)
        values[name] = value
    return cls(**values)


def _window(fault: Any, duration: float, name: str) -> None:
    """A fault's window ``[fault.at, fault.at + fault.duration)`` lies in the run."""
    if not (math.isfinite(fault.at) and math.isfinite(fault.duration)):
        raise ConfigError(f"fault {name!r}: window is not finite")
    if fault.duration <= 0:
        raise ConfigError(f"fault {name!r}: a window lasts more than 0 s")
    if fault.at < 0 or fault.at + fault.duration > duration:
        raise ConfigError(
            f"fault {name!r}: window [{_num(fault.at)}, {_num(fault.at + fault.duration)}] s "
            f"outside the run [0, {_num(duration)}] s"
        )


def _machine(m: int, n: int, name: str) -> None:
    if not 0 <= m < n:
        raise ConfigError(f"fault {name!r}: no machine {m} (machines 0..{n - 1})")


def check_plan(faults: Iterable[object], n_machines: int, duration: float) -> tuple[Fault, ...]:
    """Validate a plan against a run of ``n_machines`` lasting ``duration`` s and return it
    as a tuple. Raise ConfigError naming the first bad fault: a fault that does not fit
    the run, a second fault of a kind a plan holds once, or windows that overlap on one
    machine."""
    plan = tuple(faults)
    opened: dict[int, list[tuple[Window, Fault]]] = {}
    seen: set[str] = set()
    for fault in plan:
        if not isinstance(fault, Fault):
            names = ", ".join(cls.__name__ for cls in FAULT_KINDS)
            raise ConfigError(f"fault {fault!r}: not a fault ({names})")
        name = fault.text()
        fault.check(n_machines, duration)
        if fault.once and fault.kind in seen:
            raise ConfigError(f"fault {name!r}: a plan holds at most one {fault.kind}")
        seen.add(fault.kind)
        for window in fault.windows():
            for other, owner in opened.get(window.machine, []):
                if window.at < other.at + other.duration and other.at < window.at + window.duration:
                    raise ConfigError(
                        f"fault {name!r}: overlaps {owner.text()!r} on the same machine"
                    )
            opened.setdefault(window.machine, []).append((window, fault))
    return plan  # type: ignore[return-value]  # every entry was checked above


def plan_label(faults: Sequence[Fault]) -> str:
    """A short, stable suffix naming a plan in a run directory: ``faults-<8 hex digits>``."""
    import hashlib

    text = ";".join(fault_text(f) for f in faults)
    return "faults-" + hashlib.sha256(text.encode()).hexdigest()[:8]
