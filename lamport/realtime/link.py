"""The link between two machines as a state machine: bytes in, events and bytes out, no socket.

As h11 keeps HTTP apart from I/O, this module keeps the link's protocol apart
from the transport (:mod:`.transport`), which only moves bytes between sockets
and these objects. Nothing here reads a clock, opens a socket or starts a
thread; a test drives it byte by byte (``tests/test_link.py``).

One connection: :class:`Link`
    A link is one TCP connection between two machines, used both ways. Its
    states::

        caller (the higher id)         listener (the lower id)
        CHALLENGE  -- hello sent -->   HELLO
                                       AUTH      -- challenge sent
        OPEN       <-- challenge --    (auth checks out)
                   --   auth    -->    OPEN
        CLOSED: refused, ended in error, or given up by its owner

    The handshake is :mod:`.auth`'s challenge-response (fresh nonces both
    ways, HMAC-SHA256 of the run's secret); the frames are :mod:`.framing`'s.
    :meth:`Link.receive_data` takes the bytes of one read (``b""``: the peer
    ended its stream) and returns what they meant, in order:
    :class:`Authenticated`, :class:`Arrived` (a message), :class:`Control`
    (``ready``, ``start``, ``abort``), :class:`Refused` (``refuse``: another
    machine holds our id), :class:`Malformed` (a frame of an open link that
    breaks the protocol but not the stream: dropped, the link stays open),
    :class:`Ended` (end of stream) or, last, :class:`Failed` (the connection
    broke the protocol: a bad length, a hello from an unknown id, a wrong or
    replayed MAC, a stream ending inside a frame, anything but the handshake
    before it is done, a listener hanging up on its caller during it). The
    owner reports a socket error with :meth:`Link.connection_lost`: a
    :class:`Lost` of an open link, else a :class:`Failed`. After
    :class:`Failed`, :class:`Lost` or :class:`Refused` the link is CLOSED
    and ignores further bytes: malformed input never raises.

Malformed frames
    Once the link is open its frames keep their boundaries, so a frame that
    does not make sense is dropped alone: a payload that is neither a
    message nor a control frame, a value outside 0..2**63 - 1, a vector
    clock of the wrong size, a message whose sender is not the link's, and a
    message whose sequence number is not above the last one taken from its
    sender. Links are FIFO and ``<sender>:<n>`` is the sender's n-th send,
    so that last rule catches a replayed frame, a duplicate and a frame out
    of order: a message id is received at most once. The last sequence
    number taken from each peer outlives the link (:attr:`Peers.last_seq`,
    handed to every link): a process started again after a crash goes on
    from the sends it logged, so its rejoin passes, and a replay on a new
    connection does not. What the link has to say (hello, challenge, auth,
    control frames, messages) waits in :attr:`Link.out` until the owner
    reports it written (:meth:`Link.written`); :meth:`Link.buffer` says when a
    peer that does not read has let too much wait (:data:`MAX_BUFFERED`).

The drain
    :attr:`Link.pending` remembers where each buffered message ends in the
    stream, so a link lost with a full buffer tells how many messages it never
    carried (:meth:`Link.discard`). :attr:`Link.shut` (our sending side ended)
    and :attr:`Link.eof` (theirs) say how far the drain got.

All the links of a machine: :class:`Peers`
    Whether the set-up is done (every caller in, every peer we call
    answered) and, if it never is, why in one line; which peers have ended
    their stream, which are expected back as a new
    process (a rejoin, ``--real-crash``) and until when, whether an
    authenticated caller takes a link's place, is refused (its id is taken:
    two machines with one id) or is new, and whether the drain is over. Times
    are given by the owner (``now``), never read here. :class:`Backoff` says
    when to call a peer that did not answer again.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import Enum

from lamport.core import Message
from lamport.realtime.auth import (
    AuthError,
    auth_payload,
    challenge_payload,
    check_auth,
    check_challenge,
    hello_payload,
    new_nonce,
    parse_hello,
)
from lamport.realtime.framing import FrameDecoder, FrameError, encode_frame, frame_limit
from lamport.realtime.framing import parse_message as _parse_message

__all__ = [
    "MAX_BUFFERED",
    "REJOIN_TIMEOUT",
    "Arrived",
    "Authenticated",
    "Backoff",
    "Control",
    "Ended",
    "Failed",
    "Link",
    "LinkEvent",
    "Lost",
    "Malformed",
    "Peers",
    "Refused",
    "State",
]

#: Seconds a rejoining peer gets to answer the handshake (its process starts meanwhile).
REJOIN_TIMEOUT = 10.0
#: Bytes a link may hold unsent (its peer not reading) before messages to it are dropped.
MAX_BUFFERED = 1 << 20
_CONTROL = re.compile(rb"ready [0-9a-f]{16}|start \d{1,20}|(abort|refuse) [ -~]{1,120}")


class State(Enum):
    HELLO = "waiting for the caller's hello"
    CHALLENGE = "waiting for the listener's challenge"
    AUTH = "waiting for the caller's auth"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class Authenticated:
    """The handshake checked out: the link is machine ``peer``'s."""

    peer: int


