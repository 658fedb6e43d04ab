"""Shared fixtures and Hypothesis profiles.

``HYPOTHESIS_PROFILE=ci`` (set by .ci/run) makes every property test
deterministic: derandomized, no deadline.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=100)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="session")
def catalogue():
    from lamport.config import catalogue as load

    return load()


@pytest.fixture(scope="session")
def exp4_run(tmp_path_factory):
    """Experiment 4, seed 1, aligned phases, built once and written to a run directory:
    (result, path). Its numbers are pinned by several tests, and aligned ticks coincide
    at every whole second, which the analysis tests rely on.

    Shared by the whole session: a test that changes the files works on a copy.
    """
    from lamport.config import experiment
    from lamport.des import simulate

    result = simulate(experiment(4).config(seed=1, phase="aligned"))
    return result, result.write(tmp_path_factory.mktemp("exp4") / "exp04-big-differences-seed1")
