"""Causality in the reports: how much order Lamport clocks invent, and an explorable
space-time diagram.

Run report
    A table of :func:`lamport.causality.concurrency` (pairs of events on
    different machines: how many are concurrent; among those the Lamport
    clocks order, how many are causally unrelated) and, in ``report.html``, the
    space-time diagram made interactive: hover an event to see its clocks and
    message, click it to light up its causal past (blue) and future (orange);
    everything else is concurrent with it. The page draws a window of the run
    (the first seconds by default) and a slider moves it.

Sweep report
    The same two shares per experiment, mean and 95% CI over runs. They come
    from the sweep's kept events (``runs/`` or ``events.parquet``) or, if it
    kept none, from replaying at most :data:`REPLAY_SEEDS` seeds of each
    experiment on the DES, each replay checked against the sweep's own
    summary (final clocks); the report says which. A report runs no simulation:
    :func:`runs_to_replay` says which runs, whoever writes the report replays them
    (:func:`lamport.report.write_report`, through :func:`lamport.des.rerun.replay_sweep`)
    and hands their :class:`Replayed` concurrency to :func:`sweep_blocks`.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from lamport.core import INTERNAL, RECEIVE, SEND, Event
from lamport.report.cells import num, pm
from lamport.report.document import Figure, Paragraph, Raw, Table

if TYPE_CHECKING:
    import pandas as pd

    from lamport.analysis import Sweep
    from lamport.result import RunResult

#: A sweep that kept no events is replayed on the DES for at most this many seeds.
REPLAY_SEEDS = 10
#: The interactive diagram embeds at most this many events (the earliest ones) ...
EMBED_EVENTS = 20_000
#: ... and at most this many vector-clock components in all.
EMBED_NUMBERS = 400_000


def _share(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1%}"


def run_blocks(run: RunResult) -> list[Any]:
    """The run report's causality table and what it means."""
    from lamport import causality

    found = causality.concurrency(run.logs)
    table = Table(
        ["pairs of events on different machines", "count", "share"],
        [
            ["all pairs", f"{found.pairs:,}", "100%" if found.pairs else "n/a"],
            [
                "concurrent (neither happened before the other)",
                f"{found.concurrent:,}",
                _share(found.concurrent_share),
            ],
            ["ordered by Lamport clock (C(a) < C(b))", f"{found.clock_ordered:,}", ""],
            [
                "… of which causally unrelated (order the clocks invent)",
                f"{found.invented:,}",
                _share(found.invented_share),
            ],
        ],
        left=("pairs of events on different machines",),
        caption="Happened-before from the logs (vector clocks derived by lamport.causality); "
        "pairs on one machine are always ordered and are left out.",
    )
    sentence = (
        f"Of the {found.pairs:,} pairs of events on different machines, "
        f"{_share(found.concurrent_share)} are concurrent: neither could have influenced the "
        f"other. Lamport clocks still order {_share(found.invented_share)} of the pairs they "
        "put in order without any causal link: C(a) < C(b) does not mean a happened before b. "
        "The diagram below shows it event by event: click one to see what could have "
        "influenced it."
    )
    return [table, Paragraph(sentence)]


@dataclass(frozen=True)
class Replayed:
    """A sweep's runs replayed on the DES: each matching replay's
    :class:`lamport.causality.Concurrency` by (experiment, seed), and how many replays
    did not match the sweep's summary."""

    found: dict[tuple[int, int], Any]
    mismatched: int = 0


def runs_to_replay(sweep: Sweep) -> dict[tuple[int, int], dict[int, int]]:
    """The runs the sweep's causality table needs replayed, with each machine's final
    clock in ``summary.csv``: the first :data:`REPLAY_SEEDS` seeds of each experiment of
    a DES sweep that kept no events; none for any other sweep."""
    if sweep.run_dirs or sweep.has_events or sweep.backend != "des":
        return {}
    from lamport.analysis import sweep_rows

    rows = sweep_rows(sweep)
    wanted = {}
    for experiment in sweep.experiments:
        seeds = sorted(int(s) for s in rows.loc[rows["experiment"] == experiment, "seed"].unique())
        for seed in seeds[:REPLAY_SEEDS]:
            want = rows[(rows["experiment"] == experiment) & (rows["seed"] == seed)]
            wanted[(experiment, seed)] = {
                int(m): int(c) for m, c in zip(want["machine"], want["final_clock"], strict=True)
            }
    return wanted


