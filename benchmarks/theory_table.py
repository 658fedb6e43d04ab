"""Predicted (lamport.theory) versus DES-observed values for the whole catalogue.

Runs every catalogue experiment on the DES for seeds 0..SEEDS-1 (60 s each)
and prints one Markdown row per machine: arrival rate, receive share, queue
growth and clock rate, predicted and observed (mean over the seeds). Experiment
1 draws its rates per seed: its predicted column is the mean of the per-seed
predictions. ``docs/theory.md`` holds the output of

    .venv/bin/python benchmarks/theory_table.py [SEEDS]
"""

from __future__ import annotations

import sys
import time
from statistics import fmean, stdev
from typing import Any

from lamport.config import catalogue
from lamport.des.model import simulate
from lamport.theory import compare, predict_config

QUANTITIES = ("arrival_rate", "receive_share", "queue_growth", "clock_rate")


def experiment_rows(number: int, seeds: int) -> list[dict[str, Any]]:
    """Per machine: predicted and observed means over the seeds, and the queue's spread."""
    exp = catalogue()[number]
    per_seed = []
    for seed in range(seeds):
        config = exp.config(seed)
        per_seed.append(compare(predict_config(config), simulate(config).summary()))
    rows = []
    for machine in range(len(per_seed[0])):
        entries = [seed_rows[machine] for seed_rows in per_seed]
        verdicts = sorted({e["verdict"] for e in entries})
        rates = sorted({e["rate"] for e in entries})
        row: dict[str, Any] = {
            "experiment": number,
            "machine": machine,
            "rate": f"{rates[0]:g}" if len(rates) == 1 else "1..6",
            "verdict": verdicts[0] if len(verdicts) == 1 else "mixed",
            "final_queue": fmean(float(e["final_queue_obs"]) for e in entries),
            "final_queue_sd": stdev(float(e["final_queue_obs"]) for e in entries),
        }
        for key in QUANTITIES:
            row[f"{key}_pred"] = fmean(float(e[f"{key}_pred"]) for e in entries)
            row[f"{key}_obs"] = fmean(float(e[f"{key}_obs"]) for e in entries)
        rows.append(row)
    return rows


def percent(pred: float, obs: float) -> str:
    return f"{100 * (obs - pred) / pred:+.1f}%" if pred else "—"


def main(argv: list[str]) -> None:
    seeds = int(argv[0]) if argv else 50
    start = time.perf_counter()
    print(
        "| exp | m | rate | verdict | arrivals/s pred / obs | receive share pred / obs "
        "| queue growth /s pred / obs | final queue obs (sd) | clock/s pred / obs | clock err |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for number in sorted(catalogue()):
        for r in experiment_rows(number, seeds):
            print(
                f"| {r['experiment']} | {r['machine']} | {r['rate']} | {r['verdict']} "
                f"| {r['arrival_rate_pred']:.3f} / {r['arrival_rate_obs']:.3f} "
                f"| {r['receive_share_pred']:.3f} / {r['receive_share_obs']:.3f} "
                f"| {r['queue_growth_pred']:.3f} / {r['queue_growth_obs']:.3f} "
                f"| {r['final_queue']:.1f} ({r['final_queue_sd']:.1f}) "
                f"| {r['clock_rate_pred']:.3f} / {r['clock_rate_obs']:.3f} "
                f"| {percent(r['clock_rate_pred'], r['clock_rate_obs'])} |"
            )
    print(
        f"\n{seeds} seeds x {len(catalogue())} experiments in {time.perf_counter() - start:.1f} s"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
