"""The DES backend's options: what the model does not fix but the simulation needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from lamport.config import DEFAULT_LATENCY, check_latency
from lamport.validate import number


@dataclass(frozen=True)
class DesOptions:
    """Options of a DES run. Raise ConfigError if a value is invalid.

    ``latency`` is the mean one-way network delay in model seconds (default
    1 ms); ``latency_dist`` its distribution (``constant``, ``uniform``,
    ``exponential`` or ``lognormal``, see :func:`lamport.config.latency_sampler`)
    and ``latency_spread`` its standard deviation in seconds (uniform and
    lognormal only; None: half the mean). ``start_epoch`` is the Unix time of
    model time 0, which only the log's ``wall`` column shows (default 0, so logs
    stay byte-identical across runs).
    """

    latency: float = DEFAULT_LATENCY
    start_epoch: float = 0.0
    latency_dist: str = "constant"
    latency_spread: float | None = None

    #: Options that change the logs, and their suffix in default run directory names.
    LABELS: ClassVar[dict[str, str]] = {
        "latency": "lat",
        "start_epoch": "epoch",
        "latency_dist": "",
        "latency_spread": "spread",
    }

    def __post_init__(self) -> None:
        number(self.latency, "latency", low=0.0)
        number(self.start_epoch, "start_epoch")
        check_latency(self.latency_dist, self.latency, self.latency_spread)
