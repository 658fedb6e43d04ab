"""Will a run fit: file descriptors, threads and memory, checked before any socket exists.

Threads (:func:`check_capacity`): a full mesh of N machines in one process
holds about N (N + 3) sockets (:func:`~.transport.fds_per_machine`), plus a
log file per machine; it runs two threads per machine (its tick thread and
its I/O thread). The soft descriptor limit is raised to the hard one if that
suffices.

Processes (:func:`check_processes`): each node process holds its N - 1
links, its listener, its stdio and its files (a limit per process, which the
nodes inherit from the launcher), the machine holds 2 N (N - 1) socket ends
in all (``fs.file-max``), about three threads a node (``threads-max``, ``ulimit
-u``), and the memory of N forked nodes: :data:`NODE_MB` unique each (measured:
8.6 MB at 10 processes, 9.3 MB at 200) and :data:`LINK_KB` per link end (its
Python state and the kernel's socket), against ``MemAvailable``.
"""

from __future__ import annotations

import contextlib
import os
import threading

from lamport.errors import NetworkError
from lamport.realtime.transport import fds_per_machine

__all__ = ["check_capacity", "check_processes", "fds_needed", "room_for", "set_up_seconds"]

#: File descriptors kept free for the rest of the process (stdio, imports, stray callers).
FD_SPARE = 64
#: Threads a run uses beside its nodes' (the caller's, the display's).
THREAD_SPARE = 10
#: Unique memory of one forked node process, MB (benchmarks/bench_processes.py: 8.6-9.3).
NODE_MB = 10.0
#: Memory per link end of a node, KB: its link's Python state and the kernel's socket.
LINK_KB = 24.0
#: Memory of the launcher and the fork server, MB.
LAUNCHER_MB = 120.0
#: Descriptors of one node process beside its links: listener, stdio, log, drops,
#: state, the I/O loop's wake-up pair and selector, the interpreter's own.
NODE_FD_SPARE = 24
#: Threads of one node process: its main thread, its tick loop, its I/O loop, its stdin.
NODE_THREADS = 4
#: Seconds of a core one authenticated link between two node processes takes to set up
#: (connect, accept, handshake, in both processes): 0.47-0.5 ms measured at 100 and 200
#: processes on 2 cores under a load average of 6.
LINK_SET_UP = 0.0005


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


def process_memory(n_machines: int) -> int:
    """Bytes N node processes take (an estimate: :data:`NODE_MB`, :data:`LINK_KB`)."""
    per_node = NODE_MB * 2**20 + (n_machines - 1) * LINK_KB * 2**10
    return round(n_machines * per_node + LAUNCHER_MB * 2**20)


def _read_number(path: str, field: int = 0) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError), open(path, encoding="ascii") as f:
        return int(f.read().split()[field])
    return None


def check_processes(n_machines: int, standby: int = 0) -> None:
    """Fail at once, with the estimate, if N node processes (and ``standby`` more, waiting
    for real crashes) cannot fit on this machine: descriptors per process and in all,
    threads, memory. Raise the launcher's descriptor soft limit (which its nodes inherit)
    to the hard one if that suffices. Raise NetworkError naming the need and the limit."""
    try:
        import resource
    except ImportError:  # not on this platform (Windows): nothing to check
        return
    n, processes = n_machines, n_machines + standby
    launcher, node = 4 * processes + FD_SPARE, n + NODE_FD_SPARE
    need = max(launcher, node)
    limit = room_for(resource.RLIMIT_NOFILE, need)
    if limit is not None:
        what = "the launcher's pipes, 4 a node" if launcher >= node else "a node's N - 1 links"
        raise NetworkError(
            f"{processes} node processes need about {need} file descriptors in one process "
            f"({what}), the limit is {limit} (ulimit -n)"
        )
    sockets = 2 * n * (n - 1) + processes * NODE_FD_SPARE
    most = _read_number("/proc/sys/fs/file-max")
    used = _read_number("/proc/sys/fs/file-nr") or 0
    if most is not None and sockets > most - used:
        raise NetworkError(
            f"{n} machines as processes need about {sockets} file descriptors in all "
            f"(2 N (N - 1) socket ends), the system has {max(most - used, 0)} free (fs.file-max)"
        )
    threads = NODE_THREADS * processes + THREAD_SPARE
    most = _read_number("/proc/sys/kernel/threads-max")
    if most is not None and threads > most:
        raise NetworkError(
            f"{processes} node processes need about {threads} threads, the system allows {most}"
        )
    if hasattr(resource, "RLIMIT_NPROC"):
        limit = room_for(resource.RLIMIT_NPROC, threads)
        if limit is not None:
            raise NetworkError(
                f"{processes} node processes need about {threads} threads, "
                f"the limit is {limit} (ulimit -u)"
            )
    from lamport.des.size import available_memory

    need = process_memory(n) + standby * round(NODE_MB * 2**20)
    free = available_memory()
    if free is not None and need > free:
        raise NetworkError(
            f"{n} machines as processes need about {need / 1e9:.1f} GB ({NODE_MB:g} MB a "
            f"node and {LINK_KB:g} KB a link end), {free / 1e9:.1f} GB is available"
        )


def set_up_seconds(n_machines: int, cores: int | None = None) -> float:
    """Wall seconds N node processes take to set up their N (N - 1) / 2 links on ``cores``
    cores (default: this machine's), an estimate (:data:`LINK_SET_UP`). A process run
    gives its nodes this on top of the connect timeout: the set-up grows with N², the
    timeout is the user's allowance for the network."""
    cores = max(1, cores if cores is not None else (os.cpu_count() or 1))
    return n_machines * (n_machines - 1) / 2 * LINK_SET_UP / cores
