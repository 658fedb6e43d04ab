"""The report's "Compared with the model" section: an imported run held against the
model's band, machine by machine and figure by figure (:mod:`lamport.compare`,
docs/compare.md). The same verdicts as ``lamport compare DIR``. The comparison is made
by whoever writes the report (:func:`lamport.report.write_report` calls
:func:`lamport.compare.compare_run`); this module only lays it out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lamport.compare import TABLE_COLUMNS, TABLE_LEFT
from lamport.report.document import Block, Bullets, Heading, Paragraph, Table

if TYPE_CHECKING:
    from lamport.compare import Comparison

HEADING = "Compared with the model"


def compare_blocks(comparison: Comparison) -> list[Block]:
    """The section's blocks for a run's comparison: what was compared, the verdicts' table,
    one sentence per figure outside the band and one line per figure not possible."""
    blocks: list[Block] = [
        Paragraph(
            f"The run's figures against the model: {comparison.model_text()}. "
            f"{comparison.verdict_text()}. The band runs from the model's 1st to its 99th "
            "percentile; the percentile is the share of simulated runs below the run's "
            "value (ties count half). docs/compare.md explains every figure."
        ),
        Table(
            list(TABLE_COLUMNS),
            [v.cells() for v in comparison.verdicts],
            left=TABLE_LEFT,
            caption=f"Each machine's figures against {len(comparison.model.seeds)} runs of "
            "the model",
        ),
    ]
    if comparison.outside:
        blocks.append(Bullets(comparison.sentences()))
    theory = comparison.theory_text()
    if theory:
        blocks.append(Paragraph(f"The {theory}."))
    not_possible = comparison.not_possible_lines()
    if not_possible:
        blocks += [Paragraph("Not possible from these logs:"), Bullets(not_possible)]
    return blocks


def compare_section(comparison: Comparison | None) -> list[Block]:
    """The section, heading first; nothing when the run was not compared (only an imported
    run is)."""
    if comparison is None:
        return []
    return [Heading(HEADING), *compare_blocks(comparison)]
