"""The protocol core: Lamport's clock rules and the scale model's event choice.

This module is pure. It never touches a socket, a thread, the wall clock, SimPy,
pandas or the global ``random`` module; a backend drives it and delivers what
it returns. Both backends (``lamport.des`` and ``lamport.realtime``) call the
very same :meth:`Machine.tick`.

The rules, after Lamport, "Time, Clocks, and the Ordering of Events in a
Distributed System", CACM 21(7), 1978 (rules IR1 and IR2):

Tick rule
    Machine *i* ticks at model times ``k / r_i`` (k = 1, 2, ...). Exactly one
    event happens per tick, and every event raises the clock by at least 1.

Receive rule
    If the queue holds a message, the machine takes ONE message off it (FIFO)
    and sets ``clock = max(local clock, message clock) + 1`` (IR2). It does not
    draw an action on that tick: a busy machine neither sends nor works.

Send rule
    Otherwise it draws one uniform number ``u`` in [0, 1) and, with
    ``p = p_send`` and the other machines in ascending id order:

    * ``u < 2p/3``: send to ONE other machine, the ``floor(u / (2p/3) * (N-1))``-th;
    * ``2p/3 <= u < p``: send to every other machine;
    * otherwise: an internal event.

    For N = 3 and p = 0.3 that is the classic die: 1 sends to the first other
    machine, 2 to the second, 3 to both, 4..10 are internal. A send increments
    the clock first and then stamps the new value on the message (IR1 before
    the message leaves); a send to several machines is ONE event: one
    increment, one log row, the same message clock for every recipient.

Internal rule
    The clock increments by one.

Vector clocks (``clock = "vector"``)
    Lamport clocks order events consistently with causality, but C(a) < C(b)
    does not say that a could have influenced b. Vector clocks (Fidge 1988,
    Mattern 1989) do: a :class:`VectorMachine` keeps, beside its Lamport clock,
    one counter per machine. Every event increments its own component; a SEND
    stamps the vector on its message (after the increment, as for the Lamport
    clock); a RECEIVE first takes the componentwise maximum with the message's
    vector, then increments its own component. Component j of an event's
    vector is then the number of machine j's events that happened before it or
    are it, and a happened before b iff vc(a) <= vc(b) componentwise, a != b.
    The Lamport rules and the draws are untouched: a vector run's Lamport
    columns are those of the same run without vectors. The event record gains
    a ``vc`` field (:class:`VectorEvent`), the log a ``vc`` column.

Clock kinds
    A run keeps the Lamport clock, and a clock kind may keep another clock beside
    it (:class:`ClockKind`, :data:`KINDS`): what that clock does on a tick, a send
    and a receive (a :class:`Clock`), what a message carries of it, and the log
    columns it adds. A :class:`ClockedMachine` applies the Lamport rules and then
    its kind's; the Lamport kind keeps nothing beside and its machine is the plain
    :class:`Machine`, whose tick stays inline.

Simultaneous ticks
    The core has no notion of time beyond the ``t`` it is handed. The order of
    ticks that fall on the same instant is the backend's business; the DES
    documents its rule in :mod:`lamport.des.model`.

The random draws come from a :func:`draws` stream the backend passes in, one
per machine, seeded from the run's seed (see :func:`machine_streams`). A draw is
consumed only on a tick with an empty queue, so two backends that feed the same
stream to the same machine see the same sequence of draws.

The timing model (start phases, drift, jitter, latency) draws from streams of
its own, so switching any of it on never shifts a machine's action draws: the
setup stream (child 0) draws the rates of experiment 1, then the phases, then
the drift, in that fixed layout (:data:`SETUP_LAYOUT`); every machine has a
jitter stream and every link a latency stream (:func:`jitter_stream`,
:func:`link_stream`), keyed apart from the machines' streams.
"""

from __future__ import annotations

import functools
import itertools
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from operator import attrgetter
from typing import Any, ClassVar, NamedTuple, Protocol

INTERNAL = "INTERNAL"
SEND = "SEND"
RECEIVE = "RECEIVE"
#: Fault rows (:mod:`lamport.faults`): a machine stops, and starts again. Neither is a
#: tick: their ``tick`` is the ticks so far, their ``jump`` 0 (a reset restart: minus the
#: clock it forgot), their ``queue`` what the machine holds after them.
CRASH = "CRASH"
RESTART = "RESTART"
#: A machine stops ticking and goes on where it was: clock, queue and links kept, and
#: messages keep arriving into its queue (a garbage-collection pause, a SIGSTOP).
PAUSE = "PAUSE"
RESUME = "RESUME"
#: The kinds of a tick, one per tick.
TICK_KINDS = (INTERNAL, SEND, RECEIVE)


