"""Real pauses under ``--processes``: a paused machine's process is stopped (SIGSTOP) for its
window and continued (SIGCONT) at its end.

The plan (:mod:`lamport.plan`) says when machine m is paused (``pause M at T for
D``), and the node plays it as every backend does: at its first tick instant in
the window it writes the PAUSE row (``t`` the window's start), ticks no more,
and at its first tick instant after the window writes the RESUME row and ticks
on, with its clock and queue as they were. Under a launcher the node then says
``paused`` on its stdout, right after the PAUSE row is on disk; the launcher's
:class:`Freezer` stops the process at once (unless the window is already over)
and continues it at the window's end instant on the wall clock (the run's
start plus the window's end over the speed), or sooner: at once on a stop
request, and at the run's end at the latest, so the node can drain.

So the rows are those of the DES and the threads, and what happens between
them is real: a stopped process runs no thread, reads no socket and writes no
row; what its peers send it waits in its sockets' kernel buffers, as it would
for a server in a long garbage-collection pause or after a Ctrl-Z, and is
taken once it runs again. ``/proc/PID/stat`` shows the process in state ``T``
for the window. ``run.json`` lists each pause played (``real_pauses``: the
machine, its process, and when it was stopped and continued, in model seconds).

If the launcher dies while a node is stopped, the fork server continues every
node it forked as it ends (:func:`lamport.realtime.forkserver.serve`), so the
node sees its stdin end and stops, as any node does.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from lamport.config import RunConfig
from lamport.core import PAUSE
from lamport.plan import Plan

__all__ = ["Freezer", "pauses_of"]

#: Wall seconds before a window's end under which a pause is not played any more: the
#: process would be continued before the stop landed.
MARGIN = 0.005


class _Signalled(Protocol):
    pid: int

    def send_signal(self, signum: int) -> None: ...


def pauses_of(config: RunConfig, machine: int) -> list[tuple[float, float]]:
    """The machine's pause windows, (start, end) in model seconds, in time order."""
    if not config.faults:
        return []
    return [(span.at, span.until) for span in Plan(config).windows(machine, PAUSE)]


class Freezer:
    """Stops and continues node processes for their pause windows (see the module's doc).

    ``process_of(i)`` gives machine i's current process; ``start`` is the run's start
    instant (``time.monotonic``), ``speed`` the run's speed. :meth:`paused` is called
    when a node says it wrote its PAUSE row; :meth:`thaw` continues every stopped
    process and plays no pause after it; ``played`` lists the pauses played.
    """

    def __init__(
        self,
        config: RunConfig,
        speed: float,
        start: float,
        process_of: Callable[[int], _Signalled],
    ) -> None:
        self.speed = speed
        self.start = start
        self.process_of = process_of
        self.end = start + config.duration / speed  # the run's end: nobody stays stopped
        self.windows = {i: pauses_of(config, i) for i in range(config.n_machines)}
        #: Each pause played: machine, pid, model seconds stopped and continued.
        self.played: list[dict[str, Any]] = []
        self._stopped: dict[int, tuple[float, _Signalled, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._thawed = False
        self._thread = threading.Thread(target=self._loop, name="lamport-pauses", daemon=True)
        self._thread.start()

    def _model(self, instant: float) -> float:
        return round(max(0.0, (instant - self.start) * self.speed), 6)

    def paused(self, machine: int) -> None:
        """Machine ``machine`` wrote its PAUSE row: stop its process until the window's end."""
        now = time.monotonic()
        model = (now - self.start) * self.speed
        ends = [end for start, end in self.windows.get(machine, ()) if start <= model + 1e-9]
        ends = [end for end in ends if self.start + end / self.speed > now]
        if not ends:
            return
        wake = min(self.start + ends[0] / self.speed, self.end)
        with self._lock:
            if self._thawed or machine in self._stopped or wake - now < MARGIN:
                return
            proc = self.process_of(machine)
            proc.send_signal(signal.SIGSTOP)
            entry = {"machine": machine, "pid": proc.pid, "stopped_at": self._model(now)}
            self._stopped[machine] = (wake, proc, entry)
            self._changed.notify_all()

    def _cont(self, machine: int) -> None:
        """Continue machine's process (the lock is held)."""
        _, proc, entry = self._stopped.pop(machine)
        proc.send_signal(signal.SIGCONT)
        entry["continued_at"] = self._model(time.monotonic())
        self.played.append(entry)

    def _loop(self) -> None:
        with self._lock:
            while not self._thawed:
                now = time.monotonic()
                for machine in [m for m, (wake, _, _) in self._stopped.items() if wake <= now]:
                    self._cont(machine)
                wakes = [wake for wake, _, _ in self._stopped.values()]
                self._changed.wait(min(wakes) - now if wakes else None)

    def thaw(self) -> None:
        """Continue every stopped process now; play no pause after this (a stop request,
        the run's end)."""
        with self._lock:
            self._thawed = True
            for machine in list(self._stopped):
                self._cont(machine)
            self._changed.notify_all()
        self._thread.join(5)
