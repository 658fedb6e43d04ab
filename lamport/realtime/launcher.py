"""One OS process per machine on this host: start them, watch them, stop them, assemble the run.

``run(config, RealtimeOptions(processes=True))`` (the CLI's ``--processes``)
runs every machine as ``python -m lamport.realtime node`` (:mod:`.process`),
a process of its own, and gives back the same :class:`~.record.Result`, the
same logs and the same ``run.json`` as the threaded mode, plus what only
processes have: ``mode: "processes"``, the measured start skew, and the
nodes that died.

Set-up
    The launcher draws the run's secret and writes it to a file only the
    user may read (0600) in a private directory (0700), with the node config
    (the model and options, as in ``run.json``); the secret never appears on a
    command line. It binds every machine's listener itself (127.0.0.1, port
    0 or ``base_port + i``) and hands each to its process as an inherited
    descriptor, so no port is ever free between picking and using it. Each
    node is forked by the fork server (:mod:`.forkserver`), held until all
    are, in a session of its own: a Ctrl-C on the terminal reaches the
    launcher only, which passes it on. A run that does not fit the machine is
    refused first, with the estimate (:func:`~.capacity.check_processes`).

Start
    Each node prints ``ready`` once its links are up and authenticated; when
    all are, the launcher fixes the start instant, a wall-clock epoch
    :data:`~.process.START_LEAD` ahead, and writes ``start <epoch ns>`` to every
    node's stdin. Each node tells how far from that instant it actually woke;
    the spread is ``start_skew_ms`` in ``run.json``.

Watch, stop, and death
    Progress lines feed the live display. A stop request becomes ``stop`` on
    every node's stdin (a second one ``hurry``). A node that exits without
    saying ``done`` is dead: which, when (model seconds) and its exit status go
    into ``run.json``'s ``dead`` list and the run is ``degraded``; the others
    run on and end with complete logs. Nothing is waited on forever: a node
    still running :data:`GRACE` seconds after its drain should have ended is
    killed and reported the same way. If the launcher itself dies, its nodes
    see their stdin end and stop.

Fault plans and real crashes
    Each node plays the plan and leaves ``drops-<id>.csv``; the launcher
    writes them into ``network.csv``. With ``real_crash``
    (``--real-crash``) the launcher keeps the listener of every machine the
    plan crashes, starts its next process ahead (``--standby``, waiting for
    ``go`` on its stdin), and at each crash's wall instant SIGKILLs the
    machine's process, tells the others ``rejoin <id>`` and the standby ``go
    <crash index> <kill time>``: it restores the state the killed one saved
    (:mod:`.process`, "Stable storage"), rejoins through the handshake and
    gets the run's start. What the killed process took with it is counted as
    ``crash`` drops from the logs (:func:`~.assemble.account_for_kills`). A
    planned kill is not a death: the run is not degraded. A pause of the plan
    stops the machine's process for its window (:mod:`.pauses`).

What the nodes left
    Their reports, logs and drops are read back and assembled into the run
    by :mod:`.assemble` (which also holds :func:`~.assemble.collect`, for
    nodes started by hand); :mod:`.pipes` reads their stdout and stderr.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import queue
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lamport
from lamport.config import RunConfig
from lamport.errors import LogError, NetworkError, write_failure
from lamport.faults import fault_text
from lamport.logs import Staging, cannot_write, write_drops, write_json
from lamport.realtime.assemble import (
    account_for_kills,
    all_drops,
    dead_report,
    kill_windows,
    node_report,
)
from lamport.realtime.auth import new_secret, write_secret
from lamport.realtime.capacity import check_processes, set_up_seconds
from lamport.realtime.forkserver import Forked, ForkServer, command_line
from lamport.realtime.node import NodeReport, Progress, crashes_of
from lamport.realtime.options import RealtimeOptions
from lamport.realtime.pauses import Freezer, pauses_of
from lamport.realtime.pipes import Pipes
from lamport.realtime.process import (
    START_LEAD,
    drops_file,
    node_file,
    node_options,
    state_file,
)
from lamport.realtime.record import LIVE_PERIOD, Result, RunRecord, Timing, network_log
from lamport.realtime.shutdown import Shutdown
from lamport.schema import NETWORK_FILE, RUN_FILE, log_columns

__all__ = ["Launcher", "run_processes"]

#: A node process: forked by the fork server, or a fresh interpreter.
_Process = subprocess.Popen[bytes] | Forked

log = logging.getLogger("lamport.realtime")

#: Seconds a node may take to start its interpreter, beyond the connect timeout.
SPAWN_ALLOWANCE = 5.0
#: Seconds past the end of its drain after which a node still running is killed.
GRACE = 2.0
#: Seconds between a stop request and killing the nodes that have not ended.
STOP_LIMIT = 1.8
#: Warnings of the nodes kept until the start, at most.
HELD_WARNINGS = 1000
#: Seconds a node's process may have exited before the launcher stops waiting for the end
#: of its pipes (a process of its own that inherited them may hold them open).
EOF_WAIT = 1.0


def _node_config(config: RunConfig, options: RealtimeOptions) -> dict[str, Any]:
    """What every node is told: the model and the options (a node is never a launcher),
    its connect timeout with the time N processes take to set up their links added
    (:func:`~.capacity.set_up_seconds`)."""
    told = node_options(options)
    told["connect_timeout"] = options.connect_timeout + set_up_seconds(config.n_machines)
    return {"backend": "realtime", **config.metadata(), "options": told}


def _write_line(proc: _Process, line: str) -> None:
    """Write one line to a node's stdin (nothing if it is gone)."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError, ValueError):
            proc.stdin.write(line.encode() + b"\n")
            proc.stdin.flush()