class StateChange(NamedTuple):
    """A row kind that changes a machine's state instead of ticking it (a fault's row).

    Every reader and driver asks this table (:data:`STATE_CHANGES`), never a kind's
    name: a new kind of state change is one more entry here. A change is no tick:
    its row's ``tick`` is the ticks so far, its ``jump`` 0 (minus the clock forgotten
    by a reset), its ``queue`` what the machine holds after it.
    """

    #: The row's ``event`` cell.
    event: str
    #: Whether the machine ticks after this change (False: it ticks no more until the
    #: change that ends this one).
    ticks: bool
    #: Why what the machine holds, and what arrives until its next change, is lost (a
    #: :data:`lamport.faults.DROP_REASONS` entry); empty: the machine keeps both.
    loses: str = ""
    #: The row kind that ends the state this change begins (a CRASH's RESTART); empty for
    #: a change that ends one.
    until: str = ""
    #: Whether this change may forget the clock (a ``reset`` restart sets it to 0).
    resets: bool = False


#: The state changes by row kind, starts before their ends.
STATE_CHANGES: dict[str, StateChange] = {
    change.event: change
    for change in (
        StateChange(CRASH, ticks=False, loses="crash", until=RESTART),
        StateChange(RESTART, ticks=True, resets=True),
        StateChange(PAUSE, ticks=False, until=RESUME),
        StateChange(RESUME, ticks=True),
    )
}
EVENT_KINDS = (*TICK_KINDS, *STATE_CHANGES)

#: The names of the clock kinds (:data:`KINDS`): Lamport's alone, or a vector clock beside it.
LAMPORT = "lamport"
VECTOR = "vector"


# NamedTuple's generated __new__ takes keywords and costs a third of a tick; the
# hot path builds records positionally through tuple.__new__ instead.
_new = tuple.__new__


class Message(NamedTuple):
    """A message: its sender, the sender's send count, its clock, and its id.

    ``msg_id`` is ``<sender>:<seq>``, the log schema's message id; it is derived
    from the other fields (see :func:`message`) and need not travel on a wire.
    """

    sender: int
    seq: int
    clock: int
    msg_id: str


def message(sender: int, seq: int, clock: int) -> Message:
    """Build a message, deriving its id."""
    return _new(Message, (sender, seq, clock, f"{sender}:{seq}"))


class Event(NamedTuple):
    """One row of a machine's event log, in the column order of docs/spec.md, the log schema.

    ``msg_clock`` is None and ``peer`` and ``msg_id`` are empty for INTERNAL.
    """

    t: float
    wall: float
    machine: int
    tick: int
    event: str
    clock: int
    jump: int
    queue: int
    peer: str
    msg_clock: int | None
    msg_id: str


class VectorEvent(NamedTuple):
    """An :class:`Event` with the vector clock after it, as the ``vc`` log cell
    (components by machine id, separated by single spaces: ``3 0 5``)."""

    t: float
    wall: float
    machine: int
    tick: int
    event: str
    clock: int
    jump: int
    queue: int
    peer: str
    msg_clock: int | None
    msg_id: str
    vc: str


class VectorMessage(Message):
    """A :class:`Message` that carries its sender's vector clock in ``vc`` (a tuple).

    It unpacks as a Message (four fields), so the Lamport rules read it unchanged.
    """

    vc: tuple[int, ...]


def vector_message(message: Message, vc: tuple[int, ...]) -> VectorMessage:
    """``message`` carrying the vector clock ``vc``."""
    carried = _new(VectorMessage, message)
    carried.vc = vc
    return carried


def vc_cell(vc: tuple[int, ...] | list[int]) -> str:
    """A vector clock as a ``vc`` log cell: ``(3, 0, 5)`` -> ``"3 0 5"``."""
    return " ".join(map(str, vc))


class Outgoing(NamedTuple):
    """What a SEND hands to the network: one message and all its recipients."""

    message: Message
    recipients: tuple[int, ...]


#: A source of uniform numbers in [0, 1), one per call.
Uniform = Callable[[], float]


def draws(generator: object, block: int = 1024, first: int | None = None) -> Uniform:
    """A machine's stream of uniform draws, taken from a numpy Generator in blocks.

    Block size never changes the sequence: ``Generator.random(n)`` yields the
    same doubles as n single calls. The generator is duck-typed (anything with
    ``random(n)`` returning an array) so the core never imports numpy. It may
    also be a callable that builds one, called at the first draw: a stream that
    is never drawn from costs nothing. ``first`` (default ``block``) is the
    first block's size, doubled up to ``block`` at each next one: a stream that
    may draw only once or twice (a link's, of which a run has up to N^2) holds
    only what it drew. The stream is a C iterator's ``__next__`` over the
    blocks' lists: the cheapest callable Python has.
    """

    def blocks() -> Iterator[list[float]]:
        source = generator() if callable(generator) else generator
        size = block if first is None else first
        while True:
            yield source.random(size).tolist()  # type: ignore[union-attr]
            size = min(2 * size, block)

    return itertools.chain.from_iterable(blocks()).__next__


