"""The real-time backend: machines of :mod:`lamport.core` on threads, TCP and the wall clock.

Threads
    Each machine is one thread that owns its :class:`~lamport.core.Machine`:
    only that thread ever ticks it. Each machine listens on its own socket on
    127.0.0.1; an acceptor thread per machine hands every inbound connection to
    a reader thread of its own, which decodes frames (:mod:`.framing`) and puts
    messages on the machine's thread-safe inbox. At each tick the machine
    moves everything in its inbox into the core's FIFO queue, then ticks. No
    thread is a daemon: every one is joined before :meth:`Cluster.run` returns,
    and every blocking call has a timeout, so nothing can hang.

Start
    Every machine opens one connection to every other machine (retrying with
    backoff while a peer is not yet accepting), sends its ``hello``, and waits
    until every other machine has said hello to it. A barrier then takes one
    start instant for all of them; the whole set-up must fit in
    ``connect_timeout`` seconds or the run fails with a NetworkError.

Time
    Machine i's k-th tick is due at the absolute deadline
    ``start + k / (rate_i x speed)`` on the monotonic clock, and the thread
    waits for it on the stop event (``Event.wait(timeout)``): no drift from
    sleeping a period after the work, no busy-waiting, and an immediate wake-up
    on a stop request. A tick that is late (a loaded machine) runs at once, so
    each machine still ticks exactly floor(rate x duration) times. The log's
    ``t`` is the measured model time of the tick, ``(now - start) x speed``
    (SPEC section 3), which is never before the scheduled ``k / rate``;
    ``wall`` is ``time.time()``. Ticks due at the same model instant race like
    real machines do, but a tick takes only the messages that had arrived by
    its *scheduled* instant (each reader stamps arrivals on the monotonic
    clock). So what a tick sees does not depend on how late its thread woke
    up, and a message sent at an instant is never seen by another machine's
    tick due at that same instant: the DES's rule for simultaneous ticks, here
    a consequence of real time. Only message timing differs from the DES,
    never the draws: machine i gets stream i of :func:`lamport.core.machine_streams`.

Shutdown
    At the end, on a stop request (Ctrl-C, SIGTERM: see :class:`Shutdown`), the
    machines stop ticking within one tick's wait, then every machine closes
    the sending side of its connections. Readers keep reading until each peer's
    end of stream, so every message sent is either received or counted in
    ``queued_at_end`` (core queue plus inbox), and SPEC's conservation law
    holds. A second stop request cuts the drain short; the logs, flushed at
    every tick, are complete either way.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from lamport import __version__
from lamport.config import RunConfig
from lamport.core import Event, Machine, Message, Outgoing, machine_streams
from lamport.errors import ConfigError, NetworkError
from lamport.logs import RunWriter
from lamport.realtime.framing import (
    FrameDecoder,
    FrameError,
    encode_hello,
    encode_message,
    parse_hello,
    parse_message,
)
from lamport.realtime.options import RealtimeOptions
from lamport.result import RunResult

if TYPE_CHECKING:
    from types import FrameType


log = logging.getLogger("lamport.realtime")

HOST = "127.0.0.1"
#: How often a blocked reader or acceptor looks at the run's state, in seconds.
POLL = 0.1
#: A send that cannot complete in this time counts the message as dropped.
SEND_TIMEOUT = 2.0
#: How often the live callback is called, in seconds.
LIVE_PERIOD = 0.25


class Progress(NamedTuple):
    """One machine's state as the live display shows it."""

    machine: int
    rate: float
    tick: int
    ticks: int
    clock: int
    queue: int


class Shutdown:
    """Stop requests for a run: the first stops the machines, the second cuts the drain short.

    :meth:`install` makes SIGINT and SIGTERM call :meth:`request`; only the
    main thread may install signal handlers.
    """

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.hurry = threading.Event()
        self.signal: int | None = None

    def request(self, signum: int | None = None) -> None:
        if self.stop.is_set():
            self.hurry.set()
            return
        self.signal = signum
        self.stop.set()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.request(signum)

    def install(self) -> Callable[[], None]:
        """Route SIGINT and SIGTERM to :meth:`request`; return a function that restores them."""
        previous = {
            sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)
        }

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore


