"""The event-log writer and reader shared by every backend (docs/spec.md, the log schema).

A run directory holds ``machine-<id>.csv`` per machine and ``run.json``. The
writer stages everything in a hidden sibling directory
(``.<name>.partial-<pid>``) and renames it into place only when ``run.json`` is
written, so a directory named like a run is always a complete run. Publishing
never loses a run: an earlier run at ``out`` is moved aside
(``.<name>.old-<pid>``), the new one moved in, and only then the old one
deleted; if any step fails the old run is put back.

One process at a time writes a given ``out``: :func:`lock_out` takes an
``fcntl.flock`` on ``.<name>.lock`` next to it, held until the process ends,
and a second run refuses at once with one line. A failed write (a full disk, a
file size limit) stops the writer, which removes its staging directory and
raises one :class:`LogError` (``--out X: no space left on device``); staging
and set-aside directories of processes that no longer exist (a run killed with
SIGKILL) are removed the next time a run writes into the same folder.
"""

from __future__ import annotations

import atexit
import contextlib
import csv
import errno
import fcntl
import json
import os
import re
import shutil
import signal
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from lamport.core import Event
from lamport.errors import LamportError, LogError, stops_held
from lamport.faults import DROP_REASONS, Drop
from lamport.files import open_regular, read_bytes, read_json, reason
from lamport.schema import (
    CLOCK_COLUMNS,
    COLUMNS,
    DTYPES,
    IMPORTED,
    INT64_LIMIT,
    INTEGER_TEXT,
    LINE_COLUMN,
    LOG_PATTERN,
    NETWORK_COLUMNS,
    NETWORK_FILE,
    NUMBER_TEXT,
    RUN_FILE,
    header_kind,
    log_columns,
    log_name,
    parse_integer,
    parse_number,
    parse_row,
)
from lamport.validate import is_integer, is_number


def check_writable(out: Path, marker: str = RUN_FILE) -> Path:
    """Check ``out`` can become an output directory before any work is done.

    An existing ``out`` is acceptable if it holds an earlier output (it has
    ``marker``, and will be replaced) or is empty. Raise LogError otherwise.
    """
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise LogError(f"--out {out}: exists and is not a directory")
        if os.path.ismount(out):
            raise LogError(f"--out {out}: is a mount point; choose a folder inside it")
        if any(out.iterdir()) and not (out / marker).is_file():
            raise LogError(f"--out {out}: exists, is not empty and holds no {marker}")
        if not os.access(out, os.W_OK | os.X_OK):
            raise LogError(f"--out {out}: is not writable, so it cannot be replaced")
    probe = out.parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise LogError(f"--out {out}: {probe} is not writable")
    return out


def claim_out(
    out: Path, identity: Mapping[str, Any], marker: str = RUN_FILE, force: bool = False
) -> Path:
    """Check, before any work is done, that ``out`` may receive the run ``identity`` names.

    ``identity`` holds the keys of ``marker`` (``run.json`` or ``sweep.json``)
    that say which run it is. An ``out`` that holds the same run (every key of
    ``identity`` equal to the recorded one) may be replaced; one that holds a
    different run only with ``force``. Raise LogError otherwise, or if
    :func:`check_writable` refuses ``out``.
    """
    out = check_writable(out, marker)
    lock_out(out)
    recorded = out / marker
    if force or not recorded.is_file():
        return out
    wanted = json.loads(json.dumps(identity))  # tuples as lists, as run.json has them
    try:
        existing = read_json(recorded)
    except (OSError, ValueError):
        existing = None
    if not isinstance(existing, dict):
        raise LogError(f"--out {out} holds an unreadable {marker}; use --force to replace it")
    if any(existing.get(key) != value for key, value in wanted.items()):
        raise LogError(
            f"--out {out} holds a different run ({describe(existing)}); use --force to replace it"
        )
    return out


