"""Links that authenticate their peers: the secret, the handshake, and outsiders on real sockets."""

from __future__ import annotations

import logging
import os
import signal
import socket
import time

import pytest
from hostile import KINDS, make_non_regular
from peer import Outsider, dropped, handshake, hello, in_background, read_frame, wait_for

from lamport.config import RunConfig, experiment
from lamport.core import RECEIVE, SEND
from lamport.errors import ConfigError
from lamport.invariants import check
from lamport.logs import read_run
from lamport.realtime import Cluster, RealtimeOptions, auth
from lamport.realtime.framing import encode_frame
from lamport.realtime.transport import Transport

SECRET = bytes(range(32))


# -- the secret and its file ---------------------------------------------------------------


def test_a_secret_file_is_written_for_its_owner_only_and_read_back(tmp_path):
    secret = auth.new_secret()
    path = auth.write_secret(tmp_path / "secret", secret)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert auth.read_secret(path) == secret
    assert auth.new_secret() != secret and len(secret) == auth.SECRET_BYTES


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_a_secret_file_others_may_read_is_refused(tmp_path, mode):
    path = auth.write_secret(tmp_path / "secret", auth.new_secret())
    os.chmod(path, mode)
    with pytest.raises(ConfigError, match="readable by group or others") as caught:
        auth.read_secret(path)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("content", "message"), [(None, "no such file"), ("xyz", "not a hex"), ("abcd", "at least 16")]
)
def test_a_missing_or_malformed_secret_file_is_refused(tmp_path, content, message):
    path = tmp_path / "secret"
    if content is not None:
        auth.write_secret(path, b"")
        path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        auth.read_secret(path)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_secret_file_that_is_no_regular_file_is_refused_at_once(tmp_path, kind):
    path = tmp_path / "secret"
    make_non_regular(path, kind)
    signal.alarm(10)  # a FIFO opened for reading blocks until a writer comes: fail, not hang
    try:
        with pytest.raises(ConfigError, match=r"secret file .*: a .*, not a regular file$"):
            auth.read_secret(path)
    finally:
        signal.alarm(0)


# -- the handshake, pure -----------------------------------------------------------------


def test_the_handshake_succeeds_with_the_secret_and_fails_without_it():
    nc, nl = auth.new_nonce(), auth.new_nonce()
    challenge = auth.challenge_payload(SECRET, 2, 0, nc, nl)
    assert auth.check_challenge(SECRET, 2, 0, nc, challenge) == nl
    reply = auth.auth_payload(SECRET, 2, 0, nc, nl)
    auth.check_auth(SECRET, 2, 0, nc, nl, reply)
    other = bytes(32)
    with pytest.raises(auth.AuthError, match="failed the handshake"):
        auth.check_challenge(other, 2, 0, nc, challenge)
    with pytest.raises(auth.AuthError, match="failed the handshake as machine 2"):
        auth.check_auth(SECRET, 2, 0, nc, nl, auth.auth_payload(other, 2, 0, nc, nl))


def test_replayed_or_reflected_handshakes_fail():
    nc, nl = auth.new_nonce(), auth.new_nonce()
    recorded = auth.auth_payload(SECRET, 2, 0, nc, nl)
    with pytest.raises(auth.AuthError):  # the listener draws a fresh nonce each time
        auth.check_auth(SECRET, 2, 0, nc, auth.new_nonce(), recorded)
    with pytest.raises(auth.AuthError):  # a recorded challenge against a fresh caller nonce
        auth.check_challenge(
            SECRET, 2, 0, auth.new_nonce(), auth.challenge_payload(SECRET, 2, 0, nc, nl)
        )
    with pytest.raises(auth.AuthError):  # the listener's MAC never passes for the caller's
        mac = auth.challenge_payload(SECRET, 2, 0, nc, nl).split()[2]
        auth.check_auth(SECRET, 2, 0, nc, nl, b"auth " + mac)
    with pytest.raises(auth.AuthError):  # bound to the ids
        auth.check_auth(SECRET, 1, 0, nc, nl, recorded)


# -- on real sockets ----------------------------------------------------------------------


def test_a_replayed_handshake_is_refused_on_the_wire(caplog):
    """The test plays machine 2 honestly, records its frames, and replays them."""
    caplog.set_level(logging.WARNING, logger="lamport.realtime")
    config = RunConfig(rates=(4, 4, 1), p_send=0.0, duration=10, seed=0)
    cluster = Cluster(config, RealtimeOptions(speed=10), hold={2})
    thread, box = in_background(cluster)
    wait_for(lambda: cluster.ports)
    links = [socket.create_connection(("127.0.0.1", cluster.ports[m]), timeout=3) for m in (0, 1)]
    try:
        nc = auth.new_nonce()
        links[0].sendall(hello(2, nc))
        nl = auth.check_challenge(cluster.secret, 2, 0, nc, read_frame(links[0]))
        recorded = encode_frame(auth.auth_payload(cluster.secret, 2, 0, nc, nl))
        links[0].sendall(recorded)
        handshake(links[1], cluster.secret, 2, 1)
        assert cluster.started.wait(10)
        with socket.create_connection(("127.0.0.1", cluster.ports[0]), timeout=3) as replay:
            replay.sendall(hello(2, nc) + recorded)
            assert dropped(replay)
    finally:
        for link in links:
            link.close()
    thread.join(20)
    assert "error" not in box
    warnings = " | ".join(r.getMessage() for r in caplog.records)
    assert "failed the handshake as machine 2 (wrong secret or replay)" in warnings


