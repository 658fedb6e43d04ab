"""The discrete-event backend: the protocol core on a SimPy clock.

``simulate(config)`` runs one configuration; ``rerun(path)`` runs a run
directory's model again; ``sweep(...)`` runs experiments times seeds over the
machine's cores. ``python -m lamport.des --help`` is the CLI.

The names below are imported on first use, so ``python -m lamport.des --help``
does not pay for SimPy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lamport.des.model import Result, simulate, time_base
    from lamport.des.rerun import rerun
    from lamport.des.sweep import SweepResult, sweep

_HOMES = {
    "Result": "lamport.des.model",
    "simulate": "lamport.des.model",
    "time_base": "lamport.des.model",
    "rerun": "lamport.des.rerun",
    "SweepResult": "lamport.des.sweep",
    "sweep": "lamport.des.sweep",
}

__all__ = ["Result", "SweepResult", "rerun", "simulate", "sweep", "time_base"]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'lamport.des' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value