@dataclass
class Timing:
    """What the benchmark measures: tick lateness and network latency, in wall seconds."""

    #: Per machine, actual minus scheduled time of each tick.
    lateness: list[list[float]]
    #: Monotonic time at which each message id was handed to the sockets.
    sent_at: dict[str, float] = field(default_factory=dict)
    #: (message id, monotonic time) at which a reader decoded a message.
    arrived: list[tuple[str, float]] = field(default_factory=list)

    def latencies(self) -> list[float]:
        """Socket-to-inbox latency of every message received, in wall seconds."""
        sent = self.sent_at
        return [when - sent[msg_id] for msg_id, when in self.arrived if msg_id in sent]


@dataclass
class Result(RunResult):
    """A finished real-time run: a RunResult, where it was written, and its timing."""

    out: Path | None = None
    timing: Timing | None = None

    @property
    def interrupted(self) -> bool:
        return bool(self.metadata.get("interrupted"))


class _Node:
    """One machine's share of the run: the core machine and its network plumbing."""

    def __init__(self, index: int, machine: Machine, rate: float, listener: socket.socket) -> None:
        self.index = index
        self.machine = machine
        self.rate = rate
        self.listener = listener
        self.port: int = listener.getsockname()[1]
        #: (arrival time, message) put by the readers, taken by the machine thread.
        self.inbox: queue.SimpleQueue[tuple[float, Message]] = queue.SimpleQueue()
        #: Taken off the inbox but arrived after the tick's due time; machine thread only.
        self.held: deque[tuple[float, Message]] = deque()
        self.outbound: dict[int, socket.socket] = {}
        self.lock = threading.Lock()
        self.peer_readers: dict[int, threading.Thread] = {}  # guarded by lock
        self.readers: list[threading.Thread] = []  # guarded by lock
        self.all_in = threading.Event()
        self.dropped = [0] * machine.n_machines  # by recipient

    def progress(self, ticks: int) -> Progress:
        m = self.machine
        return Progress(self.index, self.rate, m.ticks, ticks, m.clock, self.queued)

    @property
    def queued(self) -> int:
        """Messages arrived and not yet received: core queue, held back, and inbox."""
        return len(self.machine.queue) + len(self.held) + self.inbox.qsize()


def _bind(port: int, machine: int) -> socket.socket:
    try:
        return socket.create_server((HOST, port), backlog=16)
    except OSError as exc:
        if port and exc.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
            raise NetworkError(f"port {port} (machine {machine}) is already in use") from None
        raise NetworkError(f"cannot listen on {HOST}:{port} (machine {machine}): {exc}") from None


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)] * 1000

    return {
        "p50": round(at(0.5), 3),
        "p99": round(at(0.99), 3),
        "max": round(ordered[-1] * 1000, 3),
    }


