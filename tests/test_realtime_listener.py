"""The real-time listener under attack: out of file descriptors, a trickling caller, and a
peer holding the secret that replays, duplicates or reorders its messages."""

from __future__ import annotations

import logging
import os
import random
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from peer import Holder, handshake, hello, in_background, read_frame, taken, wait_for

from lamport.config import RunConfig
from lamport.core import RECEIVE, message
from lamport.realtime import Cluster, RealtimeOptions, auth
from lamport.realtime.framing import encode_frame, encode_message
from lamport.realtime.transport import WARN_MALFORMED, Transport

ROOT = Path(__file__).resolve().parent.parent
SECRET = bytes(range(32))

CHILD = textwrap.dedent(
    """
    import logging, os, resource, sys, time
    logging.basicConfig(stream=sys.stderr, format="%(message)s")
    from lamport.realtime.transport import Transport

    t = Transport(0, 2, connect_timeout=30, secret=bytes(range(32)))
    t.start([("127.0.0.1", t.port), ("127.0.0.1", 9)], time.monotonic() + 30)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
    held = []
    try:
        while True:
            held.append(os.open(os.devnull, os.O_RDONLY))
    except OSError:
        pass
    print(t.port, flush=True)
    sys.stdin.readline()  # the caller is in the backlog: accept fails for a while
    time.sleep(0.5)
    for fd in held[:8]:
        os.close(fd)
    ok = t.connected.wait(10)
    print("connected" if ok else "not connected", flush=True)
    t.close()
    """
)


def test_out_of_descriptors_the_listener_logs_stays_alive_and_accepts_again():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        port = int(child.stdout.readline())
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            child.stdin.write("go\n")
            child.stdin.flush()
            began = time.monotonic()
            handshake(sock, SECRET, 1, 0)  # completes only once accept works again
            waited = time.monotonic() - began
            assert child.stdout.readline().strip() == "connected"
        _, stderr = child.communicate(timeout=10)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == 0, stderr
    assert waited >= 0.4  # it was held while descriptors were short
    lines = stderr.splitlines()
    short = [line for line in lines if "cannot accept a connection (Too many open files)" in line]
    assert len(short) == 1, stderr  # one line per shortage, not one per retry
    assert "machine 0: accepting connections again" in lines


def test_a_trickling_caller_is_dropped_at_the_absolute_deadline(caplog):
    """20 bytes a second of a valid hello never earns more time than the connect timeout."""
    caplog.set_level(logging.WARNING, logger="lamport.realtime")
    transport = Transport(0, 2, connect_timeout=1.0, secret=SECRET)
    try:
        transport.start([("127.0.0.1", transport.port), ("127.0.0.1", 9)], time.monotonic() + 1)
        frame = hello(1)
        with socket.create_connection(("127.0.0.1", transport.port), timeout=5) as sock:
            began = time.monotonic()
            cut = None
            for byte in frame:
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    cut = time.monotonic() - began
                    break
                time.sleep(0.05)
                sock.setblocking(False)
                try:
                    if sock.recv(1) == b"":
                        cut = time.monotonic() - began
                        break
                except BlockingIOError:
                    pass
                except OSError:
                    cut = time.monotonic() - began
                    break
                finally:
                    sock.setblocking(True)
        assert len(frame) * 0.05 > 2.0  # the whole hello would take longer than the deadline
        # Dropped at the 1 s deadline (a deadline reset by each byte would drop it at 3.2 s
        # or later: the last byte at 2.2 s, plus the timeout); slack for a loaded host.
        assert cut is not None and 0.9 <= cut <= 2.0, cut
    finally:
        transport.close()
    lines = [r.getMessage() for r in caplog.records]
    assert any("dropped connection from" in x and "no handshake within 1 s" in x for x in lines)


# -- a peer holding the secret: each message id at most once, in order ---------------------


def _listening(machine: int = 0) -> Transport:
    """Machine ``machine`` of two (the listener), started; its caller is the test."""
    transport = Transport(machine, 2, connect_timeout=3.0, secret=SECRET)
    transport.start([("127.0.0.1", transport.port), ("127.0.0.1", 9)], time.monotonic() + 3)
    return transport


@settings(max_examples=12, deadline=None)
@given(st.lists(st.integers(0, 9), min_size=1, max_size=16))
def test_replayed_or_reordered_message_ids_never_reach_the_inbox_and_the_link_goes_on(seqs):
    """Any sequence numbers a peer holding the secret sends on its link: only those above
    every one taken before reach the inbox, the others are counted as malformed, the link
    stays open and a later good message arrives."""
    transport = _listening()
    try:
        with Holder(SECRET, 1, {0: transport.port}) as peer:
            last = max(seqs)
            peer.send(0, [*seqs, last + 1])
            wait_for(lambda: any(m.seq == last + 1 for _, m in transport.inbox), timeout=10)
            assert not transport.lost(1)
        assert [m.seq for _, m in transport.inbox] == [*taken(seqs), last + 1]
        assert transport.malformed == [0, len(seqs) - len(taken(seqs))]
    finally:
        transport.close()


