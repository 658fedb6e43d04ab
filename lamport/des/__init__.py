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
    from lamport.des.model import simulate, time_base
    from lamport.des.rerun import rerun
    from lamport.des.sweep import SweepResult, sweep
    from lamport.result import RunResult
    from lamport.result import RunResult as Result

_HOMES = {
    "Result": "lamport.result:RunResult",  # the earlier name of the run type
    "RunResult": "lamport.result",
    "simulate": "lamport.des.model",
    "time_base": "lamport.des.model",
    "rerun": "lamport.des.rerun",
    "SweepResult": "lamport.des.sweep",
    "sweep": "lamport.des.sweep",
}

__all__ = ["Result", "RunResult", "SweepResult", "rerun", "simulate", "sweep", "time_base"]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'lamport.des' has no attribute {name!r}")
    module, _, attribute = _HOMES[name].partition(":")
    value = getattr(importlib.import_module(module), attribute or name)
    globals()[name] = value
    return value