def sweep_blocks(sweep: Sweep, rows: pd.DataFrame, replayed: Replayed | None = None) -> list[Any]:
    """The sweep report's causality table: both shares per experiment, mean ± 95% CI.

    A sweep that kept no events needs ``replayed``: its :func:`runs_to_replay` replayed."""
    from lamport.stats import mean_ci

    per_run, source = _sweep_runs(sweep, rows, replayed)
    if not per_run:
        return [Paragraph(f"Causality: not computed ({source}).")]
    by_experiment: dict[int, list[tuple[float, float]]] = {}
    for (experiment, _seed), found in sorted(per_run.items()):
        by_experiment.setdefault(experiment, []).append(
            (found.concurrent_share, found.invented_share)
        )
    names = rows.groupby("experiment")["name"].first()
    p_send = rows.groupby("experiment")["p_send"].first()
    table_rows = []
    for experiment, shares in by_experiment.items():
        concurrent = [a for a, _ in shares if not math.isnan(a)]
        invented = [b for _, b in shares if not math.isnan(b)]
        table_rows.append(
            [
                num(experiment),
                str(names.get(experiment, "")),
                f"{float(p_send.get(experiment, math.nan)):g}",
                num(len(shares)),
                _pct(*mean_ci(concurrent)),
                _pct(*mean_ci(invented)),
            ]
        )
    table = Table(
        ["exp", "name", "p_send", "runs", "concurrent pairs", "invented order"],
        table_rows,
        left=("name",),
        caption="Pairs of events on different machines, per run, then mean ± 95% CI over "
        "runs: the share that is concurrent, and among the pairs Lamport clocks order "
        f"(C(a) < C(b)) the share that is causally unrelated. Source: {source}.",
    )
    return [table]


def _pct(mean: float, half: float) -> str:
    if math.isnan(mean):
        return "n/a"
    return pm(100 * mean, 100 * half, 1) + " %"


def _sweep_runs(
    sweep: Sweep, rows: pd.DataFrame, replayed: Replayed | None
) -> tuple[dict[tuple[int, int], Any], str]:
    """Each run's :class:`lamport.causality.Concurrency` by (experiment, seed), and where
    the events came from."""
    from lamport import causality

    if sweep.run_dirs:
        from lamport.analysis import load_run

        found = {}
        for path in sweep.run_dirs:
            run = load_run(path, validate=False)
            key = (int(run.metadata.get("experiment") or 0), int(run.metadata.get("seed", 0)))
            found[key] = causality.concurrency(run.logs)
        return found, f"the {len(found)} kept run directories"
    if sweep.has_events:
        frame = sweep.events()
        found = {}
        for pair, group in frame.groupby(["experiment", "seed"], sort=True):
            experiment, seed = cast(Any, pair)
            found[(int(experiment), int(seed))] = causality.concurrency(_logs_of(group))
        return found, f"the {len(found)} runs kept in events.parquet"
    return _replayed(sweep, rows, replayed)


def _logs_of(frame: pd.DataFrame) -> list[list[Event]]:
    """One run's events frame back as logs by machine, in tick order."""
    import pandas as pd

    columns = list(Event._fields)
    n = int(frame["machine"].max()) + 1 if len(frame) else 0
    logs: list[list[Event]] = [[] for _ in range(n)]
    ordered = frame.sort_values(["machine", "tick"], kind="stable")
    for values in ordered[columns].itertuples(index=False, name=None):
        record = list(values)
        record[9] = None if pd.isna(record[9]) else int(record[9])
        logs[int(record[2])].append(Event(*record))
    return logs