def describe(recorded: Mapping[str, Any]) -> str:
    """A few words naming the run or sweep a ``run.json`` / ``sweep.json`` records."""
    parts = [str(recorded.get("backend", "?"))]
    if "experiments" in recorded:
        experiments = recorded.get("experiments") or []
        seeds = recorded.get("seeds") or []
        parts.append(f"sweep of exp {', '.join(str(n) for n in experiments)}")
        parts.append(f"{len(seeds)} seeds")
    else:
        if recorded.get("experiment"):
            parts.append(f"exp {recorded['experiment']}")
        else:
            rates = ",".join(_number(r) for r in recorded.get("rates") or [])
            parts.append(f"rates {rates} p_send {_number(recorded.get('p_send'))}")
        parts.append(f"seed {recorded.get('seed')}")
    if recorded.get("duration") is not None:
        parts.append(f"{_number(recorded['duration'])} s")
    if recorded.get("speed") not in (None, 1):
        parts.append(f"speed {_number(recorded['speed'])}")
    return ", ".join(parts)


def _number(x: Any) -> str:
    return number_text(x) if is_number(x) else str(x)


def number_text(x: float) -> str:
    """A number as short as it can be written and still read back exactly: 1, 0.3, 2.5e-05.

    Used in default directory names, so two different values never share a name.
    """
    short = f"{x:g}"
    return short if float(short) == x else repr(float(x))


#: Lock files held by this process, by output path; the OS releases them at exit.
_HELD: dict[Path, int] = {}
_STAGED = re.compile(r"\.(?P<name>.+)\.(?:partial|old)-(?P<pid>\d+)")


def cannot_write(out: Path, exc: OSError) -> LogError:
    """The one-line error for a failed write under ``out``: ``--out X: cannot write (reason)``."""
    reason = (exc.strerror or str(exc)).lower() if exc.errno != errno.EFBIG else "file too large"
    return LogError(f"--out {out}: cannot write ({reason})")


def _staged(path: Path) -> bool:
    """True for a path inside a staging directory, which its run already owns."""
    return any(_STAGED.fullmatch(part) for part in path.parts[:-1])


def lock_out(out: Path) -> None:
    """Hold ``out`` for this process until :func:`unlock_out` or exit.

    Raise LogError if another run holds it.
    """
    out = Path(out).absolute()
    if out in _HELD or _staged(out):
        return
    # A stop between creating the lock file and noting it held would leave the file
    # behind: the stop waits until it is noted (and removed at exit).
    with stops_held():
        _lock(out)


def _lock(out: Path) -> None:
    lock = out.parent / f".{out.name}.lock"
    while True:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise cannot_write(out, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise LogError(
                f"--out {out}: another run is writing it now; wait or choose another --out"
            ) from None
        try:
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:  # not a lock file its holder unlinked while we opened it
            _HELD[out] = fd
            return
        os.close(fd)


def unlock_out(out: Path) -> None:
    """Let go of ``out`` (see :func:`lock_out`); removes the lock file."""
    out = Path(out).absolute()
    fd = _HELD.pop(out, None)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.unlink(out.parent / f".{out.name}.lock")
        os.close(fd)


@atexit.register
def _unlock_all() -> None:
    for out in list(_HELD):
        unlock_out(out)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(folder: Path) -> list[Path]:
    """Remove the staging and set-aside directories in ``folder`` of processes that are gone."""
    removed: list[Path] = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _STAGED.fullmatch(entry.name)
        if match and entry.is_dir() and not _alive(int(match["pid"])):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back (they arrive after the block) in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    before = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


class Staging:
    """A hidden sibling directory that becomes ``out`` in one rename when complete."""

    def __init__(self, out: Path, marker: str = RUN_FILE) -> None:
        self.out = check_writable(Path(out), marker)
        lock_out(self.out)
        self.path = self.out.parent / f".{self.out.name}.partial-{os.getpid()}"
        self._aside = self.out.parent / f".{self.out.name}.old-{os.getpid()}"

    def create(self) -> Path:
        try:
            remove_stale(self.out.parent)
            if self.path.exists():
                shutil.rmtree(self.path)
            self.path.mkdir(parents=True)
        except OSError as exc:
            raise cannot_write(self.out, exc) from None
        return self.path

    def publish(self) -> Path:
        """Put the staged directory at ``out``; an earlier output there is replaced.

        The earlier output is moved aside first and deleted only once the new
        one is in place; on failure it is put back and LogError is raised.
        """
        had_old = self.out.exists()
        try:
            # Never stop between the two renames, nor before the old run is gone.
            with _signals_held():
                if had_old:
                    os.replace(self.out, self._aside)
                try:
                    os.replace(self.path, self.out)
                except OSError:
                    if had_old:
                        os.replace(self._aside, self.out)
                    raise
                if had_old:
                    shutil.rmtree(self._aside, ignore_errors=True)
                unlock_out(self.out)
        except OSError as exc:
            self.discard()
            reason = (exc.strerror or str(exc)).lower()
            raise LogError(
                f"--out {self.out}: cannot put the run in place ({reason}); "
                "any earlier run there is unchanged"
            ) from None
        return self.out

    def discard(self) -> None:
        if self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)
        unlock_out(self.out)


