"""One machine of a run as an OS process of its own: ``python -m lamport.realtime node``.

A node process runs one :class:`~lamport.realtime.node.Node`, unchanged,
with the run's model and options read from a ``run.json``-like file
(``--config``), its listening address, every peer's address, the run's
secret (``--secret-file``, a 0600 file, :mod:`.auth`) and a directory for
its log. The same process serves a launcher on this host and a run that
spans hosts; only the start differs:

Start (``--control links``, the default: a run of nodes started by hand)
    Once every link of a node is up and authenticated it sends ``ready
    <digest>`` to machine 0, the digest naming the run's model and options.
    Machine 0 waits until it holds every other machine's ready (and its own
    links), checks the digests agree, and sends ``start <epoch ns>``: a
    wall-clock instant :data:`START_LEAD` ahead. Each node turns it into its
    monotonic clock and ticks from there. A digest that differs, or a start
    that never comes, is one line and exit status 2.

Start (``--control stdio``: under the launcher, :mod:`.launcher`)
    The node prints ``ready`` on its stdout and reads ``start <epoch ns>``
    from its stdin; it prints ``started <offset s>`` once it passes the start
    instant, ``progress <tick> <clock> <queue>`` four times a second if the
    launcher shows a live display (``--progress``), and ``done`` at the end.
    ``stop`` and ``hurry`` on stdin stop it (a second request cuts the
    drain short); the end of stdin (the launcher is gone) stops it too, so a
    node never outlives its launcher.

What it leaves
    ``<out>/machine-<id>.csv``, written as events happen and flushed every
    tick (docs/spec.md, the log schema), and ``<out>/node-<id>.json``: what it left queued,
    what it could not send, its tick lateness, how far from the common start
    it actually woke (``start_offset``), and the model and options it ran.
    Under a fault plan, ``<out>/drops-<id>.csv`` too: every message the plan
    lost at its sends and arrivals, a row of ``network.csv`` each, flushed as
    it happens. :func:`lamport.realtime.assemble.collect` assembles the
    nodes' files into one run directory.

Stable storage (``--real-crash``, under the launcher)
    The node appends one line per log row to ``<out>/state-<id>.txt`` right
    after the row is flushed: the rows so far, the ticks, the clock, the
    messages sent, the draws spent (and the vector clock). It halts before its
    first tick in its crash window and the launcher SIGKILLs it there. The
    process the launcher starts next (``--rejoin K``: after the machine's
    K-th crash, 0-based) cuts a torn last line off the log and the state
    file, restores the state of the last line (replaying a log row the kill
    left unsaved, if any), appends to the same files, writes the CRASH row
    (the crash's model time, the kill's wall time, ``--killed-at``) and
    ticks on the run's grid from its restart on (RESTART row, the clock
    kept or, with ``reset``, 0).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import ipaddress
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from lamport.backend import get_backend
from lamport.config import RunConfig
from lamport.core import INTERNAL, PAUSE, SEND, Event, saved_clock
from lamport.errors import ConfigError, NetworkError, write_failure
from lamport.logs import cannot_write, read_log, write_drops
from lamport.realtime.auth import read_secret
from lamport.realtime.node import POLL, Node, NodeFaults, NodeReport, crashes_of
from lamport.realtime.options import RealtimeOptions
from lamport.realtime.transport import bind_listener
from lamport.schema import log_columns, log_name

__all__ = ["NodeSpec", "node_file", "node_options", "parse_address", "run_digest", "run_node"]

#: How far ahead of "everyone is ready" machine 0 (or the launcher) puts the start, in seconds.
START_LEAD = 0.1
#: How often a node under a launcher reports its progress, in seconds.
PROGRESS_PERIOD = 0.25


def node_file(machine: int) -> str:
    """The name of a node's report in its output directory."""
    return f"node-{machine}.json"


def drops_file(machine: int) -> str:
    """The name of a node's lost messages (rows of ``network.csv``) in its directory."""
    return f"drops-{machine}.csv"


