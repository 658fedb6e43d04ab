"""The predicted-versus-observed table of a report, built in one place.

A run report predicts its own configuration; a sweep report predicts each
experiment whose rates are fixed and compares with the mean over its seeds.
Clock rates are :mod:`lamport.theory`'s deficit chain under the case's start
phases (random by default: every clock then runs a little faster than the
fastest machine ticks) and latency.
Both hand :func:`prediction_table` one :class:`PredictionCase` per
configuration and get the same columns, computed by
:func:`lamport.theory.compare` with the same definitions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lamport.report.cells import num
from lamport.report.document import Paragraph, Table

#: What "observed" means in the table's caption; the definitions of lamport.theory.compare.
OBSERVED = (
    "arrivals = (receives + final queue) / duration, receive share = receives / ticks, "
    "queue growth = final queue / duration, clock rate = final clock / duration"
)


@dataclass
class PredictionCase:
    """One configuration to predict, and what was observed of it.

    ``summary_rows`` are summary rows (``summary.csv``'s columns) of one or more
    runs of it; ``observed`` gives the text of the "observed" column per machine
    (a run's queue verdict, a sweep's share of growing seeds); ``experiment``
    labels the case's rows in a table of several. ``phase`` and ``latency`` are
    the runs' start phases (``"random"``, ``"aligned"`` or one per machine) and
    network latency in seconds (None: the DES default, 1 ms); they shape the
    predicted clock rates.
    """

    rates: Sequence[float]
    p_send: float
    duration: float | None
    summary_rows: Sequence[Mapping[str, Any]]
    observed: Mapping[int, str] = field(default_factory=dict)
    experiment: int | None = None
    phase: str | Sequence[float] = "random"
    latency: float | None = None


@dataclass
class Prediction:
    """The table, the comparisons it shows (per case), and the cases left out (and why)."""

    table: Table
    compared: list[list[dict[str, Any]]]
    skipped: list[str]


def prediction_table(
    cases: Sequence[PredictionCase], observed_header: str = "observed", caption: str = ""
) -> Prediction:
    """Predict every case with :mod:`lamport.theory` and tabulate it against the observation.

    A case the theory refuses (a ValueError, e.g. rates that differ between the
    summary rows) is left out and named in ``skipped``.
    """
    from lamport.config import DEFAULT_LATENCY
    from lamport.theory import compare, predict

    by_experiment = len(cases) > 1 or any(c.experiment is not None for c in cases)
    rows = []
    compared_all = []
    skipped = []
    for case in cases:
        try:
            latency = DEFAULT_LATENCY if case.latency is None else case.latency
            predictions = predict(
                list(case.rates),
                case.p_send,
                duration=case.duration,
                latency=latency,
                phase=case.phase,
            )
            compared = compare(predictions, list(case.summary_rows))
        except ValueError as exc:
            skipped.append(f"{case.experiment} ({exc})" if by_experiment else str(exc))
            continue
        compared_all.append(compared)
        for i, c in enumerate(compared):
            head = [num(case.experiment) if i == 0 else ""] if by_experiment else []
            rows.append(
                [
                    *head,
                    num(c["machine"]),
                    f"{c['rate']:g}",
                    str(c["verdict"]),
                    case.observed.get(int(c["machine"]), "n/a"),
                    num(c["arrival_rate_pred"]),
                    num(c["arrival_rate_obs"]),
                    num(c["receive_share_pred"]),
                    num(c["receive_share_obs"]),
                    num(c["queue_growth_pred"]),
                    num(c["queue_growth_obs"]),
                    num(c["clock_rate_pred"]),
                    num(c["clock_rate_obs"]),
                ]
            )
    columns = ["exp"] if by_experiment else []
    columns += ["machine", "rate", "predicted", observed_header]
    for quantity in ("arrivals/s", "receive share", "queue growth", "clock rate"):
        columns += [f"{quantity} pred", "obs"]
    table = Table(
        columns,
        rows,
        left=("predicted", observed_header),
        caption=(
            "Queueing theory (lamport.theory: long-run fluid limit; clock rates from the "
            "deficit chain under the runs' start phases, docs/theory.md) against "
            f"{caption or 'the run'}. Observed: {OBSERVED}."
        ),
    )
    return Prediction(table, compared_all, skipped)


def no_prediction(reason: str) -> Paragraph:
    return Paragraph(f"No prediction: {reason}.")
