"""lamport.summary: one row per machine, the columns of summary.csv."""

from __future__ import annotations

import pytest

from lamport.core import INTERNAL, RECEIVE, SEND, Event
from lamport.schema import SUMMARY_COLUMNS
from lamport.summary import run_length, summarize


def event(machine, tick, kind, clock, jump, queue, peer=""):
    return Event(float(tick), float(tick), machine, tick, kind, clock, jump, queue, peer, None, "")


def test_rows_have_the_summary_columns_in_order(exp4_run):
    result, _ = exp4_run
    rows = summarize(result.metadata, result.logs)
    assert [list(row) for row in rows] == [list(SUMMARY_COLUMNS)] * 3


def test_experiment_4_seed_1_by_the_numbers(exp4_run):
    result, _ = exp4_run
    rows = summarize(result.metadata, result.logs)
    assert [r["ticks"] for r in rows] == [60, 180, 360]
    assert [r["final_clock"] for r in rows] == [208, 357, 360]
    assert [r["drift_end"] for r in rows] == [152, 3, 0]
    assert [r["max_jump"] for r in rows] == [13, 16, 1]
    assert [r["final_queue"] for r in rows] == result.queued_at_end == [38, 1, 0]
    assert rows[0]["clock_rate"] == pytest.approx(208 / 60, abs=1e-6)
    for r in rows:
        assert r["n_internal"] + r["n_send"] + r["n_receive"] == r["ticks"]
        assert (r["experiment"], r["seed"], r["name"]) == (4, 1, "big-differences")


def test_counts_by_hand():
    logs = [
        [
            event(0, 1, INTERNAL, 1, 1, 0),
            event(0, 2, SEND, 2, 1, 0, "1+2"),  # a broadcast: two messages
            event(0, 3, RECEIVE, 7, 5, 1, "1"),
        ],
        [event(1, 1, SEND, 1, 1, 0, "0"), event(1, 2, INTERNAL, 9, 8, 3)],
    ]
    meta = {"rates": [1, 1], "p_send": 0.5, "duration": 3, "seed": 4}
    first, second = summarize(meta, logs)
    assert (first["n_internal"], first["n_send"], first["n_receive"]) == (1, 1, 1)
    assert first["messages_sent"] == 2 and second["messages_sent"] == 1
    assert (first["max_queue"], first["final_queue"]) == (1, 1)
    assert (second["max_queue"], second["final_queue"], second["max_jump"]) == (3, 3, 8)
    assert first["mean_jump"] == pytest.approx(7 / 3, abs=1e-6)
    assert (first["drift_end"], second["drift_end"]) == (2, 0)
    assert first["experiment"] == 0 and first["clock_rate"] == pytest.approx(7 / 3, abs=1e-6)


def test_an_interrupted_run_is_measured_to_where_it_stopped():
    meta = {"rates": [1, 1], "p_send": 0.3, "duration": 60, "interrupted": True, "stopped_at": 12}
    assert run_length(meta) == 12.0
    assert run_length({**meta, "interrupted": False}) == 60.0
    logs = [[event(0, 1, INTERNAL, 6, 1, 0)], [event(1, 1, INTERNAL, 3, 1, 0)]]
    rows = summarize({**meta, "queued_at_end": [0, 2]}, logs)
    assert rows[0]["clock_rate"] == 0.5 and rows[1]["final_queue"] == 2


def test_a_machine_without_events():
    rows = summarize({"rates": [1, 1], "p_send": 0.3, "duration": 1}, [[], []])
    assert [(r["ticks"], r["final_clock"], r["mean_jump"]) for r in rows] == [(0, 0, 0)] * 2
