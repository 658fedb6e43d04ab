"""The catalogue files and run configurations."""

from __future__ import annotations

import pytest

from lamport.config import RunConfig, catalogue, experiment, load_experiment, parse_rates
from lamport.errors import ConfigError

SPEC = {
    1: ("default", None, 0.3),
    2: ("specific", (6, 4, 4), 0.3),
    3: ("uniform", (3, 3, 3), 0.3),
    4: ("big-differences", (1, 3, 6), 0.3),
    5: ("small-differences", (5, 3, 2), 0.3),
    6: ("more-communication", (5, 3, 2), 0.6),
    7: ("high-comm-uniform", (3, 3, 3), 0.9),
    8: ("high-comm-mixed", (4, 4, 6), 0.9),
    9: ("high-comm-extreme", (1, 1, 6), 0.9),
    10: ("high-comm-big", (1, 4, 6), 0.9),
    11: ("high-comm-small", (5, 3, 2), 0.9),
}


def test_catalogue_matches_spec(catalogue):
    assert sorted(catalogue) == list(range(1, 12))
    for number, (name, rates, p_send) in SPEC.items():
        exp = catalogue[number]
        assert (exp.name, exp.rates, exp.p_send, exp.duration) == (name, rates, p_send, 60)
        assert exp.question


def test_experiment_one_draws_rates_from_the_seed(catalogue):
    exp = catalogue[1]
    drawn = [exp.config(seed=s).rates for s in range(200)]
    assert drawn == [exp.config(seed=s).rates for s in range(200)]
    values = {r for rates in drawn for r in rates}
    assert values == {1.0, 2.0, 3.0, 4.0, 5.0, 6.0}
    assert len(set(drawn)) > 100


def test_ticks_are_floor_of_rate_times_duration():
    config = RunConfig(rates=(2.5, 1.7, 3), duration=7.3)
    assert [config.ticks(i) for i in range(3)] == [18, 12, 21]
    assert RunConfig(rates=(6, 1), duration=60).ticks(0) == 360


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rates": (1,)}, "at least two"),
        ({"rates": (1, 0)}, "not a positive number"),
        ({"rates": (1, -2)}, "not a positive number"),
        ({"rates": (1, float("nan"))}, "not a positive number"),
        ({"rates": (1, "x")}, "not a number"),
        ({"rates": (1, 1e-9)}, "smallest rate"),
        ({"rates": (1, 2), "p_send": 1.5}, r"\[0, 1\]"),
        ({"rates": (1, 2), "p_send": -0.1}, r"\[0, 1\]"),
        ({"rates": (1, 2), "duration": 0}, "duration"),
        ({"rates": (1, 2), "seed": 1.5}, "seed"),
        ({"rates": (1, 2), "seed": -1}, "seed"),
        ({"rates": (1, 2), "latency": -1}, "latency"),
    ],
)
def test_invalid_configs_are_rejected(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(**kwargs)


def test_parse_rates():
    assert parse_rates("1,3,6") == (1.0, 3.0, 6.0)
    assert parse_rates(" 1.5 , 2") == (1.5, 2.0)
    for bad in ("1", "1,x", "1,0", "1,-3", ""):
        with pytest.raises(ConfigError):
            parse_rates(bad)


def test_unknown_experiment():
    with pytest.raises(ConfigError, match="unknown experiment 12"):
        experiment(12)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("number = 1\nname = 'x'\nrates = [1, 2\n", "malformed TOML"),
        ("number = 1\nname = 'x'\np_send = 0.3\n", "missing key 'rates'"),
        ("number = 1\nname = 'x'\nrates = [1, 0]\np_send = 0.3\n", "not a positive number"),
        ("number = 1\nname = 'x'\nrates = [1, 2]\np_send = 3\n", r"\[0, 1\]"),
        ("number = 0\nname = 'x'\nrates = [1, 2]\np_send = 0.3\n", "positive integer"),
        ("number = 1\nname = 'x'\nrates = 'sometimes'\np_send = 0.3\n", "rates must be"),
        ("number = 1\nname = 'x'\nrates = [1, 2]\np_send = 0.3\nduration = -5\n", "duration"),
    ],
)
def test_malformed_experiment_files_name_the_file(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_experiment(path)
    assert str(path) in str(info.value)


def test_duplicate_numbers_rejected(tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.toml").write_text(
            f"number = 3\nname = '{name}'\nrates = [1, 2]\np_send = 0.3\n"
        )
    with pytest.raises(ConfigError, match="already defined"):
        catalogue(tmp_path)


def test_metadata_is_json_ready():
    meta = experiment(4).config(seed=2).metadata()
    assert meta["rates"] == [1, 3, 6] and meta["seed"] == 2 and meta["experiment"] == 4
    assert meta["duration"] == 60 and meta["p_send"] == 0.3 and meta["latency"] == 0.001
