"""The real-time backend: the protocol core on threads, TCP sockets and the wall clock.

``run(config, speed=...)`` runs one configuration and returns a :class:`Result`
with the same log records as the DES; ``python -m lamport.realtime --help`` is
the CLI. See :mod:`lamport.realtime.runner` for the design and
:mod:`lamport.realtime.framing` for the wire format.
"""

from lamport.realtime.runner import Cluster, Progress, Result, Shutdown, Timing, run

__all__ = ["Cluster", "Progress", "Result", "Shutdown", "Timing", "run"]
