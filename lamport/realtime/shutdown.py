"""Stopping a run: a stop event that remembers its signal, and the signal handlers a CLI installs.

The library never installs a signal handler by itself: a command does, with
:func:`on_signals` (``python -m lamport.realtime`` does), and passes the event
on as the run's ``stop``.
"""

from __future__ import annotations

import logging
import signal
import threading
import warnings
from collections.abc import Callable

__all__ = ["Shutdown", "on_signals"]


class Shutdown(threading.Event):
    """A stop event that remembers the signal that set it; a second request hurries the drain.

    Pass it as ``stop``: :meth:`request` (from a signal handler, a timer, a
    test) sets it; a second request sets :attr:`hurry`, which cuts the final
    drain short.
    """

    def __init__(self) -> None:
        super().__init__()
        self.hurry = threading.Event()
        self.signal: int | None = None

    @property
    def stop(self) -> threading.Event:
        """The event itself (earlier versions kept it as an attribute)."""
        return self

    def request(self, signum: int | None = None) -> None:
        if self.is_set():
            self.hurry.set()
            return
        self.signal = signum
        self.set()

    def install(self) -> Callable[[], None]:
        """Deprecated: the CLI handles signals (:func:`on_signals`)."""
        warnings.warn(
            "Shutdown.install() is deprecated: the CLI handles signals "
            "(lamport.realtime.shutdown.on_signals)",
            DeprecationWarning,
            stacklevel=2,
        )
        return on_signals(self)


def on_signals(shutdown: Shutdown) -> Callable[[], None]:
    """Route SIGINT and SIGTERM to ``shutdown.request``; return a function that restores them.

    Only the main thread may install signal handlers.
    """

    def handle(signum: int, _frame: object) -> None:
        # Links closing as the machines stop are expected: no warning for each.
        logging.getLogger("lamport.realtime").setLevel(logging.ERROR)
        shutdown.request(signum)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