class RunWriter:
    """Write one run's logs as events happen, then publish the directory atomically.

    Use as a context manager; call :meth:`write` per event and :meth:`finish`
    with the run metadata at the end. Leaving the block without ``finish``
    removes the staging directory unless ``keep_partial`` is set.
    """

    def __init__(
        self,
        out: Path,
        n_machines: int,
        keep_partial: bool = False,
        columns: tuple[str, ...] = COLUMNS,
    ) -> None:
        self._staging = Staging(Path(out))
        #: The header of every log (:func:`lamport.schema.log_columns`); events are rows of it.
        self.columns = columns
        self.out = self._staging.out
        self.n_machines = n_machines
        self.keep_partial = keep_partial
        self._files: list[IO[str]] = []
        self._writers: list[Any] = []
        self.finished = False
        #: The first failed write (a full disk): later writes are skipped, finish raises it.
        self.error: LogError | None = None

    @property
    def staging(self) -> Path:
        """The hidden directory the logs are written to until :meth:`finish`."""
        return self._staging.path

    def __enter__(self) -> RunWriter:
        try:  # create() too: a stop right after its mkdir must not leave the directory
            self._staging.create()
            for machine in range(self.n_machines):
                handle = open(self.staging / log_name(machine), "w", newline="", encoding="utf-8")
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(self.columns)
                self._files.append(handle)
                self._writers.append(writer)
        except OSError as exc:
            self._close()
            self._staging.discard()
            raise cannot_write(self.out, exc) from None
        except BaseException:  # Ctrl-C, SIGTERM: __exit__ will not run
            self._close()
            self._staging.discard()
            raise
        return self

    def _failed(self, exc: OSError) -> None:
        if self.error is None:
            self.error = cannot_write(self.out, exc)

    def write(self, event: Event) -> None:
        """Write one event; after a failed write, do nothing (:meth:`finish` raises)."""
        if self.error is None:
            try:
                self._writers[event.machine].writerow(event)
            except OSError as exc:
                self._failed(exc)

    def write_many(self, machine: int, events: Iterable[Event]) -> None:
        if self.error is None:
            try:
                self._writers[machine].writerows(events)
            except OSError as exc:
                self._failed(exc)

    def flush(self, machine: int | None = None) -> None:
        files = self._files if machine is None else [self._files[machine]]
        for handle in files:
            if self.error is None:
                try:
                    handle.flush()
                except OSError as exc:
                    self._failed(exc)

    def write_drops(self, drops: Iterable[Sequence[Any]]) -> None:
        """Write ``network.csv``: one row per lost message (:data:`NETWORK_COLUMNS`)."""
        if self.error is None:
            try:
                write_drops(self.staging / NETWORK_FILE, drops)
            except OSError as exc:
                self._failed(exc)

    def finish(self, metadata: Mapping[str, Any]) -> Path:
        """Close the logs, write ``run.json`` and move the run into place.

        Raise LogError (and remove the staging directory) if any write failed.
        """
        self._close()
        if self.error is None:
            try:
                write_json(self.staging / RUN_FILE, metadata)
            except OSError as exc:
                self._failed(exc)
        if self.error is not None:
            self._staging.discard()
            raise self.error
        self.finished = True
        return self._staging.publish()

    def _close(self) -> None:
        for handle in self._files:
            if not handle.closed:
                try:
                    handle.close()
                except OSError as exc:
                    self._failed(exc)

    def __exit__(self, *exc_info: object) -> None:
        self._close()
        if not self.finished and not self.keep_partial:
            self._staging.discard()


