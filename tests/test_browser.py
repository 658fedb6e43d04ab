"""The report's space-time diagram in a real browser: headless Chromium, driven through the
DevTools protocol with real mouse and keyboard events.

What a user sees is checked against the logs: the tooltip's tick, clocks and message; a
click lights exactly the causal past and future that happened-before gives
(:mod:`lamport.causality`); the window controls (width box, slider keys, the event at
the window's start); a crash run's down windows, CRASH and RESTART, lost messages;
keyboard focus and labels; and no sideways scrolling at 400 px.

The driver speaks the protocol over a pipe (``--remote-debugging-pipe``: JSON messages
ended by a NUL byte on file descriptors 3 and 4), so it needs no package. Without a
Chromium the tests skip, except in CI (``CI`` set), where they fail: ``.ci/run``
installs Debian's ``chromium``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lamport import causality
from lamport.config import RunConfig
from lamport.des import simulate
from lamport.faults import Crash, Loss
from lamport.report import write_report
from lamport.report.causality import spacetime_html
from lamport.report.document import Document, to_html

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")


def _browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


class Browser:
    """One headless Chromium page, driven over the DevTools protocol on a pipe."""

    def __init__(self, executable: str, profile: Path) -> None:
        to_child, self._write = os.pipe()
        self._read, from_child = os.pipe()
        # Above 4, so that putting one end on fd 3 cannot overwrite the other.
        for name in ("to_child", "from_child"):
            fd = locals()[name]
            high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
            os.close(fd)
            if name == "to_child":
                to_child = high
            else:
                from_child = high

        flags = [
            "--headless=new",
            "--remote-debugging-pipe",
            "--no-sandbox",  # root in CI
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "about:blank",
        ]
        # bash (dash takes one-digit fds only) puts the pipe's ends where Chromium reads and
        # writes: fds 3 and 4.
        self.process = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{to_child} 4>&{from_child}', executable, *flags],
            pass_fds=(to_child, from_child),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_child)
        os.close(from_child)
        self._buffer = b""
        self._next = 0
        self.session: str | None = None
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)[
            "sessionId"
        ]
        self.call("Page.enable")
        self.call("Runtime.enable")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result (events met meanwhile are dropped)."""
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if self.session is not None and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive()
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))

    def _receive(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._read, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return dict(json.loads(message))

    def open(self, path: Path, width: int = 1200, height: int = 900) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        self.call("Page.navigate", url=path.resolve().as_uri())
        for _ in range(200):
            if self.js("document.readyState") == "complete":
                return
            self.js("new Promise(r => setTimeout(r, 20))", wait=True)
        raise RuntimeError(f"{path} did not load")

    def js(self, expression: str, wait: bool = False) -> Any:
        reply = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=wait
        )
        if "exceptionDetails" in reply:
            raise RuntimeError(f"{expression}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def mouse(self, kind: str, x: float, y: float) -> None:
        extra = {"button": "left", "clickCount": 1} if kind != "mouseMoved" else {}
        self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, **extra)

    def hover(self, x: float, y: float) -> None:
        self.mouse("mouseMoved", x, y)

    def click(self, x: float, y: float) -> None:
        self.mouse("mouseMoved", x, y)
        self.mouse("mousePressed", x, y)
        self.mouse("mouseReleased", x, y)

    def key(self, key: str) -> None:
        codes = {"Tab": 9, "Enter": 13, "ArrowRight": 39, "ArrowLeft": 37, "End": 35}
        common = {"key": key, "code": key, "windowsVirtualKeyCode": codes[key]}
        text = {"text": "\r"} if key == "Enter" else {}
        self.call("Input.dispatchKeyEvent", type="keyDown", **common, **text)
        self.call("Input.dispatchKeyEvent", type="keyUp", **common)

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, OSError):
            self.call("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._write)
        os.close(self._read)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    executable = _browser()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("CI has no chromium: .ci/run installs it (apt-get install chromium)")
        pytest.skip("no Chromium on this machine (apt-get install chromium) to run the diagram")
    driver = Browser(executable, tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.close()


def _page(run, path: Path, seconds: float) -> Path:
    path.write_text(to_html(Document("diagram", [spacetime_html(run, seconds)])))
    return path


#: Every drawn event of the diagram: data index, kind of mark, fill, centre on the page.
EVENTS = """[...document.querySelectorAll('.st-event')].map(n => {
  const b = n.getBoundingClientRect();
  return {i: +n.dataset.i, fill: n.getAttribute('fill'), x: b.left + b.width / 2,
          y: b.top + b.height / 2, pressed: n.getAttribute('aria-pressed')};
})"""
TIP = """(() => { const t = document.querySelector('.st-tip'), b = t.getBoundingClientRect();
  return {text: t.textContent, shown: t.style.display !== 'none', left: b.left,
          right: b.right, view: document.documentElement.clientWidth}; })()"""


def _order(run) -> list[tuple[int, int]]:
    """(machine, index) of the diagram's events, in its data order."""
    return [
        (m, k)
        for _, m, k in sorted((e.t, m, k) for m, x in enumerate(run.logs) for k, e in enumerate(x))
    ]


@pytest.fixture(scope="module")
def crash_run(tmp_path_factory):
    """A run with a crash of machine 1 (its log gets CRASH and RESTART rows) and lost
    messages, with its full report."""
    config = RunConfig(
        rates=(2, 5, 6), p_send=0.7, duration=12.0, seed=5,
        faults=(Crash(1, 3.0, 2.0), Loss(0.2)),
    )  # fmt: skip
    run = simulate(config)
    folder = run.write(tmp_path_factory.mktemp("browser") / "crash")
    write_report(folder, 8.0)
    return run, folder / "report.html"


def test_hover_shows_what_the_logs_say_and_stays_on_screen(browser, crash_run):
    run, page = crash_run
    browser.open(page, width=400)
    browser.js("document.querySelector('.st-svg').scrollIntoView()")
    solved = causality.analyze(run.logs)
    order = _order(run)
    dots = browser.js(EVENTS)
    assert dots
    after_crash = [d for d in dots if order[d["i"]][0] == 1 and run.logs[1][order[d["i"]][1]].t > 5]
    assert after_crash, "the window shows machine 1 after its restart"
    checked = 0
    for dot in dots:
        if not 0 <= dot["y"] < 900:
            continue
        browser.hover(dot["x"], dot["y"])
        tip = browser.js(TIP)
        # At 400 px neighbours overlap: check the event the mouse is on.
        under = browser.js(f"document.elementFromPoint({dot['x']}, {dot['y']}).dataset.i")
        if under is None:
            continue
        m, k = order[int(under)]
        e = run.logs[m][k]
        assert tip["shown"]
        assert tip["text"].startswith(f"machine {m}, tick {e.tick}, t = ")
        assert f"{e.event}, Lamport clock {e.clock}, queue {e.queue}" in tip["text"]
        assert f"vector clock [{', '.join(map(str, solved.of(m, k)))}]" in tip["text"]
        if e.event in ("SEND", "RECEIVE"):
            assert f"message {e.msg_id}" in tip["text"]
        # Never cut off: near the right edge the tooltip opens to the left.
        assert tip["left"] >= 0 and tip["right"] <= tip["view"], (dot, tip)
        checked += 1
    assert checked > 20


def _uncovered(browser, i: int) -> bool:
    """Whether event ``i`` is drawn and on top at its centre (a click reaches it)."""
    found = browser.js(
        f"(() => {{ const n = document.querySelector('.st-event[data-i=\"{i}\"]'); if (!n) "
        "return false; const b = n.getBoundingClientRect(); return document.elementFromPoint("
        "b.left + b.width / 2, b.top + b.height / 2) === n; })()"
    )
    return bool(found)


def _lit(browser, run, chosen: int) -> None:
    """Click event ``chosen`` and compare every drawn event's colour with happened-before."""
    order = _order(run)
    dots = {d["i"]: d for d in browser.js(EVENTS)}
    target = dots[chosen]
    under = browser.js(f"document.elementFromPoint({target['x']}, {target['y']}).dataset.i")
    assert under == str(chosen), "the event to click is not covered by another"
    browser.click(target["x"], target["y"])
    clocks = causality.vector_clocks(run.logs)
    a = order[chosen]
    va = clocks[a[0]][a[1]].tolist()
    seen = {d["i"]: d for d in browser.js(EVENTS)}
    assert seen[chosen]["fill"] == "#000" and seen[chosen]["pressed"] == "true"
    counts = {"past": 0, "future": 0}
    for i, dot in seen.items():
        if i == chosen:
            continue
        b = order[i]
        vb = clocks[b[0]][b[1]].tolist()
        if causality.happened_before(vb, va):
            want, counts["past"] = "#1f78ff", counts["past"] + 1
        elif causality.happened_before(va, vb):
            want, counts["future"] = "#ff8c00", counts["future"] + 1
        else:
            want = "#bbb"
        if run.logs[b[0]][b[1]].event in ("CRASH", "RESTART"):
            continue  # drawn as marks of the down colour when nothing is selected
        assert dot["fill"] == want, (order[chosen], b)
    assert counts["past"] and counts["future"]
    live = browser.js("document.querySelector('.st-live').textContent")
    assert "events in its causal past" in live
    browser.click(target["x"], target["y"])  # a second click clears the selection
    assert {d["fill"] for d in browser.js(EVENTS)} & {"#000", "#1f78ff"} == set()


@pytest.mark.parametrize("seed", [1, 4])
def test_click_lights_exactly_the_causal_past_and_future(browser, tmp_path, seed):
    run = simulate(RunConfig(rates=(3, 2, 5), p_send=0.6, duration=10.0, seed=seed))
    browser.open(_page(run, tmp_path / "page.html", 4.0))
    dots = browser.js(EVENTS)
    _lit(browser, run, dots[len(dots) // 2]["i"])


def test_crash_run_shows_the_down_window_restart_and_lost_messages(browser, crash_run):
    run, page = crash_run
    browser.open(page)
    browser.js("document.querySelector('.st-svg').scrollIntoView()")
    down = browser.js(
        "[...document.querySelectorAll('.st-down')].map(r => [+r.dataset.machine, "
        "r.querySelector('title').textContent])"
    )
    assert down == [[1, "machine 1 down (crash) from t = 3 s to t = 5 s"]]
    order = _order(run)
    kinds = [run.logs[m][k].event for m, k in (order[d["i"]] for d in browser.js(EVENTS))]
    assert kinds.count("CRASH") == kinds.count("RESTART") == 1
    lost = [d for d in run.dropped if d.t <= 8.0]
    assert lost and browser.js("document.querySelectorAll('.st-lost').length") == len(lost)
    # A click on the crashed machine's first tick after the restart.
    restart = next(i for i, (m, k) in enumerate(order) if run.logs[m][k].event == "RESTART")
    after = [i for i in range(restart + 1, len(order)) if order[i][0] == 1]
    _lit(browser, run, next(i for i in after if _uncovered(browser, i)))


def test_window_controls(browser, tmp_path):
    run = simulate(RunConfig(rates=(10, 4, 5), p_send=0.5, duration=6.0, seed=2, phase="aligned"))
    browser.open(_page(run, tmp_path / "page.html", 2.0))
    times = sorted(e.t for x in run.logs for e in x)
    end = max(times)

    def shown() -> tuple[str, float, str, int]:
        value = browser.js("document.querySelector('.st-width').value")
        label = browser.js("document.querySelector('.st-range').textContent")
        return value, float(value), label, len(browser.js(EVENTS))

    def set_width(text: str) -> None:
        browser.js(
            "(() => { const w = document.querySelector('.st-width'); "
            f"w.value = {json.dumps(text)}; w.dispatchEvent(new Event('change')); }})()"
        )

    for typed, want in [("0", 0.1), ("-3", 0.1), ("0.001", 0.1), ("1e9", end), ("1", 1.0)]:
        set_width(typed)
        _, width, label, count = shown()
        assert width == pytest.approx(want), typed
        t0 = float(label.split(" s to ")[0])
        assert label == f"{t0:.2f} s to {t0 + width:.2f} s"
        assert count == sum(1 for t in times if t0 - 1e-6 <= t <= t0 + width + 1e-6), typed
    set_width("abc")
    assert shown()[1] == 1.0  # not a number: the width stays
    # The slider's arrow keys move a tenth of the width; three presses land exactly on
    # t = 0.3, where machine 0 (10 ticks/s) has an event: it is drawn.
    browser.js("document.querySelector('.st-start').focus()")
    for _ in range(3):
        browser.key("ArrowRight")
    assert shown()[2] == "0.30 s to 1.30 s"
    assert 0.3 in times
    order = _order(run)
    first = min(run.logs[order[d["i"]][0]][order[d["i"]][1]].t for d in browser.js(EVENTS))
    assert first == 0.3
    browser.key("End")
    assert shown()[2] == f"{end - 1:.2f} s to {end:.2f} s"


def test_keyboard_reaches_events_and_the_controls_have_names(browser, tmp_path):
    run = simulate(RunConfig(rates=(3, 2, 5), p_send=0.6, duration=10.0, seed=1))
    browser.open(_page(run, tmp_path / "page.html", 4.0))
    names = browser.js(
        "[...document.querySelectorAll('.lamport-st input, .lamport-st button')].map(n => "
        "n.labels && n.labels.length ? n.labels[0].textContent.trim() : n.textContent.trim())"
    )
    assert names == ["window start (s)", "width (s)", "clear selection"]
    # Tab from the page's start: the slider, the box, the button, then the first event.
    for _ in range(4):
        browser.key("Tab")
    active = browser.js("document.activeElement.getAttribute('class')")
    assert active == "st-event"
    order = _order(run)
    i = browser.js("+document.activeElement.dataset.i")
    m, k = order[i]
    tip = browser.js(TIP)
    assert tip["shown"] and tip["text"].startswith(f"machine {m}, tick {run.logs[m][k].tick},")
    label = browser.js("document.activeElement.getAttribute('aria-label')")
    assert label.startswith(f"machine {m}, tick {run.logs[m][k].tick}, t = ")
    browser.key("Enter")
    assert browser.js("document.activeElement.getAttribute('aria-pressed')") == "true"
    assert browser.js("+document.activeElement.dataset.i") == i  # focus survives the redraw
    assert "selected: machine" in browser.js("document.querySelector('.st-live').textContent")


def test_no_sideways_scrolling_at_400_px(browser, crash_run):
    _, page = crash_run
    browser.open(page, width=400)
    overflow = browser.js(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
