"""Validation of numbers from users, files and the wire, written once.

``True`` is an ``int`` in Python, and ``float("nan")`` compares false with
everything, so "is this a number in range" is easy to get subtly wrong; every
module asks these functions instead.
"""

from __future__ import annotations

import math
import re
from typing import TypeGuard

from lamport.errors import ConfigError, LamportError


def is_number(value: object) -> TypeGuard[int | float]:
    """True for an int or float that is not a bool (NaN and infinities included)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_integer(value: object) -> TypeGuard[int]:
    """True for an int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def number(
    value: object,
    what: str,
    *,
    low: float | None = None,
    above: float | None = None,
    high: float | None = None,
    error: type[LamportError] = ConfigError,
) -> float:
    """``value`` as a finite float within the bounds (``low <= value``, ``above < value``,
    ``value <= high``). Raise ``error`` naming ``what`` otherwise."""
    if not is_number(value):
        raise error(f"{what} {value!r} is not a number")
    x = float(value)
    if not math.isfinite(x):
        raise error(f"{what} must be a finite number, got {value!r}")
    if low is not None and high is not None:
        if not low <= x <= high:
            raise error(f"{what} must lie in [{low:g}, {high:g}], got {value!r}")
    elif low is not None and x < low:
        raise error(f"{what} must be >= {low:g}, got {value!r}")
    elif high is not None and x > high:
        raise error(f"{what} must be <= {high:g}, got {value!r}")
    if above is not None and x <= above:
        raise error(f"{what} must be > {above:g}, got {value!r}")
    return x


def integer(
    value: object, what: str, *, low: int | None = None, error: type[LamportError] = ConfigError
) -> int:
    """``value`` as an int >= ``low``. Raise ``error`` naming ``what`` otherwise."""
    if not is_integer(value):
        raise error(f"{what} must be an integer, got {value!r}")
    if low is not None and value < low:
        raise error(f"{what} must be an integer >= {low}, got {value!r}")
    return value


_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")


def parse_float(text: str) -> float:
    """A number as a user types it: ``3``, ``0.25``, ``1e-3``; ValueError on anything else.

    Stricter than ``float()``, which also takes ``1_000``, ``nan``, ``inf`` and
    non-ASCII digits.
    """
    stripped = text.strip()
    if not _DECIMAL.fullmatch(stripped) or not stripped.isascii():
        raise ValueError(f"{text!r} is not a number")
    return float(stripped)


def parse_int(text: str) -> int:
    """An integer as a user types it: ``42``; ValueError on ``1_000``, ``4.0`` and the like."""
    stripped = text.strip()
    if not _INTEGER.fullmatch(stripped) or not stripped.isascii():
        raise ValueError(f"{text!r} is not an integer")
    return int(stripped)