def replace_text(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all: into a hidden file beside it, then one rename.
    An OSError leaves no partial file behind and is raised for the caller to name."""
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    except OSError:
        partial.unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")


def write_run(
    out: Path,
    metadata: Mapping[str, Any],
    events: Mapping[int, list[Event]] | list[list[Event]],
    drops: Sequence[Sequence[Any]] | None = None,
) -> Path:
    """Write a finished run (all events in memory) as a run directory; with ``drops``
    (a run under a fault plan), its ``network.csv`` too."""
    per_machine = list(events.values()) if isinstance(events, Mapping) else list(events)
    columns = log_columns(metadata.get("clock"))
    with RunWriter(out, len(per_machine), columns=columns) as writer:
        for machine, rows in enumerate(per_machine):
            writer.write_many(machine, rows)
        if drops is not None:
            writer.write_drops(drops)
        return writer.finish(metadata)


def write_drops(path: Path, drops: Iterable[Sequence[Any]]) -> None:
    """Write one row per lost message (:data:`NETWORK_COLUMNS`) to ``path``; raise OSError."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(NETWORK_COLUMNS)
        writer.writerows(drops)


def read_drops(run_dir: Path, machines: int | None = None) -> list[Drop]:
    """The rows of a run's ``network.csv`` (none if it has no such file).
    Raise LogError naming the file and line if it is malformed, or if a row's sender or
    recipient is not one of the run's ``machines`` (when given)."""
    return read_drops_file(Path(run_dir) / NETWORK_FILE, machines)


def read_drops_file(path: Path, machines: int | None = None) -> list[Drop]:
    """The rows of a file in ``network.csv``'s format (none if there is no such file);
    with ``machines``, every sender and recipient must be a machine 0..machines-1.
    A path that is there but is no regular file (a FIFO, a directory) is refused."""
    path = Path(path)
    if not os.path.lexists(path):
        return []
    try:
        with open_regular(path, newline="") as handle:
            rows = list(csv.reader(handle))
    except OSError as exc:
        raise LogError(f"{path}: cannot read ({reason(exc)})") from None
    except UnicodeDecodeError:
        raise LogError(f"{path}: not UTF-8 text") from None
    except csv.Error as exc:
        raise LogError(f"{path}: malformed CSV ({exc})") from None
    if not rows or tuple(rows[0]) != NETWORK_COLUMNS:
        raise LogError(f"{path}: header is not {','.join(NETWORK_COLUMNS)}")
    drops = []
    for line, row in enumerate(rows[1:], start=2):
        try:
            t, sender, recipient, msg_id, why = row
            if why not in DROP_REASONS:
                raise ValueError(f"unknown reason {why!r}")
            drop = Drop(
                parse_number(t, "t"), parse_integer(sender, "sender"),
                parse_integer(recipient, "recipient"), msg_id, why,
            )  # fmt: skip
            for role, machine in (("sender", drop.sender), ("recipient", drop.recipient)):
                if machines is not None and not 0 <= machine < machines:
                    raise ValueError(f"{role} {machine} is not a machine 0..{machines - 1}")
            drops.append(drop)
        except ValueError as exc:
            raise LogError(f"{path}: line {line}: malformed row ({exc})") from None
    return drops


# -- reading logs: one reader, one verdict -------------------------------------------------
#
# Every command reads a run's logs through read_logs (check, export, report, compare,
# analysis.load_run): what one refuses, all refuse, with the same line. Two readers sit
# behind it, which accept exactly the same files: the fast one (pyarrow: every cell read as
# text, held to the schema's number grammar by vectorised regular expressions, then
# converted) and the exact one (the csv module, row by row), which the fast one falls back
# to for anything it does not take, so the exact one names the file and line.

#: The largest model time a log holds, in seconds (about 31 years): any time in
#: microseconds stays an exact integer of a double and of int64.
T_LIMIT = 1e9


def _header_problem(header: Sequence[str] | None, imported: bool) -> str | None:
    """Why a log's header is not the schema's, or None: the columns of
    :data:`COLUMNS`, then those of one clock kind, then (an imported run) ``line``."""
    if header is None or tuple(header[: len(COLUMNS)]) != COLUMNS:
        return f"header is not the log schema ({','.join(COLUMNS)})"
    kind = header_kind(header)
    wanted = (*COLUMNS, *kind.columns)
    allowed = [wanted, (*wanted, LINE_COLUMN)] if imported else [wanted]
    if tuple(header) not in allowed:
        extra = [c for c in header[len(COLUMNS) :] if c not in allowed[-1]]
        what = f"unknown column {extra[0]!r}" if extra else "its columns out of order"
        return f"header has {what}; expected {','.join(allowed[-1])}"
    return None


def _too_large(columns: Sequence[str], cells: Sequence[str]) -> str | None:
    """What is wrong if a clock kind's cell holds a number of 2^63 or more, else None."""
    for column, cell in zip(columns, cells, strict=True):
        if any(int(number) >= INT64_LIMIT for number in _LONG_NUMBER.findall(cell)):
            return f"{column} {cell!r} holds a number of 2^63 or more"
    return None


_LONG_NUMBER = re.compile(r"[0-9]{19,}")


def _time_problem(events: Sequence[Event]) -> tuple[int, str] | None:
    """The first row whose model time is out of range or before the row above's:
    (its index, what), or None. A log's times never go back."""
    previous = 0.0
    for index, e in enumerate(events):
        if not 0 <= e.t < T_LIMIT:
            return index, f"t {e.t!r} is outside 0 .. {T_LIMIT:g} s"
        if e.t < previous:
            return index, f"t {e.t!r} is before the row above's ({previous!r}): times never go back"
        previous = e.t
    return None


def read_log(path: Path, imported: bool = False) -> list[Event]:
    """Read one machine log. Raise LogError naming the file and line if it is malformed.

    ``imported``: the log of an imported run, whose queue cells may be empty and
    whose header ends with ``line``. The exact reader: :func:`read_logs` reads a run's
    logs faster, with the same verdict.
    """
    try:
        handle = open_regular(path, newline="")
    except OSError as exc:
        raise LogError(f"{path}: cannot read ({reason(exc)})") from None
    with handle:
        try:
            return _parse_log(path, csv.reader(handle), imported)
        except UnicodeDecodeError:
            raise LogError(f"{path}: not UTF-8 text") from None
        except csv.Error as exc:
            raise LogError(f"{path}: malformed CSV ({exc})") from None
        except OSError as exc:
            raise LogError(f"{path}: cannot read ({reason(exc)})") from None


def _parse_log(path: Path, reader: Iterator[list[str]], imported: bool = False) -> list[Event]:
    header = next(reader, None)
    problem = _header_problem(header, imported)
    if problem is not None or header is None:
        raise LogError(f"{path}: {problem}")
    width = len(header)
    # a clock kind's columns (carried vector clocks, ...): the event keeps their cells
    kind = header_kind(header)
    extra = [header.index(column) for column in kind.columns]
    # an imported log's source line of each event: an integer, as the import wrote it
    source = header.index(LINE_COLUMN) if LINE_COLUMN in header else None
    record, parse = kind.record, kind.parse
    events: list[Event] = []
    for line, row in enumerate(reader, start=2):
        if len(row) != width:
            raise LogError(f"{path}: line {line}: {len(row)} cells, the header has {width}")
        try:
            event = parse_row(row, imported)
            if source is not None:
                parse_integer(row[source], LINE_COLUMN)
            if extra:
                cells = [row[i] for i in extra]
                too_large = _too_large(kind.columns, cells)
                if too_large:
                    raise ValueError(too_large)
                event = tuple.__new__(record, (*event, *parse(cells)))  # type: ignore[misc]
        except ValueError as exc:
            raise LogError(f"{path}: line {line}: malformed row ({exc})") from None
        events.append(event)
    if not imported:
        found = _time_problem(events)
        if found is not None:
            index, what = found
            raise LogError(f"{path}: line {index + 2}: {what}")
    return events


def read_logs(run_dir: str | Path, n_machines: int, imported: bool = False) -> list[list[Event]]:
    """Read every ``machine-<id>.csv`` of a run directory, fast: the one reader of a run's
    logs that every command uses.

    The same events as :func:`read_log` (which this falls back to for any file the fast
    reader does not take, so its one-line errors apply): records of the logs' clock kind
    (:class:`lamport.core.VectorEvent` for logs with a ``vc`` column). Raise LogError
    naming the file (and line) if a log is missing, no regular file or malformed, or the
    directory holds a log for a machine ``run.json`` does not list.
    """
    run_dir = Path(run_dir)
    names = {log_name(m) for m in range(n_machines)}
    extra = sorted(p.name for p in run_dir.glob(LOG_PATTERN) if p.name not in names)
    if extra:
        raise LogError(f"{run_dir}: {extra[0]} but {RUN_FILE} lists {n_machines} machines")
    logs: list[list[Event]] = []
    for machine in range(n_machines):
        path = run_dir / log_name(machine)
        fast = _read_fast(path, imported)
        logs.append(read_log(path, imported) if fast is None else fast)
        if imported:
            _require_line_column(path)
    return logs


def _require_line_column(path: Path) -> None:
    """Raise LogError unless an imported run's log has its ``line`` column (each event's
    line in its source file), which ``check`` names problems by."""
    try:
        with open_regular(path, newline="") as handle:
            header = next(csv.reader(handle), [])
    except (OSError, ValueError, csv.Error) as exc:
        raise LogError(f"{path}: cannot read ({exc})") from None
    if LINE_COLUMN not in header:
        raise LogError(f"{path}: an imported log without its {LINE_COLUMN} column")


def _read_fast(path: Path, imported: bool = False) -> list[Event] | None:
    """One log through pyarrow, or None if it does not read cleanly: the caller falls
    back to :func:`read_log`, which names the problem. Every cell is read as text and
    held to the schema's grammar (:data:`lamport.schema.INTEGER_TEXT`,
    :data:`lamport.schema.NUMBER_TEXT`) before it is converted, so this takes no cell
    the exact reader refuses. ``imported`` as for :func:`read_log`."""
    try:
        data = read_bytes(path)
    except OSError:
        return None
    # quoting, CR line ends, other scripts' digits: leave them to the csv module
    if b'"' in data or b"\r" in data or not data.isascii():
        return None
    end = data.find(b"\n")
    header = data[: end if end >= 0 else len(data)].decode("ascii").split(",")
    if _header_problem(header, imported) is not None:
        return None
    import io

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    try:
        table = pcsv.read_csv(
            io.BytesIO(data),
            read_options=pcsv.ReadOptions(column_names=header, skip_rows=1, use_threads=False),
            parse_options=pcsv.ParseOptions(ignore_empty_lines=False),
            convert_options=pcsv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                null_values=[],
                check_utf8=False,
            ),
        )
    except (pa.ArrowException, ValueError):
        return None  # a row of the wrong width, ...

    def holds(column: Any, pattern: str) -> bool:
        return bool(
            pc.all(pc.match_substring_regex(column, f"^(?:{pattern})$")).as_py() in (True, None)
        )

    values: dict[str, list[Any]] = {}
    try:
        for name in COLUMNS:
            column, dtype = table.column(name), DTYPES[name]
            if dtype == "float64":
                if not holds(column, NUMBER_TEXT):
                    return None
                numbers = pc.cast(column, pa.float64())
                if pc.all(pc.is_finite(numbers)).as_py() not in (True, None):
                    return None
                values[name] = numbers.to_numpy().tolist()
                if name == "t" and not imported and not _times_hold(numbers.to_numpy()):
                    return None
            elif dtype in ("int64", "Int64"):
                # an imported run's queue may be empty: its source did not log it
                nullable = dtype == "Int64" or (imported and name == "queue")
                if not holds(column, f"(?:{INTEGER_TEXT}){'?' if nullable else ''}"):
                    return None
                if nullable:
                    column = pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)
                integers = pc.cast(column, pa.int64())  # raises past 64 bits
                if name in CLOCK_COLUMNS and (pc.min(integers).as_py() or 0) < 0:
                    return None
                values[name] = integers.to_pylist() if nullable else integers.to_numpy().tolist()
            else:
                values[name] = column.to_pylist()
        if LINE_COLUMN in header:  # an imported log's source lines: integers
            if not holds(table.column(LINE_COLUMN), INTEGER_TEXT):
                return None
            pc.cast(table.column(LINE_COLUMN), pa.int64())  # raises past 64 bits
    except (pa.ArrowException, ValueError):
        return None
    new = tuple.__new__
    events = [new(Event, row) for row in zip(*(values[c] for c in COLUMNS), strict=True)]
    kind = header_kind(header)
    if kind.columns:  # a clock kind's columns: its record reads as an Event, with more fields
        parse, record = kind.parse, kind.record
        texts = [table.column(c) for c in kind.columns]
        if any(pc.any(pc.match_substring_regex(t, "[0-9]{19,}")).as_py() for t in texts):
            return None  # a number of 2^63 or more, maybe: the exact reader decides
        cells = zip(*(t.to_pylist() for t in texts), strict=True)
        try:
            events = [new(record, (*e, *parse(c))) for e, c in zip(events, cells, strict=True)]  # type: ignore[misc]
        except ValueError:
            return None  # the exact reader names the line
    return events


