"""A real-time run: start N nodes, watch them, stop them, and publish what they did.

The cluster only starts and stops nodes (:mod:`.node`); it never touches a
machine's state. In order:

Capacity
    Before any socket exists, the run is checked against the process's limits
    (:func:`check_capacity`): file descriptors (a full mesh of N machines in
    one process holds about N (N + 3) sockets, plus a log file per machine;
    the soft limit is raised to the hard one if that suffices) and threads
    (two per machine: its tick thread and its I/O thread). A run that cannot
    fit fails at once with one line naming the need and the limit.

Start barrier
    Every node binds its listener, then, on a thread of its own, connects to
    its peers and reports ready. Once every node is ready the cluster takes
    one start instant (monotonic and epoch) and hands it to all of them; if
    one fails, or the set-up does not fit in ``connect_timeout`` seconds, the
    run fails with a NetworkError naming the machine. A stop request during
    set-up raises KeyboardInterrupt.

Watch and stop
    The calling thread waits for the nodes, calling ``live`` about four times
    a second with each machine's :class:`~lamport.realtime.node.Progress`. A
    stop request is a :class:`threading.Event` the caller sets (the CLI sets
    it on SIGINT and SIGTERM); the library never installs a signal handler.
    Nodes stop within one tick's wait, drain their links and hand back their
    reports.

Publish
    Each event is written as it happens by the shared :class:`lamport.logs.RunWriter`
    (one file per machine, flushed every tick); ``run.json`` gets the model, the
    options, what was left queued, whether the run was interrupted, and the tick
    lateness with ``kept_up``: False when the ticks ran (at the 99th
    percentile) later than a tenth of the shortest tick interval.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import threading
import time
import warnings
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamport import __version__
from lamport.config import RunConfig
from lamport.core import Event, machine_streams
from lamport.errors import ConfigError, NetworkError
from lamport.logs import RunWriter
from lamport.realtime.auth import new_secret
from lamport.realtime.node import Node, NodeReport, Progress
from lamport.realtime.options import RealtimeOptions
from lamport.realtime.transport import fds_per_machine
from lamport.result import RunResult
from lamport.schema import log_columns
from lamport.stats import percentiles

__all__ = [
    "Cluster",
    "Progress",
    "Result",
    "Shutdown",
    "Timing",
    "check_capacity",
    "run",
    "run_backend",
]

log = logging.getLogger("lamport.realtime")

#: How often the live callback is called, in seconds.
LIVE_PERIOD = 0.25
#: Tick lateness (p99) beyond this share of the shortest tick interval means "could not keep up".
KEEP_UP_SHARE = 0.1
#: File descriptors kept free for the rest of the process (stdio, imports, stray callers).
FD_SPARE = 64
#: Threads a run uses beside its nodes' (the caller's, the display's).
THREAD_SPARE = 10


class Shutdown(threading.Event):
    """A stop event that remembers the signal that set it; a second request hurries the drain.

    Pass it as ``stop``: :meth:`request` (from a signal handler, a timer, a
    test) sets it; a second request sets :attr:`hurry`, which cuts the final
    drain short.
    """

    def __init__(self) -> None:
        super().__init__()
        self.hurry = threading.Event()
        self.signal: int | None = None

    @property
    def stop(self) -> threading.Event:
        """The event itself (earlier versions kept it as an attribute)."""
        return self

    def request(self, signum: int | None = None) -> None:
        if self.is_set():
            self.hurry.set()
            return
        self.signal = signum
        self.set()

    def install(self) -> Callable[[], None]:
        """Deprecated: the CLI handles signals (``lamport.realtime.__main__.on_signals``)."""
        warnings.warn(
            "Shutdown.install() is deprecated: the CLI handles signals "
            "(lamport.realtime.__main__.on_signals)",
            DeprecationWarning,
            stacklevel=2,
        )
        from lamport.realtime.__main__ import on_signals

        return on_signals(self)


@dataclass
class Timing:
    """What the benchmark measures: tick lateness and network latency, in wall seconds."""

    #: Per machine, actual minus scheduled time of each tick.
    lateness: list[list[float]]
    #: Monotonic time at which each message id was handed to the sockets.
    sent_at: dict[str, float] = field(default_factory=dict)
    #: (message id, monotonic time) at which a transport decoded a message.
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

    @property
    def kept_up(self) -> bool:
        return bool(self.metadata.get("kept_up", True))


def fds_needed(n_machines: int) -> int:
    """File descriptors a run of N machines in one process holds: sockets, logs, network.log."""
    return n_machines * fds_per_machine(n_machines) + n_machines + 1


def _open_fds() -> int:
    with contextlib.suppress(OSError):
        return len(os.listdir("/proc/self/fd"))
    return 16


def room_for(kind: int, need: int) -> int | None:
    """None if resource ``kind`` (``resource.RLIMIT_*``) allows ``need``, raising the soft
    limit to the hard one if that suffices; else the limit that stands in the way."""
    import resource

    soft, hard = resource.getrlimit(kind)
    if soft == resource.RLIM_INFINITY or need <= soft:
        return None
    if hard == resource.RLIM_INFINITY or need <= hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(kind, (hard, hard))
            return None
    return soft if hard == resource.RLIM_INFINITY else hard


def check_capacity(n_machines: int) -> None:
    """Fail at once if N machines cannot fit in this process's limits.

    Raise the file-descriptor soft limit to the hard one if that suffices.
    Raise NetworkError naming the need and the limit otherwise.
    """
    try:
        import resource
    except ImportError:  # not on this platform (Windows): nothing to check
        return
    need = fds_needed(n_machines) + _open_fds() + FD_SPARE
    limit = room_for(resource.RLIMIT_NOFILE, need)
    if limit is not None:
        raise NetworkError(
            f"{n_machines} machines need about {need} file descriptors "
            f"(N x (N + 3) sockets, logs and the process's own), the limit is {limit} "
            "(ulimit -n)"
        )
    threads = 2 * n_machines + threading.active_count() + THREAD_SPARE
    if hasattr(resource, "RLIMIT_NPROC"):
        limit = room_for(resource.RLIMIT_NPROC, threads)
        if limit is not None:
            raise NetworkError(
                f"{n_machines} machines need {threads} threads (two per machine), "
                f"the limit is {limit} (ulimit -u)"
            )
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/sys/kernel/threads-max", encoding="ascii") as handle:
            most = int(handle.read())
        if threads > most:
            raise NetworkError(
                f"{n_machines} machines need {threads} threads (two per machine), "
                f"the system allows {most}"
            )


def _lateness_summary(lateness: list[float], config: RunConfig, speed: float) -> dict[str, Any]:
    """``tick_lateness_ms`` (p50, p99, max) and ``kept_up`` for run.json."""
    if not lateness:
        return {"tick_lateness_ms": {}, "kept_up": True}
    figures = {k: round(v * 1000, 3) for k, v in percentiles(lateness).items()}
    shortest = 1 / (max(float(r) for r in config.rates) * speed)  # wall seconds
    return {
        "tick_lateness_ms": figures,
        "shortest_tick_interval_ms": round(shortest * 1000, 3),
        "kept_up": figures["p99"] / 1000 <= KEEP_UP_SHARE * shortest,
    }


class Cluster:
    """One real-time run: N nodes on threads, their sockets, and the logs they write.

    Build it, then call :meth:`run` once. ``ports`` and ``started`` let a caller
    (a test) reach the machines while they run. ``stop`` is the stop event
    (a :class:`Shutdown` also records the signal and can hurry the drain);
    ``drain_timeout`` bounds the final drain (wall seconds); ``hold`` lists
    machines that never come up (fault injection: the others then fail to
    connect, or a test plays that machine). Raise ConfigError if the base
    port does not leave room for every machine.
    """

    def __init__(
        self,
        config: RunConfig,
        options: RealtimeOptions | None = None,
        *,
        out: Path | None = None,
        live: Callable[[list[Progress]], None] | None = None,
        stop: threading.Event | None = None,
        drain_timeout: float = 2.0,
        hold: Collection[int] = (),
    ) -> None:
        options = options if options is not None else RealtimeOptions()
        n = config.n_machines
        if options.base_port is not None and not 1 <= options.base_port <= 65536 - n:
            raise ConfigError(
                f"base port must lie in 1..{65536 - n} for {n} machines, got {options.base_port}"
            )
        self.config = config
        self.options = options
        self.out = Path(out) if out is not None else None
        self.live = live
        self.stop = stop if stop is not None else threading.Event()
        self.hurry = self.stop.hurry if isinstance(self.stop, Shutdown) else None
        self.drain_timeout = drain_timeout
        self.hold = frozenset(hold)
        #: The run's secret (:mod:`.auth`), drawn afresh: only the cluster's nodes hold it.
        self.secret = new_secret()
        #: Set once every machine is connected and the common start instant is taken.
        self.started = threading.Event()
        self.ports: list[int] = []
        self._start = 0.0
        self._start_epoch = 0.0
        self._relays: list[threading.Event] = []
        self._stopped: float | None = None  # when the stop request was passed on
        self._ran = False

    def run(self) -> Result:
        """Connect the machines, run them for the configured duration, and return the run.

        Raise NetworkError if the run cannot fit the process's limits, a port is
        in use or a peer does not come up within ``connect_timeout``, and
        KeyboardInterrupt if stopped before the start.
        """
        if self._ran:
            raise RuntimeError("a Cluster runs once")
        self._ran = True
        config = self.config
        n = config.n_machines
        check_capacity(n)
        # Check the run directory before any socket exists (raise LogError).
        columns = log_columns(self.config.clock)
        writer = RunWriter(self.out, n, columns=columns) if self.out is not None else None
        with writer if writer is not None else contextlib.nullcontext():
            with network_log(writer.staging if writer is not None else None):
                nodes = self._nodes(writer)
                reports = self._run_nodes(nodes)
            if writer is not None:
                writer.keep_partial = True  # from the first tick on, a crash keeps the logs
            metadata = self._metadata(reports)
            lost = sorted((d for r in reports for d in r.lost), key=lambda d: (d.t, d.sender))
            if writer is not None:
                if config.faults:
                    writer.write_drops(lost)
                writer.finish(metadata)
        logs = [report.events for report in reports]
        timing = Timing([report.lateness for report in reports])
        for report in reports:
            timing.sent_at.update(report.sent_at)
            timing.arrived += report.arrived
        out = self.out if writer is not None else None
        return Result(config, logs, metadata["queued_at_end"], metadata, out, timing, dropped=lost)

    def _nodes(self, writer: RunWriter | None) -> list[Node]:
        """Build every node, binding its listener. Raise NetworkError if a port is in use."""
        config = self.config
        _, draws = machine_streams(config.seed, config.n_machines)
        nodes: list[Node] = []
        try:
            for i in range(config.n_machines):
                sink = _sink(writer, i) if writer is not None else None
                node = Node(i, config, self.options, draw=draws[i], sink=sink, secret=self.secret)
                nodes.append(node)
        except BaseException:
            for node in nodes:
                node.close()
            raise
        self.ports = [node.port for node in nodes]
        return nodes

    def _run_nodes(self, nodes: list[Node]) -> list[NodeReport]:
        """Start the nodes' threads, take the start instant, watch them, collect their reports."""
        addresses = [node.address for node in nodes]
        deadline = time.monotonic() + self.options.connect_timeout
        ready: queue.SimpleQueue[tuple[int, str | None]] = queue.SimpleQueue()
        reports: dict[int, NodeReport] = {}
        threads: list[threading.Thread] = []
        # Each node waits on a stop event of its own: a hundred threads timing out on one
        # shared Event would queue on its one lock at every common tick instant.
        stops = [threading.Event() for _ in nodes]
        self._relays = stops
        for node in nodes:
            if node.index in self.hold:
                continue

            def life(node: Node = node) -> None:
                reports[node.index] = node.run(
                    addresses,
                    deadline,
                    stops[node.index],
                    lambda machine, error: ready.put((machine, error)),
                    self.hurry,
                    self.drain_timeout,
                )

            thread = threading.Thread(target=life, name=f"lamport-tick-{node.index}")
            thread.start()
            threads.append(thread)
        try:
            self._barrier(nodes, ready, deadline)
            self._watch(nodes, threads)
        finally:
            if self.stop.is_set():
                self._relay_stop()
            for node in nodes:
                node.cancel()
            for thread in threads:
                thread.join()
            for node in nodes:
                if node.index in self.hold:
                    node.close()
        return [reports.get(i, NodeReport(i, dropped=[0] * len(nodes))) for i in range(len(nodes))]

    def _barrier(
        self, nodes: list[Node], ready: queue.SimpleQueue[tuple[int, str | None]], deadline: float
    ) -> None:
        """Wait until every running node is connected, then start them all at one instant."""
        waiting = {node.index for node in nodes} - self.hold
        while waiting:
            if self.stop.is_set():
                self._relay_stop()
                raise KeyboardInterrupt
            try:
                machine, error = ready.get(timeout=0.05)
            except queue.Empty:
                if time.monotonic() > deadline + 2.0:  # the nodes say why before this
                    listed = ", ".join(map(str, sorted(waiting)))
                    raise NetworkError(
                        f"machine {listed} did not come up within "
                        f"{self.options.connect_timeout:g} s"
                    ) from None
                continue
            if error is not None:
                if self.stop.is_set():
                    raise KeyboardInterrupt
                raise NetworkError(error)
            waiting.discard(machine)
        self._start = time.monotonic()
        self._start_epoch = time.time()
        self.started.set()
        for node in nodes:
            node.begin(self._start)

    def _relay_stop(self) -> None:
        if self._stopped is None:
            self._stopped = time.monotonic()
        for event in self._relays:
            event.set()

    def _watch(self, nodes: list[Node], threads: list[threading.Thread]) -> None:
        """Wait for the node threads, feeding the live display; pass a stop request on at once."""
        relayed = False
        while alive := [t for t in threads if t.is_alive()]:
            if relayed:
                alive[0].join(timeout=LIVE_PERIOD)
            elif self.stop.wait(LIVE_PERIOD):
                self._relay_stop()
                relayed = True
            if self.live is not None:
                self.live([node.progress() for node in nodes])
        if self.live is not None:
            self.live([node.progress() for node in nodes])

    def _stopped_at(self, stops: list[float]) -> float:
        """Model time of the stop request: when the cluster passed it on to the nodes.

        Not when the last node saw it: that one may have waited its turn behind the
        others' drains, and the machines' tick counts answer to the request's time. A
        stop before the start instant (during its lead) is at 0: no machine ticked.
        """
        if self._stopped is None:
            return max(0.0, *stops)
        return max(0.0, (self._stopped - self._start) * self.options.speed)

    def _metadata(self, reports: list[NodeReport]) -> dict[str, Any]:
        n = self.config.n_machines
        options = self.options
        dropped = [sum(r.dropped[j] for r in reports if r.dropped) for j in range(n)]
        lost = [d for r in reports for d in r.lost]
        for d in lost:  # the fault plan's losses count for their recipients too
            dropped[d.recipient] += 1
        stops = [r.stopped_at for r in reports if r.stopped_at is not None]
        interrupted = self.stop.is_set() and bool(stops)
        signum = self.stop.signal if isinstance(self.stop, Shutdown) else None
        lateness = [x for r in reports for x in r.lateness]
        metadata: dict[str, Any] = {"backend": "realtime", **self.config.metadata()}
        metadata.update(
            {
                "options": {
                    "speed": options.speed,
                    "base_port": options.base_port,
                    "connect_timeout": options.connect_timeout,
                    "latency": options.latency,
                    "latency_dist": options.latency_dist,
                    "latency_spread": options.latency_spread,
                },
                "speed": options.speed,
                # the extra latency per message, as the DES records its latency
                "latency": options.latency,
                "latency_dist": options.latency_dist,
                "latency_spread": options.latency_spread,
                "start_epoch": self._start_epoch,
                "version": __version__,
                "queued_at_end": [r.queued for r in reports],
                "interrupted": interrupted,
                "stop_signal": signal.Signals(signum).name if interrupted and signum else None,
                "stopped_at": round(self._stopped_at(stops), 6) if interrupted else None,
                "drained": all(r.drained for i, r in enumerate(reports) if i not in self.hold),
                "ports": self.ports,
                **_lateness_summary(lateness, self.config, options.speed),
            }
        )
        if any(dropped) or self.config.faults:
            metadata["dropped"] = dropped
        if self.config.faults:
            metadata["dropped_by_reason"] = {
                reason: sum(1 for d in lost if d.reason == reason)
                for reason in ("crash", "partition", "loss")
            }
        return metadata


