"""lamport.backend: the contract every backend declares, and a run rebuilt from its run.json."""

from __future__ import annotations

import json

import pytest

from lamport.backend import BACKENDS, backend_of, get_backend
from lamport.config import RunConfig, experiment
from lamport.des.options import DesOptions
from lamport.errors import ConfigError, LogError
from lamport.realtime.options import RealtimeOptions


def test_every_backend_declares_its_contract():
    assert set(BACKENDS) == {"des", "realtime", "import"}
    # an imported run is read and checked by the rules its fields allow, never run again
    assert [b.name for b in BACKENDS.values() if not b.strict] == ["import"]
    assert get_backend("des").tick_tolerance == 0
    assert get_backend("realtime").tick_tolerance == 1
    assert get_backend("des").options is DesOptions
    assert get_backend("realtime").options is RealtimeOptions
    for backend in BACKENDS.values():
        backend.options()  # every field has a default
        assert callable(backend.run)


def test_unknown_backends_and_options_are_refused():
    with pytest.raises(ConfigError, match="unknown backend 'gpu'"):
        get_backend("gpu")
    with pytest.raises(LogError, match="unknown backend"):
        backend_of({"backend": None})
    with pytest.raises(ConfigError, match="no option 'speed'"):
        get_backend("des").make_options(speed=2)
    with pytest.raises(ConfigError, match="takes DesOptions"):
        get_backend("des").run(experiment(4).config(), RealtimeOptions())


def test_options_are_rebuilt_from_run_json_new_and_old():
    des = get_backend("des")
    assert des.options_from_metadata({"options": {"latency": 0.01}}) == DesOptions(latency=0.01)
    # A run.json written before options had their own object keeps them flat.
    assert des.options_from_metadata({"latency": 0.002, "speed": 3}) == DesOptions(latency=0.002)
    realtime = get_backend("realtime")
    assert realtime.options_from_metadata({"speed": 20}) == RealtimeOptions(speed=20)


def test_a_des_run_is_rebuilt_from_its_run_json(tmp_path):
    config = experiment(5).config(seed=3, duration=20)
    options = DesOptions(latency=0.004)
    result = get_backend("des").run(config, options, out=tmp_path / "run")
    metadata = json.loads((tmp_path / "run" / "run.json").read_text())
    assert metadata["options"] == {
        "latency": 0.004,
        "start_epoch": 0.0,
        "latency_dist": "constant",
        "latency_spread": None,
    }
    assert RunConfig.from_metadata(metadata) == config
    replay = get_backend("des").run(
        RunConfig.from_metadata(metadata), backend_of(metadata).options_from_metadata(metadata)
    )
    assert replay.logs == result.logs


def test_a_realtime_run_json_replays_on_the_des(tmp_path):
    config = RunConfig(rates=(3, 2), p_send=0.5, duration=4, seed=7)
    realtime = get_backend("realtime")
    realtime.run(config, RealtimeOptions(speed=20), out=tmp_path / "rt")
    metadata = json.loads((tmp_path / "rt" / "run.json").read_text())
    assert backend_of(metadata) is realtime
    assert metadata["options"]["speed"] == 20
    assert realtime.options_from_metadata(metadata).speed == 20
    rebuilt = RunConfig.from_metadata(metadata)
    assert rebuilt == config
    replay = get_backend("des").run(rebuilt)
    assert [len(log) for log in replay.logs] == [12, 8]  # floor(rate x duration) ticks each