def machine_streams(
    seed: int, n_machines: int, block: int | Sequence[int] = 1024
) -> tuple[Uniform, list[Uniform]]:
    """Return the run's setup stream and one draw stream per machine.

    All come from ``numpy.random.SeedSequence(seed).spawn(n_machines + 1)``:
    child 0 draws the configuration (experiment 1's random rates), child
    ``1 + i`` drives machine i. Every backend uses this function, so the same
    seed gives each machine the same draws everywhere. ``block`` is the draws
    taken at a time (one size, or one per machine: a run that knows how many
    draws a machine needs takes them at once); it never changes a draw.
    """
    import numpy as np  # numpy stays out of the core's import graph until needed

    blocks = [block] * n_machines if isinstance(block, int) else list(block)

    def generator(child: int) -> Callable[[], object]:
        # spawn(N + 1)'s child i is SeedSequence(seed, spawn_key=(i,)); built directly,
        # and only at the stream's first draw, it costs a third of spawn's time
        return lambda: np.random.Generator(
            np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(child,)))
        )

    setup = draws(generator(0), 1024 if isinstance(block, int) else max(blocks, default=1))
    return setup, [draws(generator(1 + i), blocks[i]) for i in range(n_machines)]


#: The setup stream's draws, in blocks of N (one per machine, by id): block 0 draws the
#: rates of an experiment that draws them, block 1 the start phases, block 2 the drift.
#: A block is reserved whether it is used or not, so phases never depend on the rates' mode.
SETUP_LAYOUT = ("rates", "phases", "drift")
# Spawn keys of the side streams: two words, so they never meet the one-word keys
# (i,) of SeedSequence.spawn's children that machine_streams hands out.
_JITTER_KEY = 0x4A17
_LINK_KEY = 0x1A7E
_LOSS_KEY = 0x1055


def setup_block(seed: int, n_machines: int, block: str) -> list[float]:
    """The N uniform draws of one block of the setup stream (:data:`SETUP_LAYOUT`)."""
    import numpy as np

    # the child 0 that machine_streams hands out (spawn's child 0, built directly)
    child = np.random.SeedSequence(seed, spawn_key=(0,))
    generator = np.random.Generator(np.random.PCG64(child))
    values: list[float] = generator.random(n_machines * len(SETUP_LAYOUT)).tolist()
    start = SETUP_LAYOUT.index(block) * n_machines
    return values[start : start + n_machines]


def _side_stream(seed: int, key: tuple[int, ...], block: int, first: int | None = None) -> Uniform:
    import numpy as np

    sequence = np.random.SeedSequence(seed, spawn_key=key)
    return draws(np.random.Generator(np.random.PCG64(sequence)), block, first)


def jitter_stream(seed: int, machine: int, block: int = 1024) -> Uniform:
    """Machine ``machine``'s tick-jitter draws: one per tick, apart from its action draws."""
    return _side_stream(seed, (_JITTER_KEY, machine), block)


def link_stream(seed: int, sender: int, recipient: int, block: int = 64) -> Uniform:
    """The latency draws of the link ``sender -> recipient``: one per message, in send order."""
    return _side_stream(seed, (_LINK_KEY, sender, recipient), block, first=1)


def loss_stream(seed: int, sender: int, recipient: int, block: int = 64) -> Uniform:
    """The loss draws of the link ``sender -> recipient``: one per message, in send order."""
    return _side_stream(seed, (_LOSS_KEY, sender, recipient), block, first=1)


#: Up to this many machines, each machine keeps its send targets built (N^2 for the run,
#: a few kilobytes): the catalogue's path. Above it a machine keeps none and works out a
#: send's recipients when it happens (:class:`_Targets`): memory linear in N.
KEPT_TARGETS = 64


@functools.lru_cache(maxsize=4)
def _ids(n_machines: int) -> tuple[tuple[int, ...], list[str]]:
    """The machine ids and their log labels, one pair per run size, shared by every machine."""
    ids = tuple(range(n_machines))
    return ids, [str(i) for i in ids]


