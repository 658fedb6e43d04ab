"""One machine's network, as its owner (the node's tick thread) sees it.

The transport only moves bytes; what they mean is :mod:`.link`'s, a state
machine with no socket (handshake, framing, control frames, malformed frames,
the drain's bookkeeping), and :class:`~.link.Peers` decides for all of a
machine's links (who joins, replaces or is refused, when the set-up and the
drain are done). The parts that move the bytes, one role each:

* :class:`Transport` (here): what the owner calls: :meth:`~Transport.start`,
  :meth:`~Transport.send` (on the tick thread, straight to the socket),
  :meth:`~Transport.send_control`, :meth:`~Transport.rejoin`,
  :meth:`~Transport.finish_sending`, :meth:`~Transport.wait_drained`,
  :meth:`~Transport.close`, and what it reads: :attr:`~Transport.inbox`,
  :attr:`~Transport.control`, :attr:`~Transport.dropped`, ...
* :class:`~.ioloop.IOLoop`: the one I/O thread, a :mod:`selectors` loop
  reading sockets into their links and writing out what the links hold.
* :class:`~.switchboard.Switchboard`: what the links' events mean for the
  machine, on the I/O thread.
* :class:`~.connection.Connection`: one socket, its link and the lock a send
  holds; :class:`~.dialer.Dialer`: calling and calling again;
  :class:`~.acceptor.Acceptor`: the listener, handshake deadlines, running out
  of descriptors.

Links
    Machines i and j share ONE TCP connection, used both ways: the machine
    with the higher id opens it to the lower one's listener and the two run
    the handshake of :mod:`.auth` on it before it carries a message. A
    machine of N thus holds N - 1 link sockets, its listener, its selector
    and a wake-up socket pair: N + 3 file descriptors
    (:func:`fds_per_machine`), so a full mesh of N machines in one process
    needs about N (N + 3).

Sending
    The tick thread sends on the non-blocking socket itself, so a message
    leaves without waiting for the I/O thread; the rare remainder waits in the
    link's buffer and the I/O thread is woken, through the socket pair, to
    flush it. A socket is only ever closed under its connection's lock, the
    lock a send holds, so a send never writes to a descriptor reused by
    another socket.

Arrivals
    Each message goes on :attr:`Transport.inbox` with its arrival time on the
    monotonic clock; the tick thread takes it from there (a deque: append and
    popleft are atomic). Control frames (``ready``, ``start``, ``abort``) go on
    :attr:`Transport.control` with the peer's id.

Hostile input
    A connection whose link fails (see :mod:`.link`) is logged (one warning on
    the ``lamport.realtime`` logger) and closed, and the machine keeps
    running; so is one with no completed handshake by its absolute deadline
    (a trickle of bytes earns no time). A second machine that authenticates
    under an id already connected is told ``refuse``. A malformed frame on
    an open link (a replayed or duplicated message id among them) is dropped
    alone, counted in :attr:`Transport.malformed` and logged (one line each,
    up to :data:`WARN_MALFORMED` per peer); the link stays open. Messages
    that a lost link never carried are counted in :attr:`Transport.dropped`.

Rejoin
    :meth:`Transport.rejoin` prepares for a peer started again as a new
    process (``--real-crash``): the old link is closed (what its buffer held
    counts as dropped); if this machine calls that peer it calls again, with
    backoff, until the new process answers the handshake; if the peer calls,
    its next authenticated connection takes the old link's place.

End
    :meth:`Transport.finish_sending` shuts down the sending side of every link
    once its buffer is written; :meth:`wait_drained` waits for every peer's end
    of stream, :meth:`close` stops the thread and closes every socket.
"""

from __future__ import annotations

import logging
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Sequence

from lamport.core import Message
from lamport.realtime.acceptor import bind_listener
from lamport.realtime.connection import CLOSED, FLUSH, FULL
from lamport.realtime.ioloop import IOLoop
from lamport.realtime.link import REJOIN_TIMEOUT
from lamport.realtime.switchboard import WARN_MALFORMED, Switchboard

__all__ = [
    "HOST",
    "REJOIN_TIMEOUT",
    "WARN_MALFORMED",
    "Transport",
    "bind_listener",
    "fds_per_machine",
]

log = logging.getLogger("lamport.realtime")

HOST = "127.0.0.1"


def fds_per_machine(n_machines: int) -> int:
    """File descriptors one machine's transport holds: its links, listener, selector, wake pair."""
    return (n_machines - 1) + 4


