"""One connection of a machine: a socket, its link, and the lock a send holds.

The link (:class:`~.link.Link`) knows what the bytes mean; a
:class:`Connection` only moves them: the tick thread writes a message
straight to the non-blocking socket (:meth:`Connection.send`), the I/O
thread writes out what the link holds (:meth:`Connection.flush`), ends our
sending side (:meth:`Connection.end_sending`), tells the selector what the
socket waits for (:meth:`Connection.watch`) and closes it
(:meth:`Connection.close`). The socket is only ever closed under the
connection's lock, the lock a send holds, so a send never writes to a
descriptor the OS has given to another socket.
"""

from __future__ import annotations

import logging
import selectors
import socket
import threading

from lamport.realtime.link import Backoff, Link

__all__ = ["CLOSED", "FLUSH", "FULL", "QUEUED", "SENT", "Connection"]

log = logging.getLogger("lamport.realtime")

#: What :meth:`Connection.send` did with a frame.
SENT, FLUSH, QUEUED, FULL, CLOSED = "sent", "flush", "queued", "full", "closed"


class Connection:
    """A socket (None until a call starts, and once closed) and its ``link``, known by its
    peer or, until the handshake names it, by ``label`` (``host:port``), watched by
    ``selector``.

    The dialer and the acceptor keep their timers here: ``backoff`` and
    ``retry_at`` for a call that failed, ``deadline`` for an accepted caller's
    handshake; ``connecting`` is True while a call's connect is under way.
    """

    __slots__ = (
        "backoff",
        "connecting",
        "deadline",
        "label",
        "link",
        "lock",
        "retry_at",
        "selector",
        "sock",
    )

    def __init__(
        self,
        sock: socket.socket | None,
        link: Link,
        label: str,
        selector: selectors.BaseSelector,
    ) -> None:
        self.sock = sock
        self.link = link
        self.label = label
        self.selector = selector
        self.lock = threading.Lock()
        self.connecting = False
        self.retry_at = 0.0
        self.backoff = Backoff()
        self.deadline = 0.0

    @property
    def closed(self) -> bool:
        return self.sock is None

    @property
    def peer(self) -> int | None:
        return self.link.peer

    @property
    def who(self) -> str:
        return f"machine {self.link.peer}" if self.link.peer is not None else self.label

    def send(self, frame: bytes) -> str:
        """Send a message frame now, from the tick thread: :data:`SENT` whole; :data:`FLUSH`
        (the rest waits in the link: the I/O thread must write it); :data:`QUEUED` (behind
        what waits already); not sent, :data:`FULL` (its peer does not read) or
        :data:`CLOSED` (no open link: lost, never made, or ended)."""
        with self.lock:
            sock, link = self.sock, self.link
            if sock is None or not link.sendable:
                return CLOSED
            if link.out:
                return QUEUED if link.buffer(frame) else FULL
            try:
                sent = sock.send(frame)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                log.warning(
                    "machine %d: link to machine %d lost (%s); later messages are dropped",
                    link.machine,
                    link.peer,
                    exc,
                )
                link.shut = True
                return CLOSED
            if sent < len(frame):
                link.send_message(frame)
                link.written(sent)
                return FLUSH
            link.sent_total += sent
            return SENT

    def flush(self) -> int:
        """Write what the link holds, as much as the socket takes; return how many messages
        were lost with the link if the socket failed."""
        lost = 0
        with self.lock:
            sock, link = self.sock, self.link
            if sock is not None and link.out:
                try:
                    sent = sock.send(link.out)
                except (BlockingIOError, InterruptedError):
                    sent = 0
                except OSError as exc:
                    log.warning("machine %d: link to %s lost (%s)", link.machine, self.who, exc)
                    lost = self._discard()
                    link.shut = True
                    sent = 0
                link.written(sent)
        return lost

    def end_sending(self) -> bool:
        """End our sending side once everything is written; True if the peer has ended its
        side too (the connection is over both ways: close it)."""
        link = self.link
        if link.shut or self.sock is None or link.out or self.connecting:
            return False
        with self.lock:
            link.shut = True
            try:
                assert self.sock is not None
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        return link.eof

    def watch(self) -> None:
        """Register the socket for what it waits for: its peer's bytes, room for its buffer."""
        sock, selector = self.sock, self.selector
        if sock is None:
            return
        events = 0
        if not self.link.eof:
            events |= selectors.EVENT_READ
        if self.link.out or self.connecting:
            events |= selectors.EVENT_WRITE
        registered = selector.get_map()
        if registered is None:  # the transport is closed
            return
        key = registered.get(sock)
        if events == 0:
            if key is not None:
                selector.unregister(sock)
        elif key is None:
            selector.register(sock, events, self)
        elif key.events != events:
            selector.modify(sock, events, self)

    def close(self) -> int:
        """Close the socket; return how many messages its link never carried."""
        with self.lock:
            sock, self.sock = self.sock, None
            self.connecting = False
            lost = self._discard()
            if sock is not None:
                registered = self.selector.get_map()
                if registered is not None and sock in registered:
                    self.selector.unregister(sock)
                sock.close()
        return lost

    def _discard(self) -> int:
        lost = self.link.discard()
        return lost if self.link.peer is not None else 0
