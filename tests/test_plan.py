"""The run plan (lamport.plan): windows on a grid, the order of state changes, each
message's fate, the ticks a window removes, and the one builder of run.json."""

from __future__ import annotations

import math
import sys
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lamport.config import RunConfig
from lamport.core import CRASH, PAUSE, RESTART, RESUME, loss_stream
from lamport.faults import Drop
from lamport.plan import DELIVERED, Plan, drop_counts, instant, run_metadata


def _config(*faults: str, **changes: object) -> RunConfig:
    values: dict[str, object] = {
        "rates": (1, 2, 4),
        "duration": 20,
        "seed": 5,
        "phase": "aligned",
        "faults": faults,
    }
    values.update(changes)
    return RunConfig(**values)  # type: ignore[arg-type]


def test_the_plan_is_pure() -> None:
    import subprocess

    heavy = ("simpy", "socket", "selectors", "pandas", "numpy")
    code = f"import sys, lamport.plan; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("seconds", "units", "want"),
    [(10, 4, 40), (0.1, 3, 1), (0.25, 4, 1), (0.26, 4, 2), (1 / 3, 3, 1), (2.5e-7, 10**6, 0)],
)
def test_instant_is_the_first_whole_unit_at_or_after(seconds, units, want) -> None:
    """Times are exact to the microsecond (2.5e-7 s is 0)."""
    assert instant(seconds, units) == want


@given(st.integers(0, 10**6), st.integers(1, 10**6), st.sampled_from([1, 3, 4, 12, 10**6]))
def test_an_instant_lies_in_a_window_whatever_the_grid(at_us, length_us, units) -> None:
    at, end = at_us / 1e6, (at_us + length_us) / 1e6
    exact_at = Fraction(at).limit_denominator(10**6)
    exact_end = Fraction(end).limit_denominator(10**6)
    first, last = instant(at, units), instant(end, units)
    # Membership changes only at the window's two ends: look at the instants around each.
    for x in {*range(max(0, first - 2), first + 3), *range(max(0, last - 2), last + 3)}:
        inside = exact_at <= Fraction(x, units) < exact_end
        assert inside == (instant(at, units) <= x < instant(end, units))


