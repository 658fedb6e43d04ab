"""The discrete-event backend: the protocol core on a SimPy clock.

``simulate(config)`` runs one configuration; ``sweep(...)`` runs experiments
times seeds over the machine's cores. ``python -m lamport.des --help`` is the CLI.
"""

from lamport.des.model import simulate, time_base
from lamport.des.sweep import SweepResult, sweep
from lamport.result import RunResult

#: Earlier name of the run type; every backend now returns a :class:`RunResult`.
Result = RunResult

__all__ = ["Result", "RunResult", "SweepResult", "simulate", "sweep", "time_base"]