class Cluster:
    """One real-time run: N machine threads, their sockets, and the logs they write.

    Build it, then call :meth:`run` once. ``ports`` and ``started`` let a caller
    (a test) reach the machines while they run. See :func:`run` for the
    parameters; besides them, ``drain_timeout`` bounds the final drain (wall
    seconds) and ``hold`` lists machines whose thread never comes up (fault
    injection: the others then fail to connect, or a test plays that machine).
    Raise ConfigError if the speed, port or timeout is invalid.
    """

    def __init__(
        self,
        config: RunConfig,
        speed: float = 1.0,
        out: Path | None = None,
        base_port: int | None = None,
        live: Callable[[list[Progress]], None] | None = None,
        connect_timeout: float = 5.0,
        shutdown: Shutdown | None = None,
        drain_timeout: float = 0.5,
        hold: Collection[int] = (),
    ) -> None:
        if isinstance(speed, bool) or not isinstance(speed, int | float):
            raise ConfigError(f"speed {speed!r} is not a number")
        if not (speed > 0 and math.isfinite(speed)):
            raise ConfigError(f"speed must be a positive number, got {speed}")
        if not (connect_timeout > 0 and math.isfinite(connect_timeout)):
            raise ConfigError(f"connect timeout must be a positive number, got {connect_timeout}")
        n = config.n_machines
        if base_port is not None and not 1 <= base_port <= 65536 - n:
            raise ConfigError(
                f"base port must lie in 1..{65536 - n} for {n} machines, got {base_port}"
            )
        self.config = config
        self.speed = float(speed)
        self.out = Path(out) if out is not None else None
        self.base_port = base_port
        self.live = live
        self.connect_timeout = float(connect_timeout)
        self.shutdown = shutdown if shutdown is not None else Shutdown()
        self.drain_timeout = drain_timeout
        self.hold = frozenset(hold)
        #: Set once every machine is connected and the common start instant is taken.
        self.started = threading.Event()
        self.ports: list[int] = []
        self._closing = threading.Event()  # acceptors stop
        self._abort = threading.Event()  # readers stop, even mid-stream
        self._errors: list[str] = []
        self._start = 0.0
        self._start_epoch = 0.0
        self._nodes: list[_Node] = []
        self._logs: list[list[Event]] = [[] for _ in range(n)]
        self._timing = Timing([[] for _ in range(n)])
        self._writer: RunWriter | None = None
        self._barrier = threading.Barrier(max(1, n - len(self.hold)), action=self._take_start)
        self._ran = False

    # -- the calling thread ---------------------------------------------------------------

    def run(self) -> Result:
        """Connect the machines, run them for the configured duration, and return the run.

        Raise NetworkError if a port is in use or a peer does not come up within
        ``connect_timeout``, and KeyboardInterrupt if stopped before the start.
        """
        if self._ran:
            raise RuntimeError("a Cluster runs once")
        self._ran = True
        config = self.config
        n = config.n_machines
        _, draws = machine_streams(config.seed, n)
        # Check the run directory before any socket exists (raise LogError).
        writer = RunWriter(self.out, n) if self.out is not None else None
        nodes = self._nodes
        try:
            for i in range(n):
                port = 0 if self.base_port is None else self.base_port + i
                machine = Machine(i, n, config.p_send, draws[i])
                nodes.append(_Node(i, machine, config.rates[i], _bind(port, i)))
        except NetworkError:
            for node in nodes:
                node.listener.close()
            raise
        self.ports = [node.port for node in nodes]
        threads: list[threading.Thread] = []
        handler: logging.Handler | None = None
        try:
            with writer if writer is not None else contextlib.nullcontext():
                self._writer = writer
                if writer is not None:
                    handler = logging.FileHandler(writer.staging / "network.log", delay=True)
                    handler.setLevel(logging.WARNING)
                    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
                    log.addHandler(handler)
                for node in nodes:
                    threads.append(self._spawn(self._accept_loop, node, "accept"))
                tickers = [self._spawn(self._machine_loop, node, "machine") for node in nodes]
                threads += tickers
                self._watch(tickers)
                if not self.started.is_set():
                    if self.shutdown.stop.is_set():
                        raise KeyboardInterrupt
                    raise NetworkError(
                        self._errors[0] if self._errors else "the machines did not come up"
                    )
                if writer is not None:
                    # From the first tick on, a crash keeps the logs written so far.
                    writer.keep_partial = True
                interrupted = self.shutdown.stop.is_set()
                stopped_at = (time.monotonic() - self._start) * self.speed
                drained = self._drain()
                metadata = self._metadata(interrupted, stopped_at, drained)
                if writer is not None:
                    if handler is not None:
                        log.removeHandler(handler)
                        handler.close()
                        handler = None
                    writer.finish(metadata)
        finally:
            self._closing.set()
            self._abort.set()
            self._barrier.abort()
            for node in nodes:
                node.listener.close()
                for sock in node.outbound.values():
                    sock.close()
            for thread in self._all_threads(threads):
                thread.join(timeout=SEND_TIMEOUT + 1)
            if handler is not None:
                log.removeHandler(handler)
                handler.close()
        return Result(
            config,
            self._logs,
            metadata["queued_at_end"],
            metadata,
            self.out if writer is not None else None,
            self._timing,
        )

    def _spawn(self, target: Callable[[_Node], None], node: _Node, role: str) -> threading.Thread:
        thread = threading.Thread(target=target, args=(node,), name=f"lamport-{role}-{node.index}")
        thread.start()
        return thread

    def _all_threads(self, threads: list[threading.Thread]) -> Iterator[threading.Thread]:
        yield from threads
        for node in self._nodes:
            with node.lock:
                readers = list(node.readers)
            yield from readers

    def _watch(self, tickers: list[threading.Thread]) -> None:
        """Wait for the machine threads, feeding the live display; stop them on request."""
        ticks = [self.config.ticks(i) for i in range(self.config.n_machines)]
        stop = self.shutdown.stop
        while alive := [t for t in tickers if t.is_alive()]:
            if stop.is_set() and not self.started.is_set():
                self._barrier.abort()
            alive[0].join(timeout=LIVE_PERIOD)
            if self.live is not None and self.started.is_set():
                self.live([node.progress(ticks[node.index]) for node in self._nodes])
        if self.live is not None and self.started.is_set():
            self.live([node.progress(ticks[node.index]) for node in self._nodes])

    def _drain(self) -> bool:
        """Close every sending side and read each link to its end; True if all ended."""
        self._closing.set()
        for node in self._nodes:
            for sock in node.outbound.values():
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + self.drain_timeout
        hurry = self.shutdown.hurry
        drained = True
        for node in self._nodes:
            with node.lock:
                readers = list(node.peer_readers.values())
            for reader in readers:
                while reader.is_alive() and time.monotonic() < deadline and not hurry.is_set():
                    reader.join(timeout=0.02)
                drained = drained and not reader.is_alive()
        self._abort.set()
        for node in self._nodes:
            with node.lock:
                readers = list(node.readers)
            for reader in readers:
                reader.join(timeout=POLL * 3)
        return drained

    def _metadata(self, interrupted: bool, stopped_at: float, drained: bool) -> dict[str, Any]:
        n = self.config.n_machines
        queued = [node.queued for node in self._nodes]
        dropped = [sum(node.dropped[j] for node in self._nodes) for j in range(n)]
        metadata: dict[str, Any] = {"backend": "realtime", **self.config.metadata()}
        metadata.pop("latency", None)  # a DES parameter: the real network has its own
        metadata.update(
            {
                "options": {
                    "speed": self.speed,
                    "base_port": self.base_port,
                    "connect_timeout": self.connect_timeout,
                },
                "speed": self.speed,
                "start_epoch": self._start_epoch,
                "version": __version__,
                "queued_at_end": queued,
                "interrupted": interrupted,
                "stop_signal": signal.Signals(self.shutdown.signal).name
                if self.shutdown.signal
                else None,
                "stopped_at": round(stopped_at, 6) if interrupted else None,
                "drained": drained,
                "ports": self.ports,
                "tick_lateness_ms": _percentiles(
                    [x for lateness in self._timing.lateness for x in lateness]
                ),
            }
        )
        if any(dropped):
            metadata["dropped"] = dropped
        return metadata

    # -- the machine threads --------------------------------------------------------------

    def _take_start(self) -> None:
        self._start = time.monotonic()
        self._start_epoch = time.time()
        self.started.set()

    def _machine_loop(self, node: _Node) -> None:
        if node.index in self.hold:
            return  # fault injection: this machine never comes up
        deadline = time.monotonic() + self.connect_timeout
        try:
            self._connect(node, deadline)
            while not node.all_in.wait(timeout=POLL):
                if self._closing.is_set() or self.shutdown.stop.is_set():
                    raise threading.BrokenBarrierError
                if time.monotonic() > deadline:
                    with node.lock:
                        missing = sorted(set(node.machine.peers) - set(node.peer_readers))
                    raise NetworkError(
                        f"machine {node.index}: no connection from machine "
                        f"{', '.join(map(str, missing))} within {self.connect_timeout:g} s"
                    )
            self._barrier.wait(timeout=max(deadline - time.monotonic(), POLL))
        except threading.BrokenBarrierError:
            if not self._errors and not self.shutdown.stop.is_set():
                self._errors.append(
                    f"machines did not all come up within {self.connect_timeout:g} s"
                )
            self._barrier.abort()
            return
        except NetworkError as exc:
            self._errors.append(str(exc))
            self._barrier.abort()
            return
        self._tick(node)

    def _connect(self, node: _Node, deadline: float) -> None:
        """Open one connection to every other machine, retrying with backoff until the deadline."""
        for peer in node.machine.peers:
            port = self.ports[peer]
            delay = 0.01
            while True:
                try:
                    sock = socket.create_connection((HOST, port), timeout=POLL * 5)
                    break
                except OSError as exc:
                    given_up = self._closing.is_set() or self.shutdown.stop.is_set()
                    if given_up or time.monotonic() + delay > deadline:
                        raise NetworkError(
                            f"machine {node.index}: cannot reach machine {peer} on port {port} "
                            f"within {self.connect_timeout:g} s ({exc})"
                        ) from None
                    self._closing.wait(delay)
                    delay = min(delay * 2, 0.5)
            # Nagle's algorithm would hold small frames back for the peer's delayed ACK.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(SEND_TIMEOUT)
            node.outbound[peer] = sock
            try:
                sock.sendall(encode_hello(node.index))
            except OSError as exc:
                raise NetworkError(
                    f"machine {node.index}: hello to machine {peer} failed ({exc})"
                ) from None

    def _tick(self, node: _Node) -> None:
        i = node.index
        machine = node.machine
        inbox = node.inbox
        held = node.held
        deliver = machine.deliver
        append = self._logs[i].append
        lateness = self._timing.lateness[i]
        writer = self._writer
        stop = self.shutdown.stop
        start = self._start
        speed = self.speed
        wall_rate = node.rate * speed
        monotonic = time.monotonic
        for k in range(1, self.config.ticks(i) + 1):
            due = start + k / wall_rate
            now = monotonic()
            while now < due:
                if stop.wait(due - now):
                    return
                now = monotonic()
            if stop.is_set():
                return
            while True:
                try:
                    held.append(inbox.get_nowait())
                except queue.Empty:
                    break
            while held and held[0][0] <= due:
                deliver(held.popleft()[1])
            record, outgoing = machine.tick((now - start) * speed, time.time())
            lateness.append(now - due)
            append(record)
            if writer is not None:
                writer.write(record)
                writer.flush(i)
            if outgoing is not None:
                self._send(node, outgoing)

    def _send(self, node: _Node, outgoing: Outgoing) -> None:
        frame = encode_message(outgoing.message)
        self._timing.sent_at[outgoing.message.msg_id] = time.monotonic()
        for recipient in outgoing.recipients:
            sock = node.outbound.get(recipient)
            if sock is None:
                node.dropped[recipient] += 1
                continue
            try:
                sock.sendall(frame)
            except OSError as exc:
                log.warning(
                    "machine %d: link to machine %d lost (%s); later messages to it are dropped",
                    node.index,
                    recipient,
                    exc,
                )
                node.dropped[recipient] += 1
                del node.outbound[recipient]
                sock.close()

    # -- the network threads --------------------------------------------------------------

    def _accept_loop(self, node: _Node) -> None:
        node.listener.settimeout(POLL)
        while not self._closing.is_set():
            try:
                conn, _ = node.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(POLL)
            reader = threading.Thread(
                target=self._read_loop, args=(node, conn), name=f"lamport-reader-{node.index}"
            )
            with node.lock:
                node.readers.append(reader)
            reader.start()

    def _read_loop(self, node: _Node, conn: socket.socket) -> None:
        """Read one inbound connection: a hello, then messages, until the end of stream."""
        i = node.index
        decoder = FrameDecoder()
        sender: int | None = None
        hello_by = time.monotonic() + self.connect_timeout
        arrived = self._timing.arrived
        try:
            host, port = conn.getpeername()[:2]
            peer = f"{host}:{port}"
        except OSError:
            peer = "?"
        try:
            while not self._abort.is_set():
                try:
                    data = conn.recv(4096)
                except TimeoutError:
                    if sender is None and time.monotonic() > hello_by:
                        raise FrameError("no hello in time") from None
                    continue
                if not data:
                    if decoder.pending:
                        raise FrameError(f"stream ended inside a frame ({decoder.pending} bytes)")
                    return
                for payload in decoder.feed(data):
                    if sender is None:
                        sender = self._register(node, parse_hello(payload))
                        continue
                    msg = parse_message(payload)
                    if msg.sender != sender:
                        raise FrameError(f"message from {msg.sender} on machine {sender}'s link")
                    now = time.monotonic()
                    node.inbox.put((now, msg))
                    arrived.append((msg.msg_id, now))
        except FrameError as exc:
            who = f"machine {sender}" if sender is not None else peer
            log.warning("machine %d: dropped connection from %s: %s", i, who, exc)
        except OSError as exc:
            log.warning("machine %d: connection from %s failed: %s", i, peer, exc)
        finally:
            conn.close()

    def _register(self, node: _Node, sender: int) -> int:
        """Accept a hello from ``sender``. Raise FrameError if it is not a machine we expect."""
        if sender == node.index or sender >= self.config.n_machines:
            raise FrameError(f"unknown sender {sender}")
        with node.lock:
            if sender in node.peer_readers:
                raise FrameError(f"machine {sender} is already connected")
            node.peer_readers[sender] = threading.current_thread()
            if len(node.peer_readers) == self.config.n_machines - 1:
                node.all_in.set()
        return sender