class _Targets:
    """A machine's send targets worked out per send, for runs above :data:`KEPT_TARGETS`
    machines: indexed by :func:`choose_action`'s action as the kept list is (a peer index,
    or -1 for every peer), it returns ``(recipients, peer label)`` built from the run's
    shared ids, so a machine holds nothing that grows with N."""

    __slots__ = ("ids", "labels", "me")

    def __init__(self, me: int, n_machines: int) -> None:
        self.me = me
        self.ids, self.labels = _ids(n_machines)

    def __getitem__(self, action: int) -> tuple[tuple[int, ...], str]:
        me = self.me
        if action < 0:
            ids, labels = self.ids, self.labels
            return ids[:me] + ids[me + 1 :], "+".join(labels[:me] + labels[me + 1 :])
        peer = action + 1 if action >= me else action  # peers in ascending id, me left out
        return (peer,), self.labels[peer]


def choose_action(u: float, p_send: float, n_peers: int) -> int | None:
    """Map one uniform draw to an action: a peer index, -1 for all peers, None for internal.

    Peer indexes count the *other* machines in ascending id order (0 .. n_peers-1).
    """
    single = p_send * 2.0 / 3.0
    if u < single:
        return min(int(u / single * n_peers), n_peers - 1)
    if u < p_send:
        return -1
    return None


def receive_clock(local: int, message_clock: int) -> int:
    """The receive rule (IR2): one more than the larger of the local and the message clock."""
    return (local if local > message_clock else message_clock) + 1


def advance_clock(local: int) -> int:
    """The rule of a send or an internal event (IR1): one more than the local clock."""
    return local + 1


