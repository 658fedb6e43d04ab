"""The columnar checker: ``lamport check`` of a run at the speed of reading its files.

:func:`lamport.check.check_logs` (the reference) walks a run's events one record at
a time in Python. This module decides the same verdict on columns: each log is read
by pyarrow's CSV reader into typed arrays (:func:`read_columns`), and each check is a
pass over them with numpy. A run it finds sound gets the same report as the
reference's; a run it cannot vouch for (a problem found, hybrid logical clocks over
drifting physical clocks, a reset restart, a file its reader does not take) is
handed to the reference, which names every problem. So the two agree on every
verdict and every line by construction, and ``tests/test_fastcheck.py`` holds the
columnar verdict to the reference's on random runs, good and corrupted.

Reading
    A log is read only if the exact reader (:func:`lamport.logs.read_log`) would
    read it to the same values: the header is one the writer writes (the schema's
    columns, then a clock kind's), the body holds only the bytes a log of the
    writer holds (ASCII digits, ``, . - + : e E``, the capitals of the event kinds,
    and spaces inside ``vc`` cells only), every row is full, times are finite,
    within 0 .. 10^9 s and never go back, clocks are not negative, and every
    integer fits 64 bits. Within that alphabet pyarrow's number grammar is the
    schema's (:data:`lamport.schema.INTEGER_TEXT`, :data:`lamport.schema.NUMBER_TEXT`),
    which ``tests/test_fastcheck.py`` checks. Anything else goes to the exact
    reader, which refuses it in one line or reads it.

The invariants, as passes over columns
    Per machine: the machine column, the tick numbers (a state change's row, a
    crash's or a pause's, is no tick and keeps the clock), clocks that grow with
    ``jump`` their difference, queues not negative, no draw on a queue the row
    before left non-empty and no draw leaving one. The SENDs: recipients that are
    other machines, ``msg_clock`` their clock, ids no other SEND has. The receives
    joined to their SENDs by id (the writer's ``<sender>:<n>`` by their numbers,
    any others by a hash join, ``pyarrow.compute.index_in``), then per receive the
    sender, that it was sent to this machine, its ``peer`` and ``msg_clock`` and a
    clock above it; ``network.csv``'s lost messages sent to their recipient, never
    received by it, lost once; per link, the receives take the link's messages in
    order with none skipped but the lost (FIFO per link, each received once).
    Conservation and tick counts as the reference counts them.

Derived vector clocks
    Component j of an event on machine i counts j's events that happened before it
    or are it. Machine i's matrix is the running maximum, down its log, of the
    SENDs' vector clocks placed at its RECEIVE rows, with its own component
    ``1, 2, 3, ...``. The SENDs' clocks are what is being computed, so the matrices
    are iterated from their own components alone: each round gathers every SEND's
    row from the round before and accumulates. The latest event of j that i knows
    of reaches i by a path that visits each machine at most once (a path that comes
    back to a machine can go along that machine's log instead), so N rounds reach
    the fixed point, one more confirms it; a round is a gather and a running
    maximum over integer arrays. A cycle (a message received before it is sent)
    never converges or lets an event know a later event of its own machine: the
    reference then names it. The clock condition is checked against these
    matrices, and a ``vc`` column must equal them; a fault's rows are left out, as
    the reference leaves them out.

Hybrid logical clocks
    When no machine's physical clock drifts, the offset between them is 0, so
    ``hlc_l`` must be each tick's physical time exactly (:func:`lamport.core.physical_clock`
    in int64); the pair grows from tick to tick, and a RECEIVE's is above its SEND's.
    Drifting clocks need the reference's exact big-integer readings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from lamport.core import (
    EVENT_KINDS,
    HLC,
    INTERNAL,
    KINDS,
    RECEIVE,
    SEND,
    STATE_CHANGES,
    TICK_KINDS,
    VECTOR,
)
from lamport.logs import T_LIMIT
from lamport.schema import CLOCK_COLUMNS, COLUMNS, DTYPES, LOG_PATTERN, log_name

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from lamport.faults import Drop

__all__ = [
    "Columns",
    "Sound",
    "check_columns",
    "check_run",
    "derived_vector_clocks",
    "read_columns",
    "read_run_columns",
]

#: The bytes a log's body may hold for the columnar reader: those the writer writes.
_BODY_BYTES = b"0123456789,\n.-+:eE" + bytes(sorted({ord(c) for k in EVENT_KINDS for c in k}))
#: The clock kinds whose logs the columnar reader takes: header text -> kind name.
_HEADERS = {",".join((*COLUMNS, *kind.columns)): kind.name for kind in KINDS.values()}
#: The log's columns by dtype (:data:`lamport.schema.DTYPES`): floats, integers, and
#: integers whose cell may be empty.
_FLOATS = tuple(c for c in COLUMNS if DTYPES[c] == "float64")
_INTEGERS = tuple(c for c in COLUMNS if DTYPES[c] == "int64")
_NULLABLE = tuple(c for c in COLUMNS if DTYPES[c] == "Int64")
#: The clock kinds' columns, read as text and parsed as their kind parses them.
_KIND_COLUMNS = {c: "string" for kind in KINDS.values() for c in kind.columns}
#: Columns of few distinct cells, read as codes into a dictionary of them.
_CODED = ("event", "peer")


#: pyarrow's type for each of the schema's dtypes (an empty cell of a nullable one is null).
_ARROW_TYPES = {"float64": "float64", "int64": "int64", "Int64": "int64", "string": "string"}


class Sound(NamedTuple):
    """A run in which the columnar checker found nothing wrong: its counts (what
    :class:`lamport.check.CheckReport` says of it), and whether its logs carry vector
    clocks (equal to the derived ones)."""

    machines: int
    events: int
    messages: int
    carried: bool
    #: The logs carry hybrid logical clocks, whose guarantees hold.
    hlc: bool = False


@dataclass
class Columns:
    """One machine's log as columns: numpy arrays of its numbers, codes for its
    ``event`` and ``peer`` cells (indexes into :attr:`kinds` and :attr:`peers`), its
    message ids as a pyarrow string array, and its ``vc`` cells as a matrix (None
    without a ``vc`` column). ``msg_clock`` is -1 where the cell is empty."""

    t: np.ndarray
    machine: np.ndarray
    tick: np.ndarray
    event: np.ndarray
    kinds: list[str]
    clock: np.ndarray
    jump: np.ndarray
    queue: np.ndarray
    peer: np.ndarray
    peers: list[str]
    msg_clock: np.ndarray
    msg_id: pa.Array
    vc: np.ndarray | None
    #: ``hlc_l`` and ``hlc_c`` as an (events x 2) matrix; None without them.
    hlc: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.t)

    def rows(self, kind: str) -> np.ndarray:
        """A boolean mask of the rows of one event kind."""
        import numpy as np

        if kind not in self.kinds:
            return np.zeros(len(self), dtype=bool)
        return self.event == self.kinds.index(kind)

    def tick_rows(self) -> np.ndarray:
        """A boolean mask of the rows that are ticks (not a fault's state change)."""
        import numpy as np

        codes = [k for k, kind in enumerate(self.kinds) if kind in TICK_KINDS]
        return np.isin(self.event, codes)

    def ticks(self) -> Columns:
        """The log without its state changes' rows (itself if it has none)."""
        keep = self.tick_rows()
        if keep.all():
            return self
        ids = self.msg_id.filter(_mask(keep))
        vc = None if self.vc is None else self.vc[keep]
        hlc = None if self.hlc is None else self.hlc[keep]
        return Columns(
            self.t[keep], self.machine[keep], self.tick[keep], self.event[keep], self.kinds,
            self.clock[keep], self.jump[keep], self.queue[keep], self.peer[keep], self.peers,
            self.msg_clock[keep], ids, vc, hlc,
        )  # fmt: skip


def read_columns(path: Path, n_machines: int) -> Columns | None:
    """One log as :class:`Columns`, or None if the columnar reader does not take it
    (see the module's docstring): the exact reader then reads or refuses it."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    from lamport.files import read_bytes

    try:
        data = read_bytes(path)
    except OSError:
        return None
    end = data.find(b"\n")
    head = data[:end]
    kind = _HEADERS.get(head.decode("latin-1"))
    if kind is None or end < 0:
        return None
    vector = kind == VECTOR
    allowed = _BODY_BYTES + (b" " if vector else b"")
    # the body holds only allowed bytes: what is left of the file is the header's own
    if data.translate(None, allowed) != head.translate(None, allowed):
        return None
    spaces = data.count(b" ") if vector else 0
    header = head.decode("ascii").split(",")
    types = {c: getattr(pa, _ARROW_TYPES[d])() for c, d in {**DTYPES, **_KIND_COLUMNS}.items()}
    for name in _CODED:  # few distinct cells: read as codes into a short dictionary
        types[name] = pa.dictionary(pa.int32(), pa.string())
    try:
        table = pcsv.read_csv(
            pa.py_buffer(data),
            read_options=pcsv.ReadOptions(use_threads=True, block_size=1 << 22),
            parse_options=pcsv.ParseOptions(ignore_empty_lines=False),
            convert_options=pcsv.ConvertOptions(
                column_types={c: types[c] for c in header},
                null_values=[""],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=False,
            ),
        )
    except (pa.ArrowException, ValueError):
        return None  # a row of the wrong width, a cell that is no number, ...
    if tuple(table.column_names) != tuple(header):
        return None
    if any(table.column(name).null_count for name in (*_FLOATS, *_INTEGERS)):
        return None  # an empty cell where a number must be
    floats = {name: _numpy(table.column(name)) for name in _FLOATS}
    if not all(np.isfinite(x).all() for x in floats.values()):
        return None
    t = floats["t"]
    if len(t) and (t[0] < 0 or t.max() >= T_LIMIT or (np.diff(t) < 0).any()):
        return None  # the exact reader names the time out of range or going back
    ints = {name: _numpy(table.column(name)) for name in _INTEGERS}
    ints |= {name: _with_empty(table.column(name), -1) for name in _NULLABLE}
    for name in CLOCK_COLUMNS:
        lowest = pc.min(table.column(name)).as_py()
        if lowest is not None and lowest < 0:
            return None  # a clock below 0
    event, kinds = _codes(table.column("event"))
    peer, peers = _codes(table.column("peer"))
    msg_id = table.column("msg_id").combine_chunks()
    vc = hlc = None
    if vector:
        vc = _vector_clocks(table.column("vc"), n_machines, spaces)
        if vc is None:
            return None
    elif kind == HLC:
        cells = [table.column(c).combine_chunks() for c in KINDS[HLC].columns]
        pairs = [_digits_only(cell) for cell in cells]
        if any(pair is None for pair in pairs):
            return None
        hlc = np.stack(pairs, axis=1) if len(t) else np.zeros((0, 2), dtype=np.int64)  # type: ignore[arg-type]
    return Columns(
        t, ints["machine"], ints["tick"], event, kinds, ints["clock"], ints["jump"],
        ints["queue"], peer, peers, ints["msg_clock"], msg_id, vc, hlc,
    )  # fmt: skip


def _numpy(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A numeric column without nulls as a numpy array, from its buffer (pyarrow's own
    ``to_numpy`` loads pandas, which costs more than reading the log)."""
    import numpy as np
    import pyarrow as pa

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    dtype = np.dtype(array.type.to_pandas_dtype())
    data = array.buffers()[1]
    if data is None:
        return np.zeros(0, dtype=dtype)
    return np.frombuffer(data, dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize)


def _indices(rows: np.ndarray) -> pa.Array:
    """Row numbers (int64) as a pyarrow array, over the same memory (``pa.array`` of a
    numpy array loads pandas)."""
    import numpy as np
    import pyarrow as pa

    rows = np.ascontiguousarray(rows, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(rows), [None, pa.py_buffer(rows)])


def _mask(keep: np.ndarray) -> pa.Array:
    """A numpy boolean mask as a pyarrow one (``pa.array`` of a numpy array loads pandas)."""
    import numpy as np
    import pyarrow as pa

    bits = np.packbits(keep, bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), len(keep), [None, pa.py_buffer(bits)])