def state_file(machine: int) -> str:
    """The name of a node's stable storage (``--real-crash``) in its directory."""
    return f"state-{machine}.txt"


def parse_address(text: str, what: str) -> tuple[str, int]:
    """``HOST:PORT`` as a pair. Raise ConfigError if it is not one."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{what}: expected HOST:PORT, got {text!r}")
    return host, int(port)


def node_options(options: RealtimeOptions) -> dict[str, Any]:
    """The options as a node records them: every field but ``processes`` and ``real_crash``
    (a launcher's business: it tells its nodes ``--real-crash``)."""
    launcher_only = ("processes", "real_crash")
    return {k: v for k, v in dataclasses.asdict(options).items() if k not in launcher_only}


def run_digest(config: RunConfig, options: RealtimeOptions) -> str:
    """16 hex digits naming the model and the options that change the logs."""
    labelled = {name: getattr(options, name) for name in options.LABELS}
    text = json.dumps([config.metadata(), labelled], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_node_config(path: Path) -> tuple[RunConfig, RealtimeOptions]:
    """The model and options in a node's ``--config`` file. Raise ConfigError if invalid."""
    from lamport.files import read_json, reason

    try:
        data = read_json(path)  # a regular file only, not too deep
    except OSError as exc:
        raise ConfigError(f"--config {path}: {reason(exc)}") from None
    except ValueError as exc:
        raise ConfigError(f"--config {path}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: not a JSON object")
    try:
        config = RunConfig.from_metadata(data)
        options = get_backend("realtime").options_from_metadata(data)
    except (ConfigError, TypeError, ValueError) as exc:
        raise ConfigError(f"--config {path}: {exc}") from None
    return config, options


@dataclass
class NodeSpec:
    """Everything one node process is told: who it is, where everyone listens, the secret."""

    config: RunConfig
    options: RealtimeOptions
    machine: int
    listen: tuple[str, int]
    peers: dict[int, tuple[str, int]]
    secret: bytes
    out: Path
    listen_fd: int | None = None
    control: str = "links"
    #: Under a launcher with a live display: print progress lines four times a second.
    progress: bool = False
    #: Under a launcher with ``--real-crash``: halt at this machine's crashes, keep state.
    real_crash: bool = False
    #: A process started again after the machine's crash of this index (0-based), or None.
    rejoin: int | None = None
    #: Wall time (epoch seconds) at which the launcher killed the previous process.
    killed_at: float | None = None

    def __post_init__(self) -> None:
        n = self.config.n_machines
        loopback = self.listen[0] == "localhost"
        if not 0 <= self.machine < n:
            raise ConfigError(f"--id {self.machine}: the config has machines 0..{n - 1}")
        expected = set(range(n)) - {self.machine}
        if set(self.peers) != expected:
            missing = sorted(expected - set(self.peers))
            extra = sorted(set(self.peers) - expected)
            said = []
            if missing:
                said.append("no --peer for machine " + ", ".join(map(str, missing)))
            if extra:
                said.append("--peer for machine " + ", ".join(map(str, extra)))
            raise ConfigError(
                f"the peers disagree with the config ({n} machines, this is machine "
                f"{self.machine}): {'; '.join(said)}"
            )
        with contextlib.suppress(ValueError):
            loopback = ipaddress.ip_address(self.listen[0]).is_loopback
        if not loopback and not self.secret:
            raise ConfigError("listening beyond 127.0.0.1 needs --secret-file")
        if self.rejoin is not None:
            crashes = crashes_of(self.config, self.machine)
            if not self.real_crash or not 0 <= self.rejoin < len(crashes):
                raise ConfigError(f"--rejoin {self.rejoin}: no such real crash of this machine")

    @classmethod
    def from_arguments(
        cls,
        config_file: Path,
        machine: int,
        listen: str,
        peers: Sequence[str],
        secret_file: Path,
        out: Path,
        listen_fd: int | None = None,
        control: str = "links",
        progress: bool = False,
        real_crash: bool = False,
        rejoin: int | None = None,
        killed_at: float | None = None,
    ) -> NodeSpec:
        """Build a spec from the ``node`` command's arguments. Raise ConfigError if invalid."""
        config, options = read_node_config(config_file)
        addresses: dict[int, tuple[str, int]] = {}
        for text in peers:
            ident, sep, address = text.partition("=")
            if not sep or not ident.isdigit():
                raise ConfigError(f"--peer: expected J=HOST:PORT, got {text!r}")
            if int(ident) in addresses:
                raise ConfigError(f"--peer: machine {ident} given twice")
            addresses[int(ident)] = parse_address(address, f"--peer {ident}")
        return cls(
            config,
            options,
            machine,
            parse_address(listen, "--listen"),
            addresses,
            read_secret(secret_file),
            Path(out),
            listen_fd,
            control,
            progress,
            real_crash,
            rejoin,
            killed_at,
        )


class _AppendFile:
    """A CSV file written row by row, each row flushed as it comes (docs/spec.md, the log schema).

    ``header(path)`` writes a fresh file's header, on disk at once: a node killed before
    its first row still leaves a valid file. ``append``: a process started again after a
    real crash goes on with the file its predecessor left (cut to its last whole line).
    Raise LogError if the file cannot be opened; a later write error (a full disk, a
    file-size limit) is kept in ``error`` and handed to ``failed`` at once, and nothing
    more is written.
    """

    def __init__(
        self,
        path: Path,
        header: Callable[[Path], None],
        append: bool = False,
        failed: Callable[[OSError], None] | None = None,
    ) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if append:
                cut_torn_line(path)
            if not append or not path.is_file() or path.stat().st_size == 0:
                header(path)
            self.handle: IO[str] = open(path, "a", newline="", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            if failed is not None:
                failed(exc)
            raise cannot_write(path.parent, exc) from None
        self.writer = csv.writer(self.handle, lineterminator="\n")
        self.error: OSError | None = None
        self.failed = failed

    def __call__(self, row: Sequence[Any]) -> None:
        if self.error is None:
            try:
                self.writer.writerow(row)
                self.handle.flush()
            except OSError as exc:
                self.error = exc
                if self.failed is not None:
                    self.failed(exc)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.handle.close()


def _log_file(
    path: Path,
    columns: Sequence[str],
    append: bool = False,
    failed: Callable[[OSError], None] | None = None,
) -> _AppendFile:
    """This machine's log, written as events happen and flushed at every tick."""

    def header(target: Path) -> None:
        with open(target, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle, lineterminator="\n").writerow(columns)

    return _AppendFile(path, header, append, failed)


def _drop_file(
    path: Path, append: bool = False, failed: Callable[[OSError], None] | None = None
) -> _AppendFile:
    """The messages the plan lost at this node: rows of ``network.csv``, flushed as they come."""
    return _AppendFile(path, lambda target: write_drops(target, ()), append, failed)


def cut_torn_line(path: Path) -> None:
    """Cut a file to its last whole line (a process killed mid-write leaves a torn one)."""
    with contextlib.suppress(FileNotFoundError), open(path, "rb+") as handle:
        data = handle.read()
        whole = data.rfind(b"\n") + 1
        if whole != len(data):
            handle.truncate(whole)


@dataclass
class SavedState:
    """A machine's stable storage: what a restarted process needs to go on."""

    rows: int = 0  # log rows written so far
    ticks: int = 0
    clock: int = 0
    sent: int = 0
    draws: int = 0  # draws of its action stream spent (a tick that receives draws none)
    vc: str = ""
    #: Draws of each incoming link's latency stream spent, by sender (with a latency).
    latency: tuple[int, ...] = ()
    #: Messages sent to each machine: the loss draws spent (counted from the log).
    sent_to: tuple[int, ...] = ()

    def after(self, event: Event) -> SavedState:
        """The state once the log row ``event`` is written (the latency draws unchanged)."""
        kind = event.event
        return SavedState(
            self.rows + 1,
            event.tick,
            event.clock,
            self.sent + (kind == SEND),
            self.draws + (kind in (SEND, INTERNAL)),  # a RECEIVE draws nothing
            saved_clock(event),
            self.latency,
        )

    def line(self) -> str:
        vc = self.vc.replace(" ", ",") or "-"
        latency = ",".join(map(str, self.latency)) or "-"
        return f"{self.rows} {self.ticks} {self.clock} {self.sent} {self.draws} {vc} {latency}\n"

    @classmethod
    def parse(cls, line: str) -> SavedState:
        """The state a line of the state file holds."""
        rows, ticks, clock, sent, draws, vc, latency = line.split()
        return cls(
            int(rows),
            int(ticks),
            int(clock),
            int(sent),
            int(draws),
            "" if vc == "-" else vc.replace(",", " "),
            () if latency == "-" else tuple(map(int, latency.split(","))),
        )


class _StateFile:
    """The machine's stable storage: one line per log row, written right after the row.

    Each line is one ``write`` on an append-only file: a SIGKILL leaves every line
    before it on disk (the page cache outlives the process; ``--real-crash`` kills
    processes, not hosts, so there is no fsync per tick)."""

    def __init__(
        self, path: Path, state: SavedState, failed: Callable[[OSError], None] | None = None
    ) -> None:
        try:
            cut_torn_line(path)
            self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            if failed is not None:
                failed(exc)
            raise cannot_write(path.parent, exc) from None
        self.state = state
        self.failed = failed
        #: The first write that failed (a full disk): nothing more is written.
        self.error: OSError | None = None
        #: The latency draws spent so far, by sender (the node's, once it is built).
        self.latency: Callable[[], Sequence[int]] | None = None

    def __call__(self, event: Event) -> None:
        self.state = self.state.after(event)
        if self.latency is not None:  # a tick's draws come before its row
            self.state = dataclasses.replace(self.state, latency=tuple(self.latency()))
        if self.error is None:
            try:
                os.write(self.fd, self.state.line().encode("ascii"))
            except OSError as exc:
                self.error = exc
                if self.failed is not None:
                    self.failed(exc)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def restore_state(out: Path, machine: int) -> SavedState:
    """The state a killed process of ``machine`` left in ``out``: the last whole line of its
    state file, then any log row written after it (a kill between the row and its line)."""

    state = SavedState()
    path = out / state_file(machine)
    with contextlib.suppress(OSError):
        text = path.read_text(encoding="ascii")
        lines = text[: text.rfind("\n") + 1].splitlines()
        if lines:
            state = SavedState.parse(lines[-1])
    log = out / log_name(machine)
    cut_torn_line(log)
    events = read_log(log) if log.is_file() else []
    for event in events[state.rows :]:
        state = state.after(event)
    # A loss draw per recipient of every message sent, lost or not (the DES's rule).
    sent_to = [0] * (machine + 1)
    for event in events:
        if event.event == SEND:
            for recipient in map(int, event.peer.split("+")):
                sent_to.extend([0] * (recipient + 1 - len(sent_to)))
                sent_to[recipient] += 1
    return dataclasses.replace(state, sent_to=tuple(sent_to))


class _Stdio:
    """The launcher's side channel: lines on stdout, orders on stdin."""

    def __init__(
        self,
        stop: threading.Event,
        hurry: threading.Event,
        rejoin: Callable[[int], None] | None = None,
    ) -> None:
        self.stop = stop
        self.hurry = hurry
        self.rejoin = rejoin
        self.start_ns: int | None = None
        self.got_start = threading.Event()
        self._lock = threading.Lock()
        threading.Thread(target=self._read, name="lamport-stdin", daemon=True).start()

    def say(self, line: str) -> None:
        with self._lock, contextlib.suppress(OSError, ValueError):
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def _read(self) -> None:
        for line in sys.stdin:
            word, _, rest = line.strip().partition(" ")
            if word == "start" and rest.isdigit():
                self.start_ns = int(rest)
                self.got_start.set()
            elif word == "stop":
                self._stop()
            elif word == "rejoin" and rest.isdigit() and self.rejoin is not None:
                self.rejoin(int(rest))
            elif word == "hurry":
                self.stop.set()
                self.hurry.set()
        self.stop.set()  # the launcher is gone: stop, and do not wait on peers for long
        self.hurry.set()
        self.got_start.set()

    def _stop(self) -> None:
        if self.stop.is_set():
            self.hurry.set()
        self.stop.set()


def _monotonic_of(epoch: float) -> float:
    """The monotonic instant of a wall-clock epoch, read as close together as we can."""
    return time.monotonic() + (epoch - time.time())


def run_node(
    spec: NodeSpec,
    stop: threading.Event,
    hurry: threading.Event | None = None,
) -> dict[str, Any]:
    """Run one node process's machine to the end; write its log and report; return the report.

    Raise NetworkError if it cannot connect, is refused (another node holds
    its id) or never gets the start, ConfigError if the nodes' configs
    differ, and KeyboardInterrupt if stopped before the start.
    """
    hurry = hurry if hurry is not None else threading.Event()
    config, options = spec.config, spec.options
    n = config.n_machines
    unwritable = _Unwritable(stop, hurry)
    if spec.control == "stdio":  # the launcher hears of a failed write even before the start
        unwritable.say = _print_line
    if spec.listen_fd is not None:
        listener = socket.socket(fileno=spec.listen_fd)
    else:
        listener = bind_listener(*spec.listen, spec.machine, backlog=n + 8)
    columns = log_columns(config.clock)
    rejoining = spec.rejoin is not None
    state = restore_state(spec.out, spec.machine) if rejoining else SavedState()
    closing: list[Any] = [listener]
    try:
        log_file = _log_file(
            spec.out / log_name(spec.machine), columns, append=rejoining, failed=unwritable
        )
        closing.append(log_file)
        sink: Callable[[Event], None] = log_file
        if spec.real_crash:
            state_log = _StateFile(spec.out / state_file(spec.machine), state, unwritable)
            closing.append(state_log)
            sink = _both(log_file, state_log)
        faults = None
        if config.faults:
            drop_file = _drop_file(
                spec.out / drops_file(spec.machine), append=rejoining, failed=unwritable
            )
            closing.append(drop_file)
            faults = NodeFaults(
                config,
                spec.machine,
                real=spec.real_crash,
                resume=spec.rejoin,
                killed_wall=spec.killed_at,
                sink=drop_file,
            )
        node = Node(
            spec.machine,
            config,
            options,
            sink=sink,
            secret=spec.secret,
            host=spec.listen[0],
            listener=listener,
            faults=faults,
        )
        if rejoining:
            node.restore(
                state.clock,
                state.ticks,
                state.sent,
                state.draws,
                state.vc,
                sent_to=state.sent_to,
                latency=state.latency,
            )
        if spec.real_crash:
            state_log.latency = node.latency_taken
    except BaseException:
        for thing in reversed(closing):
            thing.close()
        raise
    closing.remove(listener)  # the node's transport closes it
    listen = node.address
    addresses = [spec.peers.get(j, listen) for j in range(n)]
    stdio = _Stdio(stop, hurry, node.transport.rejoin) if spec.control == "stdio" else None
    if stdio is not None:
        unwritable.say = stdio.say
        pauses = faults is not None and any(s.change.event == PAUSE for s in faults.changes)
        if pauses and node.sink is not None:
            node.sink = _announcing_pauses(node.sink, stdio.say)
    started = _Starter(node, spec, stdio, stop)
    deadline = time.monotonic() + options.connect_timeout
    reporter = None
    if stdio is not None and spec.progress:
        reporter = threading.Thread(
            target=_report_progress, args=(node, stdio, stop), name="lamport-progress", daemon=True
        )
    report: NodeReport | None = None
    try:
        if reporter is not None:
            reporter.start()
        report = node.run(addresses, deadline, stop, started.ready, hurry, drain_timeout=2.0)
        # Stopped before its restart (a stop right after the kill): still a report, not a death.
        stopped = stop.is_set() and report.error in (None, "stopped")
        if rejoining and stopped and node.stay_down(report):
            report.error = None
    finally:
        started.finish()
        for thing in reversed(closing):
            thing.close()
    if unwritable.error is not None:  # before all else: what it wrote is not the run
        raise cannot_write(spec.out, unwritable.error)
    if report.error is not None:
        raise NetworkError(report.error)
    if started.error is not None:
        raise started.error
    if started.epoch is None and not (rejoining and report.stopped_at is not None):
        raise KeyboardInterrupt
    data = {
        "machine": spec.machine,
        "backend": "realtime",
        **config.metadata(),
        "options": node_options(options),
        "listen": f"{listen[0]}:{listen[1]}",
        "start_epoch": started.epoch,
        # a process started again after a real crash did not wake at the common start
        "start_offset": None if rejoining else started.offset,
        "queued": report.queued,
        "dropped": report.dropped,
        "lateness": [round(x, 7) for x in report.lateness],
        "drained": report.drained,
        "stopped_at": report.stopped_at,
        "ticks": len(report.events),
    }
    if spec.real_crash:  # the launcher accounts for what a killed process took with it
        data["queued_ids"] = report.queued_ids
    if rejoining:
        data["rejoined"] = spec.rejoin
    path = spec.out / node_file(spec.machine)
    try:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
    except OSError as exc:
        unwritable(exc)
        raise cannot_write(spec.out, exc) from None
    if stdio is not None:
        stdio.say("done")
    return data


def _print_line(line: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        print(line, flush=True)


class _Unwritable:
    """The first write of this node's files that failed (a full disk, a file-size limit).

    The node stops at once, and under a launcher says ``unwritable <reason>`` on its
    stdout first: the launcher stops the whole run and publishes nothing (a run with
    a log cut short is no run). :func:`run_node` then raises the one-line LogError.
    """

    def __init__(self, stop: threading.Event, hurry: threading.Event) -> None:
        self.stop = stop
        self.hurry = hurry
        self.error: OSError | None = None
        #: The launcher's side channel, once there is one.
        self.say: Callable[[str], None] | None = None

    def __call__(self, exc: OSError) -> None:
        if self.error is None:
            self.error = exc
            if self.say is not None:
                self.say(f"unwritable {write_failure(exc)}")
        self.stop.set()
        self.hurry.set()


def _announcing_pauses(
    sink: Callable[[Event], None], say: Callable[[str], None]
) -> Callable[[Event], None]:
    """``sink``, and after a PAUSE row ``paused`` to the launcher, which then stops this
    process for the window (:mod:`.pauses`): the row is on disk before the process stops."""

    def write(event: Event) -> None:
        sink(event)
        if event.event == PAUSE:
            say("paused")

    return write


def _both(log_file: _AppendFile, state_log: _StateFile) -> Callable[[Event], None]:
    """Write a row to the log, then the state it leaves to stable storage."""

    def sink(event: Event) -> None:
        log_file(event)
        state_log(event)

    return sink


def _report_progress(node: Node, stdio: _Stdio, stop: threading.Event) -> None:
    while not stop.wait(PROGRESS_PERIOD):
        p = node.progress()
        stdio.say(f"progress {p.tick} {p.clock} {p.queue}")
        if p.tick >= p.ticks:
            return
    p = node.progress()
    stdio.say(f"progress {p.tick} {p.clock} {p.queue}")


class _Starter:
    """Gets the common start instant to the node: from the launcher, or through machine 0."""

    def __init__(
        self, node: Node, spec: NodeSpec, stdio: _Stdio | None, stop: threading.Event
    ) -> None:
        self.node = node
        self.spec = spec
        self.stdio = stdio
        self.stop = stop
        self.epoch: float | None = None
        self.offset: float | None = None
        self.error: Exception | None = None
        self._thread: threading.Thread | None = None
        self._digest = run_digest(spec.config, spec.options)

    def ready(self, machine: int, error: str | None) -> None:
        """Called by the node once its links are up (or cannot be)."""
        if error is not None:
            return
        if self.stdio is not None:
            self.stdio.say("ready")
        elif self.spec.machine != 0:
            self.node.transport.send_control(0, b"ready " + self._digest.encode())
        self._thread = threading.Thread(target=self._wait, name="lamport-start", daemon=True)
        self._thread.start()

    def finish(self) -> None:
        self.node.cancel()
        if self._thread is not None:
            self._thread.join(5)

    def _fail(self, error: Exception) -> None:
        self.error = error
        self.node.cancel()

    def _wait(self) -> None:
        """Wait for the start (or give it, on machine 0); begin the node; time the start."""
        timeout = self.spec.options.connect_timeout + 5.0
        epoch: float | None
        try:
            if self.stdio is not None:
                self.stdio.got_start.wait()
                if self.stdio.start_ns is None or self.stop.is_set():
                    self.node.cancel()
                    return
                epoch = self.stdio.start_ns / 1e9
            elif self.spec.machine == 0:
                epoch = self._lead(timeout)
            else:
                epoch = self._follow(timeout)
        except (NetworkError, ConfigError) as exc:
            self._fail(exc)
            return
        if epoch is None:
            self.node.cancel()
            return
        start = _monotonic_of(epoch)
        self.epoch = epoch
        self.node.begin(start)
        while (left := start - time.monotonic()) > 0:
            time.sleep(left)
        self.offset = time.time() - epoch
        if self.stdio is not None:
            self.stdio.say(f"started {self.offset:.7f}")

    def _control(
        self, timeout: float, what: str, awaited: Collection[int]
    ) -> tuple[int, bytes] | None:
        """The next control frame, or None if stopped. Raise NetworkError after the timeout,
        or if a machine in ``awaited`` leaves first."""
        transport = self.node.transport
        give_up = time.monotonic() + timeout
        while not transport.control:
            if self.stop.is_set():
                return None
            if transport.error is not None:
                raise NetworkError(transport.error)
            gone = [j for j in awaited if transport.lost(j)]
            if gone:
                raise NetworkError(
                    f"machine {self.spec.machine}: machine {gone[0]} left before the start"
                )
            if time.monotonic() > give_up:
                raise NetworkError(
                    f"machine {self.spec.machine}: {what} within {timeout:g} s of connecting"
                )
            transport.control_arrived.wait(POLL)
            transport.control_arrived.clear()
        return transport.control.popleft()

    def _lead(self, timeout: float) -> float | None:
        """Machine 0: collect every ready, check the digests, send the start."""
        n = self.spec.config.n_machines
        waiting = set(range(1, n))
        transport = self.node.transport
        while waiting:
            listed = ", ".join(map(str, sorted(waiting)))
            got = self._control(timeout, f"machine {listed} never became ready", waiting)
            if got is None:
                return None
            peer, payload = got
            word, _, digest = payload.partition(b" ")
            if word != b"ready":
                continue
            if digest.decode() != self._digest:
                reason = (
                    f"machine {peer}'s config differs from machine 0's "
                    f"(digest {digest.decode()} against {self._digest})"
                )
                for j in range(1, n):
                    transport.send_control(j, b"abort " + reason.encode())
                time.sleep(0.1)  # let the aborts leave
                raise ConfigError(reason)
            waiting.discard(peer)
        ns = round((time.time() + START_LEAD) * 1e9)
        epoch = ns / 1e9  # exactly what the others read from the frame
        payload = b"start %d" % ns
        for j in range(1, n):
            transport.send_control(j, payload)
        return epoch

    def _follow(self, timeout: float) -> float | None:
        while True:
            got = self._control(timeout, "no start from machine 0", (0,))
            if got is None:
                return None
            peer, payload = got
            word, _, rest = payload.partition(b" ")
            if peer == 0 and word == b"start":
                return int(rest) / 1e9
            if peer == 0 and word == b"abort":
                raise ConfigError(rest.decode("ascii", "replace"))