@dataclass(frozen=True)
class Arrived:
    """A message from the link's peer."""

    message: Message


@dataclass(frozen=True)
class Control:
    """A control frame from the link's peer: ``ready <digest>``, ``start <ns>``, ``abort ...``."""

    payload: bytes


@dataclass(frozen=True)
class Refused:
    """The peer refused this machine: ``reason`` (another machine holds its id)."""

    reason: str


@dataclass(frozen=True)
class Malformed:
    """A frame of the open link that breaks the protocol (``reason``); it was dropped."""

    reason: str


@dataclass(frozen=True)
class Lost:
    """The open link's connection broke (``reason``: the socket's error); the link is closed."""

    reason: str


@dataclass(frozen=True)
class Ended:
    """The peer ended its sending side at a frame boundary."""


@dataclass(frozen=True)
class Failed:
    """The connection broke the protocol; the link is closed. ``handshake``: before it was open."""

    reason: str
    handshake: bool


LinkEvent = Authenticated | Arrived | Control | Refused | Malformed | Ended | Lost | Failed


class Link:
    """One connection of machine ``machine`` (of ``n_machines``), keyed by the run's ``secret``.

    With ``peer`` given this machine calls that peer (its hello waits in
    :attr:`out` at once); without, it accepted a connection from a caller not
    yet known. ``nonce`` is this end's fresh nonce (drawn when not given).
    ``last_seq`` maps each peer to the last sequence number taken from it
    (shared by a machine's links: :attr:`Peers.last_seq`; the link's own when
    not given).
    """

    def __init__(
        self,
        machine: int,
        n_machines: int,
        secret: bytes,
        peer: int | None = None,
        nonce: bytes | None = None,
        last_seq: dict[int, int] | None = None,
    ) -> None:
        self.machine = machine
        self.n_machines = n_machines
        self.secret = secret
        #: The peer: whom we call, or the caller once its hello and auth checked out.
        self.peer = peer
        #: The id an accepted caller's hello names (not yet proven).
        self.claimed: int | None = None
        self.nonce = nonce if nonce is not None else new_nonce()
        self.their_nonce = b""
        self.state = State.CHALLENGE if peer is not None else State.HELLO
        self.calling = peer is not None
        #: Bytes to send, in order; the owner reports what it wrote with :meth:`written`.
        self.out = bytearray()
        #: Stream offsets where each buffered message ends (the drain counts them).
        self.pending: deque[int] = deque()
        #: Bytes written on this connection so far.
        self.sent_total = 0
        self.last_seq = last_seq if last_seq is not None else {}
        self._held: list[bytes] = []  # an accepted caller's frames, until it is admitted
        self.eof = False  # the peer ended its sending side
        self.shut = False  # we ended ours
        # Vector clocks grow with N; a Lamport message and every handshake frame fit anyway.
        self._decoder = FrameDecoder(frame_limit(n_machines))
        if self.calling:
            self.out += encode_frame(hello_payload(machine, self.nonce))

    @property
    def authed(self) -> bool:
        """True once the handshake checked out (and until the link is closed)."""
        return self.state is State.OPEN

    @property
    def handshaking(self) -> bool:
        return self.state in (State.HELLO, State.CHALLENGE, State.AUTH)

    @property
    def sendable(self) -> bool:
        """True while a message may go on the link: open, and our sending side not ended."""
        return self.state is State.OPEN and not self.shut

    # -- bytes in ----------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> list[LinkEvent]:
        """What the bytes of one read mean, in order; ``b""`` is the peer's end of stream.

        Never raise: a protocol error is a :class:`Failed`, last, and closes the link.
        An accepted caller's frames after its :class:`Authenticated` wait for the
        owner's verdict (:meth:`resume`); they come first in the next call if the owner
        does not ask.
        """
        if self.state is State.CLOSED:
            return []
        if self._held:
            return self.resume() + self.receive_data(data)
        if not data:
            if self.calling and self.handshaking:  # maybe an impostor holds its port
                return [self._fail("the listener hung up during the handshake")]
            if self._decoder.pending:
                return [self._fail(f"stream ended inside a frame ({self._decoder.pending} bytes)")]
            self.eof = True
            return [Ended()]
        try:
            payloads = self._decoder.feed(data)
        except FrameError as exc:
            return [self._fail(str(exc))]
        return self._take(payloads)

    def resume(self) -> list[LinkEvent]:
        """What the frames held back after an accepted caller's :class:`Authenticated` mean:
        the owner admitted the caller (:meth:`Peers.admit`; a refused caller's frames are
        never read, so they never touch :attr:`last_seq`). [] if none waits."""
        held, self._held = self._held, []
        return self._take(held) if held and self.state is not State.CLOSED else []

    def _take(self, payloads: list[bytes]) -> list[LinkEvent]:
        events: list[LinkEvent] = []
        for i, payload in enumerate(payloads):
            try:
                event = self._on_payload(payload)
            except (FrameError, AuthError) as exc:
                events.append(self._fail(str(exc)))
                break
            if event is not None:
                events.append(event)
                if type(event) is Authenticated and not self.calling:
                    self._held = payloads[i + 1 :]  # until the owner's verdict
                    break
            if self.state is State.CLOSED:
                break
        return events

    def _on_payload(self, payload: bytes) -> LinkEvent | None:
        state = self.state
        if state is State.OPEN:  # the hot path: a message, its checks inline
            if not payload[:1].isdigit():
                try:
                    return self._control(payload)
                except FrameError as exc:
                    return Malformed(str(exc))
            try:
                msg = _parse_message(payload, self.n_machines)
            except FrameError as exc:
                return Malformed(str(exc))
            sender, seq = msg.sender, msg.seq
            if sender != self.peer:
                return Malformed(f"message from {sender} on machine {self.peer}'s link")
            last = self.last_seq.get(sender, 0)
            if seq <= last:
                return Malformed(
                    f"message {msg.msg_id} is a replay or out of order "
                    f"(the last taken from machine {sender} is {sender}:{last})"
                )
            self.last_seq[sender] = seq
            return Arrived(msg)
        if state is State.CHALLENGE:
            assert self.peer is not None
            if payload.startswith(b"refuse "):
                return self._control(payload)
            self.their_nonce = check_challenge(
                self.secret, self.machine, self.peer, self.nonce, payload
            )
            self.out += encode_frame(
                auth_payload(self.secret, self.machine, self.peer, self.nonce, self.their_nonce)
            )
            self.state = State.OPEN
            return Authenticated(self.peer)
        if state is State.HELLO:
            sender, self.their_nonce = parse_hello(payload)
            if sender == self.machine or sender >= self.n_machines:
                raise FrameError(f"unknown sender {sender}")
            if sender < self.machine:
                raise FrameError(f"machine {sender} does not call machine {self.machine}")
            self.claimed = sender
            self.out += encode_frame(
                challenge_payload(self.secret, sender, self.machine, self.their_nonce, self.nonce)
            )
            self.state = State.AUTH
            return None
        assert state is State.AUTH and self.claimed is not None
        check_auth(self.secret, self.claimed, self.machine, self.their_nonce, self.nonce, payload)
        self.peer = self.claimed
        self.state = State.OPEN
        return Authenticated(self.claimed)

    def _control(self, payload: bytes) -> LinkEvent:
        if _CONTROL.fullmatch(payload) is None:
            raise FrameError(f"expected '<sender> <seq> <clock>', got {payload[:40]!r}")
        if payload.startswith(b"refuse "):
            self.state = State.CLOSED
            return Refused(payload[7:].decode("ascii"))
        return Control(payload)

    def connection_lost(self, reason: str) -> LinkEvent | None:
        """The socket under the link failed (``reason``); what that means, and the link
        is closed: a :class:`Lost` open link, a :class:`Failed` handshake (a caller
        calls again). None if the link was closed already."""
        if self.state is State.CLOSED:
            return None
        if self.state is State.OPEN:
            self.state = State.CLOSED
            return Lost(reason)
        if self.calling:
            return self._fail(f"connection failed during the handshake ({reason})")
        return self._fail(f"connection failed ({reason})")

    def _fail(self, reason: str) -> Failed:
        handshake = self.handshaking
        self.state = State.CLOSED
        return Failed(reason, handshake)

    # -- bytes out ---------------------------------------------------------------------------

    def send_message(self, frame: bytes) -> None:
        """Queue an encoded message frame (the drain counts it until it is written)."""
        self.out += frame
        self.pending.append(self.sent_total + len(self.out))

    def buffer(self, frame: bytes) -> bool:
        """Queue a message frame behind what waits already; False (not queued: dropped) if
        :data:`MAX_BUFFERED` bytes wait: the peer does not read."""
        if len(self.out) >= MAX_BUFFERED:
            return False
        self.send_message(frame)
        return True

    def send_control(self, payload: bytes) -> bool:
        """Queue a control frame; False if the link is not open or our side has ended."""
        if self.state is not State.OPEN or self.shut:
            return False
        self.out += encode_frame(payload)
        return True

    def refuse(self, reason: str) -> None:
        """Tell an authenticated caller its id is taken, and close the link (what it sent
        after its auth is never read)."""
        self.out += encode_frame(b"refuse " + reason.encode("ascii"))
        self.state = State.CLOSED
        self._held = []

    def written(self, count: int) -> None:
        """``count`` bytes of :attr:`out` reached the kernel."""
        del self.out[:count]
        self.sent_total += count
        pending = self.pending
        while pending and pending[0] <= self.sent_total:
            pending.popleft()

    def discard(self) -> int:
        """Forget what was not written (the link is lost); return how many messages that was."""
        lost = len(self.pending)
        self.pending.clear()
        self.out.clear()
        return lost

    def close(self) -> None:
        self.state = State.CLOSED


