"""The real-time backend's options: how the model is played on the wall clock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from lamport.config import check_latency
from lamport.errors import ConfigError
from lamport.validate import integer, number


@dataclass(frozen=True)
class RealtimeOptions:
    """Options of a real-time run. Raise ConfigError if a value is invalid.

    ``speed`` multiplies every rate (a 60 s run at speed 20 takes 3 s; the
    logs' ``t`` stays in model seconds); ``base_port`` fixes machine i's port
    to ``base_port + i`` (None: ports picked free by the OS);
    ``connect_timeout`` is the wall seconds all machines get to connect;
    ``processes`` runs each machine as an OS process of its own
    (:mod:`lamport.realtime.launcher`) instead of threads of this one;
    ``real_crash`` (only with ``processes``) makes each crash of the fault plan
    a real SIGKILL of the machine's process and its restart a new process
    (docs/faults.md).
    ``latency`` (model seconds, default 0), ``latency_dist`` and
    ``latency_spread`` add a delay of that distribution to every message, on
    top of the network's own (see :class:`lamport.des.options.DesOptions`).
    """

    speed: float = 1.0
    base_port: int | None = None
    connect_timeout: float = 5.0
    latency: float = 0.0
    latency_dist: str = "constant"
    latency_spread: float | None = None
    processes: bool = False
    real_crash: bool = False

    #: Options that change the logs, and their suffix in default run directory names.
    LABELS: ClassVar[dict[str, str]] = {
        "speed": "x",
        "latency": "lat",
        "latency_dist": "",
        "latency_spread": "spread",
    }
    #: Switches that make another run when on: named in run.json and default directory
    #: names (by this suffix) only then.
    FLAGS: ClassVar[dict[str, str]] = {"real_crash": "realcrash"}

    def __post_init__(self) -> None:
        number(self.speed, "speed", above=0.0)
        number(self.connect_timeout, "connect_timeout", above=0.0)
        if not isinstance(self.processes, bool):
            raise ConfigError(f"processes must be true or false, got {self.processes!r}")
        if not isinstance(self.real_crash, bool):
            raise ConfigError(f"real_crash must be true or false, got {self.real_crash!r}")
        if self.real_crash and not self.processes:
            raise ConfigError("--real-crash needs --processes (a thread cannot be killed)")
        if self.base_port is not None:
            integer(self.base_port, "base_port", low=1)
        check_latency(self.latency_dist, self.latency, self.latency_spread)
