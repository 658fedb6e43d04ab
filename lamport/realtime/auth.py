"""Who may join a run: a per-run secret and a challenge-response handshake on every link.

Secret
    Whoever starts a run draws a 32-byte secret with :mod:`secrets`
    (:func:`new_secret`). Threads of one process get it in memory; processes
    get it in a file readable only by its owner (:func:`write_secret`, mode
    0600), named by ``--secret-file``. It is never on a command line, in the
    environment or in ``run.json``. :func:`read_secret` refuses a missing
    file and one that its group or others may read.

Handshake (both directions, fresh nonces)
    The caller C (the higher id) opens the connection to the listener L::

        C -> L   hello <C> <nc>          nc: 16 fresh random bytes, hex
        L -> C   challenge <nl> <ml>     nl: 16 fresh bytes; ml = HMAC(k, "L", C, L, nc, nl)
        C -> L   auth <mc>               mc = HMAC(k, "C", C, L, nc, nl)

    C checks ``ml`` before it answers, so C knows L holds the secret; L checks
    ``mc`` before the link becomes machine C's, so L knows C does. The MACs
    are HMAC-SHA256 over both ids, both nonces and the role, compared in
    constant time. Replaying a recorded ``auth`` fails because L draws a new
    ``nl`` for every connection; replaying a recorded ``challenge`` fails
    because C draws a new ``nc``; a MAC of one role never passes for the
    other. Until ``auth`` checks out the connection is nobody: it holds no
    peer's place, so the real peer still connects after an impostor tried.

This module does no I/O: it builds and checks frames' payloads; the
transport drives it from its selectors loop.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

from lamport.errors import ConfigError

__all__ = [
    "NONCE_BYTES",
    "SECRET_BYTES",
    "AuthError",
    "auth_payload",
    "challenge_payload",
    "check_auth",
    "check_challenge",
    "hello_payload",
    "new_nonce",
    "new_secret",
    "parse_hello",
    "read_secret",
    "write_secret",
]

SECRET_BYTES = 32
NONCE_BYTES = 16
_HEX = rb"[0-9a-f]"
_HELLO = re.compile(rb"hello (\d{1,20}) (" + _HEX + rb"{%d})" % (2 * NONCE_BYTES))
_CHALLENGE = re.compile(rb"challenge (" + _HEX + rb"{%d}) (" % (2 * NONCE_BYTES) + _HEX + rb"{64})")
_AUTH = re.compile(rb"auth (" + _HEX + rb"{64})")


class AuthError(ValueError):
    """A handshake that fails: wrong secret, replay, or a malformed handshake frame."""


def new_secret() -> bytes:
    """A fresh per-run secret."""
    return secrets.token_bytes(SECRET_BYTES)


def new_nonce() -> bytes:
    return secrets.token_bytes(NONCE_BYTES)


def write_secret(path: Path, secret: bytes) -> Path:
    """Write the secret, hex, to a new file only its owner may read or write (0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secret.hex() + "\n")
    return Path(path)


def read_secret(path: Path) -> bytes:
    """The secret in ``path``. Raise ConfigError if it is missing, readable by group or
    others, or not a secret (hex, at least 16 bytes)."""
    from lamport.files import open_fd, reason

    path = Path(path)
    try:
        fd = open_fd(path)  # a regular file only: a FIFO would block, a directory not read
    except OSError as exc:
        raise ConfigError(f"secret file {path}: {reason(exc)}") from None
    with os.fdopen(fd, "r", encoding="ascii", errors="replace") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if mode & 0o077:
            raise ConfigError(
                f"secret file {path}: readable by group or others (mode {mode & 0o777:o}); "
                f"chmod 600 {path}"
            )
        text = handle.read(4096).strip()
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        raise ConfigError(f"secret file {path}: not a hex secret") from None
    if len(secret) < 16:
        raise ConfigError(
            f"secret file {path}: a secret needs at least 16 bytes, got {len(secret)}"
        )
    return secret


def _mac(secret: bytes, role: bytes, caller: int, listener: int, nc: bytes, nl: bytes) -> bytes:
    text = b"lamport-link-v1 %s %d %d %s %s" % (
        role,
        caller,
        listener,
        nc.hex().encode(),
        nl.hex().encode(),
    )
    return hmac.new(secret, text, hashlib.sha256).digest()


def hello_payload(caller: int, nc: bytes) -> bytes:
    return b"hello %d %s" % (caller, nc.hex().encode())


def parse_hello(payload: bytes) -> tuple[int, bytes]:
    """The caller's id and nonce. Raise AuthError if the payload is not a hello."""
    match = _HELLO.fullmatch(payload)
    if match is None:
        raise AuthError(f"expected 'hello <id> <nonce>', got {payload[:40]!r}")
    return int(match[1]), bytes.fromhex(match[2].decode())


def challenge_payload(secret: bytes, caller: int, listener: int, nc: bytes, nl: bytes) -> bytes:
    mac = _mac(secret, b"L", caller, listener, nc, nl)
    return b"challenge %s %s" % (nl.hex().encode(), mac.hex().encode())


def check_challenge(secret: bytes, caller: int, listener: int, nc: bytes, payload: bytes) -> bytes:
    """The listener's nonce, once its MAC proves it holds the secret. Raise AuthError if not."""
    match = _CHALLENGE.fullmatch(payload)
    if match is None:
        raise AuthError(f"expected 'challenge <nonce> <mac>', got {payload[:40]!r}")
    nl = bytes.fromhex(match[1].decode())
    if not hmac.compare_digest(
        bytes.fromhex(match[2].decode()), _mac(secret, b"L", caller, listener, nc, nl)
    ):
        raise AuthError(
            "the listener failed the handshake (wrong secret, or not a machine of this run)"
        )
    return nl


def auth_payload(secret: bytes, caller: int, listener: int, nc: bytes, nl: bytes) -> bytes:
    return b"auth %s" % _mac(secret, b"C", caller, listener, nc, nl).hex().encode()


def check_auth(
    secret: bytes, caller: int, listener: int, nc: bytes, nl: bytes, payload: bytes
) -> None:
    """Raise AuthError unless ``payload`` proves the caller holds the secret, for these nonces."""
    match = _AUTH.fullmatch(payload)
    if match is None:
        raise AuthError(f"expected 'auth <mac>', got {payload[:40]!r}")
    if not hmac.compare_digest(
        bytes.fromhex(match[1].decode()), _mac(secret, b"C", caller, listener, nc, nl)
    ):
        raise AuthError(f"failed the handshake as machine {caller} (wrong secret or replay)")
