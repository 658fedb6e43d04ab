"""A process run assembled from what its nodes left: their reports, logs and drops.

The launcher (:mod:`.launcher`) and :func:`collect` (nodes started by hand,
on any hosts) both read each node's ``node-<id>.json``, ``machine-<id>.csv``
and ``drops-<id>.csv`` back (:func:`node_report`; :func:`dead_report` for a
node that died and left no report), merge the drops into ``network.csv``
(:func:`all_drops`), and, after real crashes, count what a killed process
took with it as ``crash`` drops, from the logs (:func:`account_for_kills`).
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lamport.backend import get_backend
from lamport.config import RunConfig
from lamport.core import RECEIVE, SEND
from lamport.errors import ConfigError
from lamport.faults import Drop, fault_text
from lamport.files import read_json, reason
from lamport.logs import Staging, cannot_write, read_drops_file, read_log, write_drops, write_json
from lamport.realtime.node import NodeReport, crashes_of
from lamport.realtime.process import cut_torn_line, drops_file, run_digest
from lamport.realtime.record import RunRecord
from lamport.schema import NETWORK_FILE, RUN_FILE, log_name

__all__ = [
    "account_for_kills",
    "all_drops",
    "collect",
    "dead_report",
    "kill_windows",
    "node_report",
]


def node_report(data: dict[str, Any], folder: Path) -> NodeReport:
    i = int(data["machine"])
    report = NodeReport(i)
    report.events = read_log(folder / log_name(i))
    report.queued = int(data["queued"])
    report.dropped = [int(x) for x in data["dropped"]]
    report.lateness = [float(x) for x in data["lateness"]]
    report.drained = bool(data["drained"])
    report.stopped_at = data.get("stopped_at")
    report.lost = read_drops_file(folder / drops_file(i))
    report.queued_ids = [str(x) for x in data.get("queued_ids", [])]
    return report


def dead_report(folder: Path, i: int, n: int, columns: Sequence[str]) -> NodeReport:
    """What a dead node left: its log (``columns``) and its drops up to their last whole line."""
    path = folder / log_name(i)
    report = NodeReport(i, dropped=[0] * n)
    header = (",".join(columns) + "\n").encode()
    drops = folder / drops_file(i)
    for name in (path, drops):
        with contextlib.suppress(OSError):
            cut_torn_line(name)
    try:
        data = path.read_bytes()
    except OSError:
        data = b""
    if not data.startswith(header):  # killed before its log had a header on disk
        path.write_bytes(header)
    report.events = read_log(path)
    with contextlib.suppress(OSError):
        if drops.stat().st_size == 0:  # killed before its header was on disk
            drops.unlink()
    report.lost = read_drops_file(drops)
    return report


def all_drops(reports: Sequence[NodeReport]) -> list[Drop]:
    """Every message the plan lost, in the order of ``network.csv``."""
    return sorted((d for r in reports for d in r.lost), key=lambda d: (d.t, d.sender))


def kill_windows(
    config: RunConfig, kills: Sequence[Mapping[str, Any]]
) -> dict[int, list[tuple[float, float]]]:
    """(crash, restart) model times of each machine's real crashes that were played."""
    windows: dict[int, list[tuple[float, float]]] = {}
    for entry in kills:
        i = entry["machine"]
        crash = next(c for c in crashes_of(config, i) if fault_text(c) == entry["fault"])
        windows.setdefault(i, []).append((crash.at, crash.at + crash.duration))
    return {i: sorted(w) for i, w in windows.items()}


