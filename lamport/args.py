"""Argument types for every command: a parser whose errors are one line and exit status 2,
and the numbers, probabilities and ports a command line takes, each refused in one line
that names the value and the rule.

Library modules that offer a command (``lamport check``, ``lamport compare``, ...) build
their parsers from these; they import nothing above the bottom layer.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from lamport.errors import INVOKED_AS, fail
from lamport.validate import parse_float, parse_int

__all__ = [
    "Parser",
    "bounded_int",
    "invoked_prog",
    "non_negative_float",
    "port",
    "positive_float",
    "positive_int",
    "probability",
    "seed_int",
]


#: A command's own program name (``python -m lamport.des``, ``lamport check``); a
#: subcommand's parser (``... exp``) takes its name from its parent's.
_COMMAND_PROG = re.compile(r"(?:python -m lamport\.|lamport )[a-z]+")


def invoked_prog(default: str) -> str:
    """The command's name as the user typed it: ``lamport des`` when the ``lamport`` command
    dispatched to it, ``python -m lamport.des`` when Python ran the module, else ``default``."""
    invoked = INVOKED_AS.get()
    if invoked is not None:
        return invoked
    script = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    package = Path(__file__).resolve().parent
    if script is None or script.suffix != ".py" or not script.is_relative_to(package):
        return default
    parts = ["lamport", *script.relative_to(package).with_suffix("").parts]
    if parts[-1] == "__main__":
        parts.pop()
    return "python -m " + ".".join(parts)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit status 2.

    A command's parser (``prog`` ``python -m lamport.X`` or ``lamport X``) names itself as
    the user invoked it (:func:`invoked_prog`), in its usage and its errors."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        prog = kwargs.get("prog")
        if isinstance(prog, str) and _COMMAND_PROG.fullmatch(prog):
            kwargs["prog"] = invoked_prog(prog)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        fail(f"{self.prog}: {message}")


def _number(
    convert: Callable[[str], float], accept: Callable[[float], bool], what: str
) -> Callable[[str], Any]:
    """An argparse type: convert, then check; the error names the value and the rule."""
    noun = "an integer" if convert is parse_int else "a number"

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


positive_float = _number(parse_float, lambda v: v > 0, "must be a positive number")
non_negative_float = _number(parse_float, lambda v: v >= 0, "must be a number >= 0")
probability = _number(parse_float, lambda v: 0.0 <= v <= 1.0, "is outside [0, 1]")
seed_int = _number(parse_int, lambda v: v >= 0, "must be >= 0")
positive_int = _number(parse_int, lambda v: v >= 1, "must be >= 1")


def bounded_int(low: int, high: int, what: str | None = None) -> Callable[[str], Any]:
    """An argparse type for an integer in [low, high]; ``what`` ends the error message."""
    return _number(parse_int, lambda v: low <= v <= high, what or f"is outside {low}..{high}")


#: A TCP port number, 1..65535.
port = bounded_int(1, 65535, "is not a port (1..65535)")