def test_steps_come_in_the_order_they_apply() -> None:
    plan = Plan(_config("crash 1 at 4 for 2", "pause 1 at 6 for 1", "crash 0 at 4 for 1 reset"))
    g = plan.units
    assert [(s.when // g, s.machine, s.change.event, s.reset) for s in plan.steps()] == [
        (4, 0, CRASH, False),
        (4, 1, CRASH, False),
        (5, 0, RESTART, True),
        (6, 1, RESTART, False),  # the end of one window before the start of the next
        (6, 1, PAUSE, False),
        (7, 1, RESUME, False),
    ]
    assert [s.change.event for s in plan.steps(0)] == [CRASH, RESTART]


def test_a_window_holding_no_instant_ends_right_after_its_own_start() -> None:
    plan = Plan(_config("crash 1 at 4.1 for 0.05"), units=4)  # [16.4, 16.6): no instant
    assert [(s.when, s.change.event) for s in plan.steps()] == [(17, CRASH), (17, RESTART)]
    assert plan.downtime_ticks(1) == 0


def test_enter_keeps_each_machines_state() -> None:
    plan = Plan(_config("crash 1 at 4 for 2", "pause 2 at 4 for 2"))
    lost = [plan.enter(step) for step in plan.steps()]
    # crash: its reason; restart: the reason of the state it leaves; pause, resume: kept
    assert lost == ["crash", "", "crash", ""]
    plan = Plan(_config("crash 1 at 4 for 2", "pause 2 at 4 for 2"))
    crash, pause = plan.steps()[:2]
    plan.enter(crash)
    plan.enter(pause)
    assert plan.ticking == [True, False, False]
    assert plan.losing == ["", "crash", ""]


def test_fate_of_a_message() -> None:
    config = _config("partition 0|1,2 at 5 for 5", "delay 0->2 +0.5 at 12 for 2", "loss 0.5")
    plan = Plan(config, units=4)
    draws = {link: loss_stream(config.seed, *link) for link in [(0, 1), (0, 2), (1, 2)]}
    # a loss draw per message, partitioned or not; the partition is named first
    fates = [plan.fate(0, 1, 24) for _ in range(20)]
    assert {f for f in fates} == {("partition", 0)}
    [draws[(0, 1)]() for _ in range(20)]
    assert plan.fate(0, 1, 60) == (("loss", 0) if draws[(0, 1)]() < 0.5 else DELIVERED)
    for when in (48, 50, 55):  # delayed by 0.5 s = 2 units in [12, 14) s
        p = draws[(0, 2)]()
        assert plan.fate(0, 2, when) == (("loss", 0) if p < 0.5 else ("", 2))
    p = draws[(0, 2)]()
    assert plan.fate(0, 2, 56) == (("loss", 0) if p < 0.5 else ("", 0))
    assert plan.delay(0, 2, 49.5) == 2 and plan.delay(2, 0, 49.5) == 0
    assert plan.has_delay(0, 2) and not plan.has_delay(2, 0)
    assert plan.drawn(1, 2) and not Plan(_config("crash 1 at 1 for 1")).drawn(1, 2)


def test_no_fault_no_draw() -> None:
    plan = Plan(_config("crash 1 at 4 for 2"))
    assert plan.fate(0, 1, 10) is DELIVERED and plan.loss_draws == {}


def test_downtime_ticks_on_any_grid() -> None:
    config = _config("crash 1 at 4 for 2", "pause 1 at 10 for 1.5", phase="random")
    on_grid = Plan(config).downtime_ticks(1)
    finer = Plan(config, units=config.grid * 7).downtime_ticks(1)
    ticks = list(config.tick_units(1))
    g = config.grid
    want = sum(1 for x in ticks if 4 * g <= x < 6 * g or 10 * g <= x < math.ceil(11.5 * g))
    assert on_grid == finer == want == 7
    assert Plan(config).downtime_ticks(1, until=5) == sum(1 for x in ticks if 4 * g <= x < 5 * g)


def test_pauses_in_seconds_for_a_launcher() -> None:
    plan = Plan(_config("pause 2 at 3 for 4.5", "crash 2 at 10 for 1"))
    assert [(w.at, w.until) for w in plan.windows(2, PAUSE)] == [(3.0, 7.5)]
    assert [w.opens.event for w in plan.windows(2)] == [PAUSE, CRASH]


def test_drop_counts_by_recipient_and_reason() -> None:
    drops = [
        Drop(1.0, 0, 1, "0:1", "crash"),
        Drop(2.0, 2, 1, "2:4", "loss"),
        Drop(3.0, 1, 0, "1:1", "loss"),
    ]
    per_machine, by_reason = drop_counts(drops, 3)
    assert per_machine == [1, 2, 0]
    assert by_reason == {"crash": 1, "partition": 0, "loss": 2}


def test_run_metadata_is_one_builder() -> None:
    options = {"latency": 0.001, "latency_dist": "constant", "latency_spread": None}
    plain = run_metadata("des", _config(), options, start_epoch=0.0, queued=[1, 0, 2])
    assert plain["backend"] == "des" and plain["options"] == options
    assert plain["latency"] == 0.001 and plain["latency_dist"] == "constant"
    assert plain["queued_at_end"] == [1, 0, 2] and "dropped" not in plain
    assert plain["rates"] == [1, 2, 4] and plain["version"]
    faulty = run_metadata(
        "realtime",
        _config("loss 0.1"),
        options,
        start_epoch=5.0,
        queued=[0, 0, 0],
        lost=[Drop(1.0, 0, 2, "0:1", "loss")],
        dropped=[1, 0, 0],
        top={"speed": 4},
        more={"ports": [1, 2, 3]},
    )
    assert faulty["dropped"] == [1, 0, 1]
    assert faulty["dropped_by_reason"] == {"crash": 0, "partition": 0, "loss": 1}
    assert faulty["speed"] == 4 and faulty["ports"] == [1, 2, 3] and faulty["start_epoch"] == 5.0
    unsent = run_metadata(
        "realtime", _config(), options, start_epoch=0.0, queued=[0, 0, 0], dropped=[0, 3, 0]
    )
    assert unsent["dropped"] == [0, 3, 0] and "dropped_by_reason" not in unsent


def test_no_module_but_faults_asks_which_kind_a_fault_is() -> None:
    """Backends, invariants, reports and plots read the plan and each kind's effect, never
    ``isinstance(fault, Crash)``: a new fault kind needs no edit outside faults.py."""
    import ast
    from pathlib import Path

    from lamport.faults import FAULT_KINDS

    names = {cls.__name__ for cls in FAULT_KINDS}
    package = Path(__file__).resolve().parent.parent / "lamport"
    found = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "faults.py" and path.parent == package:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance":
                kinds = ast.walk(node.args[1]) if len(node.args) == 2 else ()
                if any(isinstance(k, ast.Name) and k.id in names for k in kinds):
                    found.append(f"{path.relative_to(package.parent)}:{node.lineno}")
    assert found == []
