"""How much order do Lamport clocks invent? The eleven experiments on the DES.

``python benchmarks/causality_table.py --seeds 20`` simulates every catalogue
experiment (60 s, seeds 0 .. K-1, default DES options), derives each run's
vector clocks from its logs (:mod:`lamport.causality`) and prints a Markdown
table: per experiment, mean ± 95% CI over seeds of

* the share of pairs of events on different machines that are concurrent;
* among the pairs with C(a) < C(b), the share that are causally unrelated
  (order the Lamport clocks invent);
* the same two shares for pairs less than one second apart in model time
  (``--near``), where "could a have influenced b?" is the question one asks.

docs/causality.md quotes its output.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from lamport import causality
from lamport.config import catalogue
from lamport.des import simulate
from lamport.stats import mean_ci


def near_shares(logs, solved, window: float) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """The two shares over cross-machine pairs at most ``window`` model seconds apart."""
    n = len(logs)
    times = [np.array([e.t for e in log]) for log in logs]
    clocks = [np.array([e.clock for e in log]) for log in logs]
    pairs = related = ordered = invented = 0
    for b in range(n):
        for a in range(n):
            if a == b or not len(times[a]) or not len(times[b]):
                continue
            # pairs (x on a, y on b) with |t_x - t_y| <= window, counted once per unordered pair
            if a > b:
                continue
            for k, (t, c) in enumerate(zip(times[b], clocks[b], strict=True)):
                lo = np.searchsorted(times[a], t - window, side="left")
                hi = np.searchsorted(times[a], t + window, side="right")
                if lo == hi:
                    continue
                idx = np.arange(lo, hi)
                before = idx < solved.clocks[b][k][a]  # x happened before y
                after = solved.clocks[a][idx, b] >= k + 1  # y happened before x
                linked = before | after
                differ = clocks[a][idx] != c
                pairs += len(idx)
                related += int(linked.sum())
                ordered += int(differ.sum())
                invented += int((differ & ~linked).sum())
    return (
        (pairs - related) / pairs if pairs else float("nan"),
        invented / ordered if ordered else float("nan"),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--near", type=float, default=1.0, help="model seconds (default 1)")
    args = parser.parse_args()
    near = f"{args.near:g} s"
    print(
        f"| exp | name | rates | p_send | concurrent | invented | concurrent ≤{near} "
        f"| invented ≤{near} |"
    )
    print("|---:|:---|:---|---:|---:|---:|---:|---:|")
    for number, exp in sorted(catalogue().items()):
        shares: list[list[float]] = [[], [], [], []]
        for seed in range(args.seeds):
            logs = simulate(exp.config(seed)).logs
            solved = causality.analyze(logs)
            found = causality.concurrency(logs, solved)
            close = near_shares(logs, solved, args.near)
            for column, value in enumerate((found.concurrent_share, found.invented_share, *close)):
                shares[column].append(value)
        cells = []
        for values in shares:
            mean, half = mean_ci([v for v in values if v == v])
            cells.append(f"{100 * mean:.1f} ± {100 * half:.1f} %")
        rates = "random 1..6" if exp.rates is None else ", ".join(f"{r:g}" for r in exp.rates)
        print(f"| {number} | {exp.name} | {rates} | {exp.p_send:g} | " + " | ".join(cells) + " |")
    print(f"\n{args.seeds} seeds per experiment, 60 model seconds each, DES defaults.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
