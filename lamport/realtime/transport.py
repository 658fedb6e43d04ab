"""One machine's network: its listener, its sockets to the other machines, and one I/O thread.

The transport moves bytes; what they mean is :mod:`.link`'s. Each connection
pairs a socket with a :class:`~.link.Link` (handshake, framing, control
frames, the drain's bookkeeping) and the machine's :class:`~.link.Peers`
decides rejoins and when the drain is over. The transport reads a socket and
feeds the bytes to its link, acts on the events that come back, and writes
out what the link has to say.

Links
    Machines i and j share ONE TCP connection, used both ways: the machine
    with the higher id opens it to the lower one's listener and the two run
    the handshake of :mod:`.auth` on it before it carries a message. A
    machine of N thus holds N - 1 link sockets, its listener, its selector
    and a wake-up socket pair: N + 3 file descriptors
    (:func:`fds_per_machine`), so a full mesh of N machines in one process
    needs about N (N + 3).

One I/O thread
    A :class:`Transport` runs one thread whatever N, blocked in a
    :mod:`selectors` loop: it accepts, completes connects (retrying a refused
    one with backoff until the absolute set-up deadline), reads, and writes
    out what a send could not write at once. The tick thread sends on the
    non-blocking socket itself, so a message leaves without waiting for the
    I/O thread; the rare remainder waits in the link's buffer and the I/O
    thread is woken, through the socket pair, to flush it. A socket is only
    ever closed under its connection's lock, the lock a send holds, so a send
    never writes to a descriptor reused by another socket.

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

Out of descriptors
    When ``accept`` fails for want of file descriptors (EMFILE, ENFILE), the
    listener is taken out of the selector for a moment, one warning is
    logged, and accepting resumes by itself once descriptors are free.

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

import contextlib
import errno
import logging
import os
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Sequence

from lamport.core import Message
from lamport.errors import NetworkError
from lamport.realtime.link import (
    REJOIN_TIMEOUT,
    Arrived,
    Authenticated,
    Backoff,
    Control,
    Ended,
    Failed,
    Link,
    Malformed,
    Peers,
    Refused,
)

__all__ = ["HOST", "REJOIN_TIMEOUT", "Transport", "bind_listener", "fds_per_machine"]

log = logging.getLogger("lamport.realtime")

HOST = "127.0.0.1"
#: Bytes a link may hold unsent (its peer not reading) before messages to it are dropped.
MAX_BUFFERED = 1 << 20
#: Read size of one recv; small frames, so a few kilobytes hold hundreds of them.
RECV_SIZE = 65536
#: Backoff between attempts to reach a peer that refuses connections, in seconds.
FIRST_RETRY, LAST_RETRY = 0.01, 0.5
_IN_USE = (errno.EADDRINUSE, 48, 10048)  # Linux, macOS, Windows
#: accept() errors that mean "no descriptor or memory right now", not "this connection".
_OUT_OF_FDS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
#: How long the listener rests after running out of descriptors, in seconds.
ACCEPT_PAUSE = 0.1
#: Malformed frames from one peer logged one line each; the rest are only counted.
WARN_MALFORMED = 5


def fds_per_machine(n_machines: int) -> int:
    """File descriptors one machine's transport holds: its links, listener, selector, wake pair."""
    return (n_machines - 1) + 4


