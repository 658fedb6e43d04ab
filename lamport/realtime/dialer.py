"""Calling peers: one non-blocking connect per peer this machine calls, and again after a
failure when the connection's :class:`~.link.Backoff` says (10 ms doubling to 0.5 s),
never past the set-up's absolute deadline.

The machine with the higher id calls the lower one's listener; a refused
connect (the peer's listener not up yet), a connect that fails, or a listener
that fails the handshake or hangs up during it (maybe an impostor holds its
port) all end in :meth:`Dialer.again`, which schedules the next call or says
there is none. The I/O thread asks :meth:`Dialer.due` for the calls whose
time has come and :attr:`Dialer.next_time` for how long it may sleep.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
from collections.abc import Callable

from lamport.realtime.connection import Connection
from lamport.realtime.link import Link

__all__ = ["Dialer", "address_of"]

_UNDER_WAY = (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN)


def address_of(label: str) -> tuple[str, int]:
    """The ``(host, port)`` of a ``host:port`` label."""
    host, _, port = label.rpartition(":")
    return host, int(port)


class Dialer:
    """The calls of one machine; ``new_link(peer)`` makes the link of a call's connection."""

    def __init__(self, new_link: Callable[[int], Link]) -> None:
        self.new_link = new_link
        #: The monotonic time by which every call must have been answered.
        self.deadline = 0.0
        #: Why the last call to each peer failed, until one is answered.
        self.why: dict[int, str] = {}
        self._waiting: set[Connection] = set()  # calls to make again, at their retry_at

    def call(self, conn: Connection) -> str | None:
        """Start a non-blocking connect to the listener ``conn.label`` names; why it failed
        at once, or None (the selector reports when the connect is done)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        code = sock.connect_ex(address_of(conn.label))
        if code not in _UNDER_WAY:
            sock.close()
            return os.strerror(code)
        with conn.lock:
            conn.sock = sock
            conn.connecting = True
        conn.selector.register(sock, selectors.EVENT_WRITE, conn)
        return None

    def completed(self, conn: Connection) -> str | None:
        """The connect is done (its socket is writable): why it failed, or None, and then a
        fresh link holds our hello."""
        assert conn.sock is not None and conn.peer is not None
        code = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            return os.strerror(code)
        # Nagle's algorithm would hold small frames back for the peer's delayed ACK.
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn.lock:
            conn.link = self.new_link(conn.peer)
            conn.connecting = False
        return None

    def again(self, conn: Connection, reason: str, now: float) -> bool:
        """A call failed at ``now`` (``reason``): schedule the next one; False if that would
        pass the deadline (the caller gives up)."""
        at = conn.backoff.next_try(now, self.deadline)
        if at is None:
            return False
        assert conn.peer is not None
        self.why[conn.peer] = reason
        conn.retry_at = at
        self._waiting.add(conn)
        return True

    def due(self, now: float) -> list[Connection]:
        """The calls to make again now; they leave the waiting list."""
        due = [conn for conn in self._waiting if now >= conn.retry_at]
        self._waiting.difference_update(due)
        return due

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