def test_wrong_secret_is_refused_with_a_clear_line_and_the_real_peer_still_joins(caplog):
    """An impostor with a wrong secret tries machine 2's place first; then the real one."""
    caplog.set_level(logging.WARNING, logger="lamport.realtime")
    config = RunConfig(rates=(4, 4, 1), p_send=0.0, duration=10, seed=0)
    cluster = Cluster(config, RealtimeOptions(speed=10), hold={2})
    thread, box = in_background(cluster)
    wait_for(lambda: cluster.ports)
    wrong = auth.new_secret()
    for machine in (0, 1):
        with socket.create_connection(("127.0.0.1", cluster.ports[machine]), timeout=3) as fake:
            nc = auth.new_nonce()
            fake.sendall(hello(2, nc))
            challenge = read_frame(fake)
            with pytest.raises(auth.AuthError):  # the impostor cannot even check the listener
                auth.check_challenge(wrong, 2, machine, nc, challenge)
            nl = bytes.fromhex(challenge.split()[1].decode())
            fake.sendall(encode_frame(auth.auth_payload(wrong, 2, machine, nc, nl)))
            assert dropped(fake)
    assert not cluster.started.is_set()
    links = [socket.create_connection(("127.0.0.1", cluster.ports[m]), timeout=3) for m in (0, 1)]
    try:
        for machine, link in enumerate(links):
            handshake(link, cluster.secret, 2, machine)
        assert cluster.started.wait(10)
    finally:
        thread.join(20)
        for link in links:
            link.close()
    assert "error" not in box
    lines = [r.getMessage() for r in caplog.records if "failed the handshake" in r.getMessage()]
    assert len(lines) == 2
    assert lines[0].startswith("machine 0: dropped connection from 127.0.0.1:")
    assert lines[0].endswith("failed the handshake as machine 2 (wrong secret or replay)")


def test_a_transport_with_the_wrong_secret_never_connects_and_says_why(caplog):
    caplog.set_level(logging.WARNING, logger="lamport.realtime")
    t0 = Transport(0, 2, connect_timeout=0.6, secret=SECRET)
    t1 = Transport(1, 2, connect_timeout=0.6, secret=auth.new_secret())
    try:
        addresses = [("127.0.0.1", t0.port), ("127.0.0.1", t1.port)]
        deadline = time.monotonic() + 0.6
        t0.start(addresses, deadline)
        t1.start(addresses, deadline)
        wait_for(lambda: t1.error is not None, timeout=5)
        assert not t0.connected.is_set() and not t1.connected.is_set()
    finally:
        t0.close()
        t1.close()
    assert "cannot reach machine 0" in t1.error
    assert "the listener failed the handshake (wrong secret" in t1.error
    assert any("dropped connection to 127.0.0.1" in r.getMessage() for r in caplog.records)


def test_an_outsider_racing_the_peers_never_gets_a_message_into_a_clock(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="lamport.realtime")
    config = experiment(4).config(seed=1, duration=20)
    cluster = Cluster(config, RealtimeOptions(speed=20), out=tmp_path / "run")
    thread, box = in_background(cluster)
    wait_for(lambda: cluster.ports, timeout=10)
    outsider = Outsider(list(cluster.ports))
    outsider.thread.start()
    thread.join(30)
    outsider.stop.set()
    outsider.thread.join(10)
    assert not thread.is_alive() and "error" not in box, box.get("error")
    assert outsider.tries > 10
    metadata, logs = read_run(tmp_path / "run")
    check(metadata, logs, tick_tolerance=1)
    sent = {e.msg_id for events in logs for e in events if e.event == SEND}
    for events in logs:
        assert max(e.clock for e in events) < 10**4
        for event in events:
            if event.event == RECEIVE:  # only messages an honest machine sent
                assert event.msg_id in sent and event.msg_clock < 10**4
    assert "dropped" not in metadata
    warnings = [r.getMessage() for r in caplog.records]
    assert any("failed the handshake" in w for w in warnings)


