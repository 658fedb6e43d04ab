"""One machine's network: its listener, its links to the other machines, send and receive.

Links
    Machines i and j share ONE TCP connection, used both ways: the machine
    with the higher id opens it to the lower one's listener, and the two run
    the challenge-response handshake of :mod:`.auth` on it (HMAC-SHA256 of
    the run's secret over fresh nonces, both directions) before it carries a
    message; the lower one learns who called from that handshake, the caller
    knows whom it called. An accepted connection is nobody until its
    handshake checks out, so it never takes a peer's place. A machine of N thus
    holds N - 1 link sockets, its listener, its selector and a wake-up socket
    pair: N + 3 file descriptors (:func:`fds_per_machine`), so a full mesh of
    N machines in one process needs about N (N + 3), half of what one
    connection per direction would.

One I/O thread
    A :class:`Transport` runs one thread whatever N, blocked in a
    :mod:`selectors` loop: it accepts, completes connects (retrying a refused
    one with backoff until the absolute set-up deadline), reads and decodes
    frames, and writes out what a send could not write at once. The tick
    thread sends on the non-blocking socket itself, so a message leaves
    without waiting for the I/O thread; the rare remainder waits in the
    link's buffer and the I/O thread is woken, through the socket pair, to
    flush it. A socket is only ever closed under its link's lock, the lock a
    send holds, so a send never writes to a descriptor reused by another socket.

Arrivals
    Each decoded message goes on :attr:`Transport.inbox` with its arrival time
    on the monotonic clock; the tick thread takes it from there (a deque:
    append and popleft are atomic).

Hostile input
    A connection that breaks the wire format or fails the handshake is
    logged (one warning on the ``lamport.realtime`` logger) and closed, and
    the machine keeps running: a frame length of 0 or over the maximum, a
    payload that does not parse, a clock or sequence number over 2**63 - 1, a
    hello from an unknown id, from the machine itself or from one this machine
    calls itself, a wrong MAC (wrong secret, replay), a message whose sender
    is not the link's, no completed handshake by the connection's absolute
    deadline (so a trickle of bytes earns no time), and a stream that ends
    inside a frame. A second machine that authenticates under an id already
    connected is told ``refuse`` (it then fails in one line). Messages that a
    lost link never carried (sent after it broke, or still in its buffer) are
    counted in :attr:`Transport.dropped`.

Out of descriptors
    When ``accept`` fails for want of file descriptors (EMFILE, ENFILE), the
    listener is taken out of the selector for a moment, one warning is
    logged, and accepting resumes by itself once descriptors are free.

Rejoin
    A machine of a ``--real-crash`` run is killed and started again as a new
    process (:mod:`.launcher`) on the same listening socket, which the launcher
    holds meanwhile. :meth:`Transport.rejoin` prepares a peer for it: the old
    link is closed (what its buffer held counts as dropped); if this machine
    calls that peer it calls again, with backoff, until the new process
    answers the handshake; if the peer calls, its next authenticated
    connection takes the old link's place instead of being refused. Until the
    new link is up, messages to the peer are counted in :attr:`Transport.dropped`.

Control frames
    Besides messages, an authenticated link carries a few words the run's
    start needs when no launcher coordinates it (:mod:`.process`): ``ready
    <digest>``, ``start <epoch ns>`` and ``abort <reason>``. They are put on
    :attr:`Transport.control` with the peer's id.

End
    :meth:`Transport.finish_sending` shuts down the sending side of every link
    once its buffer is written; the peer reads on to that end of stream, so
    every message sent is either received or still queued. :meth:`wait_drained`
    waits for every peer's end of stream, :meth:`close` stops the thread and
    closes every socket.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Sequence

from lamport.core import Message
from lamport.errors import NetworkError
from lamport.realtime import auth
from lamport.realtime.framing import (
    FrameDecoder,
    FrameError,
    encode_frame,
    frame_limit,
    parse_message,
)

__all__ = ["HOST", "Transport", "bind_listener", "fds_per_machine"]

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
#: Seconds a rejoining peer gets to answer the handshake (its process starts meanwhile).
REJOIN_TIMEOUT = 10.0
#: How long the listener rests after running out of descriptors, in seconds.
ACCEPT_PAUSE = 0.1
_CONTROL = re.compile(rb"ready [0-9a-f]{16}|start \d{1,20}|(abort|refuse) [ -~]{1,120}")


def fds_per_machine(n_machines: int) -> int:
    """File descriptors one machine's transport holds: its links, listener, selector, wake pair."""
    return (n_machines - 1) + 4


