"""The fault plan: crashes, partitions, message loss and extra delay, as data.

A plan is a tuple of the frozen dataclasses below, the ``faults`` field of
:class:`lamport.config.RunConfig`: part of the model, so every backend plays
the same faults and ``run.json`` records them (key ``faults``, a list of
tables, :func:`fault_table`). It is written three ways, all read here:

* a ``--fault`` string (:func:`parse_fault`)::

    crash 1 at 10 for 5            machine 1 down in [10, 15) s, clock kept
    crash 1 at 10 for 5 reset      the same, the clock restarts at 0
    partition 0|1,2 at 20 for 10   messages across the cut sent in [20, 30) s are lost
    loss 0.05                      each message, per recipient, lost with p = 0.05
    delay 0->2 +0.5 at 30 for 5    messages 0 -> 2 sent in [30, 35) s take 0.5 s longer

* an experiment file's ``[[faults]]`` tables, or ``run.json``'s ``faults`` list
  (:func:`fault_from_table`): ``kind`` and the dataclass's fields, e.g.
  ``{kind = "crash", machine = 1, at = 10, duration = 5, reset = true}``,
  ``{kind = "partition", groups = [[0], [1, 2]], at = 20, duration = 10}``;
  a table may instead be ``{fault = "crash 1 at 10 for 5"}``.

:func:`check_plan` validates a plan against a run (machines, duration); every
error is a ConfigError naming the fault. What each fault does is the
backends' business (docs/faults.md; the DES: :mod:`lamport.des.model`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

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


@dataclass(frozen=True)
class Crash:
    """Machine ``machine`` is down in [at, at + duration): it does not tick, its queue is
    lost at the crash and every message arriving while it is down is lost. On restart its
    clock is restored, or set to 0 with ``reset``."""

    machine: int
    at: float
    duration: float
    reset: bool = False


@dataclass(frozen=True)
class Partition:
    """Messages sent in [at, at + duration) between machines of different ``groups`` are lost."""

    groups: tuple[tuple[int, ...], ...]
    at: float
    duration: float


@dataclass(frozen=True)
class Loss:
    """Each message, per recipient, is lost with probability ``p`` (draws of its own)."""

    p: float


@dataclass(frozen=True)
class Delay:
    """Messages ``sender -> recipient`` sent in [at, at + duration) take ``extra`` seconds
    longer (FIFO on the link kept)."""

    sender: int
    recipient: int
    extra: float
    at: float
    duration: float


Fault = Crash | Partition | Loss | Delay
_KINDS: dict[str, type] = {"crash": Crash, "partition": Partition, "loss": Loss, "delay": Delay}

_NUM = r"[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?"
_WINDOW = rf"\s+at\s+(?P<at>{_NUM})\s+for\s+(?P<for>{_NUM})"
_PATTERNS = {
    "crash": re.compile(rf"crash\s+(?P<m>\d+){_WINDOW}(?P<reset>\s+reset)?"),
    "partition": re.compile(rf"partition\s+(?P<groups>[0-9,|\s]+?){_WINDOW}"),
    "loss": re.compile(rf"loss\s+(?P<p>-?{_NUM})"),
    "delay": re.compile(rf"delay\s+(?P<s>\d+)\s*->\s*(?P<r>\d+)\s+\+(?P<extra>{_NUM}){_WINDOW}"),
}
_FORMS = (
    "crash M at T for D [reset] | partition A,B|C at T for D | loss P | delay S->R +SEC at T for D"
)


def crash_changes(start: int, end: int, reset: bool) -> list[tuple[int, int, bool, bool]]:
    """A crash window on a backend's time grid as its two changes, ``(instant, rank,
    crash, reset)``, which sort into the order they apply: at one instant a restart
    (rank 0) comes before a crash (rank 1), so one crash may end where the next of the
    machine begins; but a window too short to hold an instant of the grid (``start ==
    end``) restarts after its own crash (rank 2): the queue is lost, no tick is."""
    return [(start, 1, True, False), (end, 0 if end > start else 2, False, reset)]


def parse_fault(text: str) -> Fault:
    """One ``--fault`` string as a fault. Raise ConfigError naming it if malformed."""
    spec = " ".join(str(text).split())
    kind = spec.split(" ", 1)[0]
    pattern = _PATTERNS.get(kind)
    match = pattern.fullmatch(spec) if pattern is not None else None
    if match is None:
        raise ConfigError(f"fault {text!r}: malformed (forms: {_FORMS})")
    g = match.groupdict()
    if kind == "crash":
        return Crash(int(g["m"]), float(g["at"]), float(g["for"]), bool(g["reset"]))
    if kind == "partition":
        groups = []
        for part in g["groups"].replace(" ", "").split("|"):
            if not part or not all(x.isdigit() for x in part.split(",")):
                raise ConfigError(f"fault {text!r}: malformed groups (e.g. 0|1,2)")
            groups.append(tuple(int(x) for x in part.split(",")))
        return Partition(tuple(groups), float(g["at"]), float(g["for"]))
    if kind == "loss":
        return Loss(float(g["p"]))
    return Delay(int(g["s"]), int(g["r"]), float(g["extra"]), float(g["at"]), float(g["for"]))


def _num(x: float) -> str:
    return f"{x:g}" if not float(x).is_integer() else str(int(x))


def fault_text(fault: Fault) -> str:
    """The ``--fault`` string of a fault (parses back to it)."""
    if isinstance(fault, Crash):
        reset = " reset" if fault.reset else ""
        return f"crash {fault.machine} at {_num(fault.at)} for {_num(fault.duration)}{reset}"
    if isinstance(fault, Partition):
        groups = "|".join(",".join(map(str, g)) for g in fault.groups)
        return f"partition {groups} at {_num(fault.at)} for {_num(fault.duration)}"
    if isinstance(fault, Loss):
        return f"loss {_num(fault.p)}"
    return (
        f"delay {fault.sender}->{fault.recipient} +{_num(fault.extra)} "
        f"at {_num(fault.at)} for {_num(fault.duration)}"
    )


def fault_table(fault: Fault) -> dict[str, Any]:
    """A fault as a JSON/TOML table: ``kind`` and its fields (``run.json``'s ``faults``)."""
    kind = next(name for name, cls in _KINDS.items() if isinstance(fault, cls))
    table: dict[str, Any] = {"kind": kind}
    for field in fields(fault):
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
    names = [f.name for f in fields(cls)]
    given = {k: v for k, v in table.items() if k != "kind"}
    unknown = sorted(set(given) - set(names))
    required = [f for f in names if f != "reset"]
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
        elif name == "reset":
            if not isinstance(value, bool):
                raise ConfigError(f"fault {dict(table)!r}: reset must be true or false")
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


def _window(fault: Crash | Partition | Delay, duration: float, name: str) -> None:
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
    as a tuple. Raise ConfigError naming the first bad fault."""
    plan = tuple(faults)
    crashes: dict[int, list[Crash]] = {}
    losses = 0
    for fault in plan:
        if not isinstance(fault, Crash | Partition | Loss | Delay):
            raise ConfigError(f"fault {fault!r}: not a fault (Crash, Partition, Loss, Delay)")
        name = fault_text(fault)
        if isinstance(fault, Loss):
            if not (math.isfinite(fault.p) and 0.0 <= fault.p <= 1.0):
                raise ConfigError(f"fault {name!r}: loss probability outside [0, 1]")
            losses += 1
            if losses > 1:
                raise ConfigError(f"fault {name!r}: a plan holds at most one loss")
            continue
        _window(fault, duration, name)
        if isinstance(fault, Crash):
            _machine(fault.machine, n_machines, name)
            for other in crashes.get(fault.machine, []):
                if fault.at < other.at + other.duration and other.at < fault.at + fault.duration:
                    raise ConfigError(
                        f"fault {name!r}: overlaps {fault_text(other)!r} on the same machine"
                    )
            crashes.setdefault(fault.machine, []).append(fault)
        elif isinstance(fault, Partition):
            members = [m for g in fault.groups for m in g]
            for m in members:
                _machine(m, n_machines, name)
            if (
                len(fault.groups) < 2
                or any(not g for g in fault.groups)
                or sorted(members) != list(range(n_machines))
            ):
                raise ConfigError(
                    f"fault {name!r}: groups must split machines 0..{n_machines - 1} into two "
                    "or more non-empty groups, each machine in exactly one"
                )
        else:
            _machine(fault.sender, n_machines, name)
            _machine(fault.recipient, n_machines, name)
            if fault.sender == fault.recipient:
                raise ConfigError(f"fault {name!r}: a link joins two different machines")
            if not (math.isfinite(fault.extra) and fault.extra >= 0):
                raise ConfigError(f"fault {name!r}: extra delay must be a number >= 0")
    return plan  # type: ignore[return-value]  # every entry was checked above


def plan_label(faults: Sequence[Fault]) -> str:
    """A short, stable suffix naming a plan in a run directory: ``faults-<8 hex digits>``."""
    import hashlib

    text = ";".join(fault_text(f) for f in faults)
    return "faults-" + hashlib.sha256(text.encode()).hexdigest()[:8]
