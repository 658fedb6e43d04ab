"""Rerun a run from its directory on the DES: ``python -m lamport.des rerun DIR``.

A run directory's ``run.json`` keeps the model (:meth:`RunConfig.from_metadata`)
and the backend's options apart. A DES run is rerun with its own options, so the
logs come out byte-identical; a run made by another backend (the real-time one)
has its model replayed on the DES with default :class:`DesOptions`, since its
options (speed, ports) mean nothing to a simulation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lamport.backend import Backend, backend_of, get_backend
from lamport.config import RunConfig
from lamport.des.options import DesOptions
from lamport.errors import ConfigError, LogError
from lamport.result import RunResult
from lamport.schema import RUN_FILE


@dataclass(frozen=True)
class Replay:
    """What :func:`rerun` runs: the model and DES options read from a run directory."""

    source: Path
    config: RunConfig
    options: DesOptions
    made_by: Backend

    @property
    def foreign(self) -> bool:
        """True if another backend made the run, so its options were not reused."""
        return self.made_by is not get_backend("des")


def replay(path: Path | str, options: DesOptions | None = None) -> Replay:
    """Read a run directory and say what rerunning it on the DES means.

    ``options`` replaces the options the run recorded (a DES run's) or the
    defaults (another backend's run). Raise LogError if the directory or its
    ``run.json`` is missing or malformed, or names an unknown backend.
    """
    from lamport.logs import read_metadata

    source = Path(path)
    metadata = read_metadata(source)
    made_by = backend_of(metadata, str(source / RUN_FILE))
    des = get_backend("des")
    try:
        config = RunConfig.from_metadata(metadata)
        if options is None:
            options = des.options_from_metadata(metadata) if made_by is des else DesOptions()
    except (ConfigError, TypeError) as exc:
        raise LogError(f"{source / RUN_FILE}: malformed ({exc})") from None
    return Replay(source, config, options, made_by)


def rerun(
    path: Path | str, options: DesOptions | None = None, out: Path | None = None
) -> RunResult:
    """Run the model recorded in a run directory again on the DES; write ``out`` if given.

    A DES run gets its own options back and gives byte-identical logs; another
    backend's run is replayed with ``options`` or the default DES options. Raise
    LogError if ``path`` is not a readable run directory.
    """
    plan = replay(path, options)
    return get_backend("des").run(plan.config, plan.options, out=out)


def replay_sweep(
    metadata: Mapping[str, Any], final_clocks: Mapping[tuple[int, int], Mapping[int, int]]
) -> Iterator[tuple[tuple[int, int], RunResult | None]]:
    """Run a DES sweep's runs again, one ``(experiment, seed)`` at a time.

    ``metadata`` is the sweep's ``sweep.json`` (its ``duration``, ``latency`` and
    ``faults``: the sweep's grid, :func:`lamport.des.sweep.sweep_grid`, gives each
    run's model as the sweep ran it); ``final_clocks`` maps each run to replay to its
    machines' final clocks in the sweep's summary. Yield each run with its result, or
    with None if it cannot be simulated or ends on other clocks (another model or
    version made the sweep).
    """
    from lamport.des.model import simulate
    from lamport.des.sweep import sweep_grid
    from lamport.errors import LamportError

    try:
        grid = sweep_grid(
            sorted({experiment for experiment, _ in final_clocks}),
            1,
            duration=metadata.get("duration"),
            latency=metadata.get("latency", DesOptions().latency),
            faults=metadata.get("faults") or (),
        )
    except (LamportError, TypeError):  # a sweep.json this version cannot rebuild
        grid = None
    for (experiment, seed), want in final_clocks.items():
        try:
            if grid is None:
                raise ConfigError("no grid")
            result = simulate(*grid.config({"experiment": experiment}, seed))
        except LamportError:
            yield (experiment, seed), None
            continue
        got = {m: (log[-1].clock if log else 0) for m, log in enumerate(result.logs)}
        matches = all(int(want.get(m, -1)) == c for m, c in got.items())
        yield (experiment, seed), result if matches else None