def account_for_kills(
    reports: Sequence[NodeReport], windows: Mapping[int, Sequence[tuple[float, float]]]
) -> None:
    """Count what a killed process took with it as ``crash`` drops, from the logs.

    A message that no log receives, no node lost on purpose and no node holds
    queued at the end, sent to a killed machine before its restart (its queue at
    the kill, in flight, or sent while its links were down), or sent by a killed
    process before its kill, is lost at ``max(its send, the kill)``. The transport's
    counts of messages it could not send to a killed machine are replaced by what is
    left unaccounted of them (sent after the restart, before the links were up again).
    ``windows`` holds each killed machine's (crash, restart) model times.
    """
    n = len(reports)
    accounted: set[tuple[str, int]] = set()
    for r in reports:
        accounted.update((e.msg_id, r.machine) for e in r.events if e.event == RECEIVE)
        accounted.update((d.msg_id, d.recipient) for d in r.lost)
        accounted.update((m, r.machine) for m in r.queued_ids)
    leftover = [[0] * n for _ in range(n)]  # [sender][recipient]
    for r in reports:
        for e in r.events:
            if e.event != SEND:
                continue
            for recipient in map(int, e.peer.split("+")):
                if (e.msg_id, recipient) in accounted:
                    continue
                at = _lost_at(windows.get(recipient, ()), e.t, before_restart=True)
                if at is None:
                    at = _lost_at(windows.get(r.machine, ()), e.t, before_restart=False)
                if at is None:
                    leftover[r.machine][recipient] += 1
                else:
                    reports[recipient].lost.append(
                        Drop(at, r.machine, recipient, e.msg_id, "crash")
                    )
    for killed in windows:
        for r in reports:
            if r.dropped:
                r.dropped[killed] = leftover[r.machine][killed]


def _lost_at(
    windows: Sequence[tuple[float, float]], sent: float, before_restart: bool
) -> float | None:
    """When a message sent at ``sent`` was lost to the first of these crashes it met:
    the recipient's first window whose restart comes after the send, or the sender's
    first kill at or after the send. None if it met none."""
    for crash, restart in windows:
        if before_restart and sent < restart:
            return max(sent, crash)
        if not before_restart and sent <= crash:
            return crash
    return None


def collect(directories: Sequence[Path], out: Path) -> Path:
    """Assemble the node directories of a run (``node`` commands, any hosts) into ``out``.

    Each directory holds ``node-<id>.json`` and ``machine-<id>.csv`` of some
    nodes; together they must hold every machine of one run exactly once.
    Raise ConfigError (one line) if they do not, LogError if a log is malformed.
    """
    found: dict[int, tuple[Path, dict[str, Any]]] = {}
    for folder in map(Path, directories):
        if not folder.is_dir():
            raise ConfigError(f"{folder}: not a directory")
        for path in sorted(folder.glob("node-*.json")):
            try:
                data = read_json(path)  # a regular file only, not too deep
                machine = int(data["machine"])
            except OSError as exc:
                raise ConfigError(f"{path}: cannot read ({reason(exc)})") from None
            except (ValueError, KeyError, TypeError) as exc:
                raise ConfigError(f"{path}: not a node report ({exc})") from None
            if machine in found:
                raise ConfigError(f"{path}: machine {machine} also in {found[machine][0]}")
            found[machine] = (path, data)
    if not found:
        raise ConfigError("no node-<id>.json in the directories given")
    first_path, first = found[min(found)]
    config = RunConfig.from_metadata(first)
    backend = get_backend("realtime")
    options = backend.options_from_metadata(first)
    digest = run_digest(config, options)
    for path, data in found.values():
        if run_digest(RunConfig.from_metadata(data), backend.options_from_metadata(data)) != digest:
            raise ConfigError(f"{path}: a different run from {first_path}")
        if data.get("start_epoch") != first.get("start_epoch"):
            raise ConfigError(f"{path}: a different start from {first_path}")
    missing = sorted(set(range(config.n_machines)) - set(found))
    if missing:
        raise ConfigError(f"no node-{missing[0]}.json in the directories given")
    stop = threading.Event()
    record = RunRecord(config, options, stop)
    record.start_epoch = float(first["start_epoch"])
    record.ports = [int(found[i][1]["listen"].rpartition(":")[2]) for i in range(len(found))]
    reports = [node_report(found[i][1], found[i][0].parent) for i in range(len(found))]
    if any(r.stopped_at is not None for r in reports):
        stop.set()
    offsets = {i: float(found[i][1]["start_offset"] or 0.0) for i in range(len(found))}
    metadata = record.processes_metadata(reports, offsets, [])
    staging = Staging(Path(out))
    try:  # create() too: a stop right after its mkdir must not leave the directory
        folder = staging.create()
        for i in range(len(found)):
            shutil.copyfile(found[i][0].parent / log_name(i), folder / log_name(i))
        if config.faults:
            write_drops(folder / NETWORK_FILE, all_drops(reports))
        write_json(folder / RUN_FILE, metadata)
    except OSError as exc:
        staging.discard()
        raise cannot_write(Path(out), exc) from None
    except BaseException:
        staging.discard()
        raise
    return staging.publish()