def _with_empty(column: pa.ChunkedArray, empty: int) -> np.ndarray:
    """An integer column with empty cells (nulls) as a numpy array, ``empty`` in them."""
    import numpy as np

    array = column.combine_chunks()
    values = _numpy(array)
    if not array.null_count:
        return values
    bits = np.frombuffer(array.buffers()[0], dtype=np.uint8)
    valid = np.unpackbits(bits, bitorder="little")[array.offset : array.offset + len(array)]
    return np.where(valid.astype(bool), values, empty)


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """A dictionary column's codes (int32) and its distinct values by code."""
    import numpy as np

    column = column.unify_dictionaries()
    if column.num_chunks == 0:
        return np.zeros(0, dtype=np.int32), []
    dictionary = column.chunk(0).dictionary.to_pylist()
    codes = np.concatenate([_numpy(c.indices) for c in column.chunks])
    return codes, dictionary


def _digits_only(cells: pa.Array) -> np.ndarray | None:
    """Cells of ASCII digits as int64 (a clock kind's integers >= 0), or None unless
    every cell is digits only, at least one, below 2^63."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(cells) and (
        pc.min(pc.utf8_length(cells)).as_py() == 0 or not pc.all(pc.utf8_is_digit(cells)).as_py()
    ):
        return None
    try:
        return _numpy(pc.cast(cells, pa.int64()))
    except pa.ArrowException:
        return None  # 2^63 or more


def _vector_clocks(column: pa.ChunkedArray, n: int, spaces: int) -> np.ndarray | None:
    """A ``vc`` column as an (events x n) int64 matrix, or None unless every cell is n
    integers >= 0 below 2^63 separated by single spaces and the body's spaces are all
    inside them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    cells = column.combine_chunks()
    if (pc.sum(pc.count_substring(cells, " ")).as_py() or 0) != spaces:
        return None  # a space outside a vc cell
    parts = pc.split_pattern(cells, " ")
    if len(cells) and (
        pc.min(pc.list_value_length(parts)).as_py() != n
        or pc.max(pc.list_value_length(parts)).as_py() != n
    ):
        return None
    flat = pc.list_flatten(parts)
    if len(flat) and (
        pc.min(pc.utf8_length(flat)).as_py() == 0 or not pc.all(pc.utf8_is_digit(flat)).as_py()
    ):
        return None
    try:
        numbers = pc.cast(flat, pa.int64())
    except pa.ArrowException:
        return None  # 2^63 or more
    return _numpy(numbers).reshape(len(cells), n)