def _describe_exit(status: int) -> str:
    if status < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-status).name}"
    return f"exit status {status}"


@dataclass
class _Watch:
    """What the launcher has heard from its nodes so far."""

    progress: list[Progress]
    ready: set[int] = field(default_factory=set)
    done: set[int] = field(default_factory=set)  # said "done": their files are complete
    ended: set[int] = field(default_factory=set)  # their pipes closed: the process exited
    errors: dict[int, str] = field(default_factory=dict)  # their "error:" line
    #: Why a node could not write its files (its "unwritable" line): the run is lost.
    unwritable: str | None = None


class Launcher:
    """A real-time run with one OS process per machine on this host (see the module's doc).

    Built like :class:`~.cluster.Cluster` (which it is not: it *has* the same
    :class:`~.record.RunRecord`); :meth:`run` returns the same Result. ``pids``
    lists the node processes once they are started (tests use it); ``ports``
    and ``started`` are visible while it runs. Raise ConfigError if the base
    port does not leave room for every machine.
    """

    def __init__(
        self,
        config: RunConfig,
        options: RealtimeOptions | None = None,
        *,
        out: Path | None = None,
        live: Callable[[list[Progress]], None] | None = None,
        stop: threading.Event | None = None,
        drain_timeout: float = 2.0,
    ) -> None:
        options = options if options is not None else RealtimeOptions(processes=True)
        self.config = config
        self.options = options
        self.out = Path(out) if out is not None else None
        self.live = live
        self.stop = stop if stop is not None else threading.Event()
        self.hurry = self.stop.hurry if isinstance(self.stop, Shutdown) else None
        self.drain_timeout = drain_timeout
        #: The ports, the start, the stop, and the run.json made of them.
        self.record = RunRecord(config, options, self.stop)
        #: The run's secret (:mod:`.auth`), drawn afresh, handed to the nodes in a 0600 file.
        self.secret = new_secret()
        #: Set once every node is up and the common start instant is given.
        self.started = threading.Event()
        self.pids: list[int] = []
        self.dead: list[dict[str, Any]] = []
        #: The real crashes played (``--real-crash``): machine, plan, pids, kill instant.
        self.kills: list[dict[str, Any]] = []
        self._ran = False
        self._offsets: dict[int, float] = {}
        self._procs: list[_Process] = []  # each machine's current process
        self._generation: list[int] = []  # how many times each machine was started again
        self._every: list[_Process] = []  # every process started, to reap
        self._planned: set[tuple[int, int]] = set()  # (machine, generation) killed on plan
        self._listeners: dict[int, socket.socket] = {}  # kept for a machine started again
        self._standby: dict[int, _Process] = {}  # its next process, waiting
        self._lock = threading.Lock()  # guards _procs, _generation and _orders
        self._orders: list[str] = []  # what every node was told ("stop", "hurry")
        self._start_line = ""
        self._pipes: Pipes | None = None
        self._no_more_crashes = threading.Event()
        #: Why a node could not write its files, if one could not: nothing is published.
        self._unwritable: str | None = None
        self._argv: Callable[[int], list[str]] = lambda i: []
        self._env: dict[str, str] = {}
        self._forkserver: ForkServer | None = None
        #: Stops and continues the processes of paused machines (:mod:`.pauses`).
        self._freezer: Freezer | None = None
        #: The nodes' warnings before the start (:meth:`_warn`).
        self._held: list[str] = []

    @property
    def ports(self) -> list[int]:
        """Each machine's listening port, once bound."""
        return self.record.ports

    def run(self) -> Result:
        if self._ran:
            raise RuntimeError("a Launcher runs once")
        self._ran = True
        config, options = self.config, self.options
        n = config.n_machines
        real = options.real_crash
        check_processes(n, sum(1 for i in range(n) if real and crashes_of(config, i)))
        staging = Staging(self.out) if self.out is not None else None
        try:
            private = Path(tempfile.mkdtemp(prefix="lamport-run-"))  # 0700
        except OSError as exc:
            if staging is not None:
                staging.discard()
            raise LogError(
                f"cannot make a private directory for the nodes' secret ({write_failure(exc)})"
            ) from None
        keep = False
        try:
            folder = staging.create() if staging is not None else private / "nodes"
            folder.mkdir(exist_ok=True)
            with network_log(folder if staging is not None else None) as netlog:
                try:
                    write_secret(private / "secret", self.secret)
                    write_json(private / "config.json", _node_config(config, options))
                except OSError as exc:
                    raise LogError(
                        f"{private}: cannot write the nodes' secret and config "
                        f"({write_failure(exc)})"
                    ) from None
                try:
                    self._spawn(private, folder)
                    self._supervise()
                finally:
                    self._reap()
                if self._unwritable is not None:
                    raise self._write_error()
                reports = self._reports(folder)
            if netlog is not None and netlog.error is not None and staging is not None:
                raise cannot_write(staging.out, netlog.error)
            if self.kills:
                account_for_kills(reports, kill_windows(config, self.kills))
            pauses = self._freezer.played if self._freezer is not None else None
            metadata = self.record.processes_metadata(
                reports, self._offsets, self.dead, self.kills, pauses
            )
            lost = all_drops(reports)
            logs = [report.events for report in reports]
            for i in range(n):
                for name in (node_file(i), drops_file(i), state_file(i)):
                    with contextlib.suppress(OSError):
                        (folder / name).unlink()
            out = None
            if staging is not None:
                try:
                    if config.faults:
                        write_drops(folder / NETWORK_FILE, lost)
                    write_json(folder / RUN_FILE, metadata)
                except OSError as exc:
                    raise cannot_write(staging.out, exc) from None
                out = staging.publish()
                keep = True
        finally:
            if staging is not None and not keep:
                staging.discard()
            shutil.rmtree(private, ignore_errors=True)
        timing = Timing([report.lateness for report in reports])
        return Result(config, logs, metadata["queued_at_end"], metadata, out, timing, dropped=lost)

    # -- processes ---------------------------------------------------------------------------

    def _spawn(self, private: Path, folder: Path) -> None:
        """Bind every listener, start every node process with its listener inherited.

        The listener of a machine the plan crashes for real stays open here too, so its
        port is never free while the machine is down and its next process inherits it.
        """
        n = self.config.n_machines
        base = self.options.base_port
        real = self.options.real_crash
        crashed = {i for i in range(n) if real and crashes_of(self.config, i)}
        listeners: list[socket.socket] = []
        try:
            for i in range(n):
                try:
                    sock = socket.create_server(
                        ("127.0.0.1", 0 if base is None else base + i), backlog=n + 8
                    )
                except OSError as exc:
                    if base is not None and exc.errno == errno.EADDRINUSE:
                        raise NetworkError(
                            f"port {base + i} (machine {i}) is already in use"
                        ) from None
                    raise NetworkError(f"cannot listen for machine {i}: {exc.strerror}") from None
                listeners.append(sock)
            self.record.ports = [sock.getsockname()[1] for sock in listeners]
            env = dict(os.environ)
            root = str(Path(lamport.__file__).resolve().parent.parent)
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
            self._env = env
            if hasattr(os, "fork"):
                try:
                    self._forkserver = ForkServer(command_line("forkserver"), env)
                except NetworkError as exc:  # each node its own interpreter, then
                    log.warning("%s; starting each node afresh", exc)

            def argv(i: int) -> list[str]:
                """The ``node`` command's arguments for machine i (its listener is passed)."""
                peers = [f"--peer={j}=127.0.0.1:{p}" for j, p in enumerate(self.ports) if j != i]
                return [
                    "node",
                    f"--config={private / 'config.json'}",
                    f"--id={i}",
                    f"--listen=127.0.0.1:{self.ports[i]}",
                    *peers,
                    f"--secret-file={private / 'secret'}",
                    f"--out={folder}",
                    "--control=stdio",
                    *(["--progress"] if self.live is not None else []),
                    *(["--real-crash"] if real else []),
                ]

            self._argv = argv
            for i, sock in enumerate(listeners):
                proc = self._popen(argv(i), sock, hold=True)
                self._procs.append(proc)
                self._generation.append(0)
                self.pids.append(proc.pid)
                if i in crashed:
                    self._listeners[i] = sock
                    self._standby[i] = self._popen([*argv(i), "--standby"], sock, hold=True)
                else:
                    sock.close()
        finally:
            if self._forkserver is not None:
                self._forkserver.release()  # every node forked: now they may take the cores
            for i, sock in enumerate(listeners):
                if i not in self._listeners:
                    sock.close()

    def _popen(self, argv: list[str], listener: socket.socket, hold: bool = False) -> _Process:
        """Start a node process with the ``node`` command's ``argv`` and ``listener``: forked
        from the fork server (:mod:`.forkserver`; with ``hold`` it waits for the others to
        be forked), or a fresh interpreter without one."""
        proc: _Process
        if self._forkserver is not None:
            machine = next(a.partition("=")[2] for a in argv if a.startswith("--id="))
            name = f"lamport:node{machine}"
            proc = self._forkserver.spawn(argv, listener, name=name, hold=hold)
        else:
            proc = subprocess.Popen(
                command_line(*argv, f"--listen-fd={listener.fileno()}"),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(listener.fileno(),),
                start_new_session=True,
                env=self._env,
            )
        self._every.append(proc)
        return proc

    def _tell(self, i: int, line: str) -> None:
        with self._lock:
            _write_line(self._procs[i], line)

    def _tell_all(self, line: str) -> None:
        """Tell every node ``line``; a process started again later is told it too."""
        with self._lock:
            self._orders.append(line)
            for proc in self._procs:
                _write_line(proc, line)

    # -- real crashes ------------------------------------------------------------------------

    def _crash_schedule(self) -> list[tuple[float, int, int]]:
        """(monotonic kill instant, machine, index of the crash) of every real crash."""
        if not self.options.real_crash:
            return []
        speed = self.options.speed
        return sorted(
            (self.record.start + crash.at / speed, i, k)
            for i in range(self.config.n_machines)
            for k, crash in enumerate(crashes_of(self.config, i))
        )

    def _play_crashes(self, schedule: list[tuple[float, int, int]]) -> None:
        """At each crash's wall instant, SIGKILL the machine's process and start its next."""
        for kill_at, i, k in schedule:
            while (left := kill_at - time.monotonic()) > 0:
                if self._no_more_crashes.wait(min(left, 0.05)):
                    return
            if self.stop.is_set() or self._no_more_crashes.is_set():
                return
            self._kill_and_restart(i, k)

    def _kill_and_restart(self, i: int, k: int) -> None:
        with self._lock:
            proc = self._procs[i]
            generation = self._generation[i]
            if proc.poll() is not None:  # it died on its own: dead, not restarted
                return
            self._planned.add((i, generation))
        killed_wall = time.time()
        proc.kill()
        at = (time.monotonic() - self.record.start) * self.options.speed
        for j in range(self.config.n_machines):
            if j != i:
                self._tell(j, f"rejoin {i}")
        entry: dict[str, Any] = {
            "machine": i,
            "fault": fault_text(crashes_of(self.config, i)[k]),
            "killed_at": round(at, 3),
            "killed_pid": proc.pid,
        }
        new = self._standby.pop(i, None)
        order = f"go {k} {killed_wall!r}\n".encode()
        try:
            if new is None or new.poll() is not None or new.stdin is None:
                raise OSError("its standby process is gone")
            new.stdin.write(order)
            new.stdin.flush()
        except OSError:  # start one now: the restart comes late by its start-up
            argv = [*self._argv(i), f"--rejoin={k}", f"--killed-at={killed_wall!r}"]
            try:
                new = self._popen(argv, self._listeners[i])
            except OSError as exc:
                log.warning("machine %d: cannot start it again: %s", i, exc)
                entry["pid"] = None
                self.kills.append(entry)
                return
        if k + 1 < len(crashes_of(self.config, i)):  # the next crash's process, ahead
            self._standby[i] = self._popen([*self._argv(i), "--standby"], self._listeners[i])
        entry["pid"] = new.pid
        self.kills.append(entry)
        with self._lock:
            self._procs[i] = new
            self._generation[i] = generation + 1
            for line in self._orders:  # a stop told the killed process: the new one hears it
                _write_line(new, line)
        if self._pipes is not None:
            self._pipes.add(i, generation + 1, new)

    def _supervise(self) -> None:
        """Start the nodes at one instant, watch them to the end, pass stop requests on."""
        config, options = self.config, self.options
        n = config.n_machines
        pipes = self._pipes = Pipes(self._procs)
        crasher: threading.Thread | None = None
        watch = _Watch([Progress(i, config.rates[i], 0, config.ticks(i), 0, 0) for i in range(n)])
        ended = watch.ended
        set_up_by = time.monotonic() + self._set_up_allowance()
        hurried = False
        last_live = 0.0
        kill_at: float | None = None
        cutting = False
        exited: dict[tuple[int, int], float] = {}  # (machine, generation): seen exited at
        try:
            while len(ended) < n:
                with contextlib.suppress(queue.Empty):
                    i, generation, kind, line = pipes.lines.get(timeout=0.05)
                    while True:
                        self._on_line(watch, i, generation, kind, line)
                        i, generation, kind, line = pipes.lines.get_nowait()
                now = time.monotonic()
                self._notice_exits(watch, exited, now)
                if not self.started.is_set():
                    self._check_set_up(watch, set_up_by)
                    if len(watch.ready) == n:
                        self._give_start()
                        if any(pauses_of(config, i) for i in range(n)):
                            self._freezer = Freezer(
                                config, options.speed, self.record.start, self._process
                            )
                        if schedule := self._crash_schedule():
                            crasher = threading.Thread(
                                target=self._play_crashes, args=(schedule,), name="lamport-crash"
                            )
                            crasher.start()
                    continue
                if watch.unwritable is not None and not cutting:
                    cutting = True  # stopped for a failed write: as long as for a stop
                    kill_at = now + STOP_LIMIT
                    self._thaw()
                if self.stop.is_set() and self.record.stopped is None:
                    self.record.stopped = now
                    self._thaw()  # a stopped process hears no stop
                    self._tell_all("stop")
                    kill_at = now + STOP_LIMIT
                if self.hurry is not None and self.hurry.is_set() and not hurried:
                    hurried = True
                    self._tell_all("hurry")
                if kill_at is None:
                    end = self.record.start + config.duration / options.speed
                    kill_at = end + self.drain_timeout + GRACE
                if now > kill_at:
                    why = (
                        f"not done {STOP_LIMIT:g} s after the stop request"
                        if self.record.stopped is not None
                        else f"not done {self.drain_timeout + GRACE:g} s after the run's end"
                    )
                    for i in set(range(n)) - ended:
                        self._kill(i, why)
                    kill_at = now + 5.0
                if self.live is not None and now - last_live >= LIVE_PERIOD:
                    last_live = now
                    self.live(list(watch.progress))
        finally:
            self._thaw()
            if len(ended) < n:  # a failure or an interrupt before the start
                for i in set(range(n)) - ended:
                    self._tell(i, "hurry")
                give_up = time.monotonic() + 1.0  # one second for all of them, then kill
                for proc in self._procs:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=max(0.0, give_up - time.monotonic()))
                    if proc.poll() is None:
                        proc.kill()
            self._no_more_crashes.set()
            if crasher is not None:
                crasher.join()
            pipes.join()
        if self.live is not None:
            self.live(list(watch.progress))

    def _notice_exits(
        self, watch: _Watch, exited: dict[tuple[int, int], float], now: float
    ) -> None:
        """Count a process that exited as ended :data:`EOF_WAIT` seconds on, whether or
        not the end of its pipes was read: the run never waits on a pipe forever."""
        for i in set(range(len(watch.progress))) - watch.ended:
            with self._lock:
                proc, generation = self._procs[i], self._generation[i]
            if proc.poll() is None:
                continue
            since = exited.setdefault((i, generation), now)
            if now - since >= EOF_WAIT:
                self._on_line(watch, i, generation, "eof", "")

    def _on_line(self, watch: _Watch, i: int, generation: int, kind: str, line: str) -> None:
        """One line from node i's stdout or stderr, or the end of its pipes."""
        if generation != self._generation[i] or (i, generation) in self._planned:
            return  # a process killed on plan: its last words
        if generation > 0 and kind == "out" and line == "ready":
            self._tell(i, self._start_line)  # a process started again: the run's start
            return
        if kind == "out":
            word, _, rest = line.partition(" ")
            if word == "progress":
                with contextlib.suppress(ValueError):
                    tick, clock, queued = map(int, rest.split())
                    watch.progress[i] = watch.progress[i]._replace(
                        tick=tick, clock=clock, queue=queued
                    )
            elif word == "ready":
                watch.ready.add(i)
            elif word == "started" and generation == 0:
                with contextlib.suppress(ValueError):
                    self._offsets[i] = float(rest)
            elif word == "done":
                watch.done.add(i)
            elif word == "paused" and self._freezer is not None:
                self._freezer.paused(i)  # its PAUSE row is written: a real pause now
            elif word == "unwritable" and watch.unwritable is None:
                # A log cut short is no run: stop every node now, publish nothing.
                watch.unwritable = self._unwritable = rest or "write error"
                self._tell_all("stop")
                self._tell_all("hurry")
        elif kind == "err":
            if line.startswith("error: "):
                watch.errors[i] = line[len("error: ") :]
            elif line.startswith("warning: "):
                self._warn(line[len("warning: ") :])
            elif line.strip():
                self._warn(f"machine {i}: {line}")
        elif kind == "eof":
            watch.ended.add(i)
            proc = self._procs[i]
            try:
                status = proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                status = proc.wait()
            if self.started.is_set() and i not in watch.done:
                self._record_death(i, _describe_exit(status), watch.errors.get(i))

    def _warn(self, text: str) -> None:
        """A node's warning: said now once the run started; before, held until the start
        (a set-up that fails is one line, not every node's complaint about the others
        hanging up)."""
        if self.started.is_set():
            log.warning("%s", text)
        elif len(self._held) < HELD_WARNINGS:
            self._held.append(text)

    def _record_death(self, i: int, how: str, error: str | None) -> None:
        if self._unwritable is not None or any(d["machine"] == i for d in self.dead):
            return  # a run stopped for a failed write is not published: no deaths to tell
        at = (time.monotonic() - self.record.start) * self.options.speed
        entry: dict[str, Any] = {"machine": i, "at": round(max(at, 0.0), 3), "exit": how}
        if error:
            entry["error"] = error
        self.dead.append(entry)
        log.warning("machine %d died at t = %.2f s (%s)", i, entry["at"], how)

    def _kill(self, i: int, why: str) -> None:
        proc = self._procs[i]
        if proc.poll() is None:
            proc.kill()
            self._record_death(i, f"killed: {why}", None)

    def _write_error(self) -> LogError:
        """The one line for a node's failed write: the run's ``--out``, the node's reason."""
        where = f"--out {self.out}" if self.out is not None else "the nodes' folder"
        return LogError(f"{where}: cannot write ({self._unwritable})")

    def _check_set_up(self, watch: _Watch, set_up_by: float) -> None:
        """Before the start: raise if stopped, if a node exited, or if set-up takes too long."""
        if self.stop.is_set():
            raise KeyboardInterrupt
        if watch.unwritable is not None:
            raise self._write_error()
        if watch.ended:
            i = min(watch.ended, key=lambda j: (j not in watch.errors, j))
            status = self._procs[i].poll()
            raise NetworkError(
                watch.errors.get(i)
                or f"machine {i} exited before the start ({_describe_exit(status or 0)})"
            )
        if time.monotonic() > set_up_by:
            waiting = ", ".join(map(str, sorted(set(range(len(self._procs))) - watch.ready)))
            raise NetworkError(
                f"machine {waiting} did not come up within {self._set_up_allowance():.3g} s"
            )

    def _set_up_allowance(self) -> float:
        """Seconds the nodes get to come up: the connect timeout, the links' set-up on
        this machine's cores, and the interpreters' start."""
        n = self.config.n_machines
        return self.options.connect_timeout + set_up_seconds(n) + SPAWN_ALLOWANCE + 0.02 * n

    def _process(self, i: int) -> _Process:
        with self._lock:
            return self._procs[i]

    def _thaw(self) -> None:
        """Continue every node stopped for a pause; play no more pauses."""
        if self._freezer is not None:
            self._freezer.thaw()

    def _give_start(self) -> None:
        ns = round((time.time() + START_LEAD) * 1e9)
        epoch = ns / 1e9  # exactly what the nodes read from the line
        self.record.start = time.monotonic() + (epoch - time.time())
        self.record.start_epoch = epoch
        line = self._start_line = f"start {ns}"
        for i in range(len(self._procs)):
            self._tell(i, line)
        self.started.set()
        for text in self._held:  # the set-up went through: what the nodes said on the way
            log.warning("%s", text)
        self._held.clear()

    def _reap(self) -> None:
        for sock in self._listeners.values():
            sock.close()
        for proc in self._every:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        if self._forkserver is not None:  # every node has ended: the server may go
            self._forkserver.close()
            self._forkserver = None

    # -- what the nodes left -----------------------------------------------------------------

    def _reports(self, folder: Path) -> list[NodeReport]:
        n = self.config.n_machines
        dead = {d["machine"] for d in self.dead}
        columns = log_columns(self.config.clock)
        reports = []
        for i in range(n):
            if i in dead:
                reports.append(dead_report(folder, i, n, columns))
            else:
                try:
                    data = json.loads((folder / node_file(i)).read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    self._record_death(i, "left no report", None)
                    reports.append(dead_report(folder, i, n, columns))
                    continue
                reports.append(node_report(data, folder))
        return reports


def run_processes(
    config: RunConfig,
    options: RealtimeOptions,
    out: Path | None = None,
    live: Callable[[list[Progress]], None] | None = None,
    stop: threading.Event | None = None,
) -> Result:
    """:func:`~lamport.realtime.cluster.run_backend` with one OS process per machine."""
    return Launcher(config, options, out=out, live=live, stop=stop).run()