def test_a_restarted_machine_rejoins_through_the_handshake_in_either_role():
    """Machine 1 (the caller) and then machine 0 (the listener) come back as new
    transports; ``rejoin`` lets the peer replace the dead link and call again."""
    from lamport.core import message
    from lamport.realtime.framing import encode_message

    held = socket.create_server(("127.0.0.1", 0), backlog=8)  # machine 0's port, kept
    port = held.getsockname()[1]
    t0 = Transport(0, 2, secret=SECRET, listener=held.dup())
    t1 = Transport(1, 2, secret=SECRET)
    live = [t0, t1]
    try:
        addresses = [("127.0.0.1", port), ("127.0.0.1", t1.port)]
        for t in live:
            t.start(addresses, time.monotonic() + 3)
        wait_for(lambda: t0.connected.is_set() and t1.connected.is_set())
        # the caller dies; without rejoin its new process would be refused
        t1.close()
        t0.rejoin(1)
        t1 = Transport(1, 2, secret=SECRET)
        live.append(t1)
        t1.start(addresses, time.monotonic() + 3)
        # both ends: the caller is up once it sent its auth, the listener once it checked it
        wait_for(lambda: t1.connected.is_set() and not t0.lost(1))
        t0.send(encode_message(message(0, 1, 7)), [1])
        wait_for(lambda: [m.msg_id for _, m in t1.inbox] == ["0:1"])
        # the listener dies; its port stays held, the caller calls again into its backlog
        t0.close()
        t1.rejoin(0)
        time.sleep(0.05)
        t0 = Transport(0, 2, secret=SECRET, listener=held.dup())
        live.append(t0)
        t0.start(addresses, time.monotonic() + 3)
        wait_for(lambda: t0.connected.is_set() and not t1.lost(0))
        t1.send(encode_message(message(1, 2, 9)), [0])
        wait_for(lambda: [m.msg_id for _, m in t0.inbox] == ["1:2"])
        assert t1.dropped == [0, 0]  # nothing was sent while a link was down
    finally:
        for t in live:
            t.close()
        held.close()


def _pair() -> tuple[Transport, Transport, list[tuple[str, int]], socket.socket]:
    """Machines 0 and 1 connected; machine 1's listening port is its own, machine 0's held."""
    held = socket.create_server(("127.0.0.1", 0), backlog=8)
    t0 = Transport(0, 2, secret=SECRET, listener=held.dup())
    t1 = Transport(1, 2, secret=SECRET)
    addresses = [("127.0.0.1", held.getsockname()[1]), ("127.0.0.1", t1.port)]
    for t in (t0, t1):
        t.start(addresses, time.monotonic() + 3)
    wait_for(lambda: t0.connected.is_set() and t1.connected.is_set())
    return t0, t1, addresses, held


def test_a_rejoining_caller_ahead_of_its_rejoin_notice_is_taken_not_refused():
    from lamport.core import message
    from lamport.realtime.framing import encode_message

    t0, t1, addresses, held = _pair()
    live = [t0, t1]
    try:
        t1.close()
        wait_for(lambda: t0.lost(1))
        # the new process of machine 1 calls before machine 0 has heard "rejoin 1"
        t1 = Transport(1, 2, secret=SECRET)
        live.append(t1)
        t1.start(addresses, time.monotonic() + 3)
        wait_for(lambda: t1.connected.is_set() and not t0.lost(1))
        t0.rejoin(1)  # the notice, late: the new link stays
        time.sleep(0.1)
        assert t1.error is None and t1.refused is None
        t0.send(encode_message(message(0, 1, 7)), [1])
        wait_for(lambda: [m.msg_id for _, m in t1.inbox] == ["0:1"])
        assert t0.dropped == [0, 0]
    finally:
        for t in live:
            t.close()
        held.close()


def test_the_drain_waits_for_a_peer_expected_back_and_a_stopped_one_does_not():
    t0, t1, addresses, held = _pair()
    live = [t0, t1]
    try:
        t1.close()
        t0.rejoin(1)
        t0.finish_sending()
        # machine 1's old link ended, but its new process is on its way
        assert not t0.wait_drained(time.monotonic() + 0.3)
        assert t0.wait_drained(time.monotonic() + 0.3, rejoins=False)  # a stopped run
        t1 = Transport(1, 2, secret=SECRET)
        live.append(t1)
        t1.start(addresses, time.monotonic() + 3)
        wait_for(t1.connected.is_set)
        assert not t0.wait_drained(time.monotonic() + 0.1)  # in, and not ended yet
        t1.finish_sending()
        assert t0.wait_drained(time.monotonic() + 3)
    finally:
        for t in live:
            t.close()
        held.close()


def test_a_peer_killed_during_its_rejoin_is_not_taken_for_another_secret(caplog):
    caplog.set_level(logging.WARNING, logger="lamport.realtime")
    t0, t1, addresses, held = _pair()
    try:
        t1.close()
        t0.rejoin(1)
        with socket.create_connection(addresses[0], timeout=3) as sock:
            sock.sendall(hello(1))
            read_frame(sock)  # the challenge; the process is killed before it answers
        time.sleep(0.2)
        warnings = [r.getMessage() for r in caplog.records]
        assert not [w for w in warnings if "another secret" in w], warnings
    finally:
        t0.close()
        held.close()
