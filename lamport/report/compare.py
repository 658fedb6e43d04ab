"""The report's "Compared with the model" section: an imported run held against the
model's band, machine by machine and figure by figure (:mod:`lamport.compare`,
docs/compare.md). The same verdicts as ``lamport compare DIR``.
"""

from __future__ import annotations

from lamport.compare import DEFAULT_SEEDS, TABLE_COLUMNS, TABLE_LEFT, compare_run
from lamport.report.document import Block, Bullets, Heading, Paragraph, Table
from lamport.result import RunResult
from lamport.schema import IMPORTED

HEADING = "Compared with the model"


def compare_blocks(run: RunResult, seeds: int = DEFAULT_SEEDS) -> list[Block]:
    """The section's blocks for any run: what was compared, the verdicts' table, one
    sentence per figure outside the band and one line per figure not possible."""
    comparison = compare_run(run, seeds)
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


def compare_section(run: RunResult, seeds: int = DEFAULT_SEEDS) -> list[Block]:
    """The section, heading first, for an imported run; nothing for any other run."""
    if run.metadata.get("backend") != IMPORTED:
        return []
    return [Heading(HEADING), *compare_blocks(run, seeds)]
