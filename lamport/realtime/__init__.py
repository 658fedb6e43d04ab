"""The real-time backend: the protocol core on threads, TCP sockets and the wall clock.

``run(config, speed=...)`` (or the backend contract's ``run_backend(config,
options)``) runs one configuration and returns a :class:`Result` with the
same log records as the DES; ``python -m lamport.realtime --help`` is the CLI.
One module per role: :mod:`.link` (the link's protocol as a state machine,
no socket: handshake, framing, control frames, rejoins, the drain),
:mod:`.transport` (one machine's sockets, moving bytes to and from its
links), :mod:`.node` (one machine, its transport and its tick loop),
:mod:`.cluster` (start, watch, stop and publish a run on threads),
:mod:`.record` (the Result and ``run.json`` of any run), :mod:`.capacity`
and :mod:`.shutdown`; :mod:`.framing` is the wire format and :mod:`.auth`
the per-run secret and the handshake. With
``RealtimeOptions(processes=True)`` :mod:`.launcher` runs each machine as an
OS process of its own (:mod:`.process`, the ``node`` command), forked by
:mod:`.forkserver`, paused for real by :mod:`.pauses`, read through
:mod:`.pipes`, on this host; nodes started by hand span hosts and
:func:`collect` (:mod:`.assemble`) assembles their files. Each name is
imported from its module on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lamport.realtime.assemble import collect
    from lamport.realtime.cluster import (
        Cluster,
        Result,
        Shutdown,
        Timing,
        check_capacity,
        run,
        run_backend,
    )
    from lamport.realtime.launcher import Launcher
    from lamport.realtime.node import Node, Progress
    from lamport.realtime.options import RealtimeOptions

#: Each public name and the module it comes from, imported on first use: a node
#: process (``python -m lamport.realtime node``) loads what a node needs and no more.
_HOMES = {
    "Cluster": "cluster",
    "Result": "cluster",
    "Shutdown": "cluster",
    "Timing": "cluster",
    "check_capacity": "cluster",
    "run": "cluster",
    "run_backend": "cluster",
    "Launcher": "launcher",
    "collect": "assemble",
    "Node": "node",
    "Progress": "node",
    "RealtimeOptions": "options",
}

__all__ = [
    "Cluster",
    "Launcher",
    "Node",
    "Progress",
    "RealtimeOptions",
    "Result",
    "Shutdown",
    "Timing",
    "check_capacity",
    "collect",
    "run",
    "run_backend",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'lamport.realtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"lamport.realtime.{_HOMES[name]}"), name)
    globals()[name] = value
    return value