def read_run_columns(run_dir: Path, n_machines: int) -> list[Columns] | None:
    """Every log of a run as :class:`Columns`, or None if the columnar reader does not
    take one of them, or the directory holds a log ``run.json`` does not list."""
    names = {log_name(m) for m in range(n_machines)}
    if any(p.name not in names for p in run_dir.glob(LOG_PATTERN)):
        return None
    logs = []
    for machine in range(n_machines):
        columns = read_columns(run_dir / log_name(machine), n_machines)
        if columns is None:
            return None
        logs.append(columns)
    return logs


def check_run(run_dir: Path, metadata: Mapping[str, Any]) -> Sound | None:
    """The counts of a run the columnar checker finds sound, or None: the reference
    (:func:`lamport.check.check_logs`) then reads and checks the run."""
    from lamport.logs import read_drops

    n = len(metadata["rates"])
    logs = read_run_columns(Path(run_dir), n)
    if logs is None:
        return None
    return check_columns(metadata, logs, read_drops(Path(run_dir), n))


def check_columns(
    metadata: Mapping[str, Any], logs: Sequence[Columns], drops: Sequence[Drop] = ()
) -> Sound | None:
    """The counts of a sound run (no problem, as the reference would find none, given
    ``network.csv``'s rows ``drops``), or None if a check fails or the run is outside
    what this module checks (hybrid logical clocks of drifting physical clocks)."""
    import numpy as np

    n = len(metadata["rates"])
    if len(logs) != n:
        return None
    carrying = [c.vc is not None for c in logs]
    vector = any(carrying)
    if (vector and not all(carrying)) or (metadata.get("clock") == VECTOR and not vector):
        return None
    hybrid = [c.hlc is not None for c in logs if len(c)]
    hlc = any(hybrid)
    if (hlc and not all(hybrid)) or (metadata.get("clock") == HLC and not hlc and hybrid):
        return None
    if not all(_own_rows(machine, c) for machine, c in enumerate(logs)):
        return None
    messages = _messages(logs)
    if messages is None or not _invariants(metadata, logs, messages, drops):
        return None
    # Happened-before orders the ticks: a fault's rows are left out of the vector clocks.
    ticks = [c.ticks() for c in logs]
    if any(len(t) != len(c) for t, c in zip(ticks, logs, strict=True)):
        messages = _messages(ticks)
        if messages is None:
            return None
    clocks = derived_vector_clocks(ticks, messages)
    if clocks is None or not _clock_condition(ticks, clocks):
        return None
    carried = [c.vc for c in ticks if c.vc is not None]
    if vector and not all(np.array_equal(c, v) for c, v in zip(carried, clocks, strict=True)):
        return None
    if hlc and not _hybrid_clocks(metadata, ticks, messages):
        return None
    events = sum(len(c) for c in logs)
    received = sum(len(at) for at, _ in messages.received)
    return Sound(n, events, received, vector, hlc)