class Machine:
    """One machine of the scale model: a Lamport clock, a FIFO queue and a draw stream.

    The backend calls :meth:`deliver` when a message arrives and :meth:`tick`
    once per tick; :meth:`tick` returns the event record and, for a SEND, the
    message to hand to the network. A driver that wants only a summary calls
    :meth:`tally_tick` instead: the same rules, no record, and the machine
    counts what a summary needs (:attr:`receives`, :attr:`messages`,
    :attr:`max_queue`, :attr:`max_jump`).

    Raise ValueError if the id is out of range, there are fewer than two
    machines, or ``p_send`` lies outside [0, 1].
    """

    __slots__ = (
        "_draw",
        "_labels",
        "_peer",
        "_targets",
        "clock",
        "deliver",
        "machine_id",
        "max_jump",
        "max_queue",
        "messages",
        "n_machines",
        "p_send",
        "queue",
        "received",
        "receives",
        "sent",
        "ticks",
    )

    def __init__(self, machine_id: int, n_machines: int, p_send: float, draw: Uniform) -> None:
        if n_machines < 2:
            raise ValueError(f"a run needs at least two machines, got {n_machines}")
        if not 0 <= machine_id < n_machines:
            raise ValueError(f"machine id {machine_id} outside 0..{n_machines - 1}")
        if not 0.0 <= p_send <= 1.0:
            raise ValueError(f"p_send must lie in [0, 1], got {p_send}")
        self.machine_id = machine_id
        self.n_machines = n_machines
        self.p_send = float(p_send)
        self._labels = _ids(n_machines)[1]
        # Recipients and log label per action: one per single peer, then all peers; kept
        # for small runs, worked out per send for large ones (:class:`_Targets`).
        self._targets: list[tuple[tuple[int, ...], str]] | _Targets
        if n_machines <= KEPT_TARGETS:
            peers = self.peers
            self._targets = [((p,), self._labels[p]) for p in peers]
            self._targets.append((peers, "+".join(self._labels[p] for p in peers)))
        else:
            self._targets = _Targets(machine_id, n_machines)
        self._draw = draw
        self.clock = 0
        self.ticks = 0
        self.sent = 0
        #: Counted by :meth:`tally_tick` (and so by :meth:`tick`, which calls it): RECEIVE
        #: ticks, messages sent (a SEND to k peers counts k), the longest queue a RECEIVE
        #: left, the largest jump of any tick.
        self.receives = 0
        self.messages = 0
        self.max_queue = 0
        self.max_jump = 1  # every tick but a RECEIVE jumps by one
        #: The message the last RECEIVE took; the peer label of the last SEND.
        self.received: Message | None = None
        self._peer = ""
        self.queue: deque[Message] = deque()
        #: ``deliver(message)`` puts an arrived message at the back of the queue.
        #: It is the queue's own append, bound once: the DES calls it per message.
        self.deliver: Callable[[Message], None] = self.queue.append

    @property
    def peers(self) -> tuple[int, ...]:
        """The other machines' ids, ascending: the order a send's draw counts them in."""
        return tuple(i for i in range(self.n_machines) if i != self.machine_id)

    def tick(self, t: float, wall: float) -> tuple[Event, Outgoing | None]:
        """Run one tick at model time ``t`` (``wall`` is only recorded).

        Return the event record and, for a SEND, the outgoing message. The tick
        itself is :meth:`tally_tick`'s; this builds its record.
        """
        before = self.clock
        receives = self.receives
        outgoing = self.tally_tick()
        clock = self.clock
        me = self.machine_id
        if outgoing is not None:
            msg_id = outgoing[0][3]
            send = (t, wall, me, self.ticks, SEND, clock, 1, 0, self._peer, clock, msg_id)
            return _new(Event, send), outgoing
        if self.receives != receives:
            sender, _, message_clock, msg_id = self.received  # type: ignore[misc]
            label = self._labels[sender]
            jump = clock - before
            queued = len(self.queue)
            receive = (
                t, wall, me, self.ticks, RECEIVE, clock, jump, queued, label, message_clock, msg_id
            )  # fmt: skip
            return _new(Event, receive), None
        internal = (t, wall, me, self.ticks, INTERNAL, clock, 1, 0, "", None, "")
        return _new(Event, internal), None

    def tally_tick(self) -> Outgoing | None:
        """Run one tick by the rules above, building no record: count it instead.

        Return the outgoing message of a SEND, else None. The counts (see the class)
        and ``ticks``, ``sent`` and ``clock`` are all a summary needs: a summaries-only
        run (:func:`lamport.des.model.simulate_summary`) keeps no record at all, and
        :meth:`tick` builds its record from what this leaves (``received``, the
        SEND's peer label). A :class:`VectorMachine` keeps no vector clock here.
        """
        self.ticks += 1
        queue = self.queue
        if queue:
            message = self.received = queue.popleft()
            before = self.clock
            clock = self.clock = receive_clock(before, message[2])
            self.receives += 1
            if clock - before > self.max_jump:
                self.max_jump = clock - before
            if len(queue) > self.max_queue:
                self.max_queue = len(queue)
            return None
        # advance_clock and choose_action, inline on the path most ticks take (a call
        # costs as much as the rest of the tick): u >= p_send is choose_action's None
        clock = self.clock = self.clock + 1
        u = self._draw()
        if u >= self.p_send:
            return None
        action: int = choose_action(u, self.p_send, self.n_machines - 1)  # type: ignore[assignment]
        recipients, self._peer = self._targets[action]  # -1 (all peers) is the last entry
        me = self.machine_id
        sent = self.sent = self.sent + 1
        self.messages += len(recipients)
        return _new(Outgoing, (_new(Message, (me, sent, clock, f"{me}:{sent}")), recipients))

    def change(
        self, change: StateChange, t: float, wall: float, reset: bool = False
    ) -> tuple[Event, list[Message]]:
        """Change the machine's state at ``t`` (a row of :data:`STATE_CHANGES`): return its
        record and the messages its queue held if the change loses them (a crash). With
        ``reset`` (a change that :attr:`~StateChange.resets`) the clock goes back to 0 and
        the clock condition breaks on purpose; otherwise it stays as it was (stable
        storage)."""
        lost: list[Message] = []
        if change.loses:
            lost = list(self.queue)
            self.queue.clear()
        before = self.clock
        if reset:
            self.clock = 0
        clock = self.clock
        queued = len(self.queue)
        if queued > self.max_queue:  # a row's queue, as a summary of the records reads it
            self.max_queue = queued
        fields = (t, wall, self.machine_id, self.ticks, change.event, clock, clock - before)
        return _new(Event, (*fields, queued, "", None, "")), lost

    def crash(self, t: float, wall: float) -> tuple[Event, list[Message]]:
        """The machine stops at ``t``: return the CRASH record and the messages its queue
        held, now lost. Its clock stays as it was (stable storage) until :meth:`restart`."""
        return self.change(STATE_CHANGES[CRASH], t, wall)

    def restart(self, t: float, wall: float, reset: bool = False) -> Event:
        """The machine starts again at ``t``: return the RESTART record. Its clock is the
        one it had, or 0 with ``reset`` (the clock condition then breaks on purpose)."""
        return self.change(STATE_CHANGES[RESTART], t, wall, reset)[0]