class Peers:
    """The links of machine ``machine`` (of ``n_machines``) as a whole: rejoins and the drain."""

    def __init__(self, machine: int, n_machines: int) -> None:
        self.machine = machine
        self.n_machines = n_machines
        #: The last sequence number taken from each peer, on any of its links (see
        #: "Malformed frames" above); the transport hands it to every link.
        self.last_seq: dict[int, int] = {}
        #: Peers whose stream ended or whose link was lost.
        self.ended: set[int] = set()
        #: Peers expected back as a new process: until when the drain waits for them.
        self.awaited: dict[int, float] = {}
        self._rejoining: set[int] = set()  # callers whose next connection replaces the old
        self._early: set[int] = set()  # callers back before their "rejoin": it is served

    @property
    def callers(self) -> range:
        """The peers that call this machine (the higher ids)."""
        return range(self.machine + 1, self.n_machines)

    def set_up(self, joined: Collection[int], up: Collection[int]) -> bool:
        """True once every caller has ``joined`` and every peer this machine calls is ``up``."""
        return all(p in joined for p in self.callers) and all(p in up for p in range(self.machine))

    def set_up_failure(
        self,
        joined: Collection[int],
        authenticated: Collection[int],
        why: Mapping[int, str],
        timeout: float,
    ) -> str:
        """Why the set-up was not done within ``timeout`` seconds, in one line: the callers
        that never joined, or else the peers never reached (``why``: the last failure)."""
        machine = self.machine
        missing = [p for p in self.callers if p not in joined]
        if missing:
            listed = ", ".join(map(str, missing))
            return f"machine {machine}: no connection from machine {listed} within {timeout:g} s"
        unreached = [p for p in range(machine) if p not in authenticated]
        listed = ", ".join(map(str, unreached)) or "?"
        reasons = [why[p] for p in unreached if p in why]
        return f"machine {machine}: cannot reach machine {listed} within {timeout:g} s" + (
            f" ({reasons[-1]})" if reasons else ""
        )

    @property
    def drained(self) -> bool:
        """Every peer's stream has ended, and no peer is expected back."""
        return self.all_ended and not self.awaited

    @property
    def all_ended(self) -> bool:
        return len(self.ended) == self.n_machines - 1

    @staticmethod
    def taken(caller: int) -> str:
        """Why an authenticated caller is refused: its id is connected already."""
        return f"machine {caller} is already connected (two machines with id {caller}?)"

    def admit(self, caller: int, has_link: bool) -> str:
        """What an authenticated caller becomes: ``"join"`` (a new link), ``"replace"``
        (its new process takes the old link's place: announced, or the old link
        already ended) or ``"refuse"`` (its id is taken)."""
        if not has_link:
            return "join"
        if caller in self._rejoining:
            self._rejoining.discard(caller)
            return "replace"
        if caller in self.ended:  # the new process may call before the announcement
            self._early.add(caller)
            return "replace"
        return "refuse"

    def expect(self, peer: int, now: float) -> bool:
        """``peer`` is started again as a new process; False if it is no peer of ours."""
        if not 0 <= peer < self.n_machines or peer == self.machine:
            return False
        self.awaited[peer] = now + REJOIN_TIMEOUT
        return True

    def reopen(self, peer: int) -> bool:
        """Act on an expected rejoin: True if the old link must go (and be called again when
        we are the caller), False if the peer's new process is in already."""
        if peer in self._early:
            self._early.discard(peer)
            self.awaited.pop(peer, None)
            return False
        self.ended.add(peer)
        if peer > self.machine:
            self._rejoining.add(peer)
        return True

    def expecting(self, peer: int) -> bool:
        """True while ``peer``'s new process is awaited (its hang-ups are no impostor's)."""
        return peer in self._rejoining or peer in self.awaited

    def joined(self, peer: int) -> bool:
        """A link to ``peer`` is up (again); True if its stream had ended (the drain reopens)."""
        self.awaited.pop(peer, None)
        if peer in self.ended:
            self.ended.discard(peer)
            return True
        return False

    def end(self, peer: int) -> None:
        self.ended.add(peer)

    def expire(self, now: float) -> list[int]:
        """Forget the peers not back by their time: the drain waits no more for them."""
        gone = [p for p, by in self.awaited.items() if now >= by]
        for peer in gone:
            del self.awaited[peer]
        return gone


class Backoff:
    """When to call a peer again: ``first`` seconds after a failure, doubling up to ``last``,
    never past the set-up's deadline."""

    def __init__(self, first: float = 0.01, last: float = 0.5) -> None:
        self.delay = first
        self.last = last

    def next_try(self, now: float, deadline: float) -> float | None:
        """When to try again after a failure at ``now``; None if that would pass ``deadline``."""
        if now + self.delay > deadline:
            return None
        at = now + self.delay
        self.delay = min(self.delay * 2, self.last)
        return at
