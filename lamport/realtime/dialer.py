"""Calling peers: one non-blocking connect per peer this machine calls, and again after a
failure when the connection's :class:`~.link.Backoff` says (10 ms doubling to 0.5 s),
never past the set-up's absolute deadline.

The machine with the higher id calls the lower one's listener. A refused
connect (the peer's listener not up yet), a connect that fails, or a listener
that fails the handshake or hangs up during it (maybe an impostor holds its
port: :meth:`Dialer.again`) all schedule the next call, or, past the
deadline, tell the owner the call is given up. The I/O thread makes the calls
whose time has come (:meth:`Dialer.redial`) and sleeps no longer than
:attr:`Dialer.next_time`.
"""

from __future__ import annotations

import errno
import logging
import os
import selectors
import socket
import time
from collections.abc import Callable

from lamport.realtime.connection import Connection
from lamport.realtime.link import Link

__all__ = ["Dialer", "address_of"]

log = logging.getLogger("lamport.realtime")

_UNDER_WAY = (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN)


def address_of(label: str) -> tuple[str, int]:
    """The ``(host, port)`` of a ``host:port`` label."""
    host, _, port = label.rpartition(":")
    return host, int(port)


class Dialer:
    """The calls of machine ``machine``, their sockets watched by ``selector``;
    ``new_link(peer)`` makes a call's link and ``gave_up(conn, reason)`` hears of a call
    that will not be made again."""

    def __init__(
        self,
        machine: int,
        selector: selectors.BaseSelector,
        new_link: Callable[[int], Link],
        gave_up: Callable[[Connection, str], None],
    ) -> None:
        self.machine = machine
        self.selector = selector
        self.new_link = new_link
        self.gave_up = gave_up
        #: The monotonic time by which every call must have been answered.
        self.deadline = 0.0
        #: Why the last call to each peer failed, until one is answered.
        self.why: dict[int, str] = {}
        #: Set when the transport closes: a failed call is not made again.
        self.quitting = False
        self._waiting: set[Connection] = set()  # calls to make again, at their retry_at

    def dial(self, peer: int, label: str) -> Connection:
        """Call ``peer``'s listener at ``label`` (``host:port``); the call's connection."""
        conn = Connection(None, self.new_link(peer), label, self.selector)
        self.call(conn)
        return conn

    def call(self, conn: Connection) -> None:
        """Start a non-blocking connect; the selector says when it is done."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        code = sock.connect_ex(address_of(conn.label))
        if code not in _UNDER_WAY:
            sock.close()
            self._failed(conn, os.strerror(code))
            return
        with conn.lock:
            conn.sock = sock
            conn.connecting = True
        self.selector.register(sock, selectors.EVENT_WRITE, conn)

    def completed(self, conn: Connection) -> bool:
        """The connect is done (its socket is writable): True if it went through, and then a
        fresh link holds our hello."""
        assert conn.sock is not None and conn.peer is not None
        code = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            conn.close()  # no message waits on a link before its handshake
            self._failed(conn, os.strerror(code))
            return False
        # Nagle's algorithm would hold small frames back for the peer's delayed ACK.
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn.lock:
            conn.link = self.new_link(conn.peer)
            conn.connecting = False
        return True

    def again(self, conn: Connection, reason: str) -> None:
        """The listener failed our handshake or hung up during it: hang up and call again."""
        log.warning("machine %d: dropped connection to %s: %s", self.machine, conn.label, reason)
        conn.close()
        self._failed(conn, reason)

    def _failed(self, conn: Connection, reason: str) -> None:
        if not self.quitting:
            at = conn.backoff.next_try(time.monotonic(), self.deadline)
            if at is not None:
                assert conn.peer is not None
                self.why[conn.peer] = reason
                conn.retry_at = at
                self._waiting.add(conn)
                return
        self.gave_up(conn, reason)

    def redial(self, now: float) -> None:
        """Make the calls whose time has come."""
        due = [conn for conn in self._waiting if now >= conn.retry_at]
        self._waiting.difference_update(due)
        for conn in due:
            self.call(conn)

    def forget(self, conn: Connection) -> None:
        """Make no more calls on ``conn`` (its peer is called anew)."""
        self._waiting.discard(conn)

    def answered(self, peer: int) -> None:
        """A call to ``peer`` went through its handshake."""
        self.why.pop(peer, None)

    @property
    def next_time(self) -> float | None:
        """When the next call is due; None if none waits."""
        return min((conn.retry_at for conn in self._waiting), default=None)