class Clock(Protocol):
    """What a clock kind keeps beside a machine's Lamport clock, one per machine.

    A :class:`ClockedMachine` applies the Lamport rules first, then tells its clock
    what the tick was: :meth:`local` for a SEND or an INTERNAL event, :meth:`receive`
    for a RECEIVE (with what the message carried); each returns the event's log cells
    (one call per tick: the vector and hybrid runs' hot path). ``physical`` is the machine's own
    physical time at the tick, in whole microseconds (0 for a kind that reads none,
    :attr:`ClockKind.physical`).
    """

    def local(self, physical: int) -> tuple[Any, ...]:
        """A SEND or an INTERNAL event; return the cells it logs (:meth:`cells`)."""

    def receive(self, carried: Any, physical: int) -> tuple[Any, ...]:
        """A RECEIVE of a message that carried ``carried`` (:meth:`wire` of its sender);
        return the cells it logs (:meth:`cells`)."""

    def wire(self) -> Any:
        """What a message sent after the last event carries."""

    def cells(self) -> tuple[Any, ...]:
        """The log cells after the Lamport columns (:attr:`ClockKind.columns`)."""

    def reset(self) -> None:
        """A restart that forgets the clock (a ``reset`` crash)."""

    def load(self, wire: tuple[int, ...]) -> None:
        """Take up the clock a :meth:`wire` gave (a process restarting from its storage)."""


class ClockKind(NamedTuple):
    """A clock kind: the clock a machine keeps beside its Lamport clock, what a message
    carries of it and what the log gains. The one place a new kind is written (with its
    :class:`Clock`); backends, the log writer and the readers ask it, never its name.

    Lamport's kind keeps nothing beside (``clock`` None): its machine is the plain
    :class:`Machine`, whose tick path stays inline.
    """

    name: str
    #: One line for ``--clock``'s help.
    help: str
    #: ``clock(machine_id, n_machines)``: a machine's new :class:`Clock`; None for none.
    clock: Callable[[int, int], Clock] | None = None
    #: The log columns after :data:`Event`'s, and their pandas dtypes.
    columns: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = ()
    #: The event record: an :class:`Event` with the :attr:`columns` as more fields.
    record: type[Any] = Event
    #: ``carry(message, wire)``: the message carrying a clock's :meth:`Clock.wire`;
    #: ``carried(message)`` reads it back.
    carry: Callable[[Any, Any], Any] | None = None
    carried: Callable[[Any], Any] | None = None
    #: The type of a message carrying it (what :attr:`carry` makes).
    message: type[Any] = Message
    #: ``wire_size(n_machines)``: how many integers :meth:`Clock.wire` holds (a frame
    #: on a real network carries them after the Lamport clock, each in 0..2^63-1).
    wire_size: Callable[[int], int] | None = None
    #: ``parse(cells)``: a log row's :attr:`columns` cells as the record's fields.
    #: Raise ValueError if a cell is malformed.
    parse: Callable[[Sequence[str]], tuple[Any, ...]] | None = None
    #: Whether the clock reads each machine's physical time.
    physical: bool = False
    #: The backends that run it (:mod:`lamport.backend`'s names).
    backends: tuple[str, ...] = ("des", "realtime")
    #: What a default run directory's name gets for it (``-vc``); empty for none.
    label: str = ""

    @property
    def machine(self) -> type[Machine]:
        """The machine that keeps this kind: :class:`Machine`, or a :class:`ClockedMachine`."""
        if self.clock is None:
            return Machine
        return _clocked(self)


def micros(t: float) -> int:
    """Model seconds as whole microseconds, rounded down: a physical time without drift."""
    return int(t * 1_000_000)


def physical_clock(units: int, drift: int) -> Callable[[float], int]:
    """A machine's own physical clock on a model whose instants are whole units of
    ``1/units`` second: at model time ``t`` it reads ``t (1 + drift 1e-12)`` seconds
    (``drift`` as :attr:`lamport.config.RunConfig.drift_units`), in whole microseconds,
    rounded down. Exact integer arithmetic: every reader of a run gets the same reading."""
    scale = 10**6 * (10**12 + drift)
    denominator = units * 10**12

    def read(t: float) -> int:
        return round(t * units) * scale // denominator

    return read


class ClockedMachine(Machine):
    """A :class:`Machine` that keeps a :class:`Clock` of its :attr:`kind` beside its
    Lamport clock. The Lamport rules, the queue and the draws are the base class's,
    untouched: a clocked run's Lamport columns are those of a Lamport run."""

    __slots__ = ("beside", "physical")
    kind: ClassVar[ClockKind]

    def __init__(self, machine_id: int, n_machines: int, p_send: float, draw: Uniform) -> None:
        super().__init__(machine_id, n_machines, p_send, draw)
        #: The clock beside the Lamport clock, after the machine's last event.
        self.beside: Clock = self.kind.clock(machine_id, n_machines)  # type: ignore[misc]
        #: The machine's physical time (whole microseconds) at model time t; a backend
        #: with a clock model of its own (the DES's drift) sets it.
        self.physical: Callable[[float], int] = micros

    def tick(self, t: float, wall: float) -> tuple[Event, Outgoing | None]:
        kind = self.kind
        queue = self.queue
        head = queue[0] if queue else None
        record, outgoing = Machine.tick(self, t, wall)
        beside = self.beside
        physical = self.physical(t) if kind.physical else 0
        if head is not None:  # the RECEIVE took the head of the queue
            cells = beside.receive(kind.carried(head), physical)  # type: ignore[misc]
        else:
            cells = beside.local(physical)
        event = _new(kind.record, (*record, *cells))
        if outgoing is not None:
            message, recipients = outgoing
            carrying = kind.carry(message, beside.wire())  # type: ignore[misc]
            outgoing = _new(Outgoing, (carrying, recipients))
        return event, outgoing

    def change(
        self, change: StateChange, t: float, wall: float, reset: bool = False
    ) -> tuple[Event, list[Message]]:
        record, lost = Machine.change(self, change, t, wall, reset)
        if reset:  # the machine forgets everything it knew
            self.beside.reset()
        return _new(self.kind.record, (*record, *self.beside.cells())), lost


