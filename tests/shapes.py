"""A lamport run written out as students' implementations write their logs.

Each shape imitates a kind of log seen in implementations of the exercise:
separators, kind words, time formats, machine names, partial fields. The
import tests write a run in a shape, import it back, and compare. A shape is a
function ``(run, machine, names) -> lines``; ``SHAPES`` names them, with what
each one leaves out of the logs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from lamport.core import INTERNAL, RECEIVE, SEND, Event

EPOCH = 1_717_171_717.0


def _stamp(e: Event, fmt: str) -> str:
    moment = datetime.fromtimestamp(EPOCH + e.t, tz=UTC)
    text = moment.strftime(fmt)
    return text


def _peers(e: Event, names: Sequence[str]) -> list[str]:
    return [names[int(p)] for p in e.peer.split("+")] if e.peer else []


def csv_header(run, machine: int, names: Sequence[str]) -> list[str]:
    """timestamp,event,clock,queue,peer — Unix seconds, SEND/RECEIVE/INTERNAL, peers by +."""
    lines = [
        f"# machine {names[machine]} tick rate {run.rates[machine]:g}",
        "timestamp,event,clock,queue,peer,msg_clock",
    ]
    for e in run.logs[machine]:
        peer = "+".join(_peers(e, names))
        mc = "" if e.event == INTERNAL else str(e.msg_clock)
        lines.append(f"{EPOCH + e.t:.6f},{e.event},{e.clock},{e.queue},{peer},{mc}")
    return lines


def labelled(run, machine: int, names: Sequence[str]) -> list[str]:
    """[date time,ms] event=sent to=B clock=5 queue=0 — key=value, lower-case past tense."""
    out = [f"Starting machine {names[machine]} with rate={run.rates[machine]:g}"]
    for e in run.logs[machine]:
        stamp = _stamp(e, "%Y-%m-%d %H:%M:%S,%f")
        if e.event == SEND:
            body = f"event=sent to={'+'.join(_peers(e, names))} clock={e.clock} queue={e.queue}"
        elif e.event == RECEIVE:
            body = (
                f"event=received from={names[int(e.peer)]} msg_clock={e.msg_clock} "
                f"clock={e.clock} queue={e.queue}"
            )
        else:
            body = f"event=internal clock={e.clock} queue={e.queue}"
        out.append(f"[{stamp}] {body}")
    return out


def sentences(run, machine: int, names: Sequence[str]) -> list[str]:
    """[m2] got msg from m0 (msg clock 4), clock now 17, 2 left in queue — sentences, no time."""
    me = names[machine]
    out = []
    for e in run.logs[machine]:
        if e.event == SEND:
            to = _peers(e, names)
            target = "both" if len(to) > 1 else to[0]
            out.append(f"[{me}] sent msg to {target}, clock now {e.clock}")
        elif e.event == RECEIVE:
            out.append(
                f"[{me}] got msg from {names[int(e.peer)]} (msg clock {e.msg_clock}), "
                f"clock now {e.clock}, {e.queue} left in queue"
            )
        else:
            out.append(f"[{me}] internal event, clock now {e.clock}")
    return out


def python_logging(run, machine: int, names: Sequence[str]) -> list[str]:
    """2024-06-01 12:00:00,123 - INFO - Received message from 1 with clock 4. Logical clock: 5.
    Queue length: 2 — Python's logging, a broadcast as one line per recipient, no queue on
    sends."""
    out = [
        f"{_stamp(run.logs[machine][0], '%Y-%m-%d %H:%M:%S')},000 - INFO - "
        f"Machine {names[machine]} started, ticks per second: {run.rates[machine]:g}"
    ]
    for e in run.logs[machine]:
        stamp = _stamp(e, "%Y-%m-%d %H:%M:%S,%f")[:-3]
        if e.event == SEND:
            for to in _peers(e, names):
                out.append(
                    f"{stamp} - INFO - Sent message to machine {to}. Logical clock: {e.clock}"
                )
        elif e.event == RECEIVE:
            out.append(
                f"{stamp} - INFO - Received message from machine {names[int(e.peer)]} with "
                f"clock {e.msg_clock}. Logical clock: {e.clock}. Queue length: {e.queue}"
            )
        else:
            out.append(f"{stamp} - INFO - Internal event. Logical clock: {e.clock}")
    return out


def semicolons(run, machine: int, names: Sequence[str]) -> list[str]:
    """1717171717.5;RECV;5;2;1 — no header, abbreviated kinds, no message clock."""
    out = []
    for e in run.logs[machine]:
        word = {SEND: "SND", RECEIVE: "RECV", INTERNAL: "INT"}[e.event]
        peer = "+".join(_peers(e, names))
        out.append(f"{EPOCH + e.t:.3f};{word};{e.clock};{e.queue};{peer}")
    return out


def bars_no_sender(run, machine: int, names: Sequence[str]) -> list[str]:
    """Time: 12:00:00.250 | Event: Receive | Logical clock: 7 | Queue: 1 — time of day,
    receives without their sender, sends without a queue."""
    out = []
    for e in run.logs[machine]:
        stamp = _stamp(e, "%H:%M:%S.%f")
        if e.event == SEND:
            to = _peers(e, names)
            target = "ALL" if len(to) > 1 else to[0]
            out.append(f"Time: {stamp} | Event: Send | To: {target} | Logical clock: {e.clock}")
        elif e.event == RECEIVE:
            out.append(
                f"Time: {stamp} | Event: Receive | Logical clock: {e.clock} | Queue: {e.queue}"
            )
        else:
            out.append(
                f"Time: {stamp} | Event: Internal | Logical clock: {e.clock} | Queue: {e.queue}"
            )
    return out


def blocks(run, machine: int, names: Sequence[str]) -> list[str]:
    """One event over several lines, blank lines between events — kind, then time, queue and
    clock on lines of their own; the rate in a header; no peers."""
    out = [f"Began process at {EPOCH:.2f}", f"Ticks: {run.rates[machine]:g}", ""]
    for e in run.logs[machine]:
        out.append(f"{e.event} message" if e.event != INTERNAL else "INTERNAL event")
        out.append(f"Global time: {EPOCH + e.t:.4f}")
        if e.event == RECEIVE:
            out.append(f"Queue length: {e.queue}")
        out.append(f"Logical clock time: {e.clock}")
        out.append("")
    return out


def noisy(run, machine: int, names: Sequence[str]) -> list[str]:
    """Date-time : VM<i> ..., with error lines that carry no clock between the events, and
    the message clock as the number after the kind word (``Sent: 5``)."""
    me = f"VM{machine}"
    out = [
        f"{_stamp(run.logs[machine][0], '%Y-%m-%d %H:%M:%S,%f')[:-3]} : {me} listening on port 4096"
    ]
    for k, e in enumerate(run.logs[machine]):
        stamp = _stamp(e, "%Y-%m-%d %H:%M:%S,%f")[:-3]
        if k % 7 == 3:
            out.append(f"{stamp} : Failed to receive message!")
        if e.event == SEND:
            to = "+".join(f"VM{p}" for p in e.peer.split("+"))
            out.append(
                f"{stamp} : {me} Sent: {e.msg_clock} to {to} | Logical Clock Time: {e.clock}"
            )
        elif e.event == RECEIVE:
            out.append(
                f"{stamp} : {me} Received: {e.msg_clock} from VM{e.peer} | "
                f"Logical Clock Time: {e.clock} | Message Queue Length: {e.queue}"
            )
        else:
            out.append(f"{stamp} : {me} Internal event | Logical Clock Time: {e.clock}")
    return out


def kind_cells(run, machine: int, names: Sequence[str]) -> list[str]:
    """received,global time,len of queue,logical clock time — a CSV whose kind cell names
    the recipient (``SEND TO B``), receives as ``POP FROM QUEUE``, an odd header word."""
    out = ["received,global time,len of queue,logical clock time"]
    for e in run.logs[machine]:
        if e.event == SEND:
            to = _peers(e, names)
            kind = "SEND TO BOTH" if len(to) > 1 else f"SEND TO {to[0]}"
        elif e.event == RECEIVE:
            kind = "POP FROM QUEUE"
        else:
            kind = "INTERNAL EVENT"
        out.append(f"{kind},{EPOCH + e.t:.6f},{e.queue},{e.clock}")
    return out


#: name -> (render, names of the machines, what the shape leaves out)
SHAPES: dict[str, tuple[Callable, Callable[[int], list[str]], set[str]]] = {
    "csv_header": (csv_header, lambda n: [str(i) for i in range(n)], set()),
    "labelled": (labelled, lambda n: [chr(ord("A") + i) for i in range(n)], set()),
    "sentences": (sentences, lambda n: [f"m{i}" for i in range(n)], {"time", "queue_send"}),
    "python_logging": (python_logging, lambda n: [str(i + 1) for i in range(n)], {"queue_send"}),
    "semicolons": (semicolons, lambda n: [str(i + 1) for i in range(n)], {"msg_clock"}),
    "blocks": (
        blocks,
        lambda n: [str(i) for i in range(n)],
        {"send_to", "receive_from", "queue_send", "msg_clock"},
    ),
    "kind_cells": (
        kind_cells,
        lambda n: [chr(ord("A") + i) for i in range(n)],
        {"receive_from", "msg_clock"},
    ),
    "noisy": (noisy, lambda n: [f"VM{i}" for i in range(n)], {"queue_send"}),
    "bars_no_sender": (
        bars_no_sender,
        lambda n: [f"vm_{i}" for i in range(n)],
        {"receive_from", "queue_send", "msg_clock"},
    ),
}


def write_shape(run, shape: str, folder) -> tuple[list, list[str]]:
    """Write the run's logs in a shape into ``folder``: the paths, and the machine names."""
    render, naming, _ = SHAPES[shape]
    names = naming(run.n_machines)
    paths = []
    for machine in range(run.n_machines):
        path = folder / f"{shape}-{machine}.log"
        path.write_text("\n".join(render(run, machine, names)) + "\n", encoding="utf-8")
        paths.append(path)
    return paths, names