def _times_hold(times: Any) -> bool:
    """True if a log's model times (a numpy array) are in range and never go back, as
    :func:`_time_problem` asks."""
    import numpy as np

    return bool(
        len(times) == 0 or (times[0] >= 0 and times[-1] < T_LIMIT and (np.diff(times) >= 0).all())
    )


def require_directory(path: Path) -> None:
    """Raise LogError if ``path`` does not exist or is not a directory, saying which."""
    if not path.exists():
        raise LogError(f"{path}: no such directory")
    if not path.is_dir():
        raise LogError(f"{path}: not a directory")


def read_directory_json(directory: Path, name: str, kind: str) -> dict[str, Any]:
    """Read the JSON object that marks ``directory`` as a run or sweep output.

    Raise LogError if the directory or the file is missing or the JSON is malformed.
    """
    path = directory / name
    require_directory(directory)
    if not os.path.lexists(path):
        raise LogError(f"{directory}: not a {kind} directory (no {name})")
    try:
        data = read_json(path)
    except OSError as exc:
        raise LogError(f"{path}: cannot read ({reason(exc)})") from None
    except ValueError as exc:
        raise LogError(f"{path}: malformed ({exc})") from None
    if not isinstance(data, dict):
        raise LogError(f"{path}: malformed (not a JSON object)")
    return data


