"""One thread reading every node process's stdout and stderr, line by line, onto a queue.

The launcher (:mod:`.launcher`) reads its nodes through it: each line comes
with the machine, the process's generation (0 for the machine's first
process, 1 for the one started after its first real crash, ...) and the
stream, and the end of a process's two pipes is one more item.
"""

from __future__ import annotations

import contextlib
import os
import queue
import selectors
import threading
from collections.abc import Sequence
from typing import IO, Any, Protocol

__all__ = ["Pipes"]


class _Piped(Protocol):
    """A process whose stdout and stderr are pipes (a Popen, a forked node)."""

    stdout: IO[bytes] | None
    stderr: IO[bytes] | None


class Pipes:
    """One thread reading every node's stdout and stderr, line by line, onto a queue.

    Lines are ``(machine, generation, kind, text)``: generation 0 is the machine's
    first process, 1 the one started after its first real crash, and so on. The
    thread runs until :meth:`join`, not until the last pipe closes: a process
    :meth:`add` brings in after every other one ended is still read.
    """

    def __init__(self, procs: Sequence[_Piped]) -> None:
        self.lines: queue.SimpleQueue[tuple[int, int, str, str]] = queue.SimpleQueue()
        self._selector = selectors.DefaultSelector()
        self._open: dict[tuple[int, int], int] = {}
        self._partial: dict[Any, bytes] = {}
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._added: list[tuple[int, int, _Piped]] = []
        self._lock = threading.Lock()
        self._closing = False
        for i, proc in enumerate(procs):
            self._register(i, 0, proc)
        self._thread = threading.Thread(target=self._loop, name="lamport-pipes")
        self._thread.start()

    def add(self, machine: int, generation: int, proc: _Piped) -> None:
        """Read a process started after the others (a restart after a real crash) too."""
        with self._lock:
            self._added.append((machine, generation, proc))
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"\0")

    def _register(self, i: int, generation: int, proc: _Piped) -> None:
        for kind, stream in (("out", proc.stdout), ("err", proc.stderr)):
            assert stream is not None
            os.set_blocking(stream.fileno(), False)
            self._selector.register(stream, selectors.EVENT_READ, (i, generation, kind))
            self._open[i, generation] = self._open.get((i, generation), 0) + 1

    def _loop(self) -> None:
        while not self._closing:
            with self._lock:
                added, self._added = self._added, []
            for i, generation, proc in added:
                self._register(i, generation, proc)
            for key, _ in self._selector.select(0.5):
                if key.data is None:
                    with contextlib.suppress(OSError):
                        os.read(self._wake_r, 4096)
                    continue
                i, generation, kind = key.data
                try:
                    data = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    self._selector.unregister(key.fileobj)
                    rest = self._partial.pop(key.fileobj, b"")
                    if rest:
                        self.lines.put((i, generation, kind, rest.decode("utf-8", "replace")))
                    self._open[i, generation] -= 1
                    if self._open[i, generation] == 0:
                        del self._open[i, generation]
                        self.lines.put((i, generation, "eof", ""))
                    continue
                buffer = self._partial.get(key.fileobj, b"") + data
                *whole, rest = buffer.split(b"\n")
                self._partial[key.fileobj] = rest
                for line in whole:
                    self.lines.put((i, generation, kind, line.decode("utf-8", "replace")))
        self._selector.close()

    def join(self) -> None:
        """Stop reading (what is still unread is left) and end the thread."""
        self._closing = True
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"\0")
        self._thread.join()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
