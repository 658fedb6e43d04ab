"""Shared fixtures and Hypothesis profiles.

``HYPOTHESIS_PROFILE=ci`` (set by .ci/run) makes every property test
deterministic: derandomized, no deadline.
"""

from __future__ import annotations

import os
import signal

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


#: The stop signals whose handlers a test may change (a CLI imported in-process installs its
#: own): each test gets back the handlers the session started with, so none inherits another's.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
SESSION_HANDLERS = {s: signal.getsignal(s) for s in STOP_SIGNALS}


def _restore_handlers() -> None:
    for signum, handler in SESSION_HANDLERS.items():
        if signal.getsignal(signum) is not handler:
            signal.signal(signum, handler)


@pytest.fixture(autouse=True)
def _session_signal_handlers():
    _restore_handlers()  # collection imported the CLIs, whose start-up installs handlers
    yield
    _restore_handlers()


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
