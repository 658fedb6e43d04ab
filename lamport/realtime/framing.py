"""The real-time backend's wire format: length-prefixed ASCII frames.

TCP is a byte stream: one ``send`` may arrive as many ``recv`` calls and two
sends may arrive as one. Every frame therefore starts with its payload length,
a 4-byte big-endian unsigned integer, followed by that many bytes of ASCII.
A payload is at most :data:`MAX_FRAME` bytes; a longer (or empty) one is
rejected as soon as its header arrives, before any of its body is read.

Each connection carries one direction of one link. Its first frame is the
handshake ``hello <sender>``; every later frame is a message
``<sender> <seq> <clock>``, three decimal integers separated by one space. The
sender travels in every frame so the reader can check it against the
handshake; the message id ``<sender>:<seq>`` is rebuilt from the first two
fields by :func:`lamport.core.message`. A run whose clock kind keeps a clock
beside the Lamport clock (:class:`lamport.core.ClockKind`) appends the kind's
name and what :meth:`lamport.core.Clock.wire` gives, as integers:
``<sender> <seq> <clock> vector <vc_0> ... <vc_N-1>`` (``--clock vector``),
``<sender> <seq> <clock> hlc <l> <c>`` (``--clock hlc``). The kind says how
many integers it carries (:attr:`~lamport.core.ClockKind.wire_size`), so the
largest frame grows with N (:func:`frame_limit`). Every integer lies in
0..2^63-1; a frame carrying any other value, the wrong count, or an unknown
kind is malformed.

This module does no I/O: :class:`FrameDecoder` takes bytes in and hands
payloads out, so it can be tested byte by byte without a socket.
"""

from __future__ import annotations

import re
import struct

from lamport.core import KINDS, ClockKind, Message, message

#: The frame header: payload length, 4 bytes, network byte order.
HEADER = struct.Struct("!I")

#: Longest payload of a Lamport message, in bytes. Three 20-digit integers and two
#: spaces fit.
MAX_FRAME = 128

#: Largest sequence number or clock value a frame may carry: a signed 64-bit integer's.
MAX_VALUE = 2**63 - 1


def frame_limit(n_machines: int) -> int:
    """Longest payload accepted in a run of ``n_machines``: a message with the largest
    clock a kind carries (its name, and one more space and 20-digit integer per
    machine for a vector clock), never below :data:`MAX_FRAME`."""
    return MAX_FRAME + 21 * n_machines


# bytes patterns: \d matches ASCII digits only, so "²" or "١" never parse.
_HELLO = re.compile(rb"hello (\d{1,20})")
_MESSAGE = re.compile(rb"(\d{1,20}) (\d{1,20}) (\d{1,20})(?: ([a-z]{1,16})((?: \d{1,20})+))?")
#: The clock kinds that carry something, by the name a frame gives them.
_CARRIED: dict[bytes, ClockKind] = {
    kind.name.encode("ascii"): kind for kind in KINDS.values() if kind.wire_size is not None
}
#: The kind of each type of message that carries a clock.
_BY_TYPE: dict[type, ClockKind] = {kind.message: kind for kind in _CARRIED.values()}


class FrameError(ValueError):
    """A frame that breaks the wire format; the connection that sent it is dropped."""


def encode_frame(payload: bytes, limit: int = MAX_FRAME) -> bytes:
    """Prefix a payload with its length. Raise FrameError if it is empty or longer than
    ``limit``."""
    if not 0 < len(payload) <= limit:
        raise FrameError(f"payload of {len(payload)} bytes, allowed 1..{limit}")
    return HEADER.pack(len(payload)) + payload


def encode_hello(sender: int) -> bytes:
    """The handshake frame a machine sends first on each connection it opens."""
    return encode_frame(b"hello %d" % sender)


def encode_message(msg: Message) -> bytes:
    """A message as one frame: sender, sequence number and clock, and what its clock
    kind carries beside (the kind is the message's type's: :attr:`ClockKind.message`)."""
    head = b"%d %d %d" % (msg.sender, msg.seq, msg.clock)
    kind = _BY_TYPE.get(type(msg))
    if kind is None:
        return encode_frame(head)
    wire = kind.carried(msg)  # type: ignore[misc]
    payload = b"%s %s %s" % (head, kind.name.encode("ascii"), b" ".join(b"%d" % x for x in wire))
    return encode_frame(payload, frame_limit(len(wire)))


def _show(payload: bytes) -> str:
    return repr(payload[:40]) + ("..." if len(payload) > 40 else "")


def parse_hello(payload: bytes) -> int:
    """The sender id of a handshake payload. Raise FrameError if it is not one."""
    match = _HELLO.fullmatch(payload)
    if match is None:
        raise FrameError(f"expected 'hello <id>', got {_show(payload)}")
    return int(match[1])


def parse_message(payload: bytes, n_machines: int | None = None) -> Message:
    """The message in a payload: a Message, or the message of a clock kind carrying
    what the frame names (:class:`lamport.core.VectorMessage`, ...).

    Raise FrameError if it is not three integers, optionally followed by a clock
    kind's name and as many integers as the kind carries in a run of ``n_machines``
    (a vector clock: at least two when not given), or if any integer is 2^63 or more.
    """
    match = _MESSAGE.fullmatch(payload)
    if match is None:
        raise FrameError(
            f"expected '<sender> <seq> <clock>' [<kind> <int>...], got {_show(payload)}"
        )
    sender, seq, clock = int(match[1]), int(match[2]), int(match[3])
    if seq > MAX_VALUE or clock > MAX_VALUE:
        raise FrameError(f"value out of range (over 2**63 - 1) in {_show(payload)}")
    msg = message(sender, seq, clock)
    if match[4] is None:
        return msg
    kind = _CARRIED.get(match[4])
    if kind is None:
        raise FrameError(f"unknown clock kind {match[4].decode('ascii')!r} in {_show(payload)}")
    wire = tuple(int(x) for x in match[5].split())
    want = kind.wire_size(n_machines if n_machines is not None else len(wire))  # type: ignore[misc]
    if len(wire) != want:
        raise FrameError(f"{kind.name} clock of {len(wire)} integers, expected {want}")
    if max(wire) > MAX_VALUE:
        raise FrameError(f"value out of range (over 2**63 - 1) in {_show(payload)}")
    return kind.carry(msg, wire)  # type: ignore[misc]


class FrameDecoder:
    """Reassemble frames from a byte stream, whatever the stream's chunking.

    :meth:`feed` takes the bytes of one ``recv`` and returns every payload
    completed by them, in order. Raise FrameError on a header announcing an
    empty or oversized payload; after an error the decoder is unusable.
    """

    def __init__(self, max_size: int = MAX_FRAME) -> None:
        self.max_size = max_size
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes received that do not yet form a whole frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._buffer
        buffer += data
        payloads = []
        start = 0
        while len(buffer) - start >= HEADER.size:
            (size,) = HEADER.unpack_from(buffer, start)
            if not 0 < size <= self.max_size:
                raise FrameError(f"frame announces {size} bytes, allowed 1..{self.max_size}")
            end = start + HEADER.size + size
            if len(buffer) < end:
                break
            payloads.append(bytes(buffer[start + HEADER.size : end]))
            start = end
        del buffer[:start]
        return payloads
