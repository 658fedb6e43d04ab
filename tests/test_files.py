"""lamport.files: a user's file is read only if it is a regular file, and never hangs."""

from __future__ import annotations

import json
import signal

import pytest
from hostile import KINDS, make_non_regular
from hypothesis import given
from hypothesis import strategies as st

from lamport.files import (
    JSON_DEPTH,
    NotRegularFile,
    TooLarge,
    open_regular,
    parse_json,
    read_bytes,
    read_json,
    reason,
)


@pytest.fixture
def alarm():
    """Fail a test that blocks (a FIFO opened for reading waits for a writer) after 5 s."""

    def hung(_signum, _frame):
        raise AssertionError("blocked for 5 s")

    before = signal.signal(signal.SIGALRM, hung)
    signal.alarm(5)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, before)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_anything_but_a_regular_file_is_refused_at_once(tmp_path, kind, alarm):
    path = make_non_regular(tmp_path / kind, kind)
    with pytest.raises(NotRegularFile) as caught:
        read_bytes(path)
    assert reason(caught.value) == KINDS[kind]
    with pytest.raises(NotRegularFile):
        open_regular(path)


def test_a_regular_file_reads_and_a_missing_one_says_so(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("héllo\n", encoding="utf-8")
    with open_regular(path) as handle:
        assert handle.read() == "héllo\n"
    assert read_bytes(path) == "héllo\n".encode()
    with pytest.raises(FileNotFoundError) as caught:
        read_bytes(tmp_path / "missing")
    assert reason(caught.value) == "no such file or directory"


def test_a_file_over_the_limit_is_refused(tmp_path):
    path = tmp_path / "big"
    path.write_bytes(b"x" * 101)
    assert read_bytes(path, limit=101) == b"x" * 101
    with pytest.raises(TooLarge) as caught:
        read_bytes(path, limit=100)
    assert reason(caught.value) == "larger than 100 bytes"


@given(st.integers(1, 5000), st.sampled_from(["[", '{"a":']))
def test_json_nested_at_any_depth_is_a_value_or_one_value_error(levels, opener):
    closer = "]" if opener == "[" else "}"
    text = opener * levels + "1" + closer * levels
    if levels <= JSON_DEPTH:
        assert parse_json(text) is not None
    else:
        with pytest.raises(ValueError) as caught:
            parse_json(text)
        assert str(caught.value) == f"nested deeper than {JSON_DEPTH} levels"


def test_json_unclosed_deep_nesting_is_a_value_error():
    with pytest.raises(ValueError) as caught:
        parse_json("[" * 200_000)
    assert "\n" not in str(caught.value)


def test_read_json_refuses_bad_bytes_and_reads_good_ones(tmp_path):
    path = tmp_path / "run.json"
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(ValueError, match="not UTF-8"):
        read_json(path)
    path.write_text(json.dumps({"rates": [1, 2]}))
    assert read_json(path) == {"rates": [1, 2]}
    with pytest.raises(TooLarge):
        read_json(path, limit=4)