def saved_clock(event: Event) -> str:
    """The clock a kind keeps beside the Lamport clock after ``event`` (a row of its
    log), as the integers of its :meth:`Clock.wire` separated by spaces, what
    :meth:`Clock.load` takes back; empty for Lamport's kind. A kind's log cells are
    those integers in order (a ``vc`` cell is already integers and spaces)."""
    return " ".join(str(cell) for cell in event[len(Event._fields) :])


_CLOCKED: dict[str, type[ClockedMachine]] = {}


def _clocked(kind: ClockKind) -> type[ClockedMachine]:
    """The :class:`ClockedMachine` of ``kind``, made once."""
    made = _CLOCKED.get(kind.name)
    if made is None:
        name = f"{kind.name.capitalize()}Machine"
        made = _CLOCKED[kind.name] = type(name, (ClockedMachine,), {"__slots__": (), "kind": kind})
    return made


# -- vector clocks (Fidge 1988, Mattern 1989: the rules in the module docstring) ----------


class VectorClock:
    """A vector clock: one counter per machine; its own counts its events."""

    __slots__ = ("me", "vc")

    def __init__(self, machine_id: int, n_machines: int) -> None:
        self.me = machine_id
        self.vc = [0] * n_machines

    def local(self, physical: int) -> tuple[str]:
        vc = self.vc
        vc[self.me] += 1
        return (" ".join(map(str, vc)),)  # vc_cell, inline

    def receive(self, carried: tuple[int, ...], physical: int) -> tuple[str]:
        vc = self.vc
        vc[:] = map(max, vc, carried)
        vc[self.me] += 1
        return (" ".join(map(str, vc)),)

    def wire(self) -> tuple[int, ...]:
        return tuple(self.vc)

    def cells(self) -> tuple[str]:
        return (vc_cell(self.vc),)

    def reset(self) -> None:
        self.vc = [0] * len(self.vc)

    def load(self, wire: tuple[int, ...]) -> None:
        self.vc = list(wire)


def vc_components(cell: str) -> list[int]:
    """A ``vc`` cell as its components. Raise ValueError unless it is integers >= 0
    separated by single spaces."""
    parts = cell.split(" ")
    if not all(part.isascii() and part.isdigit() for part in parts):
        raise ValueError(f"{cell!r} is not integers >= 0 separated by spaces")
    return [int(part) for part in parts]


def _vector_cells(cells: Sequence[str]) -> tuple[str]:
    vc_components(cells[0])
    return (cells[0],)


VECTOR_KIND = ClockKind(
    VECTOR,
    "'vector' also keeps a vector clock, carries it on every message and logs it in a vc column",
    clock=VectorClock,
    columns=("vc",),
    dtypes=("string",),
    record=VectorEvent,
    carry=vector_message,
    carried=attrgetter("vc"),
    message=VectorMessage,
    wire_size=lambda n_machines: n_machines,
    parse=_vector_cells,
    label="vc",
)
LAMPORT_KIND = ClockKind(LAMPORT, "'lamport' keeps Lamport's clock alone (the default)")


# -- hybrid logical clocks (Kulkarni, Demirbas et al., "Logical Physical Clocks", 2014) ----


class HlcEvent(NamedTuple):
    """An :class:`Event` with the hybrid logical clock after it: ``hlc_l`` (whole
    microseconds, the largest physical time the machine has heard of) and ``hlc_c``."""

    t: float
    wall: float
    machine: int
    tick: int
    event: str
    clock: int
    jump: int
    queue: int
    peer: str
    msg_clock: int | None
    msg_id: str
    hlc_l: int
    hlc_c: int


# A NamedTuple cannot extend another's fields: a clock kind's record restates Event's, and
# this keeps them Event's, in order (schema.py holds VectorEvent to the same).
assert HlcEvent._fields[: len(Event._fields)] == Event._fields


