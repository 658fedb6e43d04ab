"""Hostile grid files: every bad one is one line, exit status 2, nothing written.

The class (docs/grids.md, "What a grid file may hold"): every value of a grid file is
type-checked (booleans are booleans, numbers finite and in range), and the cells are
counted from the factors' lengths before any is built. Hypothesis writes the files.
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lamport.des.__main__ import main
from lamport.des.grid import MAX_CELLS, MAX_FACTOR_VALUES, parse_grid
from lamport.errors import ConfigError, run_cli

#: A valid grid; each bad file changes one line of it.
BASE = {
    "name": '"hostile"',
    "duration": "5",
    "seeds": "2",
}
FACTORS = {
    "rates": "[[1, 3, 6], [2, 2, 5]]",
    "p_send": "[0.2, 0.8]",
}

# TOML spellings of numbers that are no number a run can take.
NOT_FINITE = st.sampled_from(["nan", "inf", "-inf", "+inf", "-nan"])
HUGE = st.sampled_from(["1e308", "-1e308", "1.7976931348623157e308", "9223372036854775807"])
NOT_A_NUMBER = st.sampled_from(
    ["true", "false", '"0.3"', '"٣"', "1979-05-27", "07:32:00", "{}", "{ a = 1 }", "[[[[1]]]]"]
)
NOT_A_BOOLEAN = st.sampled_from(['"yes"', '"true"', "1", "0", "1.0", "[]", '"no"', "{}"])


def _file(base: dict[str, str], factors: dict[str, str]) -> str:
    lines = [f"{k} = {v}" for k, v in base.items()]
    return "\n".join([*lines, "[factors]", *(f"{k} = {v}" for k, v in factors.items())]) + "\n"


@st.composite
def bad_grid_files(draw: st.DrawFn) -> str:
    """A grid file with one hostile value (or shape) put into it."""
    base, factors = dict(BASE), dict(FACTORS)
    kind = draw(
        st.sampled_from(
            [
                "fixed-number",
                "latency",
                "factor-number",
                "rate",
                "ascending",
                "range",
                "product",
                "seeds",
                "cells",
                "deep",
            ]
        )
    )
    bad = draw(st.one_of(NOT_FINITE, HUGE, NOT_A_NUMBER))
    if kind == "fixed-number":
        base[draw(st.sampled_from(["duration", "jitter", "drift_ppm"]))] = bad
    elif kind == "latency":  # any latency >= 0 is a model: a huge one only delays every message
        base["latency"] = draw(st.one_of(NOT_FINITE, NOT_A_NUMBER, st.just("-1e308")))
    elif kind == "factor-number":
        factors["p_send"] = f"[0.2, {bad}]"
    elif kind == "rate":
        factors["rates"] = f"[[1, 3, 6], [{bad}, {bad}]]"
    elif kind == "ascending":
        flag = draw(NOT_A_BOOLEAN)
        factors["rates"] = f"{{ product = [[1, 2], [1, 2], [3]], ascending = {flag} }}"
    elif kind == "range":
        key = draw(st.sampled_from(["from", "to", "step", "num"]))
        spec = {"from": "0.1", "to": "0.9", "step": "0.2"}
        if key == "num":
            del spec["step"]
        if key == "step":  # any step above 0 is fine, however large: one value
            steps = st.sampled_from(["0", "-1", "-1e308", "1e-300", "5e-324"])
            spec[key] = draw(st.one_of(NOT_FINITE, NOT_A_NUMBER, steps))
        else:
            spec[key] = draw(st.one_of(NOT_FINITE, HUGE, NOT_A_NUMBER, st.just("1e-300")))
            if spec[key] == "1e-300":  # a tiny step: too many values (or both step and num)
                spec["step"] = "1e-300"
        inner = ", ".join(f"{k} = {v}" for k, v in spec.items())
        factors["p_send"] = f"{{ {inner} }}"
    elif kind == "product":
        # Too many tuples, ascending or not: refused before one is built.
        axes = draw(st.integers(4, 6))
        top = draw(st.integers(40, 1000))
        axis = f"{{ from = 1, to = {top}, step = 1 }}"
        flag = draw(st.booleans())
        factors["rates"] = (
            f"{{ product = [{', '.join([axis] * axes)}], ascending = {str(flag).lower()} }}"
        )
    elif kind == "seeds":
        base["seeds"] = draw(
            st.one_of(NOT_FINITE, HUGE, NOT_A_NUMBER, st.sampled_from(["0", "-1"]))
        )
    elif kind == "cells":
        # Many factors of many values each: their product is counted, never walked.
        for name in ("latency", "drift_ppm", "jitter"):
            factors[name] = "{ from = 0, to = 0.001, num = 1000 }"
    else:
        depth = draw(st.integers(3, 2000))
        factors["p_send"] = "[" * depth + "0.3" + "]" * depth
    return _file(base, factors)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=bad_grid_files())
def test_any_bad_grid_file_is_one_line_exit_2_and_nothing_written(text, tmp_path, capsys):
    folder = Path(tempfile.mkdtemp(dir=tmp_path))  # one per example
    path = folder / "bad.toml"
    path.write_text(text)
    out = folder / "out"
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        run_cli(main, ["grid", str(path), "--out", str(out), "--jobs", "1", "--quiet"])
    err = capsys.readouterr().err
    assert info.value.code == 2, err
    assert err.startswith(f"error: {path}: ") and err.count("\n") == 1, err
    assert not out.exists()


@pytest.mark.parametrize(
    ("factors", "message"),
    [
        ({"rates": [[1e308, 1e308]]}, "a run of about 10^"),
        ({"rates": {"product": [[1, 2], [1, 2]], "ascending": "yes"}}, "ascending must be true"),
        ({"rates": [[1, 2]], "p_send": [float("nan")]}, "nan is not a finite number"),
        ({"rates": [[1, 2]], "p_send": {"from": 0, "to": float("inf"), "step": 1}}, "finite"),
        ({"rates": [[1, 2]], "p_send": {"from": 0, "to": 1, "step": 1e-300}}, "range has"),
        ({"rates": [[1, 2]], "p_send": [True]}, "p_send True is not a number"),
    ],
)
def test_the_reported_examples(factors, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        parse_grid({"name": "x", "duration": 60, "factors": factors})
    assert "\n" not in str(info.value)


def test_a_grid_of_a_trillion_cells_is_refused_at_once_without_enumerating():
    import tracemalloc

    ranges = {"from": 0, "to": 0.001, "num": 1000}
    factors = {"rates": [[1, 2]], "latency": ranges, "drift_ppm": ranges, "jitter": ranges}
    factors["p_send"] = {"from": 0, "to": 1, "num": 1000}
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ConfigError, match=r"has 1,000,000,000,000 cells \(limit 10,000\)"):
            parse_grid({"name": "x", "duration": 60, "factors": factors})
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 0.5
    assert peak < 5_000_000  # a list of the cells would be terabytes


def test_a_product_is_counted_before_it_is_built():
    axis = {"from": 1, "to": 1000, "step": 1}
    started = time.perf_counter()
    with pytest.raises(ConfigError, match="product has 1,000,000,000,000 values"):
        parse_grid({"name": "x", "duration": 60, "factors": {"rates": {"product": [axis] * 4}}})
    # ascending: counted too (C(1003, 4) tuples), not filtered out of the product
    with pytest.raises(ConfigError, match="product has 41,917,125,250 values"):
        parse_grid(
            {
                "name": "x",
                "duration": 60,
                "factors": {"rates": {"product": [axis] * 4, "ascending": True}},
            }
        )
    assert time.perf_counter() - started < 0.5
    assert MAX_FACTOR_VALUES < 41_917_125_250 and MAX_CELLS < MAX_FACTOR_VALUES


@settings(max_examples=200)
@given(
    axes=st.lists(
        st.lists(st.integers(-3, 6), min_size=1, max_size=6, unique=True), min_size=1, max_size=4
    )
)
def test_ascending_products_are_the_filtered_product_in_its_order(axes):
    import itertools

    from lamport.des.grid import _ascending, _ascending_count

    expected = [
        list(c) for c in itertools.product(*axes) if all(a <= b for a, b in itertools.pairwise(c))
    ]
    assert _ascending(axes) == expected
    assert _ascending_count(axes) == len(expected)


@pytest.mark.parametrize("name", ["_grid.json", "sweep.json"])
def test_a_deeply_nested_grid_or_sweep_json_is_one_line(name, tmp_path, capsys):
    from lamport.report.__main__ import main as report_main

    path = tmp_path / "g.toml"
    path.write_text('name = "g"\nduration = 2\nseeds = 2\n[factors]\nexperiment = [2, 4]\n')
    out = tmp_path / "o"
    assert run_cli(main, ["grid", str(path), "--out", str(out), "--quiet"]) == 0
    if name == "sweep.json":
        assert run_cli(main, ["sweep", "--exp", "2", "--seeds", "2", "--out", str(out / "s")]) == 0
        out = out / "s"
    (out / name).write_text("[" * 100_000 + "]" * 100_000)
    capsys.readouterr()
    commands = [(report_main, [str(out)])]
    if name == "_grid.json":  # the grid command resumes it: an unreadable _grid.json is refused
        commands.append((main, ["grid", str(path), "--out", str(out), "--quiet"]))
    for command, args in commands:
        with pytest.raises(SystemExit) as info:
            run_cli(command, args)
        err = capsys.readouterr().err
        assert info.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err, err


def test_fault_tables_are_values_a_grid_may_hold(tmp_path):
    from lamport.des.grid import run_grid

    grid = parse_grid(
        {
            "name": "faulted",
            "duration": 5,
            "seeds": 2,
            "faults": [
                {"kind": "partition", "groups": [[0], [1, 2]], "at": 1, "duration": 2},
                {"fault": "loss 0.1"},
            ],
            "factors": {"rates": [[1, 3, 6]], "p_send": [0.3, 0.9]},
        }
    )
    frame = run_grid(grid, tmp_path / "o", jobs=1).frame()
    assert len(frame) == 2 * 2 * 3 and frame["dropped"].sum() > 0
