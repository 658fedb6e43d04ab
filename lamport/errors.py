"""The errors lamport reports to a user, and how a CLI turns them into exit status 2."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn

EXIT_USAGE = 2


class LamportError(Exception):
    """A problem the user can fix: bad input, an unwritable path, a broken log."""


class ConfigError(LamportError, ValueError):
    """An invalid run configuration or experiment file."""


class LogError(LamportError):
    """A run directory or log file that is missing, malformed or breaks an invariant."""


class NetworkError(LamportError):
    """The real-time backend could not set up its sockets (port in use, peer never came up)."""


def fail(message: str) -> NoReturn:
    """Print a one-line error and exit with status 2."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def run_cli(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Call a CLI main; turn a LamportError into one line on stderr and exit status 2."""
    try:
        return main(argv) or 0
    except LamportError as exc:
        fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