class Transport:
    """The network of machine ``machine`` out of ``n_machines``, keyed by the run's ``secret``.

    The listener is bound at once on ``host:port`` (port 0: a free port picked
    by the OS), with a backlog that fits every peer, unless ``listener``
    hands over one already bound (a launcher binds them so a port is never
    free between picking and using it). :meth:`start` starts the I/O thread
    and the connections; :attr:`connected` is set once every link is up and
    authenticated. Raise NetworkError if the port is in use or cannot be bound.
    """

    def __init__(
        self,
        machine: int,
        n_machines: int,
        port: int = 0,
        connect_timeout: float = 5.0,
        *,
        secret: bytes,
        host: str = HOST,
        listener: socket.socket | None = None,
    ) -> None:
        self.machine = machine
        self.n_machines = n_machines
        self.connect_timeout = connect_timeout
        if listener is None:
            listener = bind_listener(host, port, machine, backlog=n_machines + 8)
        self.listener = listener
        self.port: int = listener.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        board = self._board = Switchboard(
            machine, n_machines, secret, connect_timeout, listener, self._selector
        )
        self._loop = IOLoop(board, self._selector)
        #: (arrival time, message), appended by the I/O thread, taken by the tick thread.
        self.inbox: deque[tuple[float, Message]] = board.inbox
        #: (message id, monotonic time) of every message decoded, for the benchmark.
        self.arrived: list[tuple[str, float]] = board.arrived
        #: (peer, payload) of each control frame received (``ready``, ``start <ns>``).
        self.control: deque[tuple[int, bytes]] = board.control
        #: Set whenever a control frame arrives.
        self.control_arrived: threading.Event = board.control_arrived
        #: Messages not sent, by recipient: link lost or never made, or its buffer full.
        self.dropped: list[int] = board.dropped
        #: Malformed frames dropped from each peer's open link (see :mod:`.link`).
        self.malformed: list[int] = board.malformed
        #: Set once every link is up; :attr:`error` says why it never will be.
        self.connected: threading.Event = board.connected
        #: Set once every peer has ended its sending side (or its link was lost).
        self.drained: threading.Event = board.drained
        self._warned_full: set[int] = set()
        self._closed = False

    @property
    def error(self) -> str | None:
        """Why the set-up failed (or a peer refused this machine), or None."""
        return self._board.error

    @property
    def refused(self) -> str | None:
        """Why a peer refused this machine (another machine holds its id), or None."""
        return self._board.refused

    def start(self, addresses: Sequence[tuple[str, int]], deadline: float) -> None:
        """Start the I/O thread: call every machine with a lower id, accept the others.

        ``addresses[j]`` is machine j's listening address; ``deadline`` is the
        monotonic time by which every link must be up.
        """
        board = self._board
        board.dialer.deadline = deadline
        board.acceptor.listen()
        for peer in range(self.machine):
            board.call(peer, addresses[peer])
        board.check_connected()
        self._loop.start()

    def send(self, frame: bytes, recipients: Sequence[int]) -> None:
        """Send one frame to each recipient; count it in :attr:`dropped` where it cannot go."""
        conns, dropped = self._board.conns, self.dropped
        wake = False
        for recipient in recipients:
            conn = conns.get(recipient)
            done = CLOSED if conn is None else conn.send(frame)
            if done == FLUSH:
                self._loop.request(flush=recipient)
                wake = True
            elif done == CLOSED:
                dropped[recipient] += 1
            elif done == FULL:
                self._drop_full(recipient)
        if wake:
            self._loop.wake()

    def send_control(self, peer: int, payload: bytes) -> bool:
        """Send a control frame (``ready``, ``start <ns>``) to one peer; False if it cannot go."""
        conn = self._board.conns.get(peer)
        if conn is None:
            return False
        with conn.lock:
            if conn.sock is None or not conn.link.send_control(payload):
                return False
        self._loop.request(flush=peer)
        self._loop.wake()
        return True

    def rejoin(self, peer: int) -> None:
        """Expect ``peer`` back as a new process (see "Rejoin" above). Thread-safe."""
        board = self._board
        with board.lock:
            # At once, not when the I/O thread gets to it: a drain never ends in between.
            if not board.peers.expect(peer, time.monotonic()):
                return
            self.drained.clear()
        self._loop.request(rejoin=peer)
        self._loop.wake()

    def lost(self, peer: int) -> bool:
        """True once the link to ``peer`` has ended (its stream closed, or the link broke)."""
        return peer in self._board.peers.ended

    def finish_sending(self) -> None:
        """End the sending side of every link once its buffer is written (by the I/O thread)."""
        self._loop.request(finish=True)
        self._loop.wake()

    def wait_drained(
        self, deadline: float, hurry: threading.Event | None = None, rejoins: bool = True
    ) -> bool:
        """Wait until every peer has ended its sending side, the deadline, or ``hurry``.

        A peer expected back (:meth:`rejoin`) has not ended until its new process has,
        or :data:`REJOIN_TIMEOUT` passed; ``rejoins=False`` (a stopped run) waits for no
        such peer. Return True if every peer's stream was read to its end.
        """
        peers = self._board.peers

        def drained() -> bool:
            return self.drained.is_set() or (not rejoins and peers.all_ended)

        while not drained():
            left = deadline - time.monotonic()
            if left <= 0 or (hurry is not None and hurry.is_set()):
                break
            self.drained.wait(min(left, 0.05))
        return drained()

    def close(self) -> None:
        """Stop the I/O thread and close every socket. Safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        self._loop.stop()
        board = self._board
        for conn in [*board.conns.values(), *board.acceptor.waiting]:
            board.close(conn)
        board.acceptor.waiting.clear()
        self._selector.close()
        self.listener.close()

    def _drop_full(self, recipient: int) -> None:
        self.dropped[recipient] += 1
        if recipient not in self._warned_full:
            self._warned_full.add(recipient)
            log.warning(
                "machine %d: machine %d does not read; messages to it are dropped",
                self.machine,
                recipient,
            )
