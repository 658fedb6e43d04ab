"""What a real-time run leaves, however its nodes ran: the Result, ``run.json``, ``network.log``.

Threads (:class:`~.cluster.Cluster`), processes (:class:`~.launcher.Launcher`)
and nodes started by hand (:func:`~.launcher.collect`) each *have* a
:class:`RunRecord`: the model and options, the stop event, the ports, the
start instant and when a stop was passed on. From it and the nodes'
:class:`~.node.NodeReport` it makes ``run.json``'s metadata, once for every
way of running the nodes: the model, the options, what was left queued,
whether the run was interrupted, and the tick lateness with ``kept_up``
(False when the ticks ran, at the 99th percentile, later than a tenth of the
shortest tick interval).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamport.config import RunConfig
from lamport.errors import ConfigError
from lamport.plan import run_metadata
from lamport.realtime.node import NodeReport
from lamport.realtime.options import RealtimeOptions
from lamport.realtime.shutdown import Shutdown
from lamport.result import RunResult
from lamport.stats import percentiles

__all__ = ["LIVE_PERIOD", "Result", "RunRecord", "Timing", "network_log"]

log = logging.getLogger("lamport.realtime")

#: How often the live callback is called, in seconds.
LIVE_PERIOD = 0.25
#: Tick lateness (p99) beyond this share of the shortest tick interval means "could not keep up".
KEEP_UP_SHARE = 0.1


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


class RunRecord:
    """One run as its metadata sees it: the model, the options, the stop and the start.

    ``hold`` lists machines that never come up (their reports count as drained).
    Raise ConfigError if the base port does not leave room for every machine.
    """

    def __init__(
        self,
        config: RunConfig,
        options: RealtimeOptions,
        stop: threading.Event,
        hold: Collection[int] = (),
    ) -> None:
        n = config.n_machines
        if options.base_port is not None and not 1 <= options.base_port <= 65536 - n:
            raise ConfigError(
                f"base port must lie in 1..{65536 - n} for {n} machines, got {options.base_port}"
            )
        self.config = config
        self.options = options
        self.stop = stop
        self.hold = frozenset(hold)
        #: Each machine's listening port, once bound.
        self.ports: list[int] = []
        #: The start instant: monotonic (this host's) and epoch.
        self.start = 0.0
        self.start_epoch = 0.0
        #: When the stop request was passed on to the nodes (monotonic), or None.
        self.stopped: float | None = None

    def stopped_at(self, stops: Sequence[float]) -> float:
        """Model time of the stop request: when it was passed on to the nodes.

        Not when the last node saw it: that one may have waited its turn behind the
        others' drains, and the machines' tick counts answer to the request's time. A
        stop before the start instant (during its lead) is at 0: no machine ticked.
        """
        if self.stopped is None:
            return max(0.0, *stops)
        return max(0.0, (self.stopped - self.start) * self.options.speed)

    def metadata(self, reports: Sequence[NodeReport]) -> dict[str, Any]:
        """``run.json`` of a run whose nodes left these reports."""
        n = self.config.n_machines
        options = self.options
        # messages a node could not send, by recipient; the fault plan's losses are added
        unsent = [sum(r.dropped[j] for r in reports if r.dropped) for j in range(n)]
        lost = [d for r in reports for d in r.lost]
        stops = [r.stopped_at for r in reports if r.stopped_at is not None]
        # a stop passed on to the nodes is the run's even if no node lived to say where it
        # stopped (each killed at the stop's time limit)
        interrupted = self.stop.is_set() and (bool(stops) or self.stopped is not None)
        signum = self.stop.signal if isinstance(self.stop, Shutdown) else None
        lateness = [x for r in reports for x in r.lateness]
        return run_metadata(
            "realtime",
            self.config,
            {
                "speed": options.speed,
                "base_port": options.base_port,
                "connect_timeout": options.connect_timeout,
                "latency": options.latency,
                "latency_dist": options.latency_dist,
                "latency_spread": options.latency_spread,
            },
            start_epoch=self.start_epoch,
            queued=[r.queued for r in reports],
            lost=lost,
            dropped=unsent,
            top={"speed": options.speed},
            more={
                "interrupted": interrupted,
                "stop_signal": signal.Signals(signum).name if interrupted and signum else None,
                "stopped_at": round(self.stopped_at(stops), 6) if interrupted else None,
                "drained": all(r.drained for i, r in enumerate(reports) if i not in self.hold),
                "ports": self.ports,
                **_lateness_summary(lateness, self.config, options.speed),
            },
        )

    def processes_metadata(
        self,
        reports: Sequence[NodeReport],
        offsets: dict[int, float],
        dead: Sequence[dict[str, Any]],
        kills: Sequence[dict[str, Any]] = (),
        pauses: Sequence[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """``run.json`` of a run whose nodes were processes: :meth:`metadata`, and what only
        processes have (``mode``, start skew from ``offsets``, ``dead``, ``real_crashes``,
        ``real_pauses`` when the plan pauses a machine)."""
        metadata = self.metadata(reports)
        metadata["options"]["processes"] = True
        metadata["mode"] = "processes"
        if offsets:
            values = [offsets[i] * 1000 for i in sorted(offsets)]
            metadata["start_skew_ms"] = round(max(values) - min(values), 3)
            metadata["start_offsets_ms"] = [round(v, 3) for v in values]
        metadata["degraded"] = bool(dead)
        metadata["dead"] = sorted(dead, key=lambda d: d["machine"])
        if pauses is not None:
            metadata["real_pauses"] = sorted(pauses, key=lambda p: (p["machine"], p["stopped_at"]))
        if self.options.real_crash:
            metadata["real_crash"] = metadata["options"]["real_crash"] = True
            metadata["real_crashes"] = list(kills)
        return metadata


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


class NetworkLog(logging.FileHandler):
    """``network.log``: the network's warnings, written as they come. A write that fails
    (a full disk) prints no traceback: the first such error is kept in ``error`` and
    nothing more is written; whoever publishes the run refuses it then."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, delay=True)
        self.error: OSError | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.error is None:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError) and self.error is None:
            self.error = exc
        elif not isinstance(exc, OSError):
            super().handleError(record)


@contextlib.contextmanager
def network_log(folder: Path | None) -> Iterator[NetworkLog | None]:
    """Copy the network's warnings to ``network.log`` in ``folder`` (a run directory being
    written) while the block runs, and give its handler (its ``error``, if a write
    failed); nothing without a folder."""
    if folder is None:
        yield None
        return
    handler = NetworkLog(folder / "network.log")
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.addHandler(handler)
    try:
        yield handler
    finally:
        log.removeHandler(handler)
        handler.close()