def _hybrid_clocks(
    metadata: Mapping[str, Any], ticks: Sequence[Columns], messages: _Messages
) -> bool:
    """True if the hybrid logical clocks keep their guarantees (the reference's check):
    at every tick ``hlc_l`` is the machine's physical time (no machine's physical clock
    drifts, so the offset between them is 0: never below it, never ahead of it), the
    pair (``hlc_l``, ``hlc_c``) increases from tick to tick, and each RECEIVE's pair is
    above its SEND's. False, for the reference to decide, if a physical clock drifts
    (its reading needs more than 64 bits) or a time is too large to read exactly."""
    import math

    import numpy as np

    n = len(ticks)
    units = int(metadata.get("time_base") or 10**6)
    drifts = metadata.get("drifts_ppm") or [0.0] * n
    if any(round(ppm * 10**6) for ppm in drifts):
        return False
    # lamport.core.physical_clock without drift: round(t units) 10^6 // units, reduced
    common = math.gcd(10**6, units)
    scale, divisor = 10**6 // common, units // common
    for c in ticks:
        if not len(c):
            continue
        units_t = np.rint(c.t * units)
        if units_t.max() >= 2**53 or units_t.max() * scale >= 2**62:
            return False
        physical = units_t.astype(np.int64) * scale // divisor
        pairs = c.hlc
        if pairs is None or not np.array_equal(pairs[:, 0], physical):
            return False
        later, earlier = pairs[1:], pairs[:-1]
        grows = (later[:, 0] > earlier[:, 0]) | (
            (later[:, 0] == earlier[:, 0]) & (later[:, 1] > earlier[:, 1])
        )
        if not grows.all():
            return False
    sent = np.concatenate(
        [c.hlc[rows] for c, rows in zip(ticks, messages.rows, strict=True) if c.hlc is not None]
        or [np.zeros((0, 2), dtype=np.int64)]
    )
    for c, (at, which) in zip(ticks, messages.received, strict=True):
        if not len(at) or c.hlc is None:
            continue
        mine, theirs = c.hlc[at], sent[which]
        above = (mine[:, 0] > theirs[:, 0]) | (
            (mine[:, 0] == theirs[:, 0]) & (mine[:, 1] > theirs[:, 1])
        )
        if not above.all():
            return False
    return True


