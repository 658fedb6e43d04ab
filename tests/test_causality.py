"""Derived vector clocks, the clock condition and the concurrency metrics, against
brute force on small runs of the DES and on hand-made logs."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given

from lamport import causality
from lamport.config import RunConfig
from lamport.core import INTERNAL, RECEIVE, SEND, Event
from lamport.des import simulate


def _run(rates=(3, 2, 5), p_send=0.6, duration=4.0, seed=1):
    return simulate(RunConfig(rates=rates, p_send=p_send, duration=duration, seed=seed)).logs


def _edges(logs):
    """Happened-before's generating edges: program order and SEND -> RECEIVE."""
    send_at = {}
    for m, events in enumerate(logs):
        for k, e in enumerate(events):
            if e.event == SEND:
                send_at.setdefault(e.msg_id, (m, k))
    edges = {}
    for m, events in enumerate(logs):
        for k, e in enumerate(events):
            preds = [(m, k - 1)] if k else []
            if e.event == RECEIVE and e.msg_id in send_at:
                preds.append(send_at[e.msg_id])
            edges[(m, k)] = preds
    return edges


def _brute_past(logs):
    """Every event's causal past (events that happened before it), by search."""
    edges = _edges(logs)
    past = {}
    for node in edges:
        seen, todo = set(), list(edges[node])
        while todo:
            x = todo.pop()
            if x not in seen:
                seen.add(x)
                todo.extend(edges[x])
        past[node] = seen
    return past


def _brute_vc(logs):
    past = _brute_past(logs)
    n = len(logs)
    return {
        node: [sum(1 for m, _ in seen | {node} if m == j) for j in range(n)]
        for node, seen in past.items()
    }


CONFIGS = [
    dict(rates=(3, 2, 5), p_send=0.6, duration=4.0, seed=1),
    dict(rates=(1, 1, 6), p_send=0.9, duration=5.0, seed=2),
    dict(rates=(4, 4, 4, 2), p_send=1.0, duration=3.0, seed=3),
    dict(rates=(6, 1), p_send=0.3, duration=6.0, seed=4),
]


@pytest.mark.parametrize("config", CONFIGS)
def test_derived_vector_clocks_equal_brute_force(config):
    logs = _run(**config)
    clocks = causality.vector_clocks(logs)
    expected = _brute_vc(logs)
    for m, events in enumerate(logs):
        assert clocks[m].shape == (len(events), len(logs))
        for k in range(len(events)):
            assert clocks[m][k].tolist() == expected[(m, k)], (m, k)


