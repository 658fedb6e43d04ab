"""The wire format: frames survive any TCP chunking, and bad frames are refused."""

from __future__ import annotations

import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lamport.core import message
from lamport.realtime.framing import (
    HEADER,
    MAX_FRAME,
    FrameDecoder,
    FrameError,
    encode_frame,
    encode_hello,
    encode_message,
    parse_hello,
    parse_message,
)

MESSAGES = [message(s, q, c) for s, q, c in [(0, 1, 1), (2, 17, 4096), (1, 2**63 - 1, 2**63 - 1)]]


def test_message_round_trip():
    for msg in MESSAGES:
        (payload,) = FrameDecoder().feed(encode_message(msg))
        assert parse_message(payload) == msg
        assert parse_message(payload).msg_id == f"{msg.sender}:{msg.seq}"


@pytest.mark.parametrize("payload", [b"1 1 9223372036854775808", b"1 10000000000000000000 5"])
def test_values_of_2_to_the_63_or_more_are_refused(payload):
    with pytest.raises(FrameError, match="out of range"):
        parse_message(payload)


def test_hello_round_trip():
    (payload,) = FrameDecoder().feed(encode_hello(7))
    assert parse_hello(payload) == 7


@given(st.lists(st.binary(min_size=1, max_size=MAX_FRAME), max_size=20), st.data())
def test_any_chunking_decodes_exactly(payloads, data):
    stream = b"".join(encode_frame(p) for p in payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    decoder = FrameDecoder()
    out = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        out += decoder.feed(stream[start:end])
    assert out == payloads
    assert decoder.pending == 0


def _pair():
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname(), timeout=5)
        conn, _ = server.accept()
    conn.settimeout(5)
    return client, conn


def _read(conn, decoder, want, size):
    got = []
    while len(got) < want:
        data = conn.recv(size)
        assert data, "stream ended early"
        got += decoder.feed(data)
    return got


def test_many_frames_in_one_send_on_a_real_socket():
    client, conn = _pair()
    with client, conn:
        frames = [message(1, seq, seq * 3) for seq in range(1, 501)]
        client.sendall(b"".join(encode_message(m) for m in frames))
        payloads = _read(conn, FrameDecoder(), len(frames), 65536)
        assert [parse_message(p) for p in payloads] == frames


def test_one_frame_a_byte_at_a_time_on_a_real_socket():
    client, conn = _pair()
    with client, conn:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        msg = message(2, 12345, 67890)
        decoder = FrameDecoder()
        got = []
        for byte in encode_message(msg):
            assert got == []
            client.sendall(bytes([byte]))
            got += decoder.feed(conn.recv(1))
        assert [parse_message(p) for p in got] == [msg]


@pytest.mark.parametrize("size", [0, MAX_FRAME + 1, 2**32 - 1])
def test_bad_length_is_refused_from_the_header_alone(size):
    with pytest.raises(FrameError, match="announces"):
        FrameDecoder().feed(HEADER.pack(size))


@pytest.mark.parametrize(
    "payload",
    [b"1 2", b"1 2 x", b"1 2 3 4", b"-1 2 3", b"1  2 3", b" 1 2 3", b"1 2 3\n", b"1_0 2 3",
     "\u00b2 2 3".encode(), b"1.5 2 3", b"", b"1 2 " + b"9" * 21],
)  # fmt: skip
def test_non_integer_or_malformed_message_is_refused(payload):
    with pytest.raises(FrameError):
        parse_message(payload)


@pytest.mark.parametrize(
    "payload", [b"hello", b"hello x", b"HELLO 1", b"hello -1", b"GET / HTTP/1.1"]
)
def test_malformed_hello_is_refused(payload):
    with pytest.raises(FrameError):
        parse_hello(payload)


def test_encoding_refuses_oversized_payloads():
    with pytest.raises(FrameError):
        encode_frame(b"x" * (MAX_FRAME + 1))
    with pytest.raises(FrameError):
        encode_frame(b"")


# --- vector clocks on the wire (``--clock vector``) ----------------------------------------


def test_vector_message_round_trip_and_limit_follows_n():
    from lamport.core import vector_message
    from lamport.realtime.framing import frame_limit

    n = 40
    big = 2**63 - 1  # the largest value a frame may carry
    msg = vector_message(message(3, big, big), tuple([big] * n))
    frame = encode_message(msg)
    assert len(frame) - HEADER.size > MAX_FRAME  # would not fit a Lamport-only frame
    assert len(frame) - HEADER.size <= frame_limit(n)
    (payload,) = FrameDecoder(frame_limit(n)).feed(frame)
    back = parse_message(payload, n)
    assert back == msg and back.vc == msg.vc
    with pytest.raises(FrameError, match="announces"):
        FrameDecoder().feed(frame)
    with pytest.raises(FrameError, match="expected 39"):
        parse_message(payload, n - 1)
    plain = parse_message(b"1 2 3", n)
    assert not hasattr(plain, "vc")


# -- what a clock kind carries ---------------------------------------------------------


def test_a_clock_kind_travels_by_name_and_comes_back():
    from lamport.core import HlcMessage, VectorMessage, hlc_message, vector_message

    vector = vector_message(message(1, 2, 9), (3, 9, 0))
    hybrid = hlc_message(message(2, 5, 11), (1_500_000, 2))
    assert encode_message(vector)[HEADER.size :] == b"1 2 9 vector 3 9 0"
    assert encode_message(hybrid)[HEADER.size :] == b"2 5 11 hlc 1500000 2"
    (back,) = FrameDecoder(MAX_FRAME + 63).feed(encode_message(vector))
    got = parse_message(back, 3)
    assert type(got) is VectorMessage and got == vector and got.vc == (3, 9, 0)
    got = parse_message(encode_message(hybrid)[HEADER.size :], 3)
    assert type(got) is HlcMessage and got == hybrid and got.hlc == (1_500_000, 2)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"1 2 3 hlc 5 9223372036854775808", "out of range"),
        (b"1 2 3 hlc 9223372036854775808 0", "out of range"),
        (b"1 2 3 vector 1 9223372036854775808 0", "out of range"),
        (b"1 2 3 hlc 5", "hlc clock of 1 integers, expected 2"),
        (b"1 2 3 hlc 5 6 7", "hlc clock of 3 integers, expected 2"),
        (b"1 2 3 vector 5 6", "vector clock of 2 integers, expected 3"),
        (b"1 2 3 lamport 5 6", "unknown clock kind 'lamport'"),
        (b"1 2 3 sundial 5 6", "unknown clock kind 'sundial'"),
        (b"1 2 3 hlc -5 6", "expected '<sender> <seq> <clock>'"),
        (b"1 2 3 hlc", "expected '<sender> <seq> <clock>'"),
        ("1 2 3 hlc \u0665 6".encode(), "expected '<sender> <seq> <clock>'"),
        (b"1 2 3 5 6 7", "expected '<sender> <seq> <clock>'"),
    ],
)
def test_a_carried_clock_outside_0_to_2_to_the_63_or_of_the_wrong_shape_is_refused(payload, reason):
    with pytest.raises(FrameError, match=reason):
        parse_message(payload, 3)
