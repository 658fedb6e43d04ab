"""The local process pool that sweeps and grids share.

Workers are forked, so they start at once with everything the parent has
imported; they ignore Ctrl-C (the parent stops them by terminating the pool)
and die quietly on SIGTERM. A pool terminated as soon as it was made sends
SIGTERM to workers that may not have set their handlers yet: a worker forked
with the parent's Python handler would swallow it and then wait forever on the
task queue the terminating parent has locked, and the parent forever on it.
So the parent blocks SIGINT and SIGTERM while it forks, and a worker unblocks
them only once its own handlers are set: a signal sent in between waits, then
kills it. :func:`windowed` hands them tasks from an iterator
a few at a time, so an iterator of millions of tasks is never drained into
memory (``Pool.imap`` would drain it at once), and keeps every worker busy while
a slow task holds back the results after it.
"""

from __future__ import annotations

import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

#: The signals a worker's handlers answer, blocked from the fork until they are set.
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def worker_signals() -> None:
    """A pool worker leaves Ctrl-C to the parent and dies quietly when it terminates the pool."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def fork_pool(jobs: int) -> Any:
    """A forked ``multiprocessing`` pool of ``jobs`` workers that leave signals to the parent."""
    import multiprocessing

    held = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        return multiprocessing.get_context("fork").Pool(jobs, initializer=worker_signals)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def windowed(
    pool: Any, func: Callable[[Any], Any], tasks: Iterable[Any], window: int, ahead: int = 4
) -> Iterator[Any]:
    """``pool.imap(func, tasks)`` that keeps ``window`` tasks running and takes a task
    from ``tasks`` only when fewer are (``imap`` drains its iterable at once); results
    in order.

    A task that finishes before the ones submitted earlier is held, not waited behind:
    a worker that the machine's other load has descheduled must not leave the others
    idle once the window is done (head-of-line blocking). At most ``ahead`` times
    ``window`` results are held at once, so memory stays bounded."""
    pending: deque[Any] = deque()
    finished = threading.Event()

    def wake(_: Any) -> None:
        finished.set()

    for task in tasks:
        pending.append(pool.apply_async(func, (task,), callback=wake, error_callback=wake))
        while True:
            while pending and pending[0].ready():
                yield pending.popleft().get()
            running = sum(1 for result in pending if not result.ready())
            if running < window and len(pending) < window * ahead:
                break
            # A result's callback runs just before it reads as ready: the timeout
            # covers a wake-up that came in between.
            finished.wait(0.05)
            finished.clear()
    while pending:
        yield pending.popleft().get()
