"""The event-log writer and reader shared by every backend (SPEC section 3).

A run directory holds ``machine-<id>.csv`` per machine and ``run.json``. The
writer stages everything in a hidden sibling directory
(``.<name>.partial-<pid>``) and renames it into place only when ``run.json`` is
written, so a directory named like a run is always a complete run; a crash
leaves the staged ``.partial`` directory, logs intact up to the crash.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from lamport.core import Event
from lamport.errors import LogError
from lamport.schema import COLUMNS, RUN_FILE, log_name, parse_row
from lamport.validate import is_number


def check_writable(out: Path, marker: str = RUN_FILE) -> Path:
    """Check ``out`` can become an output directory before any work is done.

    An existing ``out`` is acceptable if it holds an earlier output (it has
    ``marker``, and will be replaced) or is empty. Raise LogError otherwise.
    """
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise LogError(f"--out {out}: exists and is not a directory")
        if any(out.iterdir()) and not (out / marker).is_file():
            raise LogError(f"--out {out}: exists, is not empty and holds no {marker}")
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
    recorded = out / marker
    if force or not recorded.is_file():
        return out
    wanted = json.loads(json.dumps(identity))  # tuples as lists, as run.json has them
    try:
        existing = json.loads(recorded.read_text(encoding="utf-8"))
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


class Staging:
    """A hidden sibling directory that becomes ``out`` in one rename when complete."""

    def __init__(self, out: Path, marker: str = RUN_FILE) -> None:
        self.out = check_writable(Path(out), marker)
        self.path = self.out.parent / f".{self.out.name}.partial-{os.getpid()}"

    def create(self) -> Path:
        try:
            if self.path.exists():
                shutil.rmtree(self.path)
            self.path.mkdir(parents=True)
        except OSError as exc:
            raise LogError(f"--out {self.out}: cannot write ({exc.strerror})") from None
        return self.path

    def publish(self) -> Path:
        """Replace ``out`` (an earlier output, if any) with the staged directory."""
        if self.out.exists():
            shutil.rmtree(self.out)
        os.replace(self.path, self.out)
        return self.out

    def discard(self) -> None:
        if self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)


class RunWriter:
    """Write one run's logs as events happen, then publish the directory atomically.

    Use as a context manager; call :meth:`write` per event and :meth:`finish`
    with the run metadata at the end. Leaving the block without ``finish``
    removes the staging directory unless ``keep_partial`` is set.
    """

    def __init__(self, out: Path, n_machines: int, keep_partial: bool = False) -> None:
        self._staging = Staging(Path(out))
        self.out = self._staging.out
        self.n_machines = n_machines
        self.keep_partial = keep_partial
        self._files: list[IO[str]] = []
        self._writers: list[Any] = []
        self.finished = False

    @property
    def staging(self) -> Path:
        """The hidden directory the logs are written to until :meth:`finish`."""
        return self._staging.path

    def __enter__(self) -> RunWriter:
        self._staging.create()
        try:
            for machine in range(self.n_machines):
                handle = open(self.staging / log_name(machine), "w", newline="", encoding="utf-8")
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(COLUMNS)
                self._files.append(handle)
                self._writers.append(writer)
        except OSError as exc:
            self._close()
            raise LogError(f"--out {self.out}: cannot write ({exc.strerror})") from None
        return self

    def write(self, event: Event) -> None:
        self._writers[event.machine].writerow(event)

    def write_many(self, machine: int, events: Iterable[Event]) -> None:
        self._writers[machine].writerows(events)

    def flush(self, machine: int | None = None) -> None:
        files = self._files if machine is None else [self._files[machine]]
        for handle in files:
            handle.flush()

    def finish(self, metadata: Mapping[str, Any]) -> Path:
        """Close the logs, write ``run.json`` and move the run into place."""
        self._close()
        write_json(self.staging / RUN_FILE, metadata)
        self.finished = True
        return self._staging.publish()

    def _close(self) -> None:
        for handle in self._files:
            if not handle.closed:
                handle.close()

    def __exit__(self, *exc_info: object) -> None:
        self._close()
        if not self.finished and not self.keep_partial:
            self._staging.discard()


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")


def write_run(
    out: Path, metadata: Mapping[str, Any], events: Mapping[int, list[Event]] | list[list[Event]]
) -> Path:
    """Write a finished run (all events in memory) as a run directory."""
    per_machine = list(events.values()) if isinstance(events, Mapping) else list(events)
    with RunWriter(out, len(per_machine)) as writer:
        for machine, rows in enumerate(per_machine):
            writer.write_many(machine, rows)
        return writer.finish(metadata)


def read_log(path: Path) -> list[Event]:
    """Read one machine log. Raise LogError naming the file and line if it is malformed."""
    try:
        handle = open(path, newline="", encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise LogError(f"{path}: cannot read ({exc.strerror})") from None
    with handle:
        try:
            return _parse_log(path, csv.reader(handle))
        except UnicodeDecodeError:
            raise LogError(f"{path}: not UTF-8 text") from None
        except csv.Error as exc:
            raise LogError(f"{path}: malformed CSV ({exc})") from None
        except OSError as exc:
            raise LogError(f"{path}: cannot read ({exc.strerror})") from None


def _parse_log(path: Path, reader: Iterator[list[str]]) -> list[Event]:
    header = next(reader, None)
    if header is None or tuple(header[: len(COLUMNS)]) != COLUMNS:
        raise LogError(f"{path}: header is not the log schema ({','.join(COLUMNS)})")
    width = len(header)
    events = []
    for line, row in enumerate(reader, start=2):
        if len(row) != width:
            raise LogError(f"{path}: line {line}: {len(row)} cells, the header has {width}")
        try:
            events.append(parse_row(row))
        except ValueError as exc:
            raise LogError(f"{path}: line {line}: malformed row ({exc})") from None
    return events


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
    if not path.is_file():
        raise LogError(f"{directory}: not a {kind} directory (no {name})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LogError(f"{path}: malformed ({exc})") from None
    if not isinstance(data, dict):
        raise LogError(f"{path}: malformed (not a JSON object)")
    return data


def read_metadata(run_dir: Path) -> dict[str, Any]:
    """Read ``run.json``. Raise LogError if the directory is not a run."""
    data = read_directory_json(Path(run_dir), RUN_FILE, "run")
    path = Path(run_dir) / RUN_FILE
    if not isinstance(data.get("rates"), list):
        raise LogError(f"{path}: malformed (no rates list)")
    return data


def read_run(run_dir: Path) -> tuple[dict[str, Any], list[list[Event]]]:
    """Read a run directory: its metadata and each machine's events, by machine id."""
    metadata = read_metadata(run_dir)
    logs = [read_log(Path(run_dir) / log_name(m)) for m in range(len(metadata["rates"]))]
    return metadata, logs
