"""The report's sections for an imported run: what the logs held, and Lamport's rules.

An imported run (``lamport import``) is another implementation's logs. Its
report says which files it came from, what they recorded and what not (so
which analyses could not be made, and why), and the verdict of
:func:`lamport.check.check_run` on Lamport's rules, naming source lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lamport.report.document import Bullets, Heading, Paragraph, Table
from lamport.result import RunResult

__all__ = ["imported_blocks"]

#: Breaks of the rules listed in the report before "and N more".
RULE_LIMIT = 20


def imported_blocks(run: RunResult) -> list[Any]:
    """Sections for an imported run (none for a run lamport made)."""
    info = run.metadata.get("import")
    if not isinstance(info, dict):
        return []
    ids = info.get("ids") or []
    files = info.get("files") or []
    machine_files = info.get("machine_files") or []
    rows = []
    for machine, rate in enumerate(run.metadata.get("rates") or []):
        f = files[machine_files[machine]] if machine < len(machine_files) else {}
        rows.append(
            [
                str(machine),
                str(ids[machine]) if machine < len(ids) else "",
                Path(str(f.get("path", "?"))).name,
                f"{rate:g} ({(info.get('rates_from') or ['?'] * (machine + 1))[machine]})",
                str(f.get("sha256", ""))[:12],
            ]
        )
    absent = run.metadata.get("absent") or {}
    held = [
        f"Format: {info.get('format')}; times: {info.get('time')}; "
        f"fields found: {', '.join(info.get('fields_present') or [])}.",
        f"p_send {run.metadata.get('p_send')} ({info.get('p_send_from')}); "
        f"duration {run.metadata.get('duration')} s (first to last event, plus one period "
        "of the fastest machine).",
        "Messages matched: "
        + {
            "msg_id": "by the message ids the logs carry.",
            "fifo": "in FIFO order per link (the k-th receive from a sender is its k-th send "
            "to this machine): TCP keeps order per connection, so this assumes one "
            "connection per link.",
            "none": "not at all.",
        }.get(str(info.get("matching")), str(info.get("matching"))),
    ]
    if info.get("merged_sends"):
        held.append(
            f"{info['merged_sends']} send lines were one event logged once per recipient "
            "(same clock, same time) and were merged."
        )
    for shape, count in (info.get("lines_without_clock") or {}).items():
        held.append(f"{count} lines of a shape that never carries a clock were skipped: {shape}")
    if info.get("unparsed_lines"):
        held.append(
            f"{info['unparsed_lines']} lines did not parse and were left out: "
            + "; ".join(info.get("first_unparsed") or [])
        )
    blocks: list[Any] = [
        Heading("What the logs held"),
        Table(["machine", "source name", "file", "rate (from)", "sha256"], rows),
        Bullets(held),
    ]
    if absent:
        blocks.append(
            Paragraph(
                "Not in the logs, so not analysed (the figures that need them are left out "
                "or computed from what is there):"
            )
        )
        blocks.append(Bullets([f"{field}: {why}" for field, why in absent.items()]))
    if run.path is not None:
        from lamport.check import check_run

        report = check_run(run.path)
        blocks.append(Heading("Lamport's rules"))
        verdict = (
            "Every rule the logs allow to check holds."
            if report.ok
            else f"{len(report.problems)} breaks of Lamport's rules, by source file and line:"
        )
        blocks.append(Paragraph(verdict))
        if not report.ok:
            blocks.append(Bullets(report.lines(RULE_LIMIT)))
        blocks.append(Bullets([f"checked: {rule}" for rule in report.checked or []]))
        if report.not_checked:
            blocks.append(Bullets([f"not checkable: {rule}" for rule in report.not_checked]))
    return blocks
