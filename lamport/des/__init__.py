"""The discrete-event backend: the protocol core on a SimPy clock.

``simulate(config)`` runs one configuration; ``rerun(path)`` runs a run
directory's model again; ``sweep(...)`` runs experiments times seeds over the
machine's cores. ``python -m lamport.des --help`` is the CLI.

``simulate`` and ``time_base`` are imported on first use, so ``python -m
lamport.des --help`` does not pay for SimPy. (``sweep`` and ``rerun`` are
imported here: each shares its name with its module, which an import of the
module elsewhere would otherwise put in the function's place.)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lamport.des.rerun import rerun
from lamport.des.sweep import SweepResult, sweep
from lamport.result import RunResult

if TYPE_CHECKING:
    from lamport.des.model import simulate, time_base

#: The earlier name of the run type; every backend now returns a :class:`RunResult`.
Result = RunResult

_LAZY = ("simulate", "time_base")  # from lamport.des.model, which imports SimPy

__all__ = ["Result", "RunResult", "SweepResult", "rerun", "simulate", "sweep", "time_base"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'lamport.des' has no attribute {name!r}")
    value = getattr(importlib.import_module("lamport.des.model"), name)
    globals()[name] = value
    return value