class _Conn:
    """A socket and its link: to a known peer, or accepted and waiting for its handshake."""

    __slots__ = (
        "backoff",
        "hello_by",
        "label",
        "link",
        "lock",
        "pending_connect",
        "retry_at",
        "sock",
    )

    def __init__(self, sock: socket.socket | None, link: Link, label: str) -> None:
        self.sock = sock
        self.link = link
        self.label = label
        self.lock = threading.Lock()
        self.pending_connect = False
        self.retry_at = 0.0
        self.backoff = Backoff(FIRST_RETRY, LAST_RETRY)
        self.hello_by = 0.0

    @property
    def closed(self) -> bool:
        return self.sock is None

    @property
    def peer(self) -> int | None:
        return self.link.peer

    @property
    def who(self) -> str:
        return f"machine {self.link.peer}" if self.link.peer is not None else self.label


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
        host: str = "127.0.0.1",
        listener: socket.socket | None = None,
    ) -> None:
        self.machine = machine
        self.n_machines = n_machines
        self.connect_timeout = connect_timeout
        self.secret = secret
        if listener is None:
            listener = bind_listener(host, port, machine, backlog=n_machines + 8)
        self.listener = listener
        self.port: int = self.listener.getsockname()[1]
        #: (peer, payload) of each control frame received (``ready``, ``start <ns>``).
        self.control: deque[tuple[int, bytes]] = deque()
        #: Set whenever a control frame arrives.
        self.control_arrived = threading.Event()
        #: Why a peer refused this machine (another machine holds its id), or None.
        self.refused: str | None = None
        #: (arrival time, message), appended by the I/O thread, taken by the tick thread.
        self.inbox: deque[tuple[float, Message]] = deque()
        #: (message id, monotonic time) of every message decoded, for the benchmark.
        self.arrived: list[tuple[str, float]] = []
        #: Malformed frames dropped from each peer's open link (see :mod:`.link`).
        self.malformed = [0] * n_machines
        #: Messages not sent, by recipient: link lost or never made, or its buffer full.
        self.dropped = [0] * n_machines
        #: Set once every link is up; :attr:`error` says why it never will be.
        self.connected = threading.Event()
        self.error: str | None = None
        #: Set once every peer has ended its sending side (or its link was lost).
        self.drained = threading.Event()
        self._conns: dict[int, _Conn] = {}
        self._accepted: list[_Conn] = []  # waiting for their handshake
        self._peers = Peers(machine, n_machines)  # guarded by _lock
        self._selector: selectors.BaseSelector | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._lock = threading.Lock()  # guards _flush_requests, _rejoin_requests, _peers
        self._flush_requests: set[int] = set()
        self._finishing = False
        self._shut_all = False  # finish_sending asked, not yet acted on
        self._retrying: set[_Conn] = set()
        self._quit = False
        self._thread: threading.Thread | None = None
        self._deadline = 0.0
        self._warned_full: set[int] = set()
        self._accept_resume: float | None = None  # listener resting for want of descriptors
        self._accept_failing = False
        self._call_failure: dict[int, str] = {}  # why the last call to a peer failed
        self._rejoin_requests: set[int] = set()  # guarded by _lock

    # -- the owner's side (the node's tick thread) -----------------------------------------

    def start(self, addresses: Sequence[tuple[str, int]], deadline: float) -> None:
        """Start the I/O thread: call every machine with a lower id, accept the others.

        ``addresses[j]`` is machine j's listening address; ``deadline`` is the
        monotonic time by which every link must be up.
        """
        self._deadline = deadline
        selector = self._selector = selectors.DefaultSelector()
        self.listener.setblocking(False)
        selector.register(self.listener, selectors.EVENT_READ, "listener")
        selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        for peer in range(self.machine):
            conn = _Conn(None, self._link(peer), f"{addresses[peer][0]}:{addresses[peer][1]}")
            self._conns[peer] = conn
            self._call(conn, addresses[peer])
        self._check_connected()
        self._thread = threading.Thread(
            target=self._loop, name=f"lamport-io-{self.machine}", daemon=False
        )
        self._thread.start()

    def send(self, frame: bytes, recipients: Sequence[int]) -> None:
        """Send one frame to each recipient; count it in :attr:`dropped` where it cannot go."""
        wake = False
        for recipient in recipients:
            conn = self._conns.get(recipient)
            if conn is None:
                self.dropped[recipient] += 1
                continue
            with conn.lock:
                sock, link = conn.sock, conn.link
                if sock is None or link.shut or not link.authed:
                    self.dropped[recipient] += 1
                    continue
                if link.out:
                    if len(link.out) >= MAX_BUFFERED:
                        self._drop_full(recipient)
                    else:
                        link.send_message(frame)
                    continue
                try:
                    sent = sock.send(frame)
                except BlockingIOError:
                    sent = 0
                except OSError as exc:
                    log.warning(
                        "machine %d: link to machine %d lost (%s); later messages are dropped",
                        self.machine,
                        recipient,
                        exc,
                    )
                    self.dropped[recipient] += 1
                    link.shut = True
                    continue
                if sent < len(frame):
                    link.send_message(frame)
                    link.written(sent)
                    with self._lock:
                        self._flush_requests.add(recipient)
                    wake = True
                else:
                    link.sent_total += sent
        if wake:
            self._wake()

    def send_control(self, peer: int, payload: bytes) -> bool:
        """Send a control frame (``ready``, ``start <ns>``) to one peer; False if it cannot go."""
        conn = self._conns.get(peer)
        if conn is None:
            return False
        with conn.lock:
            if conn.sock is None or not conn.link.send_control(payload):
                return False
        with self._lock:
            self._flush_requests.add(peer)
        self._wake()
        return True

    def rejoin(self, peer: int) -> None:
        """Expect ``peer`` back as a new process (see "Rejoin" above). Thread-safe."""
        with self._lock:
            # At once, not when the I/O thread gets to it: a drain never ends in between.
            if not self._peers.expect(peer, time.monotonic()):
                return
            self._rejoin_requests.add(peer)
            self.drained.clear()
        self._wake()

    def lost(self, peer: int) -> bool:
        """True once the link to ``peer`` has ended (its stream closed, or the link broke)."""
        return peer in self._peers.ended

    def finish_sending(self) -> None:
        """End the sending side of every link once its buffer is written (by the I/O thread)."""
        self._finishing = self._shut_all = True
        self._wake()

    def wait_drained(
        self, deadline: float, hurry: threading.Event | None = None, rejoins: bool = True
    ) -> bool:
        """Wait until every peer has ended its sending side, the deadline, or ``hurry``.

        A peer expected back (:meth:`rejoin`) has not ended until its new process has,
        or :data:`REJOIN_TIMEOUT` passed; ``rejoins=False`` (a stopped run) waits for no
        such peer. Return True if every peer's stream was read to its end.
        """

        def drained() -> bool:
            return self.drained.is_set() or (not rejoins and self._peers.all_ended)

        while not drained():
            left = deadline - time.monotonic()
            if left <= 0 or (hurry is not None and hurry.is_set()):
                break
            self.drained.wait(min(left, 0.05))
        return drained()

    def close(self) -> None:
        """Stop the I/O thread and close every socket. Safe to call more than once."""
        self._quit = True
        if self._thread is not None:
            self._wake()
            self._thread.join()
            self._thread = None
        for conn in [*self._conns.values(), *self._accepted]:
            self._close(conn)
        self._accepted.clear()
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        self.listener.close()
        self._wake_r.close()
        self._wake_w.close()

    # -- the I/O thread ----------------------------------------------------------------------

    def _link(self, peer: int | None = None) -> Link:
        return Link(self.machine, self.n_machines, self.secret, peer, last_seq=self._peers.last_seq)

    def _wake(self) -> None:
        # A full pair means a wake-up is already pending; a closed one, that we are closing.
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def _loop(self) -> None:
        selector = self._selector
        assert selector is not None
        while not self._quit:
            for key, mask in selector.select(self._timeout()):
                what = key.data
                if what == "listener":
                    self._accept()
                elif what == "wake":
                    self._on_wake()
                else:
                    self._on_ready(what, mask)
            self._housekeeping()

    def _timeout(self) -> float | None:
        """Seconds until the next connect retry or hello deadline; None if nothing waits."""
        times = [conn.hello_by for conn in self._accepted]
        times += [conn.retry_at for conn in self._retrying]
        with self._lock:
            times += self._peers.awaited.values()
        if self._accept_resume is not None:
            times.append(self._accept_resume)
        if not self.connected.is_set() and self.error is None:
            times.append(self._deadline)
        if not times:
            return None
        return max(0.0, min(times) - time.monotonic())

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if self._accept_resume is not None and now >= self._accept_resume:
            self._accept_resume = None
            assert self._selector is not None
            self._selector.register(self.listener, selectors.EVENT_READ, "listener")
            self._accept()
            if self._accept_resume is None and self._accept_failing:
                self._accept_failing = False
                log.warning("machine %d: accepting connections again", self.machine)
        for conn in list(self._accepted):
            if now >= conn.hello_by:
                self._reject(conn, f"no handshake within {self.connect_timeout:g} s")
        for conn in [conn for conn in self._retrying if now >= conn.retry_at]:
            self._retrying.discard(conn)
            self._call(conn, _address(conn.label))
        if not self.connected.is_set() and self.error is None and now >= self._deadline:
            self._fail_deadline()
        with self._lock:
            gone = self._peers.expire(now)  # never came back: the drain waits no more
        if gone:
            self._check_drained()
        if self._shut_all:
            self._shut_all = False
            for conn in list(self._conns.values()):
                self._maybe_shut(conn)
            self._check_drained()

    def _on_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass
        with self._lock:
            requests, self._flush_requests = self._flush_requests, set()
            rejoins, self._rejoin_requests = self._rejoin_requests, set()
        for peer in sorted(rejoins):
            self._reopen(peer)
        for peer in requests:
            conn = self._conns.get(peer)
            if conn is not None:
                self._update(conn)

    def _reopen(self, peer: int) -> None:
        """Drop the link to a peer that is started again; call it again if we are its caller."""
        with self._lock:
            drop_old = self._peers.reopen(peer)
        if not drop_old:  # its new process is in already
            self._check_drained()
            return
        old = self._conns.get(peer)
        if old is not None:
            self._close(old)
            self._retrying.discard(old)
        if peer > self.machine or old is None:  # it calls us; or the set-up calls it
            return
        conn = _Conn(None, self._link(peer), old.label)
        self._conns[peer] = conn
        self._deadline = max(self._deadline, time.monotonic() + REJOIN_TIMEOUT)
        self._call(conn, _address(old.label))

    def _call(self, conn: _Conn, address: tuple[str, int]) -> None:
        """Start a non-blocking connect to a peer's listener."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        code = sock.connect_ex(address)
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
            sock.close()
            self._retry(conn, OSError(code, os.strerror(code)))
            return
        with conn.lock:
            conn.sock = sock
            conn.pending_connect = True
        assert self._selector is not None
        self._selector.register(sock, selectors.EVENT_WRITE, conn)

    def _retry(self, conn: _Conn, exc: OSError) -> None:
        now = time.monotonic()
        peer = conn.link.peer
        at = None if self._quit else conn.backoff.next_try(now, self._deadline)
        if at is None:
            if self.connected.is_set():  # a rejoining peer that never came back
                log.warning(
                    "machine %d: cannot reach machine %s again on %s (%s)",
                    self.machine,
                    peer,
                    conn.label,
                    exc.strerror or exc,
                )
            elif self.error is None:
                self.error = (
                    f"machine {self.machine}: cannot reach machine {peer} on "
                    f"{conn.label} within {self.connect_timeout:g} s ({exc.strerror or exc})"
                )
            return
        assert peer is not None
        self._call_failure[peer] = str(exc.strerror or exc)
        conn.retry_at = at
        self._retrying.add(conn)

    def _connected(self, conn: _Conn) -> None:
        assert conn.sock is not None
        code = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self._close(conn)
            self._retry(conn, OSError(code, os.strerror(code)))
            return
        # Nagle's algorithm would hold small frames back for the peer's delayed ACK.
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn.lock:
            conn.link = self._link(conn.link.peer)  # a fresh handshake: its hello waits
            conn.pending_connect = False
        self._flush(conn)

    def _accept(self) -> None:
        while True:
            try:
                sock, address = self.listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_FDS:
                    self._rest_listener(exc)
                else:
                    log.warning("machine %d: accept failed: %s", self.machine, exc)
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Conn(sock, self._link(), f"{address[0]}:{address[1]}")
            # Absolute: a caller that dribbles bytes never earns more time.
            conn.hello_by = time.monotonic() + self.connect_timeout
            self._accepted.append(conn)
            assert self._selector is not None
            self._selector.register(sock, selectors.EVENT_READ, conn)

    def _on_ready(self, conn: _Conn, mask: int) -> None:
        if conn.pending_connect:
            self._connected(conn)
            return
        if mask & selectors.EVENT_WRITE:
            self._flush(conn)
        if mask & selectors.EVENT_READ and not conn.closed:
            self._read(conn)

    def _read(self, conn: _Conn) -> None:
        assert conn.sock is not None
        link = conn.link
        try:
            data = conn.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            if link.calling and link.handshaking:
                self._call_again(conn, f"connection failed during the handshake ({exc})")
            elif link.authed:
                log.warning(
                    "machine %d: link to %s lost (%s); later messages to it are dropped",
                    self.machine,
                    conn.who,
                    exc,
                )
                self._lose(conn)
            else:
                log.warning(
                    "machine %d: connection from %s failed: %s", self.machine, conn.who, exc
                )
                self._lose(conn)
            return
        if not data and link.calling and link.handshaking:
            self._call_again(conn, "the listener hung up during the handshake")
            return
        now = time.monotonic()
        for event in link.receive_data(data):
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
            elif isinstance(event, Malformed):
                self._drop_frame(conn, event.reason)
            elif isinstance(event, Ended):
                self._end_of_stream(conn)
            elif isinstance(event, Refused):
                self.refused = f"machine {link.peer} refused machine {self.machine}: {event.reason}"
                self.error = self.refused
                log.warning("%s", self.refused)
                self._lose(conn)
            elif isinstance(event, Failed):
                if link.calling and event.handshake:
                    self._call_again(conn, event.reason)
                else:
                    self._reject(conn, event.reason)
        if conn.link.out and not conn.closed:  # a challenge to answer a hello
            self._flush(conn)

    def _call_again(self, conn: _Conn, reason: str) -> None:
        """A listener that fails our handshake (maybe an impostor holds its port): call again."""
        log.warning("machine %d: dropped connection to %s: %s", self.machine, conn.label, reason)
        self._close(conn)
        self._retry(conn, OSError(0, reason))

    def _authenticated(self, conn: _Conn, peer: int) -> bool:
        """A handshake checked out; False if the connection was refused and closed."""
        if conn.link.calling:
            self._call_failure.pop(peer, None)
            self._joined(peer)
            self._flush(conn)  # our auth
            self._check_connected()
            return True
        old = self._conns.get(peer)
        with self._lock:
            verdict = self._peers.admit(peer, old is not None)
        if verdict == "refuse":
            # Only a holder of the secret gets here: a second process with the same id.
            reason = f"machine {peer} is already connected (two machines with id {peer}?)"
            with conn.lock:
                conn.link.refuse(reason)
            self._flush(conn)
            log.warning(
                "machine %d: dropped connection from %s: %s", self.machine, conn.label, reason
            )
            self._accepted.remove(conn)
            self._close(conn)
            return False
        if old is not None:  # "replace": its new process, after a kill
            self._close(old)
        self._accepted.remove(conn)
        self._conns[peer] = conn
        self._joined(peer)
        self._flush(conn)  # a challenge's reply may still wait
        self._check_connected()
        return True

    def _joined(self, peer: int) -> None:
        """A link to ``peer`` is up (again): its stream is open."""
        with self._lock:
            reopened = self._peers.joined(peer)
        if reopened:
            self.drained.clear()

    def _end_of_stream(self, conn: _Conn) -> None:
        link = conn.link
        if link.peer is None:  # a caller that left before its handshake was done
            with self._lock:
                expected = link.claimed is not None and self._peers.expecting(link.claimed)
            if expected:
                log.debug(  # a peer expected back, killed again during its handshake
                    "machine %d: machine %d hung up during its rejoin",
                    self.machine,
                    link.claimed,
                )
            elif link.claimed is not None:  # it could not check our challenge: another secret?
                log.warning(
                    "machine %d: %s, calling as machine %d, hung up during the handshake "
                    "(a caller with another secret?)",
                    self.machine,
                    conn.label,
                    link.claimed,
                )
            self._accepted.remove(conn)
            self._close(conn)
            return
        with self._lock:
            self._peers.end(link.peer)
        if link.shut and not link.out:
            self._close(conn)
        else:
            self._update(conn)
        self._check_drained()

    def _drop_frame(self, conn: _Conn, reason: str) -> None:
        """A malformed frame of an open link: counted, and logged up to a few per peer."""
        peer = conn.link.peer
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

    def _reject(self, conn: _Conn, reason: str) -> None:
        log.warning("machine %d: dropped connection from %s: %s", self.machine, conn.who, reason)
        self._lose(conn)

    def _lose(self, conn: _Conn) -> None:
        link = conn.link
        if link.peer is None or conn in self._accepted:
            if conn in self._accepted:
                self._accepted.remove(conn)
        else:
            link.eof = True
            with self._lock:
                self._peers.end(link.peer)
        self._close(conn)
        self._check_drained()

    def _flush(self, conn: _Conn) -> None:
        with conn.lock:
            sock, link = conn.sock, conn.link
            if sock is not None and link.out:
                try:
                    sent = sock.send(link.out)
                except (BlockingIOError, InterruptedError):
                    sent = 0
                except OSError as exc:
                    log.warning("machine %d: link to %s lost (%s)", self.machine, conn.who, exc)
                    self._discard_out(conn)
                    link.shut = True
                    sent = 0
                link.written(sent)
        self._maybe_shut(conn)
        self._update(conn)

    def _maybe_shut(self, conn: _Conn) -> None:
        """After the last send, end our sending side of the link."""
        link = conn.link
        if not self._finishing or link.shut or conn.closed or link.out or conn.pending_connect:
            return
        with conn.lock:
            link.shut = True
            try:
                assert conn.sock is not None
                conn.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        if link.eof:
            self._close(conn)
        else:
            self._update(conn)

    def _update(self, conn: _Conn) -> None:
        """Register the socket for what it waits for: its peer's bytes, room for its buffer."""
        sock = conn.sock
        if sock is None or self._selector is None:
            return
        events = 0
        if not conn.link.eof:
            events |= selectors.EVENT_READ
        if conn.link.out or conn.pending_connect:
            events |= selectors.EVENT_WRITE
        key = self._selector.get_map().get(sock)
        if events == 0:
            if key is not None:
                self._selector.unregister(sock)
        elif key is None:
            self._selector.register(sock, events, conn)
        elif key.events != events:
            self._selector.modify(sock, events, conn)

    def _discard_out(self, conn: _Conn) -> None:
        """Count the messages still in a lost link's buffer as dropped (hold ``conn.lock``)."""
        lost = conn.link.discard()
        if conn.link.peer is not None and lost:
            self.dropped[conn.link.peer] += lost

    def _close(self, conn: _Conn) -> None:
        with conn.lock:
            sock, conn.sock = conn.sock, None
            conn.pending_connect = False
            self._discard_out(conn)
            if sock is None:
                return
            if self._selector is not None and sock in self._selector.get_map():
                self._selector.unregister(sock)
            sock.close()

    def _check_connected(self) -> None:
        if self.connected.is_set():
            return
        up = [p for p, conn in self._conns.items() if conn.link.authed and not conn.closed]
        if self._peers.set_up(self._conns, up):
            self.connected.set()

    def _fail_deadline(self) -> None:
        authenticated = [p for p, conn in self._conns.items() if conn.link.authed]
        self.error = self._peers.set_up_failure(
            self._conns, authenticated, self._call_failure, self.connect_timeout
        )

    def _check_drained(self) -> None:
        with self._lock:
            if self._peers.drained:
                self.drained.set()

    def _rest_listener(self, exc: OSError) -> None:
        """Out of descriptors: stop watching the listener for a moment, then try again."""
        assert self._selector is not None
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(self.listener)
        self._accept_resume = time.monotonic() + ACCEPT_PAUSE
        if not self._accept_failing:  # one line per shortage, not one per retry
            self._accept_failing = True
            log.warning(
                "machine %d: cannot accept a connection (%s); trying again every %g s",
                self.machine,
                exc.strerror or exc,
                ACCEPT_PAUSE,
            )

    def _drop_full(self, recipient: int) -> None:
        self.dropped[recipient] += 1
        if recipient not in self._warned_full:
            self._warned_full.add(recipient)
            log.warning(
                "machine %d: machine %d does not read; messages to it are dropped",
                self.machine,
                recipient,
            )


def _address(label: str) -> tuple[str, int]:
    host, _, port = label.rpartition(":")
    return host, int(port)


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
