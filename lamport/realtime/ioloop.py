"""One machine's I/O thread: a :mod:`selectors` loop that moves bytes, whatever N.

It waits on the listener, every connection's socket and a wake-up socket
pair, and on the next timer the switchboard names (a handshake deadline, a
call to make again, the set-up's deadline, a rejoin's). A readable listener
is accepted (:mod:`.acceptor`); a connection whose connect finished goes to
the dialer (:mod:`.dialer`); a writable one writes out what its link holds;
a readable one is read (:data:`RECV_SIZE` bytes at most) into its link, and
the events the bytes meant go to the :class:`~.switchboard.Switchboard`. The
wake-up pair lets the owner's thread hand over requests (a link to flush, a
peer expected back, the end of sending) without waiting for a timer.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time

from lamport.realtime.acceptor import Acceptor
from lamport.realtime.connection import Connection
from lamport.realtime.switchboard import Switchboard

__all__ = ["RECV_SIZE", "IOLoop"]

#: Read size of one recv; small frames, so a few kilobytes hold hundreds of them.
RECV_SIZE = 65536


class IOLoop:
    """The I/O thread of machine ``board.machine``, over ``selector``."""

    def __init__(self, board: Switchboard, selector: selectors.BaseSelector) -> None:
        self.board = board
        self.selector = selector
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._quit = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread = threading.Thread(
            target=self._run, name=f"lamport-io-{self.board.machine}", daemon=False
        )
        self._thread.start()

    def wake(self) -> None:
        """Have the loop look at the owner's requests now. Thread-safe."""
        # A full pair means a wake-up is already pending; a closed one, that we are closing.
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def stop(self) -> None:
        """End the thread (if it runs) and close the wake-up pair."""
        self._quit = self.board.quitting = True
        if self._thread is not None:
            self.wake()
            self._thread.join()
            self._thread = None
        self._wake_r.close()
        self._wake_w.close()

    def _run(self) -> None:
        board, selector = self.board, self.selector
        while not self._quit:
            for key, mask in selector.select(self._timeout()):
                what = key.data
                if what is None:
                    self._woken()
                elif isinstance(what, Acceptor):
                    what.accept(time.monotonic())
                else:
                    self._ready(what, mask)
            board.on_time(time.monotonic())

    def _timeout(self) -> float | None:
        at = self.board.next_time()
        return None if at is None else max(0.0, at - time.monotonic())

    def _woken(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:  # BlockingIOError included: the pair is empty
            pass
        self.board.serve_requests()

    def _ready(self, conn: Connection, mask: int) -> None:
        if conn.connecting:
            self.board.connect_done(conn)
            return
        if mask & selectors.EVENT_WRITE:
            self.board.flush(conn)
        if mask & selectors.EVENT_READ and not conn.closed:
            self._read(conn)

    def _read(self, conn: Connection) -> None:
        assert conn.sock is not None
        try:
            data = conn.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            event = conn.link.connection_lost(str(exc))
            if event is None:
                self.board.lose(conn)
            else:
                self.board.handle(conn, [event], time.monotonic())
            return
        now = time.monotonic()
        self.board.handle(conn, conn.link.receive_data(data), now)