@dataclass
class _Messages:
    """A run's messages on columns: every SEND, machines in order (``first[m]`` is
    machine m's first among them), its machine (``owner``), row and recipients (``to[w, r]``:
    whether SEND w went to machine r); per machine its RECEIVE rows and the index of
    each one's SEND among all."""

    first: np.ndarray
    owner: np.ndarray
    rows: list[np.ndarray]
    to: np.ndarray
    received: list[tuple[np.ndarray, np.ndarray]]
    #: Every SEND's id, and whether they are all the writer's (``m:1``, ``m:2``, ...).
    ids: pa.Array
    written: bool

    def index(self, ids: pa.Array) -> np.ndarray | None:
        """The index among all SENDs of the SEND of each id, or None if one is no SEND's."""
        import numpy as np
        import pyarrow.compute as pc

        if self.written:
            parsed = _ids(ids)
            if parsed is None:
                return None
            sender, seq = parsed
            n = len(self.first) - 1
            counts = np.diff(self.first)
            if len(ids) and not ((sender >= 0) & (sender < n)).all():
                return None
            if len(ids) and not ((seq >= 1) & (seq <= counts[np.clip(sender, 0, n - 1)])).all():
                return None
            return self.first[sender] + seq - 1
        found = pc.index_in(ids, value_set=self.ids)
        if found.null_count:
            return None
        return _numpy(found).astype(np.int64)


