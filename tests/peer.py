"""Play a machine of a real-time run from a test: the caller's side of the handshake on a
blocking socket (:mod:`lamport.realtime.auth`), and the frames it needs."""

from __future__ import annotations

import socket

from lamport.realtime import auth
from lamport.realtime.framing import HEADER, FrameDecoder, encode_frame


def hello(caller: int, nonce: bytes | None = None) -> bytes:
    """A well-formed hello frame from ``caller`` with a fresh (or given) nonce."""
    return encode_frame(auth.hello_payload(caller, nonce or auth.new_nonce()))


def read_frame(sock: socket.socket, decoder: FrameDecoder | None = None) -> bytes:
    """The next frame's payload; raise ConnectionError if the stream ends first."""
    decoder = decoder or FrameDecoder()
    while True:
        data = sock.recv(HEADER.size + 128)
        if not data:
            raise ConnectionError("closed")
        payloads = decoder.feed(data)
        if payloads:
            return payloads[0]


def handshake(sock: socket.socket, secret: bytes, caller: int, listener: int) -> bytes:
    """Authenticate as machine ``caller`` to machine ``listener``; return the auth frame sent."""
    nc = auth.new_nonce()
    sock.sendall(hello(caller, nc))
    nl = auth.check_challenge(secret, caller, listener, nc, read_frame(sock))
    frame = encode_frame(auth.auth_payload(secret, caller, listener, nc, nl))
    sock.sendall(frame)
    return frame
