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
    summary (final clocks); the report says which.
"""

from __future__ import annotations

import html
import json
import math
from typing import TYPE_CHECKING, Any, cast

from lamport.core import INTERNAL, RECEIVE, SEND, Event
from lamport.report import num, pm
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


def sweep_blocks(sweep: Sweep, rows: pd.DataFrame) -> list[Any]:
    """The sweep report's causality table: both shares per experiment, mean ± 95% CI."""
    from lamport.stats import mean_ci

    per_run, source = _sweep_runs(sweep, rows)
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


def _sweep_runs(sweep: Sweep, rows: pd.DataFrame) -> tuple[dict[tuple[int, int], Any], str]:
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
    return _replayed(sweep, rows)


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


def _replayed(sweep: Sweep, rows: pd.DataFrame) -> tuple[dict[tuple[int, int], Any], str]:
    from lamport import causality
    from lamport.config import experiment as catalogued
    from lamport.des import simulate
    from lamport.des.options import DesOptions
    from lamport.errors import LamportError

    if sweep.backend != "des":
        return {}, "the sweep kept no events and only DES sweeps can be replayed"
    duration = sweep.metadata.get("duration")
    options = DesOptions(latency=float(sweep.metadata.get("latency", DesOptions().latency)))
    found = {}
    mismatched = 0
    for experiment in sweep.experiments:
        seeds = sorted(int(s) for s in rows.loc[rows["experiment"] == experiment, "seed"].unique())
        for seed in seeds[:REPLAY_SEEDS]:
            try:
                result = simulate(catalogued(experiment).config(seed, duration=duration), options)
            except LamportError:
                mismatched += 1
                continue
            want = rows[(rows["experiment"] == experiment) & (rows["seed"] == seed)]
            clocks = dict(zip(want["machine"], want["final_clock"], strict=True))
            got = {m: (log[-1].clock if log else 0) for m, log in enumerate(result.logs)}
            if any(int(clocks.get(m, -1)) != c for m, c in got.items()):
                mismatched += 1  # not the run the sweep made (another model or version)
                continue
            found[(experiment, seed)] = causality.concurrency(result.logs)
    most = max((seed_count for seed_count in _seed_counts(rows)), default=0)
    source = (
        f"the sweep kept no events, so the first {min(most, REPLAY_SEEDS)} seeds of each "
        "experiment were replayed on the DES and checked against summary.csv"
    )
    if mismatched:
        source += f" ({mismatched} replays did not match and were left out)"
    return found, source


def _seed_counts(rows: pd.DataFrame) -> list[int]:
    return [int(n) for n in rows.groupby("experiment")["seed"].nunique()]


# -- the interactive space-time diagram ------------------------------------------------------


def spacetime_html(
    run: RunResult, seconds: float, figure: Figure | None = None, machines: int = 12
) -> Raw:
    """The explorable space-time diagram: inline SVG drawn by a small inline script.

    Embeds the earliest events (at most :data:`EMBED_EVENTS`, and
    :data:`EMBED_NUMBERS` vector-clock components) of the first ``machines``
    machines; the window starts at the first ``seconds`` model seconds.
    ``figure`` (the static diagram) stands in for it in Markdown.
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
    events = []
    for i, (_, m, k) in enumerate(order):
        e = run.logs[m][k]
        index_of[(m, k)] = i
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
            ]
        )
    arrows = [
        [index_of[s], index_of[r]]
        for s, r in causality.messages(run.logs)
        if s in index_of and r in index_of
    ]
    end = max((e[2] for e in events), default=0.0)
    data = {
        "n": n,
        "rates": [float(r) for r in run.rates[:n]],
        "events": events,
        "arrows": arrows,
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
    caption = (
        "Space-time diagram: a line per machine, time to the right, an arrow from each SEND to "
        "its RECEIVE; numbers are Lamport clocks (windows of 20 s or less). Hover an event for "
        "its clocks and message; click it to light up its causal "
        "past (blue: could have influenced it) and future (orange: it could influence); grey "
        "events are concurrent with it. The slider moves the window, the box sets its width "
        f"in seconds.{shown}{note}"
    )
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    markup = _TEMPLATE.replace("@DATA@", payload).replace("@CAPTION@", html.escape(caption))
    return Raw(markup, figure)


_KIND_COLOR = {INTERNAL: "#8c8c8c", SEND: "#0072B2", RECEIVE: "#D55E00"}

_TEMPLATE = """<figure class="lamport-st">
<div class="st-controls">window start <input type="range" class="st-start" min="0" max="1000"
 value="0" step="1" style="width:50%"> width (s) <input type="number" class="st-width" min="0.1"
 step="0.5" style="width:5em"> <span class="st-range"></span>
 <button type="button" class="st-clear">clear selection</button></div>
<svg class="st-svg" xmlns="http://www.w3.org/2000/svg" width="100%" role="img"></svg>
<div class="st-tip" style="position:fixed;display:none;background:#fffff0;border:1px solid #999;
 padding:4px 6px;font:12px monospace;pointer-events:none;white-space:pre;z-index:10"></div>