def _messages(logs: Sequence[Columns]) -> _Messages | None:
    """The run's messages, or None unless every SEND names other machines and has an id
    no other SEND has, and every RECEIVE's id is a SEND's. Ids as the writer writes
    them (machine m's SENDs ``m:1``, ``m:2``, ... in its log's order) are matched by
    their numbers; any others by a hash join of the texts."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from lamport.invariants import _recipients

    n = len(logs)
    rows = [np.flatnonzero(c.rows(SEND)) for c in logs]
    counts = np.array([len(r) for r in rows], dtype=np.int64)
    first = np.concatenate(([0], np.cumsum(counts)))
    to = np.zeros((int(first[-1]), n), dtype=bool)
    sent = [c.msg_id.take(_indices(at)) for c, at in zip(logs, rows, strict=True)]
    written = True  # every SEND's id the writer's
    for machine, (c, at) in enumerate(zip(logs, rows, strict=True)):
        ids = _ids(sent[machine])
        mine = np.arange(1, len(at) + 1)
        if ids is None or not (ids[0] == machine).all() or not np.array_equal(ids[1], mine):
            written = False
        targets = [_recipients(p, machine, n) for p in c.peers]
        codes = c.peer[at]
        if any(targets[k] is None for k in np.unique(codes).tolist()):
            return None  # a SEND that names no other machines
        named = np.zeros((max(len(targets), 1), n), dtype=bool)
        for k, t in enumerate(targets):
            named[k, list(t or ())] = True
        to[first[machine] : first[machine + 1]] = named[codes]
    every = pa.concat_arrays(sent) if sent else pa.array([], pa.string())
    if not written and pc.count_distinct(every).as_py() != len(every):
        return None  # an id sent twice
    owner = np.repeat(np.arange(n, dtype=np.int64), counts)
    messages = _Messages(first, owner, rows, to, [], every, written)
    for c in logs:
        at = np.flatnonzero(c.rows(RECEIVE))
        which = messages.index(c.msg_id.take(_indices(at)))
        if which is None:
            return None  # a RECEIVE of an id no machine sent
        messages.received.append((at, which))
    return messages


def _ids(ids: pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """Message ids ``<sender>:<n>`` as two int64 arrays, or None unless each is written
    as the writer writes it (decimal, no sign, no leading zero)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if not len(ids):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    try:
        parts = pc.split_pattern(ids, ":", max_splits=1)
        if pc.min(pc.list_value_length(parts)).as_py() != 2:
            return None
        pairs = _numpy(pc.cast(pc.list_flatten(parts), pa.int64())).reshape(-1, 2)
        sender, seq = pairs[:, 0], pairs[:, 1]
    except (pa.ArrowException, ValueError):
        return None
    if (sender < 0).any() or (seq < 0).any():
        return None
    # each id is at least as long as its numbers written plainly: as long in all, it is so
    length = pc.sum(pc.binary_length(ids)).as_py()
    if length != int((_digits(sender) + 1 + _digits(seq)).sum()):
        return None
    return sender, seq


def _digits(values: np.ndarray) -> np.ndarray:
    """How many decimal digits each integer >= 0 is written with."""
    import numpy as np

    digits = np.ones(len(values), dtype=np.int64)
    bound = 10
    while True:
        more = values >= bound
        if not more.any():
            return digits
        digits += more
        bound *= 10


