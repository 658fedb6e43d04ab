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

Parts
    A cluster *has* what it needs, and so does the launcher of processes
    (:mod:`.launcher`), which is no cluster: a :class:`~.record.RunRecord`
    (the ports, the start instant, when a stop was passed on, and the
    ``run.json`` made of them), the capacity check (:mod:`.capacity`) and its
    nodes.

Publish
    Each event is written as it happens by the shared :class:`lamport.logs.RunWriter`
    (one file per machine, flushed every tick); ``run.json`` gets the model, the
    options, what was left queued, whether the run was interrupted, and the tick
    lateness with ``kept_up``: False when the ticks ran (at the 99th
    percentile) later than a tenth of the shortest tick interval.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path

from lamport.config import RunConfig
from lamport.core import Event, machine_streams
from lamport.errors import NetworkError
from lamport.logs import RunWriter
from lamport.realtime.auth import new_secret
from lamport.realtime.capacity import check_capacity, fds_needed, room_for
from lamport.realtime.node import Node, NodeReport, Progress
from lamport.realtime.options import RealtimeOptions
from lamport.realtime.record import LIVE_PERIOD, Result, RunRecord, Timing, network_log
from lamport.realtime.shutdown import Shutdown
from lamport.schema import log_columns

__all__ = [
    "Cluster",
    "Progress",
    "Result",
    "Shutdown",
    "Timing",
    "check_capacity",
    "fds_needed",
    "network_log",
    "room_for",
    "run",
    "run_backend",
]


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
        self.config = config
        self.options = options
        self.out = Path(out) if out is not None else None
        self.live = live
        self.stop = stop if stop is not None else threading.Event()
        self.hurry = self.stop.hurry if isinstance(self.stop, Shutdown) else None
        self.drain_timeout = drain_timeout
        self.hold = frozenset(hold)
        #: The ports, the start, the stop, and the run.json made of them.
        self.record = RunRecord(config, options, self.stop, self.hold)
        #: The run's secret (:mod:`.auth`), drawn afresh: only the cluster's nodes hold it.
        self.secret = new_secret()
        #: Set once every machine is connected and the common start instant is taken.
        self.started = threading.Event()
        self._relays: list[threading.Event] = []
        self._writer: RunWriter | None = None
        self._ran = False

    @property
    def ports(self) -> list[int]:
        """Each machine's listening port, once bound."""
        return self.record.ports

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
        self._writer = writer
        with writer if writer is not None else contextlib.nullcontext():
            with network_log(writer.staging if writer is not None else None):
                nodes = self._nodes(writer)
                reports = self._run_nodes(nodes)
            if writer is not None:
                writer.keep_partial = True  # from the first tick on, a crash keeps the logs
            metadata = self.record.metadata(reports)
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
        self.record.ports = [node.port for node in nodes]
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
        record = self.record
        record.start = time.monotonic()
        record.start_epoch = time.time()
        self.started.set()
        for node in nodes:
            node.begin(record.start)

    def _relay_stop(self) -> None:
        if self.record.stopped is None:
            self.record.stopped = time.monotonic()
        for event in self._relays:
            event.set()

    def _watch(self, nodes: list[Node], threads: list[threading.Thread]) -> None:
        """Wait for the node threads, feeding the live display; pass a stop request on at once."""
        relayed = False
        writer = self._writer
        while alive := [t for t in threads if t.is_alive()]:
            if relayed:
                alive[0].join(timeout=LIVE_PERIOD)
            elif self.stop.wait(LIVE_PERIOD) or (writer is not None and writer.error):
                # A stop, or a write that failed (a full disk): the run cannot be published,
                # so it ends now rather than at its end; finish() then says why.
                self._relay_stop()
                relayed = True
            if self.live is not None:
                self.live([node.progress() for node in nodes])
        if self.live is not None:
            self.live([node.progress() for node in nodes])


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
