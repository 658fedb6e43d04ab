"""A machine's listener: callers accepted, a handshake deadline each, and a rest when the
process runs out of file descriptors.

Every accepted connection is nobody until its handshake checks out (its
link's business); it must do so by an absolute deadline, the connect timeout
from its accept, so a caller that trickles bytes never earns more time. When
``accept`` fails for want of descriptors (EMFILE, ENFILE), the listener
leaves the selector for :data:`ACCEPT_PAUSE` seconds, one warning is logged,
and accepting resumes by itself once descriptors are free.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import selectors
import socket
from collections.abc import Callable

from lamport.errors import NetworkError
from lamport.realtime.connection import Connection
from lamport.realtime.link import Link

__all__ = ["ACCEPT_PAUSE", "Acceptor", "bind_listener"]

log = logging.getLogger("lamport.realtime")

_IN_USE = (errno.EADDRINUSE, 48, 10048)  # Linux, macOS, Windows
#: accept() errors that mean "no descriptor or memory right now", not "this connection".
_OUT_OF_FDS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
#: How long the listener rests after running out of descriptors, in seconds.
ACCEPT_PAUSE = 0.1


def bind_listener(host: str, port: int, machine: int, backlog: int) -> socket.socket:
    """A listening socket on ``host:port``. Raise NetworkError if the port is in use."""
    try:
        return socket.create_server((host, port), backlog=backlog)
    except OSError as exc:
        if port and exc.errno in _IN_USE:
            raise NetworkError(f"port {port} (machine {machine}) is already in use") from None
        reason = exc.strerror or exc
        raise NetworkError(
            f"cannot listen on {host}:{port} (machine {machine}): {reason}"
        ) from None


class Acceptor:
    """Machine ``machine``'s ``listener``, watched by ``selector``; each caller gets a
    connection with a fresh ``new_link()`` and ``timeout`` seconds for its handshake."""

    def __init__(
        self,
        listener: socket.socket,
        machine: int,
        timeout: float,
        selector: selectors.BaseSelector,
        new_link: Callable[[], Link],
    ) -> None:
        self.listener = listener
        self.machine = machine
        self.timeout = timeout
        self.selector = selector
        self.new_link = new_link
        #: Accepted connections whose handshake is not done yet.
        self.waiting: list[Connection] = []
        self._resume_at: float | None = None  # resting for want of descriptors
        self._failing = False

    def listen(self) -> None:
        self.listener.setblocking(False)
        self.selector.register(self.listener, selectors.EVENT_READ, self)

    def accept(self, now: float) -> None:
        """Accept every caller waiting in the backlog."""
        while True:
            try:
                sock, address = self.listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_FDS:
                    self._rest(exc, now)
                else:
                    log.warning("machine %d: accept failed: %s", self.machine, exc)
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Connection(sock, self.new_link(), f"{address[0]}:{address[1]}", self.selector)
            conn.deadline = now + self.timeout  # absolute: dribbled bytes earn no time
            self.waiting.append(conn)
            self.selector.register(sock, selectors.EVENT_READ, conn)

    def _rest(self, exc: OSError, now: float) -> None:
        """Out of descriptors: stop watching the listener for a moment, then try again."""
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(self.listener)
        self._resume_at = now + ACCEPT_PAUSE
        if not self._failing:  # one line per shortage, not one per retry
            self._failing = True
            log.warning(
                "machine %d: cannot accept a connection (%s); trying again every %g s",
                self.machine,
                exc.strerror or exc,
                ACCEPT_PAUSE,
            )

    def resume(self, now: float) -> None:
        """Watch the listener again once its rest is over, and accept what waits."""
        if self._resume_at is None or now < self._resume_at:
            return
        self._resume_at = None
        self.listen()
        self.accept(now)
        if self._resume_at is None and self._failing:
            self._failing = False
            log.warning("machine %d: accepting connections again", self.machine)

    def expired(self, now: float) -> list[Connection]:
        """The accepted connections whose handshake deadline has passed."""
        return [conn for conn in self.waiting if now >= conn.deadline]

    def forget(self, conn: Connection) -> None:
        """``conn`` is no longer waiting for its handshake (done, or dropped)."""
        if conn in self.waiting:
            self.waiting.remove(conn)

    @property
    def next_time(self) -> float | None:
        """The next handshake deadline or the end of a rest; None if nothing waits."""
        times = [conn.deadline for conn in self.waiting]
        if self._resume_at is not None:
            times.append(self._resume_at)
        return min(times, default=None)
