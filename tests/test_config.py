"""The catalogue files and run configurations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import lamport.config
from lamport.config import (
    EXPERIMENTS_ENV,
    MAX_MACHINES,
    RunConfig,
    catalogue,
    catalogue_numbers,
    experiment,
    experiments_dir,
    load_experiment,
    parse_rates,
    resolve_experiment,
)
from lamport.des.options import DesOptions
from lamport.errors import ConfigError

GOOD = "name = 'mine'\nrates = [1, 2]\np_send = 0.3\n"

# The catalogue of docs/spec.md.
CATALOGUE = {
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
    for number, (name, rates, p_send) in CATALOGUE.items():
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
    config = RunConfig(rates=(2.5, 1.7, 3), duration=7.3, phase="aligned")
    assert [config.ticks(i) for i in range(3)] == [18, 12, 21]
    assert RunConfig(rates=(6, 1), duration=60).ticks(0) == 360  # whole: any phase
    # random phases: within one of floor(rate x duration) when it is not whole
    for seed in range(20):
        config = RunConfig(rates=(2.5, 1.7, 3), duration=7.3, seed=seed)
        assert all(config.ticks(i) - want in (0, 1) for i, want in enumerate((18, 12, 21)))


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
        ({"rates": (1, 2), "duration": True}, "duration"),
        ({"rates": (1, 2), "duration": float("inf")}, "duration"),
        ({"rates": (1, 2), "experiment": 0}, "experiment"),
    ],
)
def test_invalid_configs_are_rejected(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"latency": -1}, "latency must be >= 0"),
        ({"latency": True}, "latency True is not a number"),
        ({"latency": float("nan")}, "latency must be a finite number"),
        ({"start_epoch": float("inf")}, "start_epoch must be a finite number"),
    ],
)
def test_invalid_des_options_are_rejected(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        DesOptions(**kwargs)


def test_a_config_is_rebuilt_from_its_metadata():
    config = experiment(4).config(seed=7, duration=12.5)
    assert RunConfig.from_metadata(config.metadata()) == config
    custom = RunConfig(rates=(1.5, 2), p_send=0.9, seed=3)
    assert RunConfig.from_metadata({"backend": "x", **custom.metadata()}) == custom
    with pytest.raises(ConfigError, match="no p_send"):
        RunConfig.from_metadata({"rates": [1, 2], "duration": 5})


def test_parse_rates():
    assert parse_rates("1,3,6") == (1.0, 3.0, 6.0)
    assert parse_rates(" 1.5 , 2") == (1.5, 2.0)
    for bad in ("1", "1,x", "1,0", "1,-3", "", "1_000,2", "nan,2", "inf,2"):
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
        ("rates = [1, 2]\np_send = 0.3\n", "missing key 'name'"),
        ("number = 1\nname = 'x'\nrates = [1, 0]\np_send = 0.3\n", "not a positive number"),
        ("number = 1\nname = 'x'\nrates = [1, 2]\np_send = 3\n", r"\[0, 1\]"),
        ("number = 1\nname = 'x'\nrates = [1, 2]\np_send = true\n", "p_send True"),
        ("number = 0\nname = 'x'\nrates = [1, 2]\np_send = 0.3\n", "positive integer"),
        ("number = true\nname = 'x'\nrates = [1, 2]\np_send = 0.3\n", "got True"),
        ("number = 2.0\nname = 'x'\nrates = [1, 2]\np_send = 0.3\n", "got 2.0"),
        ("number = 1\nname = 'x'\nrates = 'sometimes'\np_send = 0.3\n", "rates must be"),
        ("number = 1\nname = 'x'\nrates = [1, 2]\np_send = 0.3\nduration = -5\n", "duration"),
        (GOOD + "duration = true\n", "duration must be a number of seconds, got True"),
        (GOOD + "duration = 'long'\n", "duration must be a number"),
        (GOOD + "duration = inf\n", "duration"),
        (GOOD + "duraton = 30\n", "unknown key 'duraton'"),
        (GOOD + "question = 5\n", "question must be a string"),
        (GOOD + "machines = 3\n", "machines = 3 but rates lists 2"),
        (GOOD.replace("[1, 2]", "[1]"), "2..10000 machines, got 1"),
        (GOOD.replace("[1, 2]", f"[{', '.join(['1'] * (MAX_MACHINES + 1))}]"), "got 10001"),
        ("name = 'r'\nrates = 'random'\np_send = 0.3\nmachines = 10001\n", "2..10000, got 10001"),
        ("name = 'r'\nrates = 'random'\np_send = 0.3\nmachines = true\n", "got True"),
        ("name = 'r'\nrates = 'random'\np_send = 0.3\nmachines = 1\n", "got 1"),
        ("name = 'r'\nrates = 'random'\np_send = 0.3\nrate_range = [3, 2]\n", "rate_range"),
        ("name = 'r'\nrates = 'random'\np_send = 0.3\nrate_range = [1]\n", "rate_range"),
    ],
)
def test_malformed_experiment_files_name_the_file(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_experiment(path)
    assert str(info.value).startswith(f"{path}: ")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "name",
    ["a/b", "../up", "..", ".hidden", "a..b", "a\\b", "a b", "", "x" * 65, "tab\tname", "é"],
)
def test_names_that_are_not_folder_names_are_refused(tmp_path, name):
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace("'mine'", f"'{name}'"))
    with pytest.raises(ConfigError, match="name must be 1 to 64 letters") as info:
        load_experiment(path)
    assert "\n" not in str(info.value)


def test_names_that_are_folder_names_are_accepted(tmp_path):
    for name in ("mine", "Exp-4_b.v2", "x" * 64, "7"):
        path = tmp_path / "ok.toml"
        path.write_text(GOOD.replace("'mine'", f"'{name}'"))
        assert load_experiment(path).name == name


def test_a_users_file_needs_no_number_and_labels_runs_by_its_name(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(GOOD + "duration = 12.5\nquestion = 'does it?'\n")
    exp = load_experiment(path)
    assert (exp.number, exp.name, exp.rates, exp.duration) == (None, "mine", (1.0, 2.0), 12.5)
    config = exp.config(seed=3)
    assert config.label == "mine-seed3" and config.experiment is None
    assert config.question == "does it?" and config.ticks(1) == 25


def test_duplicate_numbers_rejected(tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"03-{name}.toml").write_text(
            f"number = 3\nname = '{name}'\nrates = [1, 2]\np_send = 0.3\n"
        )
    with pytest.raises(
        ConfigError, match=re.escape("experiment 3 is already defined by 03-a.toml")
    ):
        catalogue(tmp_path)
    with pytest.raises(ConfigError, match="already defined"):
        experiment(3, tmp_path)


def _folder(tmp_path):
    """A catalogue folder: experiment 1 good, experiment 2 broken, a stray file."""
    (tmp_path / "01-first.toml").write_text("number = 1\n" + GOOD.replace("mine", "first"))
    (tmp_path / "02-broken.toml").write_text("number = 2\nname = 'broken'\nrates = [1,\n")
    (tmp_path / "notes.toml").write_text("anything")
    (tmp_path / "README.md").write_text("not an experiment")
    return tmp_path


def test_experiment_reads_only_the_file_asked_for(tmp_path):
    folder = _folder(tmp_path)
    assert experiment(1, folder).name == "first"
    assert catalogue_numbers(folder) == [1, 2]
    with pytest.raises(ConfigError, match=re.escape("02-broken.toml: malformed TOML")):
        experiment(2, folder)
    with pytest.raises(ConfigError, match=r"unknown experiment 3 \(known: 1, 2\)"):
        experiment(3, folder)


def test_catalogue_reads_every_file_and_refuses_misnamed_ones(tmp_path):
    folder = _folder(tmp_path)
    with pytest.raises(
        ConfigError, match=re.escape("notes.toml: catalogue files are named NN-name.toml")
    ):
        catalogue(folder)
    (folder / "notes.toml").unlink()
    with pytest.raises(ConfigError, match=re.escape("02-broken.toml: malformed TOML")):
        catalogue(folder)
    (folder / "02-broken.toml").unlink()
    assert list(catalogue(folder)) == [1]


def test_the_file_name_and_the_number_must_agree(tmp_path):
    (tmp_path / "04-x.toml").write_text("number = 5\n" + GOOD)
    (tmp_path / "06-y.toml").write_text(GOOD)
    with pytest.raises(
        ConfigError, match=re.escape("04-x.toml: number must be 4, as the file name says")
    ):
        experiment(4, tmp_path)
    with pytest.raises(ConfigError, match="got None"):
        experiment(6, tmp_path)


def test_catalogue_files_are_named_by_number_and_name(catalogue):
    for number, exp in catalogue.items():
        assert exp.path is not None and exp.path.name == f"{number:02d}-{exp.name}.toml"


def test_missing_folder(tmp_path):
    with pytest.raises(ConfigError, match="experiment folder not found"):
        experiment(1, tmp_path / "nowhere")


def test_the_environment_variable_points_at_another_folder(tmp_path, monkeypatch):
    folder = _folder(tmp_path)
    monkeypatch.setenv(EXPERIMENTS_ENV, str(folder))
    assert experiments_dir() == folder
    assert experiment(1).name == "first"
    assert resolve_experiment("1").path == folder / "01-first.toml"
    monkeypatch.delenv(EXPERIMENTS_ENV)
    assert experiment(1).name == "default"


def test_without_the_variable_the_catalogue_is_the_repositorys(monkeypatch):
    monkeypatch.delenv(EXPERIMENTS_ENV, raising=False)
    repository = Path(__file__).resolve().parent.parent / "experiments"
    folder = experiments_dir()
    if Path(lamport.config.__file__).resolve().parent == repository.parent / "lamport":
        assert folder == repository  # a checkout, or an editable install of one
    files = sorted(p.name for p in folder.glob("*.toml"))
    assert files == sorted(p.name for p in repository.glob("*.toml"))
    for name in files:
        assert (folder / name).read_bytes() == (repository / name).read_bytes()


def test_resolve_a_number_or_a_path(tmp_path, monkeypatch):
    assert resolve_experiment("4").name == "big-differences"
    assert resolve_experiment(9).name == "high-comm-extreme"
    path = tmp_path / "mine.toml"
    path.write_text(GOOD)
    assert resolve_experiment(str(path)).name == "mine"
    assert resolve_experiment(path).name == "mine"
    monkeypatch.chdir(tmp_path)
    assert resolve_experiment("mine.toml").path == Path("mine.toml")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "other").write_text(GOOD)
    assert resolve_experiment("sub/other").name == "mine"
    with pytest.raises(ConfigError, match=re.escape("missing.toml: experiment file not found")):
        resolve_experiment("missing.toml")
    for bad in ("abc", "4x", "-1", "", "٤"):
        with pytest.raises(
            ConfigError, match=re.escape("neither an experiment number nor a .toml file")
        ):
            resolve_experiment(bad)
    with pytest.raises(ConfigError, match="experiment number must be >= 1, got 0"):
        resolve_experiment("0")


def test_metadata_is_json_ready():
    meta = experiment(4).config(seed=2).metadata()
    assert meta["rates"] == [1, 3, 6] and meta["seed"] == 2 and meta["experiment"] == 4
    assert meta["duration"] == 60 and meta["p_send"] == 0.3 and "latency" not in meta
