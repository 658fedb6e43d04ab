"""The DES's band for a real-time run: where the model puts a seed's summary figures.

A real-time run of one seed is checked against the DES's 1st..99th percentile
over many seeds, per machine and figure. The seed run is the first whose own
DES run lies within the 10th..90th percentile: the test then measures the
backend, not the luck of the seed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lamport.config import RunConfig
from lamport.des import simulate


@dataclass(frozen=True)
class Band:
    """Per machine and figure, the DES's 1st and 99th percentiles, and the seed to run."""

    figures: tuple[str, ...]
    low: np.ndarray
    high: np.ndarray
    seed: int

    def check(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Assert that summary rows (one per machine) lie within the band."""
        got = np.array([[row[f] for f in self.figures] for row in rows])
        inside = (self.low <= got) & (got <= self.high)
        assert inside.all(), (
            self.seed,
            self.figures,
            got.tolist(),
            self.low.tolist(),
            self.high.tolist(),
        )


def des_band(
    config: Callable[[int], RunConfig], figures: Iterable[str], seeds: Iterable[int] = range(50)
) -> Band:
    """The band of ``figures`` (summary columns) over the DES runs of ``config(seed)``."""
    figures = tuple(figures)
    seeds = list(seeds)
    des = np.array(
        [[[row[f] for f in figures] for row in simulate(config(s)).summary()] for s in seeds]
    )  # seed x machine x figure
    low, high = np.percentile(des, [1, 99], axis=0)
    central_low, central_high = np.percentile(des, [10, 90], axis=0)
    seed = next(
        s
        for s, d in zip(seeds, des, strict=True)
        if ((central_low <= d) & (d <= central_high)).all()
    )
    return Band(figures, low, high, seed)