<figcaption>@CAPTION@</figcaption>
<script type="application/json" class="st-data">@DATA@</script>
<script>
(function () {
  var root = document.currentScript.parentNode;
  var D = JSON.parse(root.querySelector(".st-data").textContent);
  var svg = root.querySelector(".st-svg"), tip = root.querySelector(".st-tip");
  var startIn = root.querySelector(".st-start"), widthIn = root.querySelector(".st-width");
  var label = root.querySelector(".st-range"), NS = "http://www.w3.org/2000/svg";
  var COLOR = @COLORS@;
  var W = 1000, LEFT = 120, RIGHT = 20, TOP = 20, LANE = 60, selected = -1;
  var H = TOP + LANE * D.n + 36;
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  widthIn.value = D.window;
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
    var text = "machine " + e[0] + ", tick " + (e[1] + 1) + ", t = " + e[2] + " s\\n" +
      e[3] + ", Lamport clock " + e[4] + ", queue " + e[5] + "\\n" +
      "vector clock [" + e[8].join(", ") + "]";
    if (e[3] === "SEND") text += "\\nmessage " + e[7] + " to " + e[6].split("+").join(", ");
    if (e[3] === "RECEIVE") text += "\\nmessage " + e[7] + " from " + e[6];
    return text;
  }
  function draw() {
    var width = Math.max(0.1, parseFloat(widthIn.value) || D.window);
    var span = Math.max(0, D.end - width);
    var t0 = span * startIn.value / 1000, t1 = t0 + width;
    label.textContent = t0.toFixed(2) + " s to " + t1.toFixed(2) + " s";
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var x = function (t) { return LEFT + (t - t0) / width * (W - LEFT - RIGHT); };
    var y = function (m) { return TOP + LANE * m + LANE / 2; };
    el("defs", {}).innerHTML = '<marker id="st-head" viewBox="0 0 10 10" refX="9" refY="5" ' +
      'markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0L10,5L0,10z" ' +
      'fill="#0072B2"/></marker><clipPath id="st-clip"><rect x="' + (LEFT - 8) +
      '" y="0" width="' + (W - LEFT - RIGHT + 16) + '" height="' + H + '"/></clipPath>';
    var step = Math.pow(10, Math.floor(Math.log10(width / 4)));
    if (width / step > 20) step *= 5; else if (width / step > 10) step *= 2;
    for (var tick = Math.ceil(t0 / step) * step; tick <= t1 + 1e-9; tick += step) {
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
    var visible = function (e) { return e[2] >= t0 && e[2] <= t1; };
    D.arrows.forEach(function (pair) {
      var s = D.events[pair[0]], r = D.events[pair[1]];
      if (!visible(s) && !visible(r)) return;
      var lit = selected >= 0 && (relation(selected, pair[1]) === -1 ||
        relation(selected, pair[0]) === 1 || pair[0] === selected || pair[1] === selected);
      el("line", {x1: x(s[2]), y1: y(s[0]), x2: x(r[2]), y2: y(r[0]),
        stroke: "#0072B2", "stroke-width": lit ? 1.6 : 0.8,
        "stroke-opacity": selected < 0 || lit ? 0.7 : 0.15, "marker-end": "url(#st-head)"}, plot);
    });
    D.events.forEach(function (e, i) {
      if (!visible(e)) return;
      var fill = COLOR[e[3]] || "#444", opacity = 1, r = 4.5;
      if (selected >= 0) {
        var rel = relation(selected, i);
        fill = rel === 2 ? "#000" : rel === -1 ? "#1f78ff" : rel === 1 ? "#ff8c00" : "#bbb";
        opacity = rel === 0 ? 0.5 : 1;
        r = rel === 2 ? 7 : 5;
      }
      var dot = el("circle", {cx: x(e[2]), cy: y(e[0]), r: r, fill: fill,
        "fill-opacity": opacity, stroke: "#fff", "stroke-width": 1, style: "cursor:pointer"},
        plot);
      dot.addEventListener("mousemove", function (ev) {
        tip.style.display = "block";
        tip.style.left = (ev.clientX + 12) + "px";
        tip.style.top = (ev.clientY + 12) + "px";
        tip.textContent = describe(e);
      });
      dot.addEventListener("mouseleave", function () { tip.style.display = "none"; });
      dot.addEventListener("click", function () { selected = selected === i ? -1 : i; draw(); });
      if (width <= 20) {
        el("text", {x: x(e[2]), y: y(e[0]) - 8, "font-size": 9, "text-anchor": "middle",
          fill: "#444"}, plot).textContent = e[4];
      }
    });
    el("text", {x: 8, y: H - 12, "font-size": 10, fill: "#555"}).textContent =
      "model seconds";
  }
  startIn.addEventListener("input", draw);
  widthIn.addEventListener("change", draw);
  root.querySelector(".st-clear").addEventListener("click", function () {
    selected = -1; draw();
  });
  draw();
})();
</script>
</figure>""".replace("@COLORS@", json.dumps(_KIND_COLOR))