def _invariants(
    metadata: Mapping[str, Any],
    logs: Sequence[Columns],
    messages: _Messages,
    drops: Sequence[Drop],
) -> bool:
    """True if the invariants that tie the logs together hold (:func:`lamport.invariants.violations`
    and the reference's lost-message check would find nothing, given each log's own rows
    hold): tick counts; each RECEIVE matches a SEND to its machine, with the sender as
    its peer, the SEND's clock as its ``msg_clock`` and a clock above it; each lost
    message (``drops``) was sent to its recipient, never received by it, lost once; FIFO
    per link, each message received once, none overtaken; conservation."""
    import numpy as np

    from lamport.backend import backend_of
    from lamport.invariants import _tick_count

    n = len(logs)
    tolerance = backend_of(metadata).tick_tolerance
    for machine, c in enumerate(logs):
        if _tick_count(metadata, machine, int(c.tick_rows().sum()), tolerance):
            return False
    dropped = list(metadata.get("dropped") or [0] * n)
    lost = _lost(messages, drops, dropped, n)
    if lost is None:
        return False
    owner, first, to = messages.owner, messages.first, messages.to
    for machine, (c, (at, which)) in enumerate(zip(logs, messages.received, strict=True)):
        if not len(at):
            continue
        if not to[which, machine].all():
            return False  # a message sent to other machines
        if np.isin(lost[machine], which).any():
            return False  # a message lost, and received after all
        sender = owner[which]
        peer_ids = np.array([_decimal(p) for p in c.peers] or [-1], dtype=np.int64)
        if (peer_ids[c.peer[at]] != sender).any():
            return False
        # every loss to this machine named in network.csv: none may be overtaken
        named = len(lost[machine]) >= dropped[machine]
        send_clock = np.empty(len(at), dtype=np.int64)
        for s in np.unique(sender).tolist():
            pick = sender == s
            send_clock[pick] = logs[s].clock[messages.rows[s][which[pick] - first[s]]]
            # FIFO per link: the receives from s take s's sends to this machine in
            # order, each once, and none is skipped that was not lost
            ordinal = np.cumsum(to[first[s] : first[s + 1], machine]) - 1
            taken = ordinal[which[pick] - first[s]]
            if (np.diff(taken) <= 0).any():
                return False
            if named:
                mine = lost[machine]
                skipped = ordinal[mine[(mine >= first[s]) & (mine < first[s + 1])] - first[s]]
                if int(taken[-1]) + 1 != len(taken) + int((skipped < taken[-1]).sum()):
                    return False
        if (c.msg_clock[at] != send_clock).any() or (c.clock[at] <= send_clock).any():
            return False
    queued = metadata.get("queued_at_end")
    if queued is not None:
        for m in range(n):
            if int(to[:, m].sum()) != len(messages.received[m][0]) + queued[m] + dropped[m]:
                return False
    return True


def _lost(
    messages: _Messages, drops: Sequence[Drop], dropped: Sequence[int], n: int
) -> list[np.ndarray] | None:
    """Per recipient, the index among all SENDs of each message ``network.csv`` lists as
    lost to it; None if a row names a message never sent to its recipient or one lost
    twice, or more rows name a machine than ``run.json`` counts as dropped for it."""
    import numpy as np
    import pyarrow as pa

    empty = [np.zeros(0, dtype=np.int64) for _ in range(n)]
    if not drops:
        return empty
    texts = [d.msg_id.encode() for d in drops]
    offsets = np.cumsum([0, *map(len, texts)]).astype(np.int32)
    ids = pa.Array.from_buffers(
        pa.string(), len(texts), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(texts))]
    )
    which = messages.index(ids)
    if which is None:
        return None  # a message no machine sent
    recipients = np.array([d.recipient for d in drops], dtype=np.int64)
    if ((recipients < 0) | (recipients >= n)).any():
        return None
    found = []
    for m in range(n):
        mine = which[recipients == m]
        if not messages.to[mine, m].all() or len(np.unique(mine)) != len(mine):
            return None  # never sent to this machine, or lost twice
        if len(mine) > dropped[m]:
            return None  # more rows than run.json counts
        found.append(np.sort(mine))
    return found


def _decimal(text: str) -> int:
    """A cell's machine id if it is one written as the writer writes it, else -1 (a
    number too large for any machine, 2^63 and more included, is none)."""
    if text.isascii() and text.isdigit() and len(text) < 19 and str(int(text)) == text:
        return int(text)
    return -1