class _Link:
    """One connection: to a known peer, or accepted and waiting for its hello."""

    __slots__ = (
        "authed",
        "claimed",
        "decoder",
        "delay",
        "eof",
        "hello_by",
        "label",
        "lock",
        "nonce",
        "out",
        "peer",
        "pending",
        "pending_connect",
        "retry_at",
        "sent_total",
        "shut",
        "sock",
        "their_nonce",
    )

    def __init__(self, sock: socket.socket | None, peer: int | None, label: str) -> None:
        self.sock = sock
        self.peer = peer
        self.label = label
        self.decoder = FrameDecoder()
        self.out = bytearray()
        self.lock = threading.Lock()
        self.eof = False  # the peer has ended its sending side
        self.shut = False  # we have ended ours
        self.pending_connect = False
        self.retry_at = 0.0
        self.delay = FIRST_RETRY
        self.hello_by = 0.0
        self.authed = False  # the handshake checked out; messages may flow
        self.claimed: int | None = None  # the id an accepted caller's hello names
        self.nonce = b""  # ours, fresh for this connection
        self.their_nonce = b""
        self.sent_total = 0  # bytes handed to the kernel on this connection
        self.pending: deque[int] = deque()  # stream offsets where buffered messages end

    @property
    def closed(self) -> bool:
        return self.sock is None

    @property
    def who(self) -> str:
        return f"machine {self.peer}" if self.peer is not None else self.label


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
        #: Messages not sent, by recipient: link lost or never made, or its buffer full.
        self.dropped = [0] * n_machines
        #: Set once every link is up; :attr:`error` says why it never will be.
        self.connected = threading.Event()
        self.error: str | None = None
        #: Set once every peer has ended its sending side (or its link was lost).
        self.drained = threading.Event()
        self._links: dict[int, _Link] = {}
        self._callers = set(range(machine + 1, n_machines))  # peers that call us
        self._accepted: list[_Link] = []  # waiting for their hello
        self._selector: selectors.BaseSelector | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._lock = threading.Lock()  # guards _flush_requests, _rejoin_requests, _awaited
        self._flush_requests: set[int] = set()
        self._finishing = False
        self._shut_all = False  # finish_sending asked, not yet acted on
        self._retrying: set[_Link] = set()
        self._ended: set[int] = set()  # peers whose stream ended or whose link was lost
        self._quit = False
        self._thread: threading.Thread | None = None
        self._deadline = 0.0
        self._warned_full: set[int] = set()
        self._accept_resume: float | None = None  # listener resting for want of descriptors
        self._accept_failing = False
        self._call_failure: dict[int, str] = {}  # why the last call to a peer failed
        self._rejoin_requests: set[int] = set()  # guarded by _lock
        self._rejoining: set[int] = set()  # callers whose next connection replaces the old
        self._awaited: dict[int, float] = {}  # peers expected back: until when the drain waits
        self._early: set[int] = set()  # callers back before their "rejoin": it is served

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
            link = _Link(None, peer, f"{addresses[peer][0]}:{addresses[peer][1]}")
            self._links[peer] = link
            self._call(link, addresses[peer])
        self._check_connected()
        self._thread = threading.Thread(
            target=self._loop, name=f"lamport-io-{self.machine}", daemon=False
        )
        self._thread.start()

    def send(self, frame: bytes, recipients: Sequence[int]) -> None:
        """Send one frame to each recipient; count it in :attr:`dropped` where it cannot go."""
        wake = False
        for recipient in recipients:
            link = self._links.get(recipient)
            if link is None:
                self.dropped[recipient] += 1
                continue
            with link.lock:
                sock = link.sock
                if sock is None or link.shut or not link.authed:
                    self.dropped[recipient] += 1
                    continue
                if link.out:
                    if len(link.out) >= MAX_BUFFERED:
                        self._drop_full(recipient)
                        continue
                    link.out += frame
                    link.pending.append(link.sent_total + len(link.out))
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
                link.sent_total += sent
                if sent < len(frame):
                    link.out += frame[sent:]
                    link.pending.append(link.sent_total + len(link.out))
                    with self._lock:
                        self._flush_requests.add(recipient)
                    wake = True
        if wake:
            self._wake()

    def send_control(self, peer: int, payload: bytes) -> bool:
        """Send a control frame (``ready``, ``start <ns>``) to one peer; False if it cannot go."""
        link = self._links.get(peer)
        if link is None:
            return False
        with link.lock:
            if link.sock is None or link.shut or not link.authed:
                return False
            link.out += encode_frame(payload)
        with self._lock:
            self._flush_requests.add(peer)
        self._wake()
        return True

    def rejoin(self, peer: int) -> None:
        """Expect ``peer`` back as a new process (see "Rejoin" above). Thread-safe."""
        if not 0 <= peer < self.n_machines or peer == self.machine:
            return
        with self._lock:
            self._rejoin_requests.add(peer)
            # At once, not when the I/O thread gets to it: a drain never ends in between.
            self._awaited[peer] = time.monotonic() + REJOIN_TIMEOUT
            self.drained.clear()
        self._wake()

    def lost(self, peer: int) -> bool:
        """True once the link to ``peer`` has ended (its stream closed, or the link broke)."""
        return peer in self._ended

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
            return self.drained.is_set() or (
                not rejoins and len(self._ended) == self.n_machines - 1
            )

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
        for link in [*self._links.values(), *self._accepted]:
            self._close_link(link)
        self._accepted.clear()
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        self.listener.close()
        self._wake_r.close()
        self._wake_w.close()

    # -- the I/O thread ----------------------------------------------------------------------

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
        times = [link.hello_by for link in self._accepted]
        times += [link.retry_at for link in self._retrying]
        with self._lock:
            times += self._awaited.values()
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
        for link in list(self._accepted):
            if now >= link.hello_by:
                self._reject(link, f"no handshake within {self.connect_timeout:g} s")
        for link in [link for link in self._retrying if now >= link.retry_at]:
            self._retrying.discard(link)
            self._call(link, _address(link.label))
        if not self.connected.is_set() and self.error is None and now >= self._deadline:
            self._fail_deadline()
        with self._lock:
            gone = [p for p, by in self._awaited.items() if now >= by]
            for peer in gone:
                del self._awaited[peer]  # never came back: the drain waits no more
        if gone:
            self._check_drained()
        if self._shut_all:
            self._shut_all = False
            for link in list(self._links.values()):
                self._maybe_shut(link)
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
            link = self._links.get(peer)
            if link is not None:
                self._update(link)

    def _reopen(self, peer: int) -> None:
        """Drop the link to a peer that is started again; call it again if we are its caller."""
        if not 0 <= peer < self.n_machines or peer == self.machine:
            return
        if peer in self._early:  # its new process is in already
            self._early.discard(peer)
            with self._lock:
                self._awaited.pop(peer, None)
            self._check_drained()
            return
        old = self._links.get(peer)
        if old is not None:
            self._close_link(old)
            if old in self._retrying:
                self._retrying.discard(old)
        self._ended.add(peer)
        if peer > self.machine:
            self._rejoining.add(peer)
            return
        if old is None:  # never called: the set-up calls it
            return
        link = _Link(None, peer, old.label)
        self._links[peer] = link
        self._deadline = max(self._deadline, time.monotonic() + REJOIN_TIMEOUT)
        self._call(link, _address(old.label))

    def _joined(self, peer: int) -> None:
        """A link to ``peer`` is up (again): its stream is open."""
        with self._lock:
            self._awaited.pop(peer, None)
        if peer in self._ended:
            self._ended.discard(peer)
            self.drained.clear()

    def _call(self, link: _Link, address: tuple[str, int]) -> None:
        """Start a non-blocking connect to a peer's listener."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        code = sock.connect_ex(address)
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
            sock.close()
            self._retry(link, OSError(code, os.strerror(code)))
            return
        with link.lock:
            link.sock = sock
            link.pending_connect = True
        assert self._selector is not None
        self._selector.register(sock, selectors.EVENT_WRITE, link)

    def _retry(self, link: _Link, exc: OSError) -> None:
        now = time.monotonic()
        if now + link.delay > self._deadline or self._quit:
            if self.connected.is_set():  # a rejoining peer that never came back
                log.warning(
                    "machine %d: cannot reach machine %s again on %s (%s)",
                    self.machine,
                    link.peer,
                    link.label,
                    exc.strerror or exc,
                )
            elif self.error is None:
                self.error = (
                    f"machine {self.machine}: cannot reach machine {link.peer} on "
                    f"{link.label} within {self.connect_timeout:g} s ({exc.strerror or exc})"
                )
            return
        assert link.peer is not None
        self._call_failure[link.peer] = str(exc.strerror or exc)
        link.retry_at = now + link.delay
        self._retrying.add(link)
        link.delay = min(link.delay * 2, LAST_RETRY)

    def _connected(self, link: _Link) -> None:
        assert link.sock is not None
        code = link.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self._close_link(link)
            self._retry(link, OSError(code, os.strerror(code)))
            return
        # Nagle's algorithm would hold small frames back for the peer's delayed ACK.
        link.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        link.decoder = FrameDecoder()
        link.nonce = auth.new_nonce()
        link.authed = False
        with link.lock:
            link.pending_connect = False
            link.out += encode_frame(auth.hello_payload(self.machine, link.nonce))
        self._flush(link)

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
            link = _Link(sock, None, f"{address[0]}:{address[1]}")
            link.decoder.max_size = frame_limit(self.n_machines)  # vector clocks grow with N
            link.nonce = auth.new_nonce()
            # Absolute: a caller that dribbles bytes never earns more time.
            link.hello_by = time.monotonic() + self.connect_timeout
            self._accepted.append(link)
            assert self._selector is not None
            self._selector.register(sock, selectors.EVENT_READ, link)

    def _on_ready(self, link: _Link, mask: int) -> None:
        if link.pending_connect:
            self._connected(link)
            return
        if mask & selectors.EVENT_WRITE:
            self._flush(link)
        if mask & selectors.EVENT_READ and not link.closed:
            self._read(link)

    def _read(self, link: _Link) -> None:
        assert link.sock is not None
        try:
            data = link.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            if self._calling(link):
                self._call_again(link, f"connection failed during the handshake ({exc})")
            elif link.authed:
                log.warning(
                    "machine %d: link to %s lost (%s); later messages to it are dropped",
                    self.machine,
                    link.who,
                    exc,
                )
                self._lose(link)
            else:
                log.warning(
                    "machine %d: connection from %s failed: %s", self.machine, link.who, exc
                )
                self._lose(link)
            return
        try:
            if not data and self._calling(link):
                self._call_again(link, "the listener hung up during the handshake")
                return
            if not data:
                if link.decoder.pending:
                    raise FrameError(f"stream ended inside a frame ({link.decoder.pending} bytes)")
                self._end_of_stream(link)
                return
            now = time.monotonic()
            for payload in link.decoder.feed(data):
                if not link.authed:
                    self._handshake(link, payload)
                    continue
                if not payload[:1].isdigit():
                    self._on_control(link, payload)
                    if link.closed:
                        return
                    continue
                msg = parse_message(payload, self.n_machines)
                if msg.sender != link.peer:
                    raise FrameError(f"message from {msg.sender} on machine {link.peer}'s link")
                self.inbox.append((now, msg))
                self.arrived.append((msg.msg_id, now))
        except (FrameError, auth.AuthError) as exc:
            if self._calling(link):
                self._call_again(link, str(exc))
                return
            self._reject(link, str(exc))

    def _calling(self, link: _Link) -> bool:
        """True for a link this machine opened whose handshake is not done."""
        return link.peer is not None and link.peer < self.machine and not link.authed

    def _call_again(self, link: _Link, reason: str) -> None:
        """A listener that fails our handshake (maybe an impostor holds its port): call again."""
        log.warning("machine %d: dropped connection to %s: %s", self.machine, link.label, reason)
        self._close_link(link)
        self._retry(link, OSError(0, reason))

    def _handshake(self, link: _Link, payload: bytes) -> None:
        """One step of the handshake (:mod:`.auth`). Raise AuthError or FrameError if it fails."""
        if link.peer is not None:  # we called: this is the listener's challenge
            if payload.startswith(b"refuse "):
                self._on_control(link, payload)
                return
            link.their_nonce = auth.check_challenge(
                self.secret, self.machine, link.peer, link.nonce, payload
            )
            reply = auth.auth_payload(
                self.secret, self.machine, link.peer, link.nonce, link.their_nonce
            )
            with link.lock:
                link.out += encode_frame(reply)
                link.authed = True
            self._call_failure.pop(link.peer, None)
            self._joined(link.peer)
            self._flush(link)
            self._check_connected()
            return
        if link.claimed is None:  # they called: their hello
            sender, link.their_nonce = auth.parse_hello(payload)
            self._check_caller(sender)
            link.claimed = sender
            challenge = auth.challenge_payload(
                self.secret, sender, self.machine, link.their_nonce, link.nonce
            )
            with link.lock:
                link.out += encode_frame(challenge)
            self._flush(link)
            return
        auth.check_auth(
            self.secret, link.claimed, self.machine, link.their_nonce, link.nonce, payload
        )
        self._identify(link, link.claimed)

    def _check_caller(self, sender: int) -> None:
        if sender == self.machine or sender >= self.n_machines:
            raise FrameError(f"unknown sender {sender}")
        if sender not in self._callers:
            raise FrameError(f"machine {sender} does not call machine {self.machine}")

    def _on_control(self, link: _Link, payload: bytes) -> None:
        if _CONTROL.fullmatch(payload) is None:
            raise FrameError(f"expected '<sender> <seq> <clock>', got {payload[:40]!r}")
        assert link.peer is not None
        if payload.startswith(b"refuse "):
            reason = payload[7:].decode("ascii")
            self.refused = f"machine {link.peer} refused machine {self.machine}: {reason}"
            self.error = self.refused
            log.warning("%s", self.refused)
            self._lose(link)
            return
        self.control.append((link.peer, payload))
        self.control_arrived.set()

    def _identify(self, link: _Link, sender: int) -> None:
        """Make an authenticated caller machine ``sender``'s link, unless that id is taken."""
        old = self._links.get(sender)
        # Its new process, after a kill: announced ("rejoin"), or the old link already ended
        # (the new process may call before the announcement comes).
        if old is not None and (sender in self._rejoining or sender in self._ended):
            if sender in self._rejoining:
                self._rejoining.discard(sender)
            else:
                self._early.add(sender)
            self._close_link(old)
        elif old is not None:
            # Only a holder of the secret gets here: a second process with the same id.
            reason = f"machine {sender} is already connected (two machines with id {sender}?)"
            with link.lock:
                link.out += encode_frame(b"refuse " + reason.encode("ascii"))
            self._flush(link)
            raise FrameError(reason)
        link.peer = sender
        link.authed = True
        self._accepted.remove(link)
        self._links[sender] = link
        self._joined(sender)
        self._check_connected()

    def _end_of_stream(self, link: _Link) -> None:
        if link.peer is None:  # a caller that left before its handshake was done
            if link.claimed in self._rejoining or link.claimed in self._awaited:
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
                    link.label,
                    link.claimed,
                )
            self._accepted.remove(link)
            self._close_link(link)
            return
        link.eof = True
        self._ended.add(link.peer)
        if link.shut and not link.out:
            self._close_link(link)
        else:
            self._update(link)
        self._check_drained()

    def _reject(self, link: _Link, reason: str) -> None:
        log.warning("machine %d: dropped connection from %s: %s", self.machine, link.who, reason)
        self._lose(link)

    def _lose(self, link: _Link) -> None:
        if link.peer is None:
            if link in self._accepted:
                self._accepted.remove(link)
        else:
            link.eof = True
            self._ended.add(link.peer)
        self._close_link(link)
        self._check_drained()

    def _flush(self, link: _Link) -> None:
        with link.lock:
            sock = link.sock
            if sock is not None and link.out:
                try:
                    sent = sock.send(link.out)
                except (BlockingIOError, InterruptedError):
                    sent = 0
                except OSError as exc:
                    log.warning("machine %d: link to %s lost (%s)", self.machine, link.who, exc)
                    self._discard_out(link)
                    link.shut = True
                    sent = 0
                del link.out[:sent]
                link.sent_total += sent
                while link.pending and link.pending[0] <= link.sent_total:
                    link.pending.popleft()
        self._maybe_shut(link)
        self._update(link)

    def _maybe_shut(self, link: _Link) -> None:
        """After the last send, end our sending side of the link."""
        if not self._finishing or link.shut or link.closed or link.out or link.pending_connect:
            return
        with link.lock:
            link.shut = True
            try:
                assert link.sock is not None
                link.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        if link.eof:
            self._close_link(link)
        else:
            self._update(link)

    def _update(self, link: _Link) -> None:
        """Register the link for what it waits for: its peer's bytes, room for its buffer."""
        sock = link.sock
        if sock is None or self._selector is None:
            return
        events = 0
        if not link.eof:
            events |= selectors.EVENT_READ
        if link.out or link.pending_connect:
            events |= selectors.EVENT_WRITE
        key = self._selector.get_map().get(sock)
        if events == 0:
            if key is not None:
                self._selector.unregister(sock)
        elif key is None:
            self._selector.register(sock, events, link)
        elif key.events != events:
            self._selector.modify(sock, events, link)

    def _discard_out(self, link: _Link) -> None:
        """Count the messages still in a lost link's buffer as dropped (hold ``link.lock``)."""
        if link.peer is not None and link.pending:
            self.dropped[link.peer] += len(link.pending)
        link.pending.clear()
        link.out.clear()

    def _close_link(self, link: _Link) -> None:
        with link.lock:
            sock, link.sock = link.sock, None
            link.pending_connect = False
            self._discard_out(link)
            if sock is None:
                return
            if self._selector is not None and sock in self._selector.get_map():
                self._selector.unregister(sock)
            sock.close()

    def _check_connected(self) -> None:
        if self.connected.is_set():
            return
        callers_in = self._callers <= set(self._links)
        called = all(
            self._links[p].authed and not self._links[p].closed for p in range(self.machine)
        )
        if callers_in and called:
            self.connected.set()

    def _fail_deadline(self) -> None:
        missing = sorted(self._callers - set(self._links))
        unreached = [p for p in range(self.machine) if not self._links[p].authed]
        if missing:
            listed = ", ".join(map(str, missing))
            self.error = (
                f"machine {self.machine}: no connection from machine {listed} "
                f"within {self.connect_timeout:g} s"
            )
        else:
            listed = ", ".join(map(str, unreached)) or "?"
            why = [self._call_failure[p] for p in unreached if p in self._call_failure]
            self.error = (
                f"machine {self.machine}: cannot reach machine {listed} "
                f"within {self.connect_timeout:g} s" + (f" ({why[-1]})" if why else "")
            )

    def _check_drained(self) -> None:
        with self._lock:
            if len(self._ended) == self.n_machines - 1 and not self._awaited:
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
    try:
        return socket.create_server((host, port), backlog=backlog)
    except OSError as exc:
        if port and exc.errno in _IN_USE:
            raise NetworkError(f"port {port} (machine {machine}) is already in use") from None
        reason = exc.strerror or exc
        raise NetworkError(
            f"cannot listen on {host}:{port} (machine {machine}): {reason}"
        ) from None
