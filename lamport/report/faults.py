"""The report's section on a run's fault plan: what each fault did (docs/faults.md)."""

from __future__ import annotations

from typing import Any

from lamport.core import CRASH, RECEIVE, RESTART, TICK_KINDS
from lamport.faults import DROP_REASONS, Crash, fault_text
from lamport.report.document import Bullets, Paragraph, Table
from lamport.result import RunResult


def _crash_sentence(run: RunResult, crash: Crash) -> str:
    """What a crash did to its machine: ticks missed, messages lost, the clock on restart
    and the jump of the first receive after it."""
    m = crash.machine
    log = run.logs[m]
    end = crash.at + crash.duration
    rows = [i for i, e in enumerate(log) if e.event in (CRASH, RESTART) and crash.at <= e.t <= end]
    lost = [d for d in run.dropped if d.recipient == m and d.reason == "crash"]
    lost = [d for d in lost if crash.at <= d.t <= end]
    head = f"Machine {m} was down from {crash.at:g} s to {end:g} s"
    if len(rows) < 2:
        return f"{head}; its log holds no CRASH and RESTART pair for it."
    down, up = log[rows[0]], log[rows[1]]
    missed = _downtime(run, crash)
    clock = (
        f"its clock restarted at 0 (it had reached {down.clock})"
        if up.clock != down.clock
        else f"its clock was restored at {up.clock}"
    )
    after = next((e for e in log[rows[1] + 1 :] if e.event == RECEIVE), None)
    first = (
        f"; its first receive after the restart (t = {after.t:.3f} s) jumped by {after.jump}"
        if after is not None
        else "; it received nothing after the restart"
    )
    return (
        f"{head}: {missed} scheduled ticks did not happen, {len(lost)} messages were lost "
        f"(its queue at the crash and what arrived while it was down), {clock}{first}."
    )


def _downtime(run: RunResult, crash: Crash) -> int:
    """The machine's scheduled ticks inside this crash's window."""
    from lamport.invariants import downtime_ticks

    table = {
        "faults": [
            {"kind": "crash", "machine": crash.machine, "at": crash.at, "duration": crash.duration}
        ]
    }
    return downtime_ticks({**run.metadata, **table}, crash.machine)


def _conserved(run: RunResult) -> bool:
    from lamport.invariants import violations

    return not any("conservation" in v for v in violations(run.metadata, run.logs))


def fault_blocks(run: RunResult) -> list[Any]:
    """The blocks of the report's Faults section (none for a run without faults)."""
    if not run.config.faults:
        return []
    n = run.n_machines
    counts = {(m, r): 0 for m in range(n) for r in DROP_REASONS}
    for d in run.dropped:
        counts[(d.recipient, d.reason)] += 1
    rows = []
    for m, log in enumerate(run.logs):
        ticks = sum(1 for e in log if e.event in TICK_KINDS)
        cells = [str(counts[(m, r)]) for r in DROP_REASONS]
        total = sum(counts[(m, r)] for r in DROP_REASONS)
        rows.append([str(m), str(ticks), *cells, str(total)])
    sentences = [_crash_sentence(run, f) for f in run.config.faults if isinstance(f, Crash)]
    lost = len(run.dropped)
    holds = "holds" if _conserved(run) else "does NOT hold"
    sentences.append(
        f"{lost} messages were lost in all (network.csv); sent = received + queued + dropped "
        f"{holds} for every machine."
    )
    return [
        Paragraph("The plan: " + "; ".join(f"`{fault_text(f)}`" for f in run.config.faults) + "."),
        Table(
            ["machine", "ticks", *[f"lost: {r}" for r in DROP_REASONS], "lost"],
            rows,
            caption="Messages lost on their way to each machine, by reason.",
        ),
        Bullets(sentences),
    ]
