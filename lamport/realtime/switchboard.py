"""What a machine's connections do, on its I/O thread: the switchboard between links and
the machine.

The I/O loop (:mod:`.ioloop`) hands each connection's link events here; the
decisions are the pure :class:`~.link.Peers`' (who joins, who replaces a link,
who is refused, when the set-up and the drain are done) and the I/O is the
:class:`~.connection.Connection`'s. A message goes onto :attr:`inbox`, a
control frame onto :attr:`control`; a malformed frame is counted and logged
and the link goes on; a link that fails is logged and closed, a call that
fails is made again (:mod:`.dialer`). :attr:`Switchboard.lock` guards
:attr:`~Switchboard.peers`, which the owner's thread reads and changes too
(a rejoin is expected at once, not when the I/O thread gets to it).
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
from lamport.realtime.acceptor import Acceptor
from lamport.realtime.connection import Connection
from lamport.realtime.dialer import Dialer
from lamport.realtime.link import (
    REJOIN_TIMEOUT,
    Arrived,
    Authenticated,
    Control,
    Ended,
    Failed,
    Link,
    LinkEvent,
    Lost,
    Malformed,
    Peers,
    Refused,
)

__all__ = ["WARN_MALFORMED", "Switchboard"]

log = logging.getLogger("lamport.realtime")

#: Malformed frames from one peer logged one line each; the rest are only counted.
WARN_MALFORMED = 5


class Switchboard:
    """The connections of machine ``machine`` (of ``n_machines``, keyed by ``secret``): its
    callers through ``listener``, its calls, and what becomes of each."""

    def __init__(
        self,
        machine: int,
        n_machines: int,
        secret: bytes,
        connect_timeout: float,
        listener: socket.socket,
        selector: selectors.BaseSelector,
    ) -> None:
        self.machine = machine
        self.n_machines = n_machines
        self.secret = secret
        self.connect_timeout = connect_timeout
        self.peers = Peers(machine, n_machines)  # guarded by lock
        #: Guards :attr:`peers`, which the owner's thread reads and changes too.
        self.lock = threading.Lock()
        #: The link to each peer, once it is called or its caller authenticated.
        self.conns: dict[int, Connection] = {}
        self.acceptor = Acceptor(listener, machine, connect_timeout, selector, self.new_link)
        self.dialer = Dialer(machine, selector, self.new_link, self._gave_up)
        # What the owner reads (see Transport, which hands out these very objects).
        self.inbox: deque[tuple[float, Message]] = deque()
        self.arrived: list[tuple[str, float]] = []
        self.control: deque[tuple[int, bytes]] = deque()
        self.control_arrived = threading.Event()
        self.dropped = [0] * n_machines
        self.malformed = [0] * n_machines
        self.connected = threading.Event()
        self.drained = threading.Event()
        self.error: str | None = None
        self.refused: str | None = None
        self.finishing = False  # every link ends its sending side once its buffer is written

    def new_link(self, peer: int | None = None) -> Link:
        return Link(self.machine, self.n_machines, self.secret, peer, last_seq=self.peers.last_seq)

    # -- calls -------------------------------------------------------------------------------

    def call(self, peer: int, address: tuple[str, int]) -> None:
        self.conns[peer] = self.dialer.dial(peer, f"{address[0]}:{address[1]}")

    def connect_done(self, conn: Connection) -> None:
        if self.dialer.completed(conn):
            self.flush(conn)  # our hello

    def _gave_up(self, conn: Connection, reason: str) -> None:
        if self.connected.is_set():  # a rejoining peer that never came back
            log.warning(
                "machine %d: cannot reach machine %s again on %s (%s)",
                self.machine,
                conn.peer,
                conn.label,
                reason,
            )
        elif self.error is None:
            self.error = (
                f"machine {self.machine}: cannot reach machine {conn.peer} on "
                f"{conn.label} within {self.connect_timeout:g} s ({reason})"
            )

    # -- what a link's events mean -----------------------------------------------------------

    def handle(self, conn: Connection, events: Sequence[LinkEvent], now: float) -> None:
        link = conn.link
        pending = deque(events)
        while pending:
            event = pending.popleft()
            if isinstance(event, Arrived):
                msg = event.message
                self.inbox.append((now, msg))
                self.arrived.append((msg.msg_id, now))
            elif isinstance(event, Control):
                assert link.peer is not None
                self.control.append((link.peer, event.payload))
                self.control_arrived.set()
            elif isinstance(event, Authenticated):
                if not self._authenticated(conn, event.peer):
                    return
                pending.extend(link.resume())  # what an admitted caller sent after its auth
            elif isinstance(event, Malformed):
                self._malformed(conn, event.reason)
            elif isinstance(event, Ended):
                self._ended(conn)
            elif isinstance(event, Refused):
                self.refused = f"machine {link.peer} refused machine {self.machine}: {event.reason}"
                self.error = self.refused
                log.warning("%s", self.refused)
                self.lose(conn)
            elif isinstance(event, Lost):
                log.warning(
                    "machine %d: link to %s lost (%s); later messages to it are dropped",
                    self.machine,
                    conn.who,
                    event.reason,
                )
                self.lose(conn)
            elif isinstance(event, Failed):
                if link.calling and event.handshake:
                    self.dialer.again(conn, event.reason)
                else:
                    self.reject(conn, event.reason)
        if conn.link.out and not conn.closed:  # a challenge to answer a hello
            self.flush(conn)

    def _authenticated(self, conn: Connection, peer: int) -> bool:
        """A handshake checked out; False if the connection was refused and closed."""
        if conn.link.calling:
            self.dialer.answered(peer)
            self._joined(peer)
            self.flush(conn)  # our auth
            self.check_connected()
            return True
        old = self.conns.get(peer)
        with self.lock:
            verdict = self.peers.admit(peer, old is not None)
        self.acceptor.forget(conn)
        if verdict == "refuse":
            # Only a holder of the secret gets here: a second process with the same id.
            reason = self.peers.taken(peer)
            with conn.lock:
                conn.link.refuse(reason)
            self.flush(conn)
            log.warning(
                "machine %d: dropped connection from %s: %s", self.machine, conn.label, reason
            )
            self.close(conn)
            return False
        if old is not None:  # "replace": its new process, after a kill
            self.close(old)
        self.conns[peer] = conn
        self._joined(peer)
        self.flush(conn)  # a challenge's reply may still wait
        self.check_connected()
        return True

    def _joined(self, peer: int) -> None:
        """A link to ``peer`` is up (again): its stream is open."""
        with self.lock:
            reopened = self.peers.joined(peer)
        if reopened:
            self.drained.clear()

    def _malformed(self, conn: Connection, reason: str) -> None:
        """A malformed frame of an open link: counted, and logged up to a few per peer."""
        peer = conn.peer
        assert peer is not None
        count = self.malformed[peer] = self.malformed[peer] + 1
        if count <= WARN_MALFORMED:
            log.warning(
                "machine %d: dropped a frame from machine %d: %s%s",
                self.machine,
                peer,
                reason,
                "; later ones are only counted" if count == WARN_MALFORMED else "",
            )

    def _ended(self, conn: Connection) -> None:
        link = conn.link
        if link.peer is None:  # a caller that left before its handshake was done
            claimed = link.claimed
            with self.lock:
                expected = claimed is not None and self.peers.expecting(claimed)
            if expected:  # a peer expected back, killed again during its handshake
                log.debug("machine %d: machine %d hung up during its rejoin", self.machine, claimed)
            elif claimed is not None:  # it could not check our challenge: another secret?
                log.warning(
                    "machine %d: %s, calling as machine %d, hung up during the handshake "
                    "(a caller with another secret?)",
                    self.machine,
                    conn.label,
                    claimed,
                )
            self.acceptor.forget(conn)
            self.close(conn)
            return
        with self.lock:
            self.peers.end(link.peer)
        if link.shut and not link.out:
            self.close(conn)
        else:
            conn.watch()
        self.check_drained()

    def reject(self, conn: Connection, reason: str) -> None:
        log.warning("machine %d: dropped connection from %s: %s", self.machine, conn.who, reason)
        self.lose(conn)

    def lose(self, conn: Connection) -> None:
        link = conn.link
        if link.peer is None or conn in self.acceptor.waiting:
            self.acceptor.forget(conn)
        else:
            link.eof = True
            with self.lock:
                self.peers.end(link.peer)
        self.close(conn)
        self.check_drained()

    # -- writing, ending, closing -------------------------------------------------------------

    def flush(self, conn: Connection) -> None:
        self._count_lost(conn, conn.flush())
        self._end_sending(conn)
        conn.watch()

    def _end_sending(self, conn: Connection) -> None:
        """After the last send, end our sending side of the link."""
        if not self.finishing:
            return
        if conn.end_sending():
            self.close(conn)
        else:
            conn.watch()

    def finish(self) -> None:
        """End the sending side of every link once its buffer is written."""
        self.finishing = True
        for conn in list(self.conns.values()):
            self._end_sending(conn)
        self.check_drained()

    def watch(self, peer: int) -> None:
        """Have the selector watch ``peer``'s link for what it waits for (its buffer)."""
        conn = self.conns.get(peer)
        if conn is not None:
            conn.watch()

    def close(self, conn: Connection) -> None:
        self._count_lost(conn, conn.close())

    def _count_lost(self, conn: Connection, lost: int) -> None:
        if lost:
            assert conn.peer is not None
            self.dropped[conn.peer] += lost

    # -- set-up, drain, rejoin -----------------------------------------------------------------

    def check_connected(self) -> None:
        if self.connected.is_set():
            return
        up = [p for p, conn in self.conns.items() if conn.link.authed and not conn.closed]
        if self.peers.set_up(self.conns, up):
            self.connected.set()

    def check_drained(self) -> None:
        with self.lock:
            if self.peers.drained:
                self.drained.set()

    def fail_set_up(self) -> None:
        """The set-up's deadline passed before every link was up: say why."""
        authenticated = [p for p, conn in self.conns.items() if conn.link.authed]
        self.error = self.peers.set_up_failure(
            self.conns, authenticated, self.dialer.why, self.connect_timeout
        )

    def reopen(self, peer: int) -> None:
        """Drop the link to a peer that is started again; call it again if we are its caller."""
        with self.lock:
            drop_old = self.peers.reopen(peer)
        if not drop_old:  # its new process is in already
            self.check_drained()
            return
        old = self.conns.get(peer)
        if old is not None:
            self.close(old)
            self.dialer.forget(old)
        if peer > self.machine or old is None:  # it calls us; or the set-up calls it
            return
        self.dialer.deadline = max(self.dialer.deadline, time.monotonic() + REJOIN_TIMEOUT)
        self.conns[peer] = self.dialer.dial(peer, old.label)
