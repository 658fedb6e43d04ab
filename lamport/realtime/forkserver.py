"""A fork server for node processes: one interpreter that imported what a node needs, forked
once per machine, so a run's N processes share those pages instead of loading them N times.

A node process started afresh (``python -m lamport.realtime node``) pays the
interpreter, lamport's modules and numpy (the machines' draws are numpy
streams) in memory of its own: about 19 MB unique (USS) each. Forked from a
process that has already imported them, it shares them copy-on-write and owns
only what it writes: its machine, its sockets' buffers, its log's buffer
(``benchmarks/bench_processes.py`` measures it). The server holds no run: it
imports, freezes its objects out of the garbage collector's reach (so a
child's collections do not copy the shared pages) and waits.

The protocol, over a Unix socket pair the launcher makes (one end inherited
by the server):

* the launcher sends one request per process: a JSON line ``{"argv": [...],
  "listen": bool, "name": str}`` with three or four descriptors
  (``SCM_RIGHTS``): the process's stdin, stdout, stderr and, if ``listen``,
  its listening socket;
* the server forks; the child starts a session of its own, takes ``name``
  (``lamport:node3``: what ``ps`` and ``/proc/PID/comm`` show; its command
  line stays the server's), puts the three descriptors at 0, 1 and 2, appends
  ``--listen-fd=N`` for the socket, and runs the command's entry with
  ``argv`` (the ``node`` command's arguments), exiting with its status; the
  server answers ``pid <pid>``;
* a request may ``hold`` its process: it waits, forked, until a request
  ``{"release": true}`` lets every held process go at once (the server
  forks a whole run without its children taking the cores from it);
* the server reaps its children and says ``exit <pid> <status>`` (status as
  :attr:`subprocess.Popen.returncode` has it: ``-N`` for a signal);
* the end of the socket (the launcher is gone, or done) ends the server,
  which continues (SIGCONT) every child still there, in case one is stopped
  for a pause (:mod:`.pauses`); its children end when their stdin does, as
  any node.

:class:`ForkServer` is the launcher's side; :class:`Forked` stands for one
child with the part of :class:`subprocess.Popen`'s interface the launcher
uses. :func:`serve` is the server's loop, which ``python -m lamport.realtime
forkserver`` runs after its imports.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO

from lamport.errors import NetworkError

__all__ = ["ForkServer", "Forked", "serve"]

#: Seconds the server may take to import what a node needs and say it is ready.
START_TIMEOUT = 30.0
#: How often the server looks for children that ended, in seconds.
REAP_PERIOD = 0.02
#: Environment for the server: numpy's BLAS starts no thread pool (a node does no linear
#: algebra, and threads do not survive a fork).
SINGLE_THREADED = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class Forked:
    """One process the fork server started: ``pid``, ``stdin``, ``stdout``, ``stderr``,
    :meth:`poll`, :meth:`wait` and :meth:`kill`, as :class:`subprocess.Popen` has them."""

    def __init__(self, pid: int, stdin: IO[bytes], stdout: IO[bytes], stderr: IO[bytes]) -> None:
        self.pid = pid
        self.stdin: IO[bytes] | None = stdin
        self.stdout: IO[bytes] | None = stdout
        self.stderr: IO[bytes] | None = stderr
        self.returncode: int | None = None
        self._ended = threading.Event()

    def _exited(self, status: int) -> None:
        self.returncode = status
        self._ended.set()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired(f"process {self.pid}", timeout or 0.0)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)


class ForkServer:
    """The launcher's side of a fork server: start it, have it fork nodes, end it.

    ``command`` is the server's command line (``python -m lamport.realtime
    forkserver``), to which ``--fd=N`` is added; ``env`` its environment. Raise
    NetworkError if the server does not come up.
    """

    def __init__(self, command: Sequence[str], env: Mapping[str, str]) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock = ours
        self._lock = threading.Lock()
        self._children: dict[int, Forked] = {}
        self._early: dict[int, int] = {}  # exits heard before their pid's answer was read
        self._pids: list[int] = []  # answers to requests, in order
        self._answered = threading.Condition(self._lock)
        self._closed = False
        try:
            self.process = subprocess.Popen(
                [*command, f"--fd={theirs.fileno()}"],
                stdin=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
                env={**env, **SINGLE_THREADED},
            )
        except OSError as exc:
            ours.close()
            raise NetworkError(f"cannot start the fork server: {exc.strerror or exc}") from None
        finally:
            theirs.close()
        self._buffer = b""
        ready = self._read_line(START_TIMEOUT)
        if ready != "ready":
            self.close()
            raise NetworkError(
                "the fork server did not come up"
                + (f" (exit status {self.process.poll()})" if self.process.poll() else "")
            )
        self._reader = threading.Thread(target=self._read, name="lamport-forkserver", daemon=True)
        self._reader.start()

    def _read_line(self, timeout: float) -> str | None:
        """One line from the server before the reader thread runs (its 'ready')."""
        self._sock.settimeout(timeout)
        try:
            while b"\n" not in self._buffer:
                data = self._sock.recv(4096)
                if not data:
                    return None
                self._buffer += data
        except OSError:
            return None
        finally:
            self._sock.settimeout(None)
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode("ascii", "replace")

    def _read(self) -> None:
        buffer = self._buffer
        while True:
            while b"\n" in buffer:
                line, _, buffer = buffer.partition(b"\n")
                self._on_line(line.decode("ascii", "replace").split())
            try:
                data = self._sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            buffer += data
        with self._lock:  # the server is gone, and any news of its children with it
            self._closed = True
            self._answered.notify_all()
            for child in self._children.values():
                if child.returncode is None:
                    child.send_signal(signal.SIGKILL)
                    child._exited(-signal.SIGKILL)

    def _on_line(self, words: list[str]) -> None:
        with self._lock:
            if len(words) == 2 and words[0] == "pid":
                self._pids.append(int(words[1]))
                self._answered.notify_all()
            elif len(words) == 3 and words[0] == "exit":
                pid, status = int(words[1]), int(words[2])
                child = self._children.get(pid)
                if child is None:
                    self._early[pid] = status
                else:
                    child._exited(status)

    def spawn(
        self,
        argv: Sequence[str],
        listener: socket.socket | None = None,
        name: str = "",
        hold: bool = False,
    ) -> Forked:
        """Fork a process that runs the command with ``argv``, its stdio pipes to us and
        ``listener`` inherited, called ``name`` (15 bytes at most). With ``hold``, the
        process waits until :meth:`release`. Raise OSError if the server is gone."""
        pipes = [os.pipe() for _ in range(3)]
        theirs = [pipes[0][0], pipes[1][1], pipes[2][1]]
        ours = [pipes[0][1], pipes[1][0], pipes[2][0]]
        fds = [*theirs, *([listener.fileno()] if listener is not None else [])]
        asking = {"argv": list(argv), "listen": listener is not None, "name": name, "hold": hold}
        request = json.dumps(asking) + "\n"
        try:
            with self._lock:
                if self._closed:
                    raise OSError("the fork server is gone")
                socket.send_fds(self._sock, [request.encode()], fds)
                asked = len(self._pids)  # answers come in the order of the requests
                deadline = time.monotonic() + START_TIMEOUT
                while len(self._pids) <= asked and not self._closed:
                    if not self._answered.wait(max(0.0, deadline - time.monotonic())):
                        break
                if len(self._pids) <= asked:
                    raise OSError("the fork server did not answer")
                pid = self._pids[asked]
                modes = ("wb", "rb", "rb")
                streams = [open(fd, m) for fd, m in zip(ours, modes, strict=True)]  # noqa: SIM115
                child = Forked(pid, *streams)
                ours = []
                self._children[pid] = child
                if pid in self._early:
                    child._exited(self._early.pop(pid))
            return child
        finally:
            for fd in [*theirs, *ours]:
                os.close(fd)

    def release(self) -> None:
        """Let every process spawned with ``hold`` go on (they start together, once the
        server forked them all: none competes with the server for a core meanwhile)."""
        with self._lock, contextlib.suppress(OSError):
            self._sock.sendall(b'{"release": true}\n')

    def close(self) -> None:
        """End the server (its children run on to their own end)."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def serve(fd: int, entry: Callable[[list[str]], int]) -> int:
    """The server's loop on the socket ``fd``: fork a child per request that runs
    ``entry(argv)``; report each child's pid and exit status. Return 0 at the socket's end.

    Call it after importing what the children need: the objects built so far are frozen
    (:func:`gc.freeze`), shared with every child and never copied by its collections.
    """
    sock = socket.socket(fileno=fd)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)  # the launcher ends us: by closing the socket
    gc.collect()
    gc.freeze()
    sock.sendall(b"ready\n")
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    buffer = b""
    held: list[int] = []  # descriptors received with the request not yet complete
    gate: tuple[int, int] | None = None  # the pipe held children wait on, until "release"
    alive: set[int] = set()
    try:
        while True:
            ended = _reap()
            alive.difference_update(pid for pid, _ in ended)
            if ended:
                sock.sendall(b"".join(b"exit %d %d\n" % pair for pair in ended))
            if not selector.select(REAP_PERIOD):
                continue
            data, fds, _flags, _address = socket.recv_fds(sock, 65536, 8)
            if not data:
                break
            buffer += data
            held.extend(fds)
            while b"\n" in buffer:
                line, _, buffer = buffer.partition(b"\n")
                request = json.loads(line)
                if request.get("release"):
                    if gate is not None:
                        for end in gate:
                            os.close(end)  # every held child reads the end of the pipe
                        gate = None
                    continue
                count = 4 if request["listen"] else 3
                mine, held = held[:count], held[count:]
                if request.get("hold") and gate is None:
                    gate = os.pipe()
                hold = bool(request.get("hold"))
                pid = _fork(sock, request["argv"], mine, entry, request.get("name", ""), gate, hold)
                alive.add(pid)
                for received in mine:
                    os.close(received)
                sock.sendall(b"pid %d\n" % pid)
    except OSError:
        pass  # the launcher is gone
    finally:
        for received in held:
            with contextlib.suppress(OSError):
                os.close(received)
        for pid in alive:  # one stopped for a pause would never see its launcher gone
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGCONT)
    return 0


