"""The ``lamport`` command, also ``python -m lamport``: one entry point for every CLI.

``lamport des ...``, ``lamport realtime ...``, ``lamport report ...`` and the
others call the same ``main(argv)`` as ``python -m lamport.des ...`` and the
others, which stay; their usage lines and errors name the command as it was
typed (``lamport des``). The subcommand's module is imported only when it is
chosen.
"""

from __future__ import annotations

from lamport.errors import quiet_start

quiet_start()  # a signal during start-up: exit 130/143, no traceback

# ruff: noqa: E402

import importlib
import sys
from pathlib import Path

from lamport import __version__
from lamport.errors import fail, invoked_as, run_cli

#: Subcommand -> (``module`` whose ``main(argv)`` it calls, or ``module:function``; one
#: line of help).
COMMANDS = {
    "list": (
        "lamport.cli:list_main",
        "the catalogue of experiments: number, name, rates, p_send, question",
    ),
    "import": (
        "lamport.imports",
        "your own implementation's logs as a run: import FILE... --out DIR [--format F]",
    ),
    "des": (
        "lamport.des.__main__",
        "the SimPy backend: exp N|FILE.toml | run --rates ... | rerun DIR | sweep | "
        "grid FILE | bench | list",
    ),
    "realtime": (
        "lamport.realtime.__main__",
        "threads or processes and TCP on the wall clock: exp N|FILE.toml | run --rates ... | "
        "node | collect",
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
        "commands:",
        *(f"  {name:<10} {text}" for name, (_, text) in COMMANDS.items()),
        "",
        "options:",
        "  -h, --help  show this message and exit",
        "  --version   print lamport's version and exit",
        "",
        "`lamport COMMAND --help` explains each; `python -m lamport.des` (and the others)",
        "is the same command. The catalogue of experiments (`lamport list`): experiments/*.toml",
        "in the repository, shipped with the package; $LAMPORT_EXPERIMENTS points at another",
        "folder.",
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
    module_name, _, function = COMMANDS[args[0]][0].partition(":")
    command = getattr(importlib.import_module(module_name), function or "main")
    # `python -m lamport des` or `lamport des`: the subcommand's messages say which
    script = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    typed = "python -m lamport" if script == Path(__file__).resolve() else "lamport"
    with invoked_as(f"{typed} {args[0]}"):
        return run_cli(command, args[1:])


if __name__ == "__main__":
    sys.exit(main())