@pytest.mark.parametrize("config", CONFIGS)
def test_time_order_and_depth_first_passes_agree(config):
    """Zeroing every t makes the time-ordered pass fail over to the general one."""
    logs = _run(**config)
    flat = [[e._replace(t=0.0) for e in events] for events in logs]
    for a, b in zip(causality.vector_clocks(logs), causality.vector_clocks(flat), strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("config", CONFIGS)
def test_happened_before_is_vector_clock_order(config):
    logs = _run(**config)
    solved = causality.analyze(logs)
    past = _brute_past(logs)
    nodes = list(past)
    for a, b in itertools.product(nodes, nodes):
        assert causality.happened_before(solved.of(*a), solved.of(*b)) == (a in past[b]), (a, b)


@pytest.mark.parametrize("config", CONFIGS)
def test_concurrency_counts_equal_brute_force(config):
    logs = _run(**config)
    past = _brute_past(logs)
    pairs = related = ordered = invented = 0
    for a, b in itertools.combinations(past, 2):
        if a[0] == b[0]:
            continue
        pairs += 1
        linked = a in past[b] or b in past[a]
        related += linked
        ca, cb = logs[a[0]][a[1]].clock, logs[b[0]][b[1]].clock
        if ca != cb:
            ordered += 1
            invented += not linked
    found = causality.concurrency(logs)
    assert (found.pairs, found.related, found.clock_ordered, found.invented) == (
        pairs,
        related,
        ordered,
        invented,
    )
    assert found.concurrent_share == pytest.approx((pairs - related) / pairs)
    assert found.invented_share == pytest.approx(invented / ordered)
    assert found.events == sum(len(x) for x in logs)


def test_clock_condition_holds_on_backend_logs():
    for config in CONFIGS:
        assert causality.clock_condition(_run(**config)) == []


def _event(machine, tick, kind, clock, peer="", msg_clock=None, msg_id="", jump=1):
    return Event(
        float(tick), float(tick), machine, tick, kind, clock, jump, 0, peer, msg_clock, msg_id
    )


def test_clock_condition_finds_a_reset_and_its_cause():
    """Machine 0 sends at clock 5 and then its clock falls to 1 (a reset): machine 1's
    receive is fine, machine 0's event after the reset breaks the condition."""
    logs = [
        [
            _event(0, 1, INTERNAL, 4),
            _event(0, 2, SEND, 5, "1", 5, "0:1"),
            _event(0, 3, INTERNAL, 1),
            _event(0, 4, INTERNAL, 2),
            _event(0, 5, INTERNAL, 6),
        ],
        [_event(1, 1, RECEIVE, 6, "0", 5, "0:1")],
    ]
    breaks = causality.clock_condition(logs)
    assert [(b.machine, b.index, b.clock, b.before_machine, b.before_index) for b in breaks] == [
        (0, 2, 1, 0, 1),
        (0, 3, 2, 0, 1),
    ]


def test_clock_condition_across_machines():
    """A RECEIVE whose clock is not above its SEND's breaks the condition."""
    logs = [
        [_event(0, 1, SEND, 7, "1", 7, "0:1")],
        [_event(1, 1, INTERNAL, 1), _event(1, 2, RECEIVE, 3, "0", 7, "0:1")],
    ]
    (b,) = causality.clock_condition(logs)
    assert (b.machine, b.index, b.before_machine, b.before_index, b.before_clock) == (1, 1, 0, 0, 7)


def test_a_receive_before_its_send_is_a_cycle_left_out():
    logs = [
        [_event(0, 1, RECEIVE, 2, "1", 1, "1:1"), _event(0, 2, SEND, 3, "1", 3, "0:1")],
        [_event(1, 1, RECEIVE, 4, "0", 3, "0:1"), _event(1, 2, SEND, 5, "0", 5, "1:1")],
    ]
    solved = causality.analyze(logs)
    assert len(solved.unresolved) == 1
    assert solved.unresolved[0] in {(0, 0), (1, 0)}
    # With one edge left out the rest is a proper partial order.
    assert all(len(m) == 2 for m in solved.clocks)


def test_unknown_message_and_duplicate_ids_do_not_raise():
    logs = [
        [_event(0, 1, SEND, 1, "1", 1, "0:1"), _event(0, 2, SEND, 2, "1", 2, "0:1")],
        [_event(1, 1, RECEIVE, 3, "0", 2, "0:1"), _event(1, 2, RECEIVE, 4, "0", 9, "9:9")],
    ]
    clocks = causality.vector_clocks(logs)
    assert clocks[1].tolist() == [[1, 1], [1, 2]]  # the first SEND of 0:1 wins


def test_topological_order_respects_happened_before():
    logs = _run(**CONFIGS[1])
    solved = causality.analyze(logs)
    order = causality.topological_order(solved)
    assert sorted(order) == sorted(
        (m, k) for m, events in enumerate(logs) for k in range(len(events))
    )
    place = {node: i for i, node in enumerate(order)}
    for node, preds in _edges(logs).items():
        for p in preds:
            assert place[p] < place[node]


def test_messages_pairs_each_receive_with_its_send():
    logs = _run(**CONFIGS[0])
    found = causality.messages(logs)
    assert len(found) == sum(1 for x in logs for e in x if e.event == RECEIVE)
    for (sm, sk), (rm, rk) in found:
        assert logs[sm][sk].msg_id == logs[rm][rk].msg_id
        assert logs[sm][sk].event == SEND


def test_empty_and_silent_runs():
    assert causality.vector_clocks([[], []])[0].shape == (0, 2)
    silent = _run(rates=(2, 3), p_send=0.0, duration=2.0)
    found = causality.concurrency(silent)
    assert found.related == 0 and found.concurrent_share == 1.0
    assert found.invented == found.clock_ordered


# --- the report: concurrency table, explorable space-time diagram ---------------------------

SHIM = r"""
// A few DOM calls, enough to run the diagram's script in node.
function Node(tag) {
  this.tag = tag; this.attrs = {}; this.children = []; this.handlers = {}; this.style = {};
  this.textContent = ""; this.innerHTML = ""; this.value = "";
}
Node.prototype.setAttribute = function (k, v) { this.attrs[k] = String(v); };
Node.prototype.appendChild = function (c) { this.children.push(c); c.parentNode = this; return c; };
Node.prototype.removeChild = function (c) { this.children.splice(this.children.indexOf(c), 1); };
Object.defineProperty(Node.prototype, "firstChild", {
  get: function () { return this.children[0]; } });
Node.prototype.addEventListener = function (k, f) { this.handlers[k] = f; };
var parts = {};
["st-data", "st-svg", "st-tip", "st-start", "st-width", "st-range", "st-clear"].forEach(
  function (c) { parts[c] = new Node(c); });
parts["st-data"].textContent = require("fs").readFileSync(process.argv[2], "utf8");
parts["st-start"].value = "0";
var root = new Node("figure");
root.querySelector = function (sel) { return parts[sel.slice(1)]; };
global.document = {
  currentScript: { parentNode: root },
  createElementNS: function (ns, tag) { return new Node(tag); },
};
eval(require("fs").readFileSync(process.argv[3], "utf8"));
var svg = parts["st-svg"];
function all(node, tag) {
  return node.children.reduce(function (found, c) {
    return found.concat(c.tag === tag ? [c] : [], all(c, tag));
  }, []);
}
function circles() { return all(svg, "circle"); }
var before = circles().length;
var lines = all(svg, "line").length;
var dots = circles();
var pick = dots[Math.floor(dots.length / 2)];
pick.handlers.click();
var fills = {};
circles().forEach(function (c) { fills[c.attrs.fill] = (fills[c.attrs.fill] || 0) + 1; });
var tipBefore = parts["st-tip"].textContent;
circles()[0].handlers.mousemove({ clientX: 1, clientY: 2 });
parts["st-width"].value = "1000"; parts["st-width"].handlers.change();
console.log(JSON.stringify({ before: before, lines: lines, fills: fills,
  tip: parts["st-tip"].textContent, all: circles().length, range: parts["st-range"].textContent }));
"""


def test_report_causality_table_matches_the_metrics():
    from lamport.report.causality import run_blocks

    result = simulate(RunConfig(rates=(3, 2, 5), p_send=0.6, duration=4.0, seed=1))
    table, paragraph = run_blocks(result)
    found = causality.concurrency(result.logs)
    assert table.rows[1][1] == f"{found.concurrent:,}"
    assert table.rows[3][2] == f"{found.invented_share:.1%}"
    assert f"{found.pairs:,} pairs" in paragraph.text


def test_spacetime_html_runs_and_highlights_past_and_future(tmp_path):
    """The diagram's own script, run in node with a minimal DOM: it draws the window,
    a click colours the causal past and future, hover fills the tooltip."""
    from lamport.report.causality import spacetime_html

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    result = simulate(RunConfig(rates=(3, 2, 5), p_send=0.6, duration=20.0, seed=1))
    block = spacetime_html(result, seconds=4.0)
    data = re.search(
        r'<script type="application/json" class="st-data">(.*?)</script>', block.html, re.S
    )
    script = re.search(r"<script>\n(.*?)</script>", block.html, re.S)
    assert data and script
    (tmp_path / "data.json").write_text(data.group(1).replace("<\\/", "</"))
    (tmp_path / "script.js").write_text(script.group(1))
    (tmp_path / "shim.js").write_text(SHIM)
    out = subprocess.run(
        [node, str(tmp_path / "shim.js"), str(tmp_path / "data.json"), str(tmp_path / "script.js")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    seen = json.loads(out.stdout)
    in_window = sum(1 for log in result.logs for e in log if e.t <= 4.0)
    assert seen["before"] == in_window
    assert seen["fills"]["#000"] == 1  # the selected event
    assert seen["fills"].get("#1f78ff", 0) > 0 and seen["fills"].get("#ff8c00", 0) > 0
    assert "vector clock [" in seen["tip"] and "Lamport clock" in seen["tip"]
    assert seen["all"] == sum(len(log) for log in result.logs)  # a 1000 s window shows all
    assert seen["range"].startswith("0.00 s to ")


def test_spacetime_html_caps_what_it_embeds(monkeypatch):
    from lamport.report import causality as report_causality

    monkeypatch.setattr(report_causality, "EMBED_EVENTS", 50)
    result = simulate(RunConfig(rates=(3, 2, 5), p_send=0.6, duration=20.0, seed=1))
    block = report_causality.spacetime_html(result, seconds=4.0)
    assert "The page embeds the first 50 events" in block.html
    assert block.html.count("</script>") == 2


# --- carried vector clocks (--clock vector) equal the derived ones, on both backends --------


@pytest.mark.parametrize("config", CONFIGS)
def test_des_carried_vector_clocks_equal_derived(config, tmp_path):
    from lamport.check import check_run
    from lamport.logs import read_run

    plain = simulate(RunConfig(**config))
    vector = simulate(RunConfig(**config, clock="vector"))
    assert vector.metadata["clock"] == "vector" and plain.metadata["clock"] == "lamport"
    carried = causality.carried_clocks(vector.logs)
    assert carried is not None
    for a, b in zip(carried, causality.vector_clocks(vector.logs), strict=True):
        assert np.array_equal(a, b)
    # The Lamport columns are those of the same run without vectors.
    assert [[e[:11] for e in log] for log in vector.logs] == plain.logs
    assert causality.carried_clocks(plain.logs) is None

    path = vector.write(tmp_path / "vc")
    header = (path / "machine-0.csv").read_text().splitlines()[0]
    assert header.endswith(",msg_id,vc")
    assert read_run(path)[1] == vector.logs
    report = check_run(path)
    assert report.ok and report.carried, report.problems
    assert "carried vector clocks equal the derived ones" in report.summary()


def test_vector_events_frame_has_a_vc_column():
    from lamport.frames import events_frame

    logs = simulate(RunConfig(rates=(2, 3), p_send=0.5, duration=3.0, clock="vector")).logs
    frame = events_frame(logs)
    assert str(frame["vc"].dtype) == "string"
    assert frame["vc"].iloc[-1].count(" ") == 1


def test_realtime_carried_vector_clocks_equal_derived(tmp_path):
    from lamport.check import check_run
    from lamport.realtime import cluster

    config = RunConfig(rates=(4, 3, 5), p_send=0.9, duration=8.0, seed=5, clock="vector")
    result = cluster.run(config, speed=20, out=tmp_path / "rt")
    assert result.metadata["clock"] == "vector"
    received = sum(1 for log in result.logs for e in log if e.event == RECEIVE)
    assert received > 10  # vectors really travelled over the sockets
    carried = causality.carried_clocks(result.logs)
    assert carried is not None
    for a, b in zip(carried, causality.vector_clocks(result.logs), strict=True):
        assert np.array_equal(a, b)
    report = check_run(tmp_path / "rt")
    assert report.ok and report.carried, report.problems


def test_vector_machine_rules():
    from lamport.core import VectorMachine

    def always(u):
        return lambda: u

    a = VectorMachine(0, 2, 1.0, always(0.0))  # sends to machine 1 every free tick
    b = VectorMachine(1, 2, 1.0, always(0.99))  # p_send 1: broadcasts
    e1, out = a.tick(1.0, 1.0)
    assert (e1.event, e1.vc) == (SEND, "1 0")
    assert out is not None and out.message.vc == (1, 0)
    e2, _ = b.tick(1.0, 1.0)
    assert e2.vc == "0 1"
    b.deliver(out.message)
    e3, _ = b.tick(2.0, 2.0)
    assert (e3.event, e3.vc, e3.clock) == (RECEIVE, "1 2", 2)
    assert b.vc == [1, 2]


def test_an_unknown_clock_kind_is_refused():
    from lamport.core import machine_class
    from lamport.errors import ConfigError

    with pytest.raises(ConfigError, match="clock must be one of lamport, vector"):
        RunConfig(rates=(1, 2), clock="hybrid")
    with pytest.raises(ValueError, match="clock must be one of"):
        machine_class("hybrid")


@pytest.mark.parametrize("keep", [None, "csv", "parquet"])
def test_sweep_report_causality_from_kept_or_replayed_runs(tmp_path, keep):
    """The sweep table is the same whether the runs were kept (as run directories or
    Parquet) or replayed on the DES."""
    from lamport.analysis import load_sweep, sweep_rows
    from lamport.des.sweep import sweep
    from lamport.report import replay_causality
    from lamport.report.causality import sweep_blocks

    out = tmp_path / "sweep"
    sweep([4, 9], seeds=2, duration=10, jobs=1, out=out, keep_logs=keep)
    loaded = load_sweep(out)
    (table,) = sweep_blocks(loaded, sweep_rows(loaded), replay_causality(loaded))
    expected = {
        "csv": "the 4 kept run directories",
        "parquet": "the 4 runs kept in events.parquet",
        None: "the first 2 seeds of each experiment were replayed on the DES",
    }[keep]
    assert expected in table.caption
    by_exp = {row[0]: row for row in table.rows}
    for number in (4, 9):
        shares = []
        for seed in (0, 1):
            from lamport.config import experiment

            logs = simulate(experiment(number).config(seed, duration=10)).logs
            shares.append(causality.concurrency(logs).concurrent_share)
        mean = 100 * sum(shares) / 2
        assert by_exp[str(number)][4].startswith(f"{mean:.1f} ± ")


def test_clock_condition_with_negative_clocks_names_real_events():
    """A malformed log with clocks below zero: breaks still name events of the log."""
    logs = [[_event(0, 1, INTERNAL, -3), _event(0, 2, INTERNAL, -5)], [_event(1, 1, INTERNAL, -9)]]
    (b,) = causality.clock_condition(logs)
    assert (b.machine, b.index, b.before_machine, b.before_index) == (0, 1, 0, 0)


@given(
    n=st.integers(2, 5),
    p_send=st.sampled_from([0.3, 0.9, 1.0]),
    steps=st.lists(
        st.tuples(st.integers(0, 4), st.booleans(), st.floats(0, 1, exclude_max=True)),
        max_size=80,
    ),
)
def test_carried_equals_derived_in_any_delivery_order(n, p_send, steps):
    """Core VectorMachines on an in-memory network, ticked and delivered in any order
    (messages overtake each other): the vectors they carry are the derived ones."""
    from lamport.core import VectorMachine

    draws = [0.0] * n
    machines = [VectorMachine(i, n, p_send, lambda i=i: draws[i]) for i in range(n)]
    logs: list[list[Event]] = [[] for _ in range(n)]
    in_flight = []
    for who, deliver, u in steps:
        if deliver and in_flight:
            recipient, msg = in_flight.pop(who % len(in_flight))
            machines[recipient].deliver(msg)
            continue
        machine = who % n
        draws[machine] = u
        event, out = machines[machine].tick(0.0, 0.0)
        logs[machine].append(event)
        if out is not None:
            in_flight += [(r, out.message) for r in out.recipients]
    carried = causality.carried_clocks(logs)
    derived = causality.vector_clocks(logs)
    for machine in range(n):
        if logs[machine]:
            assert carried is not None
            assert np.array_equal(carried[machine], derived[machine])
            assert carried[machine][-1].tolist() == machines[machine].vc