def run(
    config: RunConfig,
    speed: float = 1.0,
    out: Path | None = None,
    base_port: int | None = None,
    live: Callable[[list[Progress]], None] | None = None,
    connect_timeout: float = 5.0,
    shutdown: Shutdown | None = None,
) -> Result:
    """Run one configuration on threads and TCP sockets on 127.0.0.1, on the wall clock.

    ``speed`` multiplies every rate (a 60 s run at speed 20 takes 3 s); the
    logs' ``t`` stays in model seconds. ``out``, if given, is the run directory
    written as events happen. ``base_port`` fixes machine i's port to
    ``base_port + i`` (default: ports picked by the OS). ``live`` is called
    about four times a second, from the calling thread, with each machine's
    :class:`Progress`. ``shutdown`` lets the caller stop the run early (the CLI
    routes Ctrl-C and SIGTERM to it).

    Raise ConfigError on an invalid speed or port, NetworkError if a port is in
    use or the machines cannot all connect within ``connect_timeout`` seconds.
    """
    return Cluster(
        config,
        speed=speed,
        out=out,
        base_port=base_port,
        live=live,
        connect_timeout=connect_timeout,
        shutdown=shutdown,
    ).run()


def run_backend(config: RunConfig, options: RealtimeOptions, out: Path | None = None) -> Result:
    """The backend contract's entry (:mod:`lamport.backend`): run with these options."""
    return run(
        config,
        speed=options.speed,
        out=out,
        base_port=options.base_port,
        connect_timeout=options.connect_timeout,
    )