def _reap() -> list[tuple[int, int]]:
    """The children that ended since the last look, with their exit status."""
    ended: list[tuple[int, int]] = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:  # no child at all
            return ended
        if not pid:
            return ended
        ended.append((pid, os.waitstatus_to_exitcode(status)))


def _fork(
    server: socket.socket,
    argv: list[str],
    fds: list[int],
    entry: Callable[[list[str]], int],
    name: str = "",
    gate: tuple[int, int] | None = None,
    hold: bool = False,
) -> int:
    """Fork one child; in the child, never return: with ``hold``, wait for the end of the
    pipe ``gate`` (its read and write ends); run ``entry`` and exit with its status. A
    child never keeps the gate's write end, or the held ones would wait for it too."""
    pid = os.fork()
    if pid:
        return pid
    status = 1
    try:
        server.close()
        os.setsid()
        if gate is not None:
            os.close(gate[1])
            while hold and os.read(gate[0], 1):  # the server forks the others first: no
                pass  # child competes with it for a core
            os.close(gate[0])
        if name:
            with contextlib.suppress(OSError), open("/proc/self/comm", "w") as comm:
                comm.write(name[:15])
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        listen = [f"--listen-fd={fds[3]}"] if len(fds) > 3 else []
        for fd in fds[:3]:
            if fd > 2 and fd not in fds[3:]:
                os.close(fd)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)  # the command installs its own
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.argv = [sys.argv[0], *argv, *listen]
        status = entry([*argv, *listen])
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # the child's own end: print it, exit 1
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(status)
    raise AssertionError("unreachable")  # pragma: no cover


def command_line(*args: str) -> list[str]:
    """``python -m lamport.realtime ARGS...``: how a node, or the fork server, is started."""
    return [sys.executable, "-m", "lamport.realtime", *args]