class HlcMessage(Message):
    """A :class:`Message` that carries its sender's hybrid logical clock ``hlc``: (l, c)."""

    hlc: tuple[int, int]


def hlc_message(message: Message, hlc: tuple[int, int]) -> HlcMessage:
    """``message`` carrying the hybrid logical clock ``hlc``."""
    carried = _new(HlcMessage, message)
    carried.hlc = hlc
    return carried


class HybridClock:
    """A hybrid logical clock (l, c): ``l`` the largest physical time heard of, ``c`` a
    counter that orders the events sharing an ``l``.

    Send or local event (the paper's Figure 5): ``l' = max(l, pt)``; ``c' = c + 1`` if
    ``l' == l``, else 0. Receive of (l_m, c_m): ``l' = max(l, l_m, pt)``; ``c'`` is
    ``max(c, c_m) + 1`` if ``l' == l == l_m``, ``c + 1`` if only ``l' == l``, ``c_m + 1``
    if only ``l' == l_m``, else 0. ``pt`` is the machine's own physical time. Then
    ``l >= pt`` always, (l, c) grows along happened-before, and ``l - pt`` stays within
    the largest offset between the machines' physical clocks.
    """

    __slots__ = ("c", "l")

    def __init__(self, machine_id: int, n_machines: int) -> None:
        self.l = 0
        self.c = 0

    def local(self, physical: int) -> tuple[int, int]:
        if physical > self.l:
            self.l, self.c = physical, 0
        else:
            self.c += 1
        return (self.l, self.c)

    def receive(self, carried: tuple[int, int], physical: int) -> tuple[int, int]:
        l_m, c_m = carried
        local, c = self.l, self.c
        top = max(local, l_m, physical)
        if top == local and top == l_m:
            c = max(c, c_m) + 1
        elif top == local:
            c += 1
        elif top == l_m:
            c = c_m + 1
        else:
            c = 0
        self.l, self.c = top, c
        return (top, c)

    def wire(self) -> tuple[int, int]:
        return (self.l, self.c)

    def cells(self) -> tuple[int, int]:
        return (self.l, self.c)

    def reset(self) -> None:
        self.l = self.c = 0

    def load(self, wire: tuple[int, ...]) -> None:
        self.l, self.c = wire


def _hlc_cells(cells: Sequence[str]) -> tuple[int, ...]:
    if not all(cell.isascii() and cell.isdigit() for cell in cells):
        raise ValueError(f"hlc cells {', '.join(map(repr, cells))} are not integers >= 0")
    return tuple(int(cell) for cell in cells)


HLC = "hlc"
HLC_KIND = ClockKind(
    HLC,
    "'hlc' also keeps a hybrid logical clock (l in microseconds of physical time, c a "
    "counter), carries it and logs it in hlc_l and hlc_c",
    clock=HybridClock,
    columns=("hlc_l", "hlc_c"),
    dtypes=("int64", "int64"),
    record=HlcEvent,
    carry=hlc_message,
    carried=attrgetter("hlc"),
    message=HlcMessage,
    wire_size=lambda n_machines: 2,
    parse=_hlc_cells,
    physical=True,
    label="hlc",
)

#: The clock kinds by name.
KINDS: dict[str, ClockKind] = {kind.name: kind for kind in (LAMPORT_KIND, VECTOR_KIND, HLC_KIND)}
#: Their names, for ``--clock`` and the configuration's check.
CLOCK_KINDS = tuple(KINDS)


class VectorMachine(ClockedMachine):
    """A :class:`Machine` that also keeps a vector clock (the rules above).

    Its events are :class:`VectorEvent` records and its messages
    :class:`VectorMessage` ones. Messages delivered to it must carry a vector.
    """

    __slots__ = ()
    kind = VECTOR_KIND

    @property
    def vc(self) -> list[int]:
        """The vector clock after the machine's last event."""
        return self.beside.vc  # type: ignore[attr-defined]

    @vc.setter
    def vc(self, value: list[int]) -> None:
        self.beside.vc = value  # type: ignore[attr-defined]


_CLOCKED[VECTOR] = VectorMachine


def clock_kind(clock: str) -> ClockKind:
    """The clock kind named ``clock`` (:data:`KINDS`). Raise ValueError for an unknown one."""
    try:
        return KINDS[clock]
    except KeyError:
        raise ValueError(f"clock must be one of {', '.join(CLOCK_KINDS)}, got {clock!r}") from None


def machine_class(clock: str) -> type[Machine]:
    """The machine that keeps clocks of kind ``clock`` (:data:`CLOCK_KINDS`).

    Raise ValueError for an unknown kind.
    """
    return clock_kind(clock).machine
