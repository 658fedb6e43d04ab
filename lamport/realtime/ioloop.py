"""One machine's I/O thread: a :mod:`selectors` loop that moves bytes, whatever N.

It waits on the listener, every connection's socket and a wake-up socket
pair, and on the next timer the switchboard names (a handshake deadline, a
call to make again, the set-up's deadline, a rejoin's). A readable listener
is accepted (:mod:`.acceptor`); a connection whose connect finished goes to
the dialer (:mod:`.dialer`); a writable one writes out what its link holds;
a readable one is read (:data:`RECV_SIZE` bytes at most) into its link, and
the events the bytes meant go to the :class:`~.switchboard.Switchboard`. The
owner's thread hands over its requests (:meth:`IOLoop.request`: a link to
flush, a peer expected back, the end of sending) and wakes the loop through
the socket pair; timers are served after every wake-up
(:meth:`IOLoop._on_time`).
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
        self._lock = threading.Lock()  # guards the requests
        self._flushes: set[int] = set()
        self._rejoins: set[int] = set()
        self._finish = False

    def start(self) -> None:
        self.selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread = threading.Thread(
            target=self._run, name=f"lamport-io-{self.board.machine}", daemon=False
        )
        self._thread.start()

    def request(
        self, flush: int | None = None, rejoin: int | None = None, finish: bool = False
    ) -> None:
        """Ask the loop to write out ``flush``'s link, to reopen ``rejoin``'s, or to end
        every link's sending side (``finish``); :meth:`wake` it to act now. Thread-safe."""
        with self._lock:
            if flush is not None:
                self._flushes.add(flush)
            if rejoin is not None:
                self._rejoins.add(rejoin)
            self._finish |= finish

    def wake(self) -> None:
        """Have the loop look at the owner's requests now. Thread-safe."""
        # A full pair means a wake-up is already pending; a closed one, that we are closing.
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def stop(self) -> None:
        """End the thread (if it runs) and close the wake-up pair."""
        self._quit = self.board.dialer.quitting = True
        if self._thread is not None:
            self.wake()
            self._thread.join()
            self._thread = None
        self._wake_r.close()
        self._wake_w.close()

    def _run(self) -> None:
        selector = self.selector
        while not self._quit:
            for key, mask in selector.select(self._timeout()):
                what = key.data
                if what is None:
                    self._woken()
                elif isinstance(what, Acceptor):
                    what.accept(time.monotonic())
                else:
                    self._ready(what, mask)
            self._on_time(time.monotonic())

    def _timeout(self) -> float | None:
        """Seconds until a handshake deadline, a call, the set-up's deadline or a rejoin's;
        None if nothing waits."""
        board = self.board
        times = [board.acceptor.next_time, board.dialer.next_time]
        with board.lock:
            times += board.peers.awaited.values()
        if not board.connected.is_set() and board.error is None:
            times.append(board.dialer.deadline)
        at = min((t for t in times if t is not None), default=None)
        return None if at is None else max(0.0, at - time.monotonic())

    def _on_time(self, now: float) -> None:
        """Do what is due at ``now``."""
        board = self.board
        board.acceptor.resume(now)
        for conn in board.acceptor.expired(now):
            board.reject(conn, f"no handshake within {board.connect_timeout:g} s")
        board.dialer.redial(now)
        if not board.connected.is_set() and board.error is None and now >= board.dialer.deadline:
            board.fail_set_up()
        with board.lock:
            gone = board.peers.expire(now)  # never came back: the drain waits no more
        if gone:
            board.check_drained()

    def _woken(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:  # BlockingIOError included: the pair is empty
            pass
        with self._lock:
            flushes, self._flushes = self._flushes, set()
            rejoins, self._rejoins = self._rejoins, set()
            finish, self._finish = self._finish, False
        for peer in sorted(rejoins):
            self.board.reopen(peer)
        for peer in flushes:
            self.board.watch(peer)
        if finish:
            self.board.finish()

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
