"""What the backends' command lines share: argument parsing with one-line errors,
the options of a single run, and the summary printed after it.

Each backend's ``__main__`` builds its parser from these pieces, calls one
library function, and prints. Heavy imports (pandas, seaborn) never happen here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from lamport.config import DEFAULT_LATENCY, RunConfig, parse_rates, resolve_experiment
from lamport.errors import fail


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        fail(f"{self.prog}: {message}")


def _number(
    convert: Callable[[str], float], accept: Callable[[float], bool], what: str
) -> Callable[[str], Any]:
    """An argparse type: convert, then check; the error names the value and the rule."""
    noun = "an integer" if convert is int else "a number"

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not accept(value) or value in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"{text!r} {what}")
        return value

    parse.__name__ = what  # argparse names the type in its messages
    return parse


positive_float = _number(float, lambda v: v > 0, "must be a positive number")
non_negative_float = _number(float, lambda v: v >= 0, "must be a number >= 0")
probability = _number(float, lambda v: 0.0 <= v <= 1.0, "is outside [0, 1]")
seed_int = _number(int, lambda v: v >= 0, "must be >= 0")
positive_int = _number(int, lambda v: v >= 1, "must be >= 1")


def bounded_int(low: int, high: int) -> Callable[[str], Any]:
    """An argparse type for an integer in [low, high]."""
    return _number(int, lambda v: low <= v <= high, f"is outside {low}..{high}")


def add_run_commands(
    subparsers: Any, backend: str, duration_help: str, extra: Any = None
) -> tuple[Parser, Parser]:
    """Add the ``exp`` and ``run`` subcommands; ``extra(parser)`` adds backend options."""
    exp = subparsers.add_parser(
        "exp",
        help="run one catalogue experiment (1..11, see experiments/) or an experiment file",
        description="Run one catalogue experiment, or your own experiment file in the "
        "catalogue's TOML format, and print a per-machine summary.",
    )
    exp.add_argument(
        "experiment",
        metavar="N|FILE.toml",
        help="catalogue experiment number (1..11), or the path of a .toml experiment file",
    )
    run = subparsers.add_parser(
        "run",
        help="run a custom configuration",
        description="Run a custom configuration and print a per-machine summary.",
    )
    run.add_argument(
        "--rates",
        required=True,
        help="tick rates in ticks per second, one per machine, e.g. 1,3,6 (at least two)",
    )
    run.add_argument(
        "--p-send",
        type=probability,
        default=0.3,
        help="probability that a machine with an empty queue sends (default 0.3)",
    )
    for parser in (exp, run):
        parser.add_argument(
            "--seed", type=seed_int, default=0, help="random seed, an integer >= 0 (default 0)"
        )
        parser.add_argument("--duration", type=positive_float, default=None, help=duration_help)
        parser.add_argument(
            "--out",
            type=Path,
            default=None,
            help=f"run directory to write (default runs/{backend}/<experiment>-seed<S>)",
        )
        parser.add_argument(
            "--report",
            action="store_true",
            help="write report.md and report.html with plots into the run directory",
        )
        parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
        if extra is not None:
            extra(parser)
    return exp, run


def run_config(args: argparse.Namespace, latency: float = DEFAULT_LATENCY) -> RunConfig:
    """The RunConfig that ``exp`` or ``run`` arguments describe. Raise ConfigError if invalid."""
    if args.command == "exp":
        return resolve_experiment(args.experiment).config(
            seed=args.seed, duration=args.duration, latency=latency
        )
    return RunConfig(
        rates=parse_rates(args.rates),
        p_send=args.p_send,
        duration=args.duration if args.duration is not None else 60.0,
        seed=args.seed,
        latency=latency,
    )


def default_out(backend: str, config: RunConfig) -> Path:
    return Path("runs") / backend / config.label


def print_run_summary(
    metadata: dict[str, Any], rows: list[dict[str, Any]], out: Path | None, seconds: float
) -> None:
    """Print the per-machine table of a finished run and where its logs are."""
    from lamport.summary import run_table

    console = console_out()
    name = metadata.get("name", "custom")
    exp = metadata.get("experiment")
    head = f"experiment {exp} ({name})" if exp else name
    title = (
        f"{metadata['backend']}: {head}, seed {metadata['seed']}, "
        f"{metadata['duration']:g} s, p_send {metadata['p_send']:g}"
    )
    console.print(run_table(rows, title))
    if out is not None:
        console.print(f"logs: {out}  ({seconds * 1000:.0f} ms)")


def print_report(path: Path) -> None:
    """Write report.md / report.html into a run or sweep directory and say where."""
    from lamport.report import write_report

    print(f"report: {write_report(path)}")


def console_out() -> Any:
    """A rich Console on stdout; wide enough for the tables when stdout is not a terminal."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 160)
