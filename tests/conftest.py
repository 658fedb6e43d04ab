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


@pytest.fixture
def exp4_run(tmp_path):
    """Experiment 4, seed 1, written to a run directory: (result, path)."""
    from lamport.config import experiment
    from lamport.des import simulate

    result = simulate(experiment(4).config(seed=1))
    return result, result.write(tmp_path / "exp4")