def _own_rows(machine: int, c: Columns) -> bool:
    """One machine's rows (:func:`lamport.invariants.violations`, per row): tick kinds
    and state changes only, its id; ticks numbered 1, 2, ... (a state change's row the
    ticks so far); clocks that grow at each tick, with ``jump`` the difference, and a
    state change that keeps the clock (a reset is the reference's to name); a tick's
    queue not negative; a draw only after a row that left the queue empty, leaving it
    so; each SEND carrying its clock."""
    import numpy as np

    if not set(c.kinds) <= {*TICK_KINDS, *STATE_CHANGES}:
        return False  # an unknown kind: the reference names it
    if not len(c):
        return True
    if (c.machine != machine).any():
        return False
    ticking = c.tick_rows()
    count = np.cumsum(ticking)
    if not np.array_equal(c.tick, count):
        return False
    step = np.diff(c.clock, prepend=0)
    if not np.array_equal(step, c.jump):
        return False
    if (step[ticking] <= 0).any() or (step[~ticking] != 0).any():
        return False
    if (c.queue[ticking] < 0).any():
        return False
    draws = c.rows(INTERNAL) | c.rows(SEND)
    left = np.concatenate(([0], c.queue[:-1]))
    if (c.queue[draws] != 0).any() or (left[draws] > 0).any():
        return False
    sends = c.rows(SEND)
    return bool((c.msg_clock[sends] == c.clock[sends]).all())


def derived_vector_clocks(
    logs: Sequence[Columns], messages: _Messages | None = None
) -> list[np.ndarray] | None:
    """Every event's vector clock from the logs (see the module's docstring), one
    (events x N) int64 matrix per machine; None if the ids are not the writer's, or
    the logs hold a cycle (the reference names what is wrong). The rounds touch the
    SENDs and RECEIVEs only; the matrices are built once, from the fixed point."""
    import numpy as np

    messages = _messages(logs) if messages is None else messages
    if messages is None:
        return None
    n = len(logs)
    first, send_rows, received = messages.first, messages.rows, messages.received
    # Per machine, for each SEND: how many of its RECEIVEs come before it.
    before = [np.searchsorted(at, rows) for (at, _), rows in zip(received, send_rows, strict=True)]
    sent = np.zeros((int(first[-1]), n), dtype=np.int64)  # every SEND's vector clock
    for m, rows in enumerate(send_rows):
        sent[first[m] : first[m + 1], m] = rows + 1
    merged: list[np.ndarray] = [np.zeros((0, n), dtype=np.int64)] * n
    for _ in range(n + 2):
        new = sent.copy()
        for m, ((at, which), rows) in enumerate(zip(received, send_rows, strict=True)):
            merged[m] = sent[which]
            if (merged[m][:, m] > at).any():
                return None  # a RECEIVE that knows itself or a later event of its machine
            if not len(rows) or not len(at):
                continue
            running = np.maximum.accumulate(merged[m], axis=0)
            k = before[m]
            known = k > 0
            block = new[first[m] : first[m + 1]]
            block[known] = np.maximum(block[known], running[k[known] - 1])
        if np.array_equal(new, sent):
            break
        sent = new
    else:
        return None  # no fixed point in N + 2 rounds: a cycle
    clocks = []
    for m, (c, (at, _)) in enumerate(zip(logs, received, strict=True)):
        matrix = np.zeros((len(c), n), dtype=np.int64)
        if len(at):
            matrix[at] = merged[m]
            np.maximum.accumulate(matrix, axis=0, out=matrix)
        matrix[:, m] = np.arange(1, len(c) + 1)
        clocks.append(matrix)
    return clocks


def _clock_condition(logs: Sequence[Columns], clocks: Sequence[np.ndarray]) -> bool:
    """True if every event's Lamport clock exceeds those of the events that happened
    before it: on each machine j, j's first VC[j] events (VC[j] - 1 on its own), whose
    largest clock is the last of them, clocks growing along every log. One gather per
    machine from all the machines' clocks laid end to end, each after a sentinel below
    every clock that "no event" looks up."""
    import numpy as np

    lowest = np.iinfo(np.int64).min
    flat = np.concatenate([np.concatenate(([lowest], c.clock)) for c in logs])
    start = np.concatenate(([0], np.cumsum([len(c) + 1 for c in logs])))[:-1]
    for m, (c, vc) in enumerate(zip(logs, clocks, strict=True)):
        if not len(c):
            continue
        seen = vc.copy()
        seen[:, m] -= 1
        bound = flat[seen + start].max(axis=1)
        if (c.clock <= bound).any():
            return False
    return True