@contextlib.contextmanager
def network_log(folder: Path | None) -> Iterator[None]:
    """Copy the network's warnings to ``network.log`` in ``folder`` (a run directory being
    written) while the block runs; nothing without a folder."""
    if folder is None:
        yield
        return
    handler = logging.FileHandler(folder / "network.log", delay=True)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.addHandler(handler)
    try:
        yield
    finally:
        log.removeHandler(handler)
        handler.close()


def _sink(writer: RunWriter, machine: int) -> Callable[[Event], None]:
    """Write one machine's events to its log, flushed at every tick."""
    write = writer.write
    flush = writer.flush

    def sink(event: Event) -> None:
        write(event)
        flush(machine)

    return sink


def run_backend(
    config: RunConfig,
    options: RealtimeOptions | None = None,
    out: Path | None = None,
    live: Callable[[list[Progress]], None] | None = None,
    stop: threading.Event | None = None,
) -> Result:
    """Run one configuration on threads and TCP sockets on 127.0.0.1, on the wall clock.

    The backend contract's entry (:mod:`lamport.backend`). ``out``, if given,
    is the run directory, written as events happen. ``live`` is called about
    four times a second, from the calling thread, with each machine's
    :class:`Progress`. Setting ``stop`` ends the run early with complete logs
    (a :class:`Shutdown` also records the signal and hurries the drain on a
    second request).

    Raise ConfigError on an invalid option, NetworkError if the run does not
    fit the process's limits, a port is in use or the machines cannot all
    connect within ``options.connect_timeout`` seconds. With
    ``options.processes`` each machine is an OS process (:mod:`.launcher`).
    """
    if options is not None and options.processes:
        from lamport.realtime.launcher import run_processes

        return run_processes(config, options, out=out, live=live, stop=stop)
    return Cluster(config, options, out=out, live=live, stop=stop).run()


def run(
    config: RunConfig,
    speed: float = 1.0,
    out: Path | None = None,
    base_port: int | None = None,
    live: Callable[[list[Progress]], None] | None = None,
    connect_timeout: float = 5.0,
    shutdown: threading.Event | None = None,
    stop: threading.Event | None = None,
) -> Result:
    """:func:`run_backend` with the options as keywords (``speed`` multiplies every rate:
    a 60 s run at speed 20 takes 3 s; the logs' ``t`` stays in model seconds).

    ``shutdown`` is the older name of ``stop``. Raise as :func:`run_backend`.
    """
    options = RealtimeOptions(speed=speed, base_port=base_port, connect_timeout=connect_timeout)
    return run_backend(config, options, out=out, live=live, stop=stop or shutdown)
