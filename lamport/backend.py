"""The backend contract: what every driver of the protocol core declares and does.

A backend runs the model of a :class:`lamport.config.RunConfig` (machines,
rates, ``p_send``, duration, seed) with options of its own (the DES its
latency and start epoch, the real-time backend its speed, ports and
timeouts) and returns a :class:`lamport.result.RunResult`. It declares:

``name``
    as recorded in ``run.json`` (``"des"``, ``"realtime"``);
``options``
    its options dataclass, built from keywords, from the CLI or from a
    ``run.json`` (:meth:`Backend.options_from_metadata`); every field has a
    default, so ``Backend.run(config)`` runs with the defaults;
``tick_tolerance``
    how many ticks a machine may be off ``floor(rate x duration)``: 0 for the
    exact DES, 1 for the wall clock, whose last tick can fall either side of
    the end;
``run(config, options, out=...)``
    the run itself; with ``out`` the run directory is written too.

Code above the backends (invariants, analysis, reports, the CLIs) asks this
contract and never compares backend names. The entries below name their
modules as strings and import them on first use, so asking for a tolerance
costs no SimPy and no sockets. A new backend is one more entry in
:data:`BACKENDS` and a package with an options dataclass and a ``run``
function; nothing else changes.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamport.errors import ConfigError, LogError
from lamport.schema import IMPORTED, RUN_FILE

if TYPE_CHECKING:
    from lamport.config import RunConfig

__all__ = ["BACKENDS", "Backend", "backend_of", "get_backend"]


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Backend:
    """One backend: its name, what it is, its tick tolerance, and where its code lives."""

    name: str
    summary: str
    tick_tolerance: int
    options_path: str  # "module:OptionsClass"
    run_path: str  # "module:function", called as function(config, options, out=out)
    #: Whether its runs are held to every invariant of docs/spec.md when read. An imported
    #: run (another implementation's logs) is checked by the rules its fields allow instead.
    strict: bool = True

    @property
    def options(self) -> type[Any]:
        """The backend's options dataclass."""
        return _load(self.options_path)

    def make_options(self, **values: Any) -> Any:
        """The options with the given fields set, the rest at their defaults.

        Raise ConfigError naming an unknown field or an invalid value.
        """
        known = {f.name for f in dataclasses.fields(self.options)}
        unknown = sorted(set(values) - known)
        if unknown:
            listed = ", ".join(sorted(known))
            raise ConfigError(f"{self.name} backend has no option {unknown[0]!r} (known: {listed})")
        return self.options(**values)

    def options_from_metadata(self, metadata: Mapping[str, Any]) -> Any:
        """The options a run was made with, from its ``run.json``.

        Takes the ``options`` object; a run written before it existed keeps its
        options as top-level keys, which are read instead. Fields the file does
        not name take their defaults. Raise ConfigError on an invalid value.
        """
        stored = metadata.get("options")
        if not isinstance(stored, Mapping):
            stored = metadata
        known = {f.name for f in dataclasses.fields(self.options)}
        return self.options(**{k: v for k, v in stored.items() if k in known})

    def run(self, config: RunConfig, options: Any = None, out: Path | None = None) -> Any:
        """Run the configuration with these options (defaults if None); write ``out`` if given.

        Return the backend's :class:`lamport.result.RunResult`. (The contract sits below the
        records it reads and writes, so it names that type without importing it: the
        records' reader asks the contract which backends exist.)"""
        if options is None:
            options = self.options()
        elif not isinstance(options, self.options):
            raise ConfigError(
                f"{self.name} backend takes {self.options.__name__}, got {type(options).__name__}"
            )
        return _load(self.run_path)(config, options, out=out)


#: Every backend, by the name run.json records.
BACKENDS: dict[str, Backend] = {
    backend.name: backend
    for backend in (
        Backend(
            name="des",
            summary="SimPy discrete-event model: exact, deterministic, seeded",
            tick_tolerance=0,
            options_path="lamport.des.options:DesOptions",
            run_path="lamport.des.model:run",
        ),
        Backend(
            name="realtime",
            summary="threads and TCP sockets on the wall clock",
            tick_tolerance=1,
            options_path="lamport.realtime.options:RealtimeOptions",
            run_path="lamport.realtime.cluster:run_backend",
        ),
        Backend(
            name=IMPORTED,
            summary="another implementation's logs, read by lamport import",
            tick_tolerance=1,
            options_path="lamport.imports.build:ImportOptions",
            run_path="lamport.imports.build:cannot_run",
            strict=False,
        ),
    )
}


def get_backend(name: str) -> Backend:
    """The backend called ``name``. Raise ConfigError if there is none."""
    try:
        return BACKENDS[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(BACKENDS))
        raise ConfigError(f"unknown backend {name!r} (known: {known})") from None


def backend_of(metadata: Mapping[str, Any], where: str = RUN_FILE) -> Backend:
    """The backend that wrote a run, from its metadata. Raise LogError if it names none we know."""
    try:
        return get_backend(metadata.get("backend"))  # type: ignore[arg-type]
    except ConfigError as exc:
        raise LogError(f"{where}: {exc}") from None