def _replayed(
    sweep: Sweep, rows: pd.DataFrame, replayed: Replayed | None
) -> tuple[dict[tuple[int, int], Any], str]:
    if sweep.backend != "des":
        return {}, "the sweep kept no events and only DES sweeps can be replayed"
    if replayed is None:
        return {}, "the sweep kept no events and none were replayed"
    most = max((seed_count for seed_count in _seed_counts(rows)), default=0)
    source = (
        f"the sweep kept no events, so the first {min(most, REPLAY_SEEDS)} seeds of each "
        "experiment were replayed on the DES and checked against summary.csv"
    )
    if replayed.mismatched:
        source += f" ({replayed.mismatched} replays did not match and were left out)"
    return replayed.found, source


def _seed_counts(rows: pd.DataFrame) -> list[int]:
    return [int(n) for n in rows.groupby("experiment")["seed"].nunique()]


# -- the interactive space-time diagram ------------------------------------------------------


def spacetime_html(
    run: RunResult, seconds: float, figure: Figure | None = None, machines: int = 12
) -> Raw:
    """The explorable space-time diagram: inline SVG drawn by a small inline script.

    Embeds the earliest events (at most :data:`EMBED_EVENTS`, and
    :data:`EMBED_NUMBERS` vector-clock components) of the first ``machines``
    machines, each machine's down windows (CRASH to RESTART, PAUSE to RESUME) and the
    messages ``network.csv`` lists as lost; the window starts at the first ``seconds``
    model seconds. ``figure`` (the static diagram) stands in for it in Markdown.
    """
    from lamport import causality

    n_all = run.n_machines
    n = min(n_all, machines)
    solved = causality.analyze(run.logs)
    cap = max(1, min(EMBED_EVENTS, EMBED_NUMBERS // max(1, n_all)))
    order = sorted(
        ((e.t, m, k) for m in range(n) for k, e in enumerate(run.logs[m])),
    )[:cap]
    index_of: dict[tuple[int, int], int] = {}
    send_of: dict[str, int] = {}
    events = []
    for i, (_, m, k) in enumerate(order):
        e = run.logs[m][k]
        index_of[(m, k)] = i
        if e.event == SEND:
            send_of.setdefault(e.msg_id, i)
        events.append(
            [
                m,
                k,
                round(e.t, 6),
                e.event,
                e.clock,
                e.queue,
                e.peer,
                e.msg_id,
                solved.clocks[m][k].tolist(),
                e.tick,
            ]
        )
    arrows = [
        [index_of[s], index_of[r]]
        for s, r in causality.messages(run.logs)
        if s in index_of and r in index_of
    ]
    end = max((e[2] for e in events), default=0.0)
    lost = [
        [send_of[d.msg_id], d.recipient, round(d.t, 6), d.msg_id, d.reason]
        for d in run.dropped
        if d.msg_id in send_of and d.recipient < n and d.t <= end
    ]
    data = {
        "n": n,
        "rates": [float(r) for r in run.rates[:n]],
        "events": events,
        "arrows": arrows,
        "down": _down_windows(run, n, end),
        "lost": lost,
        "window": min(seconds, end) if end else seconds,
        "end": end,
    }
    clipped = len(order) < sum(len(run.logs[m]) for m in range(n))
    note = (
        f" The page embeds the first {len(order):,} events (up to t = {end:g} s)."
        if clipped
        else ""
    )
    shown = f" Machines 0–{n - 1} of {n_all}." if n < n_all else ""
    faults = (
        " Shaded: a machine down (from its CRASH ✕ to its RESTART ▲, or paused); a dashed red "
        "line ending in ✕: a message lost (network.csv)."
        if data["down"] or lost
        else ""
    )
    caption = (
        "Space-time diagram: a line per machine, time to the right, an arrow from each SEND to "
        "its RECEIVE; numbers are Lamport clocks (windows of 20 s or less). Hover or focus "
        "(Tab) an event for its clocks and message; click it (or press Enter) to light up its "
        "causal past (blue: could have influenced it) and future (orange: it could influence); "
        "grey events are concurrent with it. The slider moves the window (arrow keys: a tenth "
        f"of its width), the box sets its width in seconds.{faults}{shown}{note}"
    )
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    markup = _TEMPLATE.replace("@DATA@", payload).replace("@CAPTION@", html.escape(caption))
    return Raw(markup, figure)


def _down_windows(run: RunResult, n: int, end: float) -> list[list[Any]]:
    """[machine, from, to, "crash" or "pause"] for each window a machine is down, up to
    ``end`` (a window still open at the end of the logs closes there)."""
    found = []
    for m in range(n):
        down: tuple[float, str] | None = None
        for e in run.logs[m]:
            if e.event in ("CRASH", "PAUSE") and e.t <= end:
                down = (e.t, e.event.lower())
            elif e.event in ("RESTART", "RESUME") and down is not None:
                found.append([m, round(down[0], 6), round(min(e.t, end), 6), down[1]])
                down = None
        if down is not None:
            found.append([m, round(down[0], 6), round(max(end, down[0]), 6), down[1]])
    return found


_KIND_COLOR = {INTERNAL: "#8c8c8c", SEND: "#0072B2", RECEIVE: "#D55E00"}

# The script is plain ES5 and keeps to a few DOM calls, so tests/test_causality.py can
# also run it in node with a small stand-in for the DOM; tests/test_browser.py drives it
# in Chromium.
_TEMPLATE = r"""<figure class="lamport-st">
<div class="st-controls" style="display:flex;flex-wrap:wrap;gap:.3em 1em;align-items:center">
<label>window start (s) <input type="range" class="st-start" min="0" max="1" value="0"
 step="any" style="width:14em;max-width:60vw"></label>
<label>width (s) <input type="number" class="st-width" min="0.1" step="any"
 style="width:6em"></label> <span class="st-range" aria-live="polite"></span>
<button type="button" class="st-clear">clear selection</button></div>
<svg class="st-svg" xmlns="http://www.w3.org/2000/svg" width="100%" role="group"
 aria-label="space-time diagram: Tab to an event for its details, Enter to select it"></svg>
<div class="st-tip" role="tooltip" style="position:fixed;display:none;background:#fffff0;
 border:1px solid #999;padding:4px 6px;font:12px monospace;pointer-events:none;
 white-space:pre-wrap;overflow-wrap:anywhere;max-width:calc(100vw - 16px);
 box-sizing:border-box;z-index:10"></div>
<p class="st-live" aria-live="polite" style="margin:.2em 0;min-height:1.2em"></p>
<figcaption>@CAPTION@</figcaption>
<script type="application/json" class="st-data">@DATA@</script>
<script>
(function () {
  var root = document.currentScript.parentNode;
  var D = JSON.parse(root.querySelector(".st-data").textContent);
  var svg = root.querySelector(".st-svg"), tip = root.querySelector(".st-tip");
  var startIn = root.querySelector(".st-start"), widthIn = root.querySelector(".st-width");
  var label = root.querySelector(".st-range"), live = root.querySelector(".st-live");
  var NS = "http://www.w3.org/2000/svg", COLOR = @COLORS@, DOWN = "#CC79A7", LOST = "#CC0000";
  var W = 1000, LEFT = 120, RIGHT = 20, TOP = 20, LANE = 60, selected = -1, focused = null;
  var H = TOP + LANE * D.n + 36, EPS = 1e-6;
  /* The width box takes 0.1 s up to the whole run; anything else is brought back into
     that range and the box shows what is drawn. */
  var MIN_WIDTH = 0.1, MAX_WIDTH = Math.max(D.end, MIN_WIDTH);
  var width = clampWidth(D.window), t0 = 0;
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  widthIn.setAttribute("min", MIN_WIDTH);
  widthIn.setAttribute("max", round6(MAX_WIDTH));
  startIn.setAttribute("aria-valuetext", "");
  function round6(x) { return Math.round(x * 1e6) / 1e6; }
  function clampWidth(w) {
    w = parseFloat(w);
    if (!isFinite(w)) w = width || D.window || MIN_WIDTH;
    return round6(Math.min(MAX_WIDTH, Math.max(MIN_WIDTH, w)));
  }
  function span() { return Math.max(0, round6(D.end - width)); }
  function setStart(t) {
    t0 = round6(Math.min(span(), Math.max(0, t)));
    startIn.value = t0;
  }
  function el(name, attrs, parent) {
    var node = document.createElementNS(NS, name);
    for (var key in attrs) node.setAttribute(key, attrs[key]);
    (parent || svg).appendChild(node);
    return node;
  }
  function relation(a, b) {  /* -1: b happened before a, 1: a before b, 0: concurrent */
    var ea = D.events[a], eb = D.events[b];
    if (a === b) return 2;
    if (eb[1] + 1 <= ea[8][eb[0]]) return -1;
    if (ea[1] + 1 <= eb[8][ea[0]]) return 1;
    return 0;
  }
  function describe(e) {
    var text = "machine " + e[0] + ", tick " + e[9] + ", t = " + e[2] + " s\n" +
      e[3] + ", Lamport clock " + e[4] + ", queue " + e[5] + "\n" +
      "vector clock [" + e[8].join(", ") + "]";
    if (e[3] === "SEND") text += "\nmessage " + e[7] + " to " + e[6].split("+").join(", ");
    if (e[3] === "RECEIVE") text += "\nmessage " + e[7] + " from " + e[6];
    if (e[3] === "CRASH") text += "\nthe machine is down until its RESTART";
    return text;
  }
  function describeLost(l) {
    return "message " + l[3] + " to machine " + l[1] + " lost at t = " + l[2] + " s (" +
      l[4] + ")\nsent by machine " + D.events[l[0]][0] + " at t = " + D.events[l[0]][2] + " s";
  }
  function viewport() {
    var doc = document.documentElement;
    return {w: (doc && doc.clientWidth) || 1e9, h: (doc && doc.clientHeight) || 1e9};
  }
  /* Open the tooltip beside (x, y), on the left or above where the right or bottom edge
     would cut it. */
  function showTip(text, x, y) {
    tip.textContent = text;
    tip.style.display = "block";
    tip.style.left = "0px";
    tip.style.top = "0px";
    var w = tip.offsetWidth || 0, h = tip.offsetHeight || 0, view = viewport();
    var left = x + 12, top = y + 12;
    if (left + w > view.w - 4) left = Math.max(4, x - 12 - w);
    if (top + h > view.h - 4) top = Math.max(4, y - 12 - h);
    tip.style.left = left + "px";
    tip.style.top = top + "px";
  }
  function hideTip() { tip.style.display = "none"; }
  function anchorOf(node) {
    if (!node.getBoundingClientRect) return {x: 0, y: 0};
    var box = node.getBoundingClientRect();
    return {x: box.left + box.width / 2, y: box.top + box.height / 2};
  }
  function interactive(node, key, text, activate) {
    node.setAttribute("tabindex", "0");
    node.setAttribute("data-key", key);
    node.setAttribute("aria-label", text.split("\n").join("; "));
    node.setAttribute("style", "cursor:pointer;outline-offset:2px");
    node.addEventListener("mousemove", function (ev) { showTip(text, ev.clientX, ev.clientY); });
    node.addEventListener("mouseleave", hideTip);
    node.addEventListener("focus", function () {
      focused = key;
      var at = anchorOf(node);
      showTip(text, at.x, at.y);
    });
    node.addEventListener("blur", function () { hideTip(); });
    if (!activate) return;
    node.setAttribute("role", "button");
    node.addEventListener("click", activate);
    node.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); activate(); }
    });
  }
  function select(i) {
    selected = selected === i ? -1 : i;
    draw();
    if (!live) return;
    if (selected < 0) { live.textContent = ""; return; }
    var past = 0, future = 0;
    for (var k = 0; k < D.events.length; k++) {
      var rel = relation(selected, k);
      if (rel === -1) past++; else if (rel === 1) future++;
    }
    var e = D.events[selected];
    live.textContent = "selected: machine " + e[0] + ", tick " + e[9] + " (" + e[3] +
      "): " + past + " events in its causal past, " + future + " in its future";
  }
  function draw() {
    var t1 = t0 + width;
    label.textContent = t0.toFixed(2) + " s to " + t1.toFixed(2) + " s";
    startIn.setAttribute("max", span());
    startIn.setAttribute("aria-valuetext", label.textContent);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var x = function (t) { return LEFT + (t - t0) / width * (W - LEFT - RIGHT); };
    var y = function (m) { return TOP + LANE * m + LANE / 2; };
    el("defs", {}).innerHTML = '<marker id="st-head" viewBox="0 0 10 10" refX="9" refY="5" ' +
      'markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0L10,5L0,10z" ' +
      'fill="#0072B2"/></marker><clipPath id="st-clip"><rect x="' + (LEFT - 8) +
      '" y="0" width="' + (W - LEFT - RIGHT + 16) + '" height="' + H + '"/></clipPath>';
    var step = Math.pow(10, Math.floor(Math.log10(width / 4)));
    if (width / step > 20) step *= 5; else if (width / step > 10) step *= 2;
    for (var tick = Math.ceil(t0 / step - EPS) * step; tick <= t1 + EPS; tick += step) {
      el("line", {x1: x(tick), x2: x(tick), y1: TOP, y2: H - 24, stroke: "#eee"});
      el("text", {x: x(tick), y: H - 12, "font-size": 10, "text-anchor": "middle",
        fill: "#555"}).textContent = +tick.toFixed(6);
    }
    for (var m = 0; m < D.n; m++) {
      el("line", {x1: LEFT, x2: W - RIGHT, y1: y(m), y2: y(m), stroke: "#ccc"});
      el("text", {x: 8, y: y(m) + 4, "font-size": 12}).textContent =
        "machine " + m + " (" + D.rates[m] + "/s)";
    }
    var plot = el("g", {"clip-path": "url(#st-clip)"});
    var visible = function (t) { return t >= t0 - EPS && t <= t1 + EPS; };
    (D.down || []).forEach(function (d) {
      if (d[2] < t0 - EPS || d[1] > t1 + EPS) return;
      var a = Math.max(d[1], t0), b = Math.min(d[2], t1);
      var box = el("rect", {x: x(a), y: y(d[0]) - LANE * 0.3, width: Math.max(1, x(b) - x(a)),
        height: LANE * 0.6, fill: DOWN, "fill-opacity": 0.2, "class": "st-down",
        "data-machine": d[0]}, plot);
      el("title", {}, box).textContent = "machine " + d[0] + " down (" + d[3] + ") from t = " +
        d[1] + " s to t = " + d[2] + " s";
    });
    D.arrows.forEach(function (pair) {
      var s = D.events[pair[0]], r = D.events[pair[1]];
      if (!visible(s[2]) && !visible(r[2])) return;
      var lit = selected >= 0 && (relation(selected, pair[1]) === -1 ||
        relation(selected, pair[0]) === 1 || pair[0] === selected || pair[1] === selected);
      el("line", {x1: x(s[2]), y1: y(s[0]), x2: x(r[2]), y2: y(r[0]),
        stroke: "#0072B2", "stroke-width": lit ? 1.6 : 0.8,
        "stroke-opacity": selected < 0 || lit ? 0.7 : 0.15, "marker-end": "url(#st-head)"}, plot);
    });
    (D.lost || []).forEach(function (l, k) {
      var s = D.events[l[0]];
      if (!visible(s[2]) && !visible(l[2])) return;
      var faded = selected >= 0 && selected !== l[0] && relation(selected, l[0]) !== -1;
      var g = el("g", {"class": "st-lost", "opacity": faded ? 0.25 : 1}, plot);
      el("line", {x1: x(s[2]), y1: y(s[0]), x2: x(l[2]), y2: y(l[1]), stroke: LOST,
        "stroke-width": 1, "stroke-dasharray": "4 3"}, g);
      var cx = x(l[2]), cy = y(l[1]);
      var mark = el("path", {d: "M" + (cx - 5) + "," + (cy - 5) + "L" + (cx + 5) + "," +
        (cy + 5) + "M" + (cx - 5) + "," + (cy + 5) + "L" + (cx + 5) + "," + (cy - 5),
        stroke: LOST, "stroke-width": 2.5, fill: "none"}, g);
      interactive(mark, "lost" + k, describeLost(l), null);
    });
    D.events.forEach(function (e, i) {
      if (!visible(e[2])) return;
      var fill = COLOR[e[3]] || "#444", opacity = 1, r = 4.5, dot;
      if (selected >= 0) {
        var rel = relation(selected, i);
        fill = rel === 2 ? "#000" : rel === -1 ? "#1f78ff" : rel === 1 ? "#ff8c00" : "#bbb";
        opacity = rel === 0 ? 0.5 : 1;
        r = rel === 2 ? 7 : 5;
      }
      var cx = x(e[2]), cy = y(e[0]);
      if (e[3] === "CRASH" || e[3] === "RESTART") {
        var shape = e[3] === "CRASH" ?
          "M" + (cx - 6) + "," + (cy - 6) + "L" + (cx + 6) + "," + (cy + 6) + "M" + (cx - 6) +
          "," + (cy + 6) + "L" + (cx + 6) + "," + (cy - 6) :
          "M" + cx + "," + (cy - 7) + "L" + (cx + 6) + "," + (cy + 5) + "L" + (cx - 6) + "," +
          (cy + 5) + "z";
        dot = el("path", {d: shape, stroke: selected >= 0 ? fill : DOWN, "stroke-width": 3,
          fill: selected >= 0 ? fill : DOWN, "fill-opacity": opacity, "data-i": i,
          "class": "st-event"}, plot);
      } else {
        dot = el("circle", {cx: cx, cy: cy, r: r, fill: fill, "fill-opacity": opacity,
          stroke: "#fff", "stroke-width": 1, "data-i": i, "class": "st-event"}, plot);
      }
      interactive(dot, "e" + i, describe(e), function () { focused = "e" + i; select(i); });
      dot.setAttribute("aria-pressed", selected === i ? "true" : "false");
      if (width <= 20) {
        el("text", {x: cx, y: cy - 8, "font-size": 9, "text-anchor": "middle",
          fill: "#444", "aria-hidden": "true"}, plot).textContent = e[4];
      }
    });
    el("text", {x: 8, y: H - 12, "font-size": 10, fill: "#555"}).textContent =
      "model seconds";
    if (focused !== null && svg.querySelector) {  /* keep the keyboard where it was */
      var again = svg.querySelector('[data-key="' + focused + '"]');
      if (again && again.focus) again.focus();
    }
  }
  startIn.addEventListener("input", function () { setStart(parseFloat(startIn.value) || 0);
    draw(); });
  /* Arrow keys move the window by a tenth of its width, Page Up/Down by its width. */
  startIn.addEventListener("keydown", function (ev) {
    var move = {ArrowLeft: -0.1, ArrowDown: -0.1, ArrowRight: 0.1, ArrowUp: 0.1,
      PageDown: -1, PageUp: 1}[ev.key];
    if (ev.key === "Home") setStart(0);
    else if (ev.key === "End") setStart(span());
    else if (move === undefined) return;
    else setStart(t0 + move * width);
    ev.preventDefault();
    focused = null;
    draw();
  });
  widthIn.addEventListener("change", function () {
    width = clampWidth(widthIn.value);
    widthIn.value = width;
    setStart(t0);
    focused = null;
    draw();
  });
  root.querySelector(".st-clear").addEventListener("click", function () {
    focused = null;
    if (selected >= 0) select(selected); else draw();
  });
  widthIn.value = width;
  setStart(0);
  draw();
})();
</script>
</figure>""".replace("@COLORS@", json.dumps(_KIND_COLOR))