def test_a_duplicated_message_is_logged_a_few_times_per_peer_then_only_counted(caplog):
    caplog.set_level(logging.WARNING, logger="lamport.realtime")
    transport = _listening()
    try:
        with Holder(SECRET, 1, {0: transport.port}) as peer:
            peer.send(0, [1, 2, *[2] * (WARN_MALFORMED + 20), 3])
            wait_for(lambda: len(transport.inbox) == 3, timeout=10)
    finally:
        transport.close()
    assert [m.msg_id for _, m in transport.inbox] == ["1:1", "1:2", "1:3"]
    assert transport.malformed == [0, WARN_MALFORMED + 20]
    lines = [r.getMessage() for r in caplog.records if "dropped a frame" in r.getMessage()]
    assert len(lines) == WARN_MALFORMED
    assert lines[0] == (
        "machine 0: dropped a frame from machine 1: message 1:2 is a replay or out of order "
        "(the last taken from machine 1 is 1:2)"
    )
    assert lines[-1].endswith("; later ones are only counted")


def test_a_rejoined_peer_goes_on_from_its_last_send_and_its_old_ids_are_refused():
    """A restarted process (``--real-crash``) keeps its sequence numbers: its new link is
    taken, its next message arrives, and an id of its old link replayed on the new one not."""
    transport = _listening()
    try:
        with Holder(SECRET, 1, {0: transport.port}) as peer:
            peer.send(0, [1, 2, 3])
            wait_for(lambda: len(transport.inbox) == 3, timeout=10)
        wait_for(lambda: transport.lost(1), timeout=10)
        transport.rejoin(1)
        with Holder(SECRET, 1, {0: transport.port}) as peer:  # its new process
            peer.send(0, [3, 4])
            wait_for(lambda: len(transport.inbox) == 4, timeout=10)
            assert not transport.lost(1)
    finally:
        transport.close()
    assert [m.msg_id for _, m in transport.inbox] == ["1:1", "1:2", "1:3", "1:4"]
    assert transport.malformed == [0, 1]


@pytest.mark.parametrize("seed", [0, 1])
def test_in_a_run_no_replayed_or_reordered_message_reaches_a_log_and_the_machines_go_on(seed):
    """The test plays machine 2 with the secret and sends machines 0 and 1 a stream of
    message ids with replays, duplicates and reorders: each log receives exactly the ids
    above every one taken before, once each, in order; both machines tick to the end."""
    rng = random.Random(seed)
    streams = {m: [rng.randint(1, 12) for _ in range(25)] for m in (0, 1)}
    config = RunConfig(rates=(4, 4, 1), p_send=0.0, duration=20, seed=seed)
    cluster = Cluster(config, RealtimeOptions(speed=10), hold={2})
    thread, box = in_background(cluster)
    wait_for(lambda: cluster.ports)
    with Holder(cluster.secret, 2, {0: cluster.ports[0], 1: cluster.ports[1]}) as peer:
        assert cluster.started.wait(10)
        for machine, seqs in streams.items():
            peer.send(machine, seqs, clock=lambda seq: 1000 + seq)
    thread.join(20)
    assert not thread.is_alive() and "error" not in box, box.get("error")
    logs = box["result"].logs
    for machine, seqs in streams.items():
        receives = [(e.msg_id, e.msg_clock) for e in logs[machine] if e.event == RECEIVE]
        assert receives == [(f"2:{seq}", 1000 + seq) for seq in taken(seqs)]
        assert len(logs[machine]) == 80  # kept ticking to the end


def test_a_second_holder_of_a_taken_id_moves_no_sequence_number_of_the_real_one():
    """An impostor with the secret, under the id of a connected peer, sends its auth and a
    message far ahead in one write: it is refused, and the real peer's next message still
    arrives."""
    transport = _listening()
    try:
        with Holder(SECRET, 1, {0: transport.port}) as real:
            real.send(0, [1])
            wait_for(lambda: len(transport.inbox) == 1, timeout=10)
            with socket.create_connection(("127.0.0.1", transport.port), timeout=5) as sock:
                nonce = auth.new_nonce()
                sock.sendall(hello(1, nonce))
                theirs = auth.check_challenge(SECRET, 1, 0, nonce, read_frame(sock))
                sock.sendall(
                    encode_frame(auth.auth_payload(SECRET, 1, 0, nonce, theirs))
                    + encode_message(message(1, 10**9, 7))
                )
                assert read_frame(sock).startswith(b"refuse machine 1 is already connected")
            real.send(0, [2])
            wait_for(lambda: len(transport.inbox) == 2, timeout=10)
    finally:
        transport.close()
    assert [m.msg_id for _, m in transport.inbox] == ["1:1", "1:2"]
    assert transport.malformed == [0, 0]
