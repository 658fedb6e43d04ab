"""The real-time backend: the protocol core on threads, TCP sockets and the wall clock.

``run(config, speed=...)`` (or the backend contract's ``run_backend(config,
options)``) runs one configuration and returns a :class:`Result` with the
same log records as the DES; ``python -m lamport.realtime --help`` is the CLI.
One module per role: :mod:`.transport` (one machine's sockets and framing),
:mod:`.node` (one machine, its transport and its tick loop), :mod:`.cluster`
(start, watch, stop and publish a run on threads); :mod:`.framing` is the
wire format and :mod:`.auth` the per-run secret and the handshake every link
runs. With ``RealtimeOptions(processes=True)`` :mod:`.launcher` runs each
machine as an OS process of its own (:mod:`.process`, the ``node`` command),
on this host; nodes started by hand span hosts.
"""

from lamport.realtime.cluster import (
    Cluster,
    Result,
    Shutdown,
    Timing,
    check_capacity,
    run,
    run_backend,
)
from lamport.realtime.node import Node, Progress
from lamport.realtime.options import RealtimeOptions

__all__ = [
    "Cluster",
    "Node",
    "Progress",
    "RealtimeOptions",
    "Result",
    "Shutdown",
    "Timing",
    "check_capacity",
    "run",
    "run_backend",
]
