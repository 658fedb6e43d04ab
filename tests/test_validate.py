"""lamport.validate: numbers from users, files and the wire, checked one way."""

from __future__ import annotations

import math

import pytest

from lamport.errors import ConfigError
from lamport.validate import integer, is_integer, is_number, number, parse_float, parse_int


def test_bools_are_not_numbers():
    assert is_number(3) and is_number(2.5) and is_number(math.nan)
    assert not is_number(True) and not is_number("3") and not is_number(None)
    assert is_integer(3) and not is_integer(True) and not is_integer(3.0)


def test_number_names_the_rule():
    assert number(0.5, "p_send", low=0, high=1) == 0.5
    with pytest.raises(ConfigError, match=r"p_send must lie in \[0, 1\], got 2"):
        number(2, "p_send", low=0, high=1)
    with pytest.raises(ConfigError, match="duration"):
        number(math.inf, "duration", above=0)
    with pytest.raises(ConfigError, match="duration"):
        number(True, "duration", above=0)
    with pytest.raises(ConfigError, match="seed"):
        integer(-1, "seed", low=0)


@pytest.mark.parametrize("text", ["3", "0.25", ".5", "1e-3", "-2", "+4.", " 6 "])
def test_parse_float_takes_what_users_type(text):
    assert parse_float(text) == float(text)


@pytest.mark.parametrize("text", ["1_000", "nan", "inf", "-inf", "", "1,5", "٣", "0x10", "1e"])
def test_parse_float_refuses_what_float_would_take_or_guess(text):
    with pytest.raises(ValueError):
        parse_float(text)


def test_parse_int():
    assert parse_int("42") == 42 and parse_int("-3") == -3
    for text in ("1_000", "4.0", "1e3", "", "٣"):
        with pytest.raises(ValueError):
            parse_int(text)
