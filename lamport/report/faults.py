"""The report's section on a run's fault plan: what each fault did (docs/faults.md)."""

from __future__ import annotations

from typing import Any

from lamport.core import RECEIVE, TICK_KINDS
from lamport.faults import DROP_REASONS, fault_text
from lamport.plan import Plan, Span
from lamport.report.document import Bullets, Paragraph, Table
from lamport.result import RunResult

#: How a window reads in the report, by the row kind that opens it; a kind without an
#: entry reads by its rows' names.
_STATE_WORDS = {"CRASH": "down", "PAUSE": "paused"}


def _window_sentence(run: RunResult, plan: Plan, span: Span) -> str:
    """What a window did to its machine: ticks missed, messages lost or kept, the clock
    after it and the jump of the first receive after it."""
    m = span.machine
    log = run.logs[m]
    at, end = span.at, span.until
    opens, closes = span.opens.event, span.closes.event
    rows = [i for i, e in enumerate(log) if e.event in (opens, closes) and at <= e.t <= end]
    state = _STATE_WORDS.get(opens, f"between {opens} and {closes}")
    head = f"Machine {m} was {state} from {at:g} s to {end:g} s"
    if len(rows) < 2:
        return f"{head}; its log holds no {opens} and {closes} pair for it."
    down, up = log[rows[0]], log[rows[1]]
    missed = _missed(plan, span)
    if span.opens.loses:
        reason = span.opens.loses
        lost = [d for d in run.dropped if d.recipient == m and d.reason == reason]
        lost = [d for d in lost if at <= d.t <= end]
        held = (
            f"{len(lost)} messages were lost (its queue at the {opens} and what arrived "
            f"until its {closes})"
        )
    else:
        held = (
            f"its queue was kept ({down.queue} messages at the {opens}, {up.queue} at the {closes})"
        )
    clock = (
        f"its clock restarted at 0 (it had reached {down.clock})"
        if up.clock != down.clock
        else f"its clock was {'restored' if span.opens.loses else 'kept'} at {up.clock}"
    )
    after = next((e for e in log[rows[1] + 1 :] if e.event == RECEIVE), None)
    first = (
        f"; its first receive after the {closes} (t = {after.t:.3f} s) jumped by {after.jump}"
        if after is not None
        else f"; it received nothing after the {closes}"
    )
    return f"{head}: {missed} scheduled ticks did not happen, {held}, {clock}{first}."


def _missed(plan: Plan, span: Span) -> int:
    """The machine's scheduled ticks inside this one window."""
    ticks = plan.config.tick_units(span.machine, plan.units // plan.config.grid)
    return sum(1 for when in ticks if span.start <= when < span.end)


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
    plan = Plan(run.config)
    sentences = [_window_sentence(run, plan, span) for span in plan.spans]
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
