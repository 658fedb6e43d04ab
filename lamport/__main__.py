"""The ``lamport`` command, also ``python -m lamport``: one entry point for the three CLIs.

``lamport des ...``, ``lamport realtime ...`` and ``lamport report ...`` call
the same ``main(argv)`` as ``python -m lamport.des ...`` and the others, which
stay. The subcommand's module is imported only when it is chosen.
"""

from __future__ import annotations

from lamport.errors import quiet_start

quiet_start()  # a signal during start-up: exit 130/143, no traceback

# ruff: noqa: E402

import importlib
import sys

from lamport import __version__
from lamport.errors import fail, run_cli

#: Subcommand -> (module whose ``main(argv)`` it calls, one line of help).
COMMANDS = {
    "import": (
        "lamport.imports",
        "your own implementation's logs as a run: import FILE... --out DIR [--format F]",
    ),
    "des": (
        "lamport.des.__main__",
        "the SimPy backend: exp N|FILE.toml | run --rates ... | rerun DIR | sweep | bench",
    ),
    "realtime": (
        "lamport.realtime.__main__",
        "threads and TCP sockets on the wall clock: exp N|FILE.toml | run --rates ...",
    ),
    "report": ("lamport.report.__main__", "report.md / report.html for a run or sweep directory"),
    "check": (
        "lamport.check",
        "validate a run directory: schema, invariants (docs/spec.md), "
        "clock condition (vector clocks)",
    ),
    "export": (
        "lamport.export",
        "a run for ShiViz, Perfetto or Graphviz: export DIR --format F --output FILE",
    ),
    "compare": ("lamport.compare", "a run against the model's 1%-99% band: compare DIR [--json]"),
}

USAGE = "\n".join(
    [
        "usage: lamport {" + ",".join(COMMANDS) + "} ...",
        "",
        "lamport: a laboratory for Lamport logical clocks",
        "",
        *(f"  {name:<10} {text}" for name, (_, text) in COMMANDS.items()),
        "",
        "`lamport COMMAND --help` explains each; `python -m lamport.des` (and the others)",
        "is the same command. The catalogue of experiments: experiments/*.toml in the",
        "repository, shipped with the package; $LAMPORT_EXPERIMENTS points at another folder.",
    ]
)


def main(argv: list[str] | None = None) -> int:
    """Run ``lamport COMMAND ...``; return the exit status.

    Bad input ends with a one-line ``error: ...`` on stderr and SystemExit(2).
    """
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    if args[0] == "--version":
        print(f"lamport {__version__}")
        return 0
    if args[0] not in COMMANDS:
        choices = ", ".join(COMMANDS)
        fail(f"lamport: unknown command {args[0]!r} (choose from {choices}; see lamport --help)")
    module = importlib.import_module(COMMANDS[args[0]][0])
    return run_cli(module.main, args[1:])


if __name__ == "__main__":
    sys.exit(main())