def read_metadata(run_dir: Path) -> dict[str, Any]:
    """Read ``run.json`` and check it describes a run: a known backend, a valid
    model (rates, ``p_send``, duration, seed), and ``queued_at_end`` (and
    ``dropped``, if present) as one count per machine.

    Raise LogError naming the file and the problem if the directory is not a run.
    """
    from lamport.backend import backend_of
    from lamport.config import RunConfig

    data = read_directory_json(Path(run_dir), RUN_FILE, "run")
    path = Path(run_dir) / RUN_FILE
    if not isinstance(data.get("rates"), list):
        raise LogError(f"{path}: malformed (no rates list)")
    backend_of(data, str(path))
    try:
        RunConfig.from_metadata(data)
    except LamportError as exc:
        raise LogError(f"{path}: malformed ({exc})") from None
    n = len(data["rates"])
    for key in ("queued_at_end", "dropped"):
        counts = data.get(key)
        if counts is None and key == "dropped":
            continue
        if not (
            isinstance(counts, list)
            and len(counts) == n
            and all(is_integer(c) and c >= 0 for c in counts)
        ):
            raise LogError(f"{path}: malformed ({key} must list {n} counts >= 0, one per machine)")
    return data


def read_run(run_dir: Path) -> tuple[dict[str, Any], list[list[Event]]]:
    """Read a run directory: its metadata and each machine's events, by machine id."""
    metadata = read_metadata(run_dir)
    n = len(metadata["rates"])
    return metadata, read_logs(run_dir, n, metadata.get("backend") == IMPORTED)
