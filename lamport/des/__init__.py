"""The discrete-event backend: the protocol core on a SimPy clock.

``simulate(config)`` runs one configuration; ``rerun(path)`` runs a run
directory's model again; ``sweep(...)`` runs experiments times seeds over the
machine's cores. ``python -m lamport.des --help`` is the CLI.
"""

from lamport.des.model import Result, simulate, time_base
from lamport.des.rerun import rerun
from lamport.des.sweep import SweepResult, sweep

__all__ = ["Result", "SweepResult", "rerun", "simulate", "sweep", "time_base"]
