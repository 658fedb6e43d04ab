"""Play a machine of a real-time run from a test: the caller's side of the handshake on a
blocking socket (:mod:`lamport.realtime.auth`), and the frames it needs."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lamport.core import message
from lamport.realtime import auth
from lamport.realtime.framing import HEADER, FrameDecoder, encode_frame, encode_message


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


class Holder:
    """Plays machine ``caller`` of a run with the run's ``secret``: authenticated to the
    listener of each machine in ``ports`` (id: port; the lower ids), it sends whatever
    message frames the test likes, replays and reorders included."""

    def __init__(self, secret: bytes, caller: int, ports: dict[int, int]) -> None:
        self.caller = caller
        self.links: dict[int, socket.socket] = {}
        try:
            for machine, port in ports.items():
                self.links[machine] = socket.create_connection(("127.0.0.1", port), timeout=5)
                handshake(self.links[machine], secret, caller, machine)
        except BaseException:
            self.close()
            raise

    def send(
        self, machine: int, seqs: list[int], clock: Callable[[int], int] = lambda s: s
    ) -> None:
        """Messages ``<caller>:<seq>`` to ``machine``, one per seq in order, carrying
        ``clock(seq)``."""
        frames = [encode_message(message(self.caller, seq, clock(seq))) for seq in seqs]
        self.links[machine].sendall(b"".join(frames))

    def close(self) -> None:
        for sock in self.links.values():
            sock.close()

    def __enter__(self) -> Holder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def taken(seqs: list[int]) -> list[int]:
    """The sequence numbers a link takes from ``seqs`` sent in this order: those above every
    one taken before (a message id at most once, in order)."""
    out: list[int] = []
    for seq in seqs:
        if seq > (out[-1] if out else 0):
            out.append(seq)
    return out


def dropped(sock: socket.socket) -> bool:
    """Wait (3 s at most) until the other end closes the connection; True."""
    sock.settimeout(3)
    try:
        while sock.recv(1024):
            pass
    except (ConnectionResetError, TimeoutError):
        pass
    return True


class Outsider:
    """Races the peers from before the start: hammers every port with forged hellos, forged
    auths and forged messages (huge clocks included) until told to stop."""

    FORGED = encode_frame(b"1 1 100000000000000000000") + encode_frame(b"2 1 99999")

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.stop = threading.Event()
        self.tries = 0
        self.thread = threading.Thread(target=self._run)

    def _attempt(self, port: int, caller: int, listener: int) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            nc = auth.new_nonce()
            sock.sendall(hello(caller, nc))
            try:
                challenge = read_frame(sock)
            except (ConnectionError, TimeoutError, OSError):
                return
            nl = bytes.fromhex(challenge.split()[1].decode())
            forged = auth.auth_payload(auth.new_secret(), caller, listener, nc, nl)
            with_secretless = encode_frame(forged) + self.FORGED
            sock.sendall(with_secretless)
            dropped(sock)

    def _run(self) -> None:
        while not self.stop.is_set():
            for listener, port in enumerate(self.ports):
                for caller in range(listener + 1, len(self.ports)):
                    with contextlib.suppress(OSError):
                        self._attempt(port, caller, listener)
                    self.tries += 1
                with_raw = socket.socket()
                try:
                    with_raw.connect(("127.0.0.1", port))
                    with_raw.sendall(self.FORGED)
                except OSError:
                    pass
                finally:
                    with_raw.close()


def in_background(cluster: Any) -> tuple[threading.Thread, dict]:
    """Run ``cluster.run()`` on a thread; its result or exception lands in the dict."""
    box: dict = {}

    def target() -> None:
        try:
            box["result"] = cluster.run()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    return thread, box


def wait_for(condition: Callable[[], object], timeout: float = 15.0) -> None:
    """Poll ``condition`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


#: The repository: subprocess tests run the CLI from it, whatever the current directory.
ROOT = Path(__file__).resolve().parent.parent


def cli_ticking(cwd: Path, argv: list[str], timeout: float = 20.0) -> subprocess.Popen[str]:
    """Start ``python -m lamport.realtime ARGV --out cwd/run`` in ``cwd`` and return it
    once machine 2 has logged a few ticks in the run's staging directory."""
    process = subprocess.Popen(
        [sys.executable, "-m", "lamport.realtime", *argv, "--out", str(cwd / "run")],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stderr=subprocess.PIPE,
        text=True,
    )

    def ticking() -> bool:
        logs = list(cwd.glob(".run.partial-*/machine-2.csv"))
        return bool(logs) and len(logs[0].read_text().splitlines()) > 5

    try:
        wait_for(ticking, timeout=timeout)
    except BaseException:
        process.kill()
        process.communicate()
        raise
    return process
