"""Will a run fit this process: file descriptors and threads, checked before any socket exists.

A full mesh of N machines in one process holds about N (N + 3) sockets
(:func:`~.transport.fds_per_machine`), plus a log file per machine; it runs
two threads per machine (its tick thread and its I/O thread). The soft
descriptor limit is raised to the hard one if that suffices.
"""

from __future__ import annotations

import contextlib
import os
import threading

from lamport.errors import NetworkError
from lamport.realtime.transport import fds_per_machine

__all__ = ["check_capacity", "fds_needed", "room_for"]

#: File descriptors kept free for the rest of the process (stdio, imports, stray callers).
FD_SPARE = 64
#: Threads a run uses beside its nodes' (the caller's, the display's).
THREAD_SPARE = 10


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
