"""The cells of a report's tables: numbers, means with their confidence interval, signed
differences, and a run's or sweep's metadata as rows. Every report module formats with
these, so one figure reads the same in every table."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from lamport.validate import is_integer

__all__ = ["config_rows", "num", "pm", "signed"]


def num(value: Any, digits: int = 2) -> str:
    """A cell: integers as they are, floats to ``digits`` places, NaN as ``n/a``."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    value = float(value)
    if math.isnan(value):
        return "n/a"
    return f"{value:.{digits}f}"


def pm(mean: float, half: float, digits: int = 2) -> str:
    """``mean ± half`` (the 95% CI half-width), or the mean alone when the CI is undefined."""
    if math.isnan(half):
        return num(mean, digits)
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def signed(value: float, digits: int = 2) -> str:
    """A signed number, with no sign on a value that rounds to zero."""
    if math.isnan(value):
        return "n/a"
    text = f"{value:+.{digits}f}"
    return text[1:] if float(text) == 0 else text


def config_rows(metadata: Mapping[str, Any], skip: Sequence[str] = ()) -> list[list[str]]:
    """run.json or sweep.json as (key, value) rows, lists joined, the start epoch as a date."""
    rows = []
    for key, value in metadata.items():
        if key in skip:
            continue
        if isinstance(value, list):
            text = _list_text(value)
        elif isinstance(value, dict):
            text = ", ".join(f"{k} {v}" for k, v in value.items())
        elif value is None:
            text = "each experiment's own" if key == "duration" else "none"
        elif key in ("start_epoch", "started") and isinstance(value, int | float) and value > 0:
            when = datetime.fromtimestamp(value, tz=UTC).isoformat(timespec="seconds")
            text = f"{value} ({when})"
        else:
            text = str(value)
        rows.append([key, text])
    return rows


def _list_text(values: list[Any]) -> str:
    """A list for the config table; a long run of consecutive integers as ``lo..hi (n)``."""
    ints = all(is_integer(v) for v in values)
    if ints and len(values) > 5 and values == list(range(values[0], values[0] + len(values))):
        return f"{values[0]}..{values[-1]} ({len(values)})"
    return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)
