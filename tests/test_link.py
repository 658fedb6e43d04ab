"""The link's protocol without a socket: two Link objects wired back to back, bytes in hand.

As h11's tests drive a Connection with bytes, these drive :mod:`lamport.realtime.link`:
the handshake good and bad, partial reads byte by byte, replayed or forged MACs, frames
out of range, control frames, rejoins and the drain. No socket is opened.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from lamport.core import message
from lamport.realtime import auth
from lamport.realtime import link as link_module
from lamport.realtime.framing import HEADER, encode_frame, encode_message
from lamport.realtime.link import (
    MAX_BUFFERED,
    REJOIN_TIMEOUT,
    Arrived,
    Authenticated,
    Backoff,
    Control,
    Ended,
    Failed,
    Link,
    Lost,
    Malformed,
    Peers,
    Refused,
    State,
)

SECRET = bytes(range(32))
N = 3


def take(link: Link) -> bytes:
    """What the link has to send, as written whole."""
    data = bytes(link.out)
    link.written(len(data))
    return data


def pair(
    caller_secret: bytes = SECRET, listener_secret: bytes = SECRET
) -> tuple[Link, Link, list[object], list[object]]:
    """Machine 2 calls machine 0; run the handshake; return both links and their events."""
    caller = Link(2, N, caller_secret, peer=0)
    listener = Link(0, N, listener_secret)
    heard_by_listener = listener.receive_data(take(caller))  # hello
    heard_by_caller = caller.receive_data(take(listener))  # challenge
    if caller.state is State.OPEN:
        heard_by_listener += listener.receive_data(take(caller))  # auth
    return caller, listener, heard_by_caller, heard_by_listener


def test_the_handshake_opens_both_ends_with_the_secret():
    caller, listener, by_caller, by_listener = pair()
    assert by_caller == [Authenticated(0)] and by_listener == [Authenticated(2)]
    assert caller.authed and listener.authed and listener.peer == 2


def test_a_wrong_secret_fails_on_either_side():
    caller, listener, by_caller, _ = pair(caller_secret=bytes(32))
    assert isinstance(by_caller[-1], Failed) and by_caller[-1].handshake
    assert "the listener failed the handshake" in by_caller[-1].reason
    assert caller.state is State.CLOSED and not listener.authed
    # a caller with another secret that answers anyway: the listener's check fails
    listener = Link(0, N, SECRET)
    nc = auth.new_nonce()
    listener.receive_data(encode_frame(auth.hello_payload(2, nc)))
    nl = auth.check_challenge(SECRET, 2, 0, nc, take(listener)[HEADER.size :])
    forged = encode_frame(auth.auth_payload(bytes(32), 2, 0, nc, nl))
    (event,) = listener.receive_data(forged)
    assert event == Failed("failed the handshake as machine 2 (wrong secret or replay)", True)
    assert listener.peer is None and listener.state is State.CLOSED


def test_a_replayed_auth_or_challenge_fails():
    caller, listener, _, _ = pair()
    recorded_hello = encode_frame(auth.hello_payload(2, caller.nonce))
    recorded_auth = encode_frame(auth.auth_payload(SECRET, 2, 0, caller.nonce, listener.nonce))
    fresh = Link(0, N, SECRET)  # a new connection: a new listener nonce
    events = fresh.receive_data(recorded_hello + recorded_auth)
    assert isinstance(events[-1], Failed) and "replay" in events[-1].reason
    recorded_challenge = encode_frame(
        auth.challenge_payload(SECRET, 2, 0, caller.nonce, listener.nonce)
    )
    again = Link(2, N, SECRET, peer=0)  # a new call: a new caller nonce
    (event,) = again.receive_data(recorded_challenge)
    assert isinstance(event, Failed) and "failed the handshake" in event.reason


def test_the_listeners_mac_never_passes_for_the_callers():
    listener = Link(0, N, SECRET)
    nc = auth.new_nonce()
    listener.receive_data(encode_frame(auth.hello_payload(2, nc)))
    challenge = take(listener)[HEADER.size :]
    (event,) = listener.receive_data(encode_frame(b"auth " + challenge.split()[2]))
    assert isinstance(event, Failed)


@pytest.mark.parametrize(
    ("machine", "hello", "reason"),
    [
        (0, b"hello 0 " + b"ab" * 16, "unknown sender 0"),  # itself
        (0, b"hello 7 " + b"ab" * 16, "unknown sender 7"),
        (1, b"hello 0 " + b"ab" * 16, "machine 0 does not call machine 1"),
        (0, b"hello two", "expected 'hello <id> <nonce>'"),
        (0, b"1 2 3", "expected 'hello <id> <nonce>'"),  # a message before the handshake
    ],
)
def test_a_bad_hello_fails_the_connection(machine, hello, reason):
    listener = Link(machine, N, SECRET)
    (event,) = listener.receive_data(encode_frame(hello))
    assert isinstance(event, Failed) and event.handshake and reason in event.reason
    assert listener.receive_data(encode_frame(hello)) == []  # closed: input is ignored


def test_the_handshake_and_messages_survive_any_split_byte_by_byte():
    caller = Link(2, N, SECRET, peer=0)
    listener = Link(0, N, SECRET)

    def trickle(data: bytes, to: Link) -> list[object]:
        events: list[object] = []
        for i in range(len(data)):
            events += to.receive_data(data[i : i + 1])
        return events

    assert trickle(take(caller), listener) == []
    assert trickle(take(listener), caller) == [Authenticated(0)]
    assert trickle(take(caller), listener) == [Authenticated(2)]
    frames = [encode_message(message(2, seq, 10 + seq)) for seq in (1, 2, 3)]
    for frame in frames:
        caller.send_message(frame)
    arrived = trickle(take(caller), listener)
    assert [e.message.clock for e in arrived if isinstance(e, Arrived)] == [11, 12, 13]
    # and all at once, with a control frame between
    caller.send_message(encode_message(message(2, 4, 14)))
    assert caller.send_control(b"ready " + b"0" * 16)
    caller.send_message(encode_message(message(2, 5, 15)))
    events = listener.receive_data(take(caller))
    assert [type(e) for e in events] == [Arrived, Control, Arrived]


@given(st.data())
def test_any_chunking_of_a_whole_conversation_gives_the_same_events(data):
    """The caller's bytes, handshake and messages and a control frame, cut anywhere."""
    caller = Link(2, N, SECRET, peer=0)
    listener = Link(0, N, SECRET)
    hello = take(caller)
    listener.receive_data(hello)
    caller.receive_data(take(listener))
    for seq in (1, 2, 3):
        caller.send_message(encode_message(message(2, seq, 100 + seq)))
    caller.send_control(b"abort done")
    stream = hello + take(caller)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    fresh = Link(0, N, SECRET, nonce=listener.nonce)  # same nonce: the same conversation
    events: list[object] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        if start < end:  # an empty read is the end of the stream
            events += fresh.receive_data(stream[start:end])
    events += fresh.receive_data(b"")
    assert events == [
        Authenticated(2),
        *(Arrived(message(2, seq, 100 + seq)) for seq in (1, 2, 3)),
        Control(b"abort done"),
        Ended(),
    ]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (encode_frame(b"2 2 9223372036854775808"), "out of range"),
        (encode_frame(b"2 9223372036854775808 1"), "out of range"),
        (encode_frame(b"1 2 1"), "message from 1 on machine 2's link"),
        (encode_frame(b"2 2 1 vector 5 5"), "vector clock of 2 integers, expected 3"),
        (encode_frame(b"2 2 1 5 5"), "expected '<sender> <seq> <clock>'"),
        (encode_frame(b"2 2 1 hlc 5 9223372036854775808"), "out of range"),
        (encode_frame(b"2 2 x"), "expected '<sender> <seq> <clock>'"),
        (encode_frame(b"hello 2 " + b"ab" * 16), "expected '<sender> <seq> <clock>'"),
        (encode_frame(b"start soon"), "expected '<sender> <seq> <clock>'"),
        (encode_frame(b"2 1 7"), "message 2:1 is a replay or out of order"),
        (encode_frame(b"2 0 7"), "message 2:0 is a replay or out of order"),
    ],
)
def test_a_malformed_frame_of_an_open_link_is_dropped_and_the_link_stays_open(data, reason):
    _, listener, _, _ = pair()
    first, later = encode_message(message(2, 1, 5)), encode_message(message(2, 2, 6))
    events = listener.receive_data(first + data + later)
    assert events[0] == Arrived(message(2, 1, 5))  # what came before is kept
    assert isinstance(events[1], Malformed) and reason in events[1].reason
    assert events[2:] == [Arrived(message(2, 2, 6))]  # and what comes after
    assert listener.state is State.OPEN


@given(st.lists(st.integers(0, 12), min_size=1, max_size=30))
def test_a_message_id_is_taken_at_most_once_and_only_in_order_on_a_link(seqs):
    """Any sequence of sequence numbers from a peer holding the secret (replays, duplicates,
    frames out of order): exactly those above every one taken before arrive, the others are
    dropped as malformed naming their id, and the link stays open for later good frames."""
    _, listener, _, _ = pair()
    stream = b"".join(encode_message(message(2, seq, 100 + seq)) for seq in seqs)
    expected, last = [], 0
    for seq in seqs:  # the model: above every one taken before, or dropped
        expected.append(("taken" if seq > last else "dropped", f"2:{seq}"))
        last = max(last, seq)
    events = listener.receive_data(stream)
    assert [
        ("taken", e.message.msg_id) if isinstance(e, Arrived) else ("dropped", e.reason.split()[1])
        for e in events
        if isinstance(e, Arrived | Malformed)
    ] == expected
    assert len(events) == len(seqs) and listener.state is State.OPEN
    assert listener.receive_data(encode_message(message(2, last + 1, 1))) == [
        Arrived(message(2, last + 1, 1))
    ]


def test_the_last_sequence_number_outlives_the_link_so_a_rejoin_goes_on_and_a_replay_fails():
    peers = Peers(0, N)
    old = Link(0, N, SECRET, last_seq=peers.last_seq)
    caller = Link(2, N, SECRET, peer=0)
    old.receive_data(take(caller))
    caller.receive_data(take(old))
    old.receive_data(take(caller))
    recorded = [encode_message(message(2, seq, seq)) for seq in (1, 2, 3)]
    assert [type(e) for e in old.receive_data(b"".join(recorded))] == [Arrived] * 3
    assert peers.last_seq == {2: 3}
    # the caller's new process (a rejoin) goes on from its logged sends; a replay does not
    new = Link(0, N, SECRET, last_seq=peers.last_seq)
    caller = Link(2, N, SECRET, peer=0)
    new.receive_data(take(caller))
    caller.receive_data(take(new))
    assert new.receive_data(take(caller)) == [Authenticated(2)]
    events = new.receive_data(recorded[2] + encode_message(message(2, 4, 9)))
    assert isinstance(events[0], Malformed) and "2:3 is a replay" in events[0].reason
    assert events[1:] == [Arrived(message(2, 4, 9))] and peers.last_seq == {2: 4}


@pytest.mark.parametrize("size", [0, 10_000])
def test_a_bad_length_fails_from_the_header_alone(size):
    _, listener, _, _ = pair()
    (event,) = listener.receive_data(HEADER.pack(size))
    assert isinstance(event, Failed) and f"frame announces {size} bytes" in event.reason


def test_a_stream_ending_inside_a_frame_fails_and_at_a_boundary_ends():
    _, listener, _, _ = pair()
    frame = encode_message(message(2, 1, 5))
    listener.receive_data(frame[:5])
    (event,) = listener.receive_data(b"")
    assert isinstance(event, Failed) and "stream ended inside a frame (5 bytes)" in event.reason
    _, listener, _, _ = pair()
    assert listener.receive_data(frame + b"")[0] == Arrived(message(2, 1, 5))
    assert listener.receive_data(b"") == [Ended()] and listener.eof


def test_control_frames_and_a_refusal():
    caller, listener, _, _ = pair()
    for payload in (b"ready 0123456789abcdef", b"start 1700000000000000000", b"abort bad run"):
        assert listener.send_control(payload)
        assert caller.receive_data(take(listener)) == [Control(payload)]
    # a second process under a taken id is refused: the caller hears why, and closes
    fresh_caller, fresh_listener, _, _ = pair()
    fresh_listener.refuse("machine 2 is already connected (two machines with id 2?)")
    assert fresh_listener.state is State.CLOSED and not fresh_listener.send_control(b"start 1")
    (event,) = fresh_caller.receive_data(take(fresh_listener))
    assert event == Refused("machine 2 is already connected (two machines with id 2?)")
    assert fresh_caller.state is State.CLOSED


def test_a_refusal_before_the_challenge_reaches_the_caller():
    caller = Link(2, N, SECRET, peer=0)
    (event,) = caller.receive_data(encode_frame(b"refuse machine 2 is already connected"))
    assert event == Refused("machine 2 is already connected")


def test_an_accepted_callers_frames_after_its_auth_wait_for_the_owners_verdict():
    """A second holder of the secret under a taken id sends its auth and messages in one
    write: refused, its messages are never read, so they move no sequence number."""
    peers = Peers(0, N)
    caller, listener = Link(2, N, SECRET, peer=0), Link(0, N, SECRET, last_seq=peers.last_seq)
    listener.receive_data(take(caller))
    caller.receive_data(take(listener))
    later = encode_message(message(2, 10**6, 5)) + encode_frame(b"abort x")
    assert listener.receive_data(take(caller) + later) == [Authenticated(2)]
    assert peers.last_seq == {}
    listener.refuse(peers.taken(2))
    assert listener.resume() == [] and listener.receive_data(later) == [] and not peers.last_seq
    # admitted instead: what waited comes out in order, on resume or with the next bytes
    caller, listener = Link(2, N, SECRET, peer=0), Link(0, N, SECRET, last_seq=peers.last_seq)
    listener.receive_data(take(caller))
    caller.receive_data(take(listener))
    assert listener.receive_data(take(caller) + later) == [Authenticated(2)]
    assert listener.resume() == [Arrived(message(2, 10**6, 5)), Control(b"abort x")]
    assert peers.last_seq == {2: 10**6} and listener.resume() == []


def test_a_socket_error_means_a_lost_link_or_a_failed_handshake_by_the_links_state():
    caller, listener, _, _ = pair()
    assert listener.connection_lost("Connection reset by peer") == Lost("Connection reset by peer")
    assert listener.state is State.CLOSED and listener.connection_lost("again") is None
    calling = Link(2, N, SECRET, peer=0)  # a caller calls again after this
    assert calling.connection_lost("Connection reset by peer") == Failed(
        "connection failed during the handshake (Connection reset by peer)", True
    )
    accepted = Link(0, N, SECRET)
    assert accepted.connection_lost("Broken pipe") == Failed(
        "connection failed (Broken pipe)", True
    )
    assert caller.authed and caller.receive_data(b"") == [Ended()]


def test_a_listener_hanging_up_on_its_caller_during_the_handshake_fails_it():
    caller = Link(2, N, SECRET, peer=0)
    take(caller)
    assert caller.receive_data(b"") == [Failed("the listener hung up during the handshake", True)]
    accepted = Link(0, N, SECRET)  # a caller that hangs up is no failure of ours: it ended
    assert accepted.receive_data(b"") == [Ended()]


def test_a_peer_that_does_not_read_gets_no_more_than_the_buffer_holds():
    caller, _, _, _ = pair()
    assert caller.sendable
    frame = encode_message(message(2, 1, 1))
    taken = 0
    while caller.buffer(frame):
        taken += 1
    assert len(caller.out) >= MAX_BUFFERED and len(caller.out) - len(frame) < MAX_BUFFERED
    assert len(caller.pending) == taken and not caller.buffer(frame)
    caller.shut = True
    assert not caller.sendable


def test_control_frames_wait_for_an_open_link_and_stop_once_our_side_ends():
    caller = Link(2, N, SECRET, peer=0)
    assert not caller.send_control(b"start 1")
    caller, _, _, _ = pair()
    caller.shut = True
    assert not caller.send_control(b"start 1")


def test_the_drain_counts_the_messages_a_lost_link_never_carried():
    caller, _, _, _ = pair()
    frames = [encode_message(message(2, seq, seq)) for seq in (1, 2, 3)]
    for frame in frames:
        caller.send_message(frame)
    caller.written(len(frames[0]) + 2)  # the first whole, two bytes of the second
    assert len(caller.pending) == 2
    assert caller.discard() == 2 and not caller.out and not caller.pending
    caller.send_message(frames[0])
    caller.written(len(frames[0]))
    assert caller.discard() == 0


def test_peers_admit_a_new_caller_and_refuse_a_taken_id():
    peers = Peers(0, N)
    assert peers.admit(2, has_link=False) == "join"
    assert peers.admit(2, has_link=True) == "refuse"
    assert peers.taken(2) == "machine 2 is already connected (two machines with id 2?)"


def test_peers_let_a_rejoining_caller_take_its_old_place():
    peers = Peers(0, N)
    assert peers.expect(2, now=100.0) and not peers.drained
    assert peers.reopen(2)  # the old link goes
    assert peers.expecting(2)
    assert peers.admit(2, has_link=True) == "replace"
    assert peers.joined(2) and 2 not in peers.ended and 2 not in peers.awaited
    assert peers.admit(2, has_link=True) == "refuse"  # only once


def test_peers_take_a_caller_back_before_its_rejoin_notice():
    peers = Peers(0, N)
    peers.end(2)  # the killed process's stream ended
    assert peers.admit(2, has_link=True) == "replace"  # the new one calls first
    peers.joined(2)
    peers.expect(2, now=0.0)
    assert not peers.reopen(2)  # the notice comes late: the link stays
    assert 2 not in peers.awaited and 2 not in peers.ended


def test_peers_drain_waits_for_a_peer_expected_back_until_its_time():
    peers = Peers(1, N)
    peers.end(0)
    peers.end(2)
    assert peers.drained
    assert not peers.expect(1, now=0.0) and not peers.expect(5, now=0.0)  # no peers of ours
    assert peers.expect(0, now=50.0) and peers.reopen(0)
    assert peers.all_ended and not peers.drained
    assert peers.expire(50.0 + REJOIN_TIMEOUT - 1) == []
    assert peers.expire(50.0 + REJOIN_TIMEOUT) == [0] and peers.drained


def _imports(module: str) -> set[str]:
    path = Path(link_module.__file__).with_name(f"{module}.py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        alias.name if isinstance(node, ast.Import) else (node.module or "")
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }


@pytest.mark.parametrize(
    "module", ["transport", "ioloop", "switchboard", "connection", "dialer", "acceptor"]
)
def test_the_transport_only_moves_bytes(module):
    """The parts of the transport never parse a frame or check a MAC: the protocol is the
    link's alone."""
    assert not _imports(module) & {"lamport.realtime.framing", "lamport.realtime.auth"}


class LinkUnderReplay(RuleBasedStateMachine):
    """Machine 2 calls machine 0 and sends messages; a holder of the secret on the path
    holds some back (they arrive out of order) and replays others, and the bytes arrive cut
    anywhere. Model: the
    listener takes exactly the messages above every one taken before, each once, in
    order, and the link stays open."""

    def __init__(self) -> None:
        super().__init__()
        self.caller = Link(2, N, SECRET, peer=0)
        self.listener = Link(0, N, SECRET)
        self.listener.receive_data(take(self.caller))
        self.caller.receive_data(take(self.listener))
        self.listener.receive_data(take(self.caller))
        self.sent: list[bytes] = []  # every message frame sent so far, by seq - 1
        self.held: list[int] = []  # sent, kept back on the path (to arrive out of order)
        self.wire = bytearray()  # bytes on their way to the listener
        self.expected: list[str] = []  # the model: ids the listener must take, in order
        self.taken: list[str] = []
        self.dropped = 0
        self.last = 0

    def _put(self, seq: int) -> None:
        self.wire += self.sent[seq - 1]
        if seq > self.last:
            self.expected.append(f"2:{seq}")
            self.last = seq
        else:
            self.dropped += 1

    @rule()
    def send(self) -> None:
        seq = len(self.sent) + 1
        self.sent.append(encode_message(message(2, seq, 100 + seq)))
        note(f"send 2:{seq}")
        self._put(seq)

    @rule()
    def hold(self) -> None:
        seq = len(self.sent) + 1
        self.sent.append(encode_message(message(2, seq, 100 + seq)))
        note(f"send 2:{seq}, held back")
        self.held.append(seq)

    @precondition(lambda self: self.held)
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        seq = self.held.pop(data.draw(st.integers(0, len(self.held) - 1), label="held"))
        note(f"release 2:{seq}")
        self._put(seq)

    @precondition(lambda self: self.sent)
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        seq = data.draw(st.integers(1, len(self.sent)), label="seq")
        note(f"replay 2:{seq}")
        self._put(seq)

    @precondition(lambda self: self.wire)
    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        size = data.draw(st.integers(1, len(self.wire)), label="bytes")
        chunk, self.wire = bytes(self.wire[:size]), self.wire[size:]
        for event in self.listener.receive_data(chunk):
            if isinstance(event, Arrived):
                self.taken.append(event.message.msg_id)
            else:
                assert isinstance(event, Malformed) and "is a replay or out of order" in (
                    event.reason
                )
                self.dropped -= 1

    @invariant()
    def takes_each_id_once_in_order_and_stays_open(self) -> None:
        assert self.taken == self.expected[: len(self.taken)]
        assert self.listener.state is State.OPEN
        if not self.wire:
            assert self.taken == self.expected and self.dropped == 0


TestLinkUnderReplay = LinkUnderReplay.TestCase


def test_the_link_does_no_io():
    """Its module imports no socket, thread, selector or clock."""
    tree = ast.parse(Path(link_module.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (
            node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")]
        )
    }
    assert not imported & {"socket", "selectors", "threading", "time", "asyncio"}


def test_peers_say_when_the_set_up_is_done_and_why_not():
    peers = Peers(1, 4)  # calls machine 0; machines 2 and 3 call it
    assert list(peers.callers) == [2, 3]
    assert not peers.set_up(joined={0, 2}, up={0})
    assert peers.set_up(joined={0, 2, 3}, up={0})
    assert not peers.set_up(joined={0, 2, 3}, up=())
    assert peers.set_up_failure({0, 2}, {0}, {}, 5.0) == (
        "machine 1: no connection from machine 3 within 5 s"
    )
    assert peers.set_up_failure({0, 2, 3}, (), {0: "Connection refused"}, 5.0) == (
        "machine 1: cannot reach machine 0 within 5 s (Connection refused)"
    )


def test_backoff_doubles_to_its_ceiling_and_never_passes_the_deadline():
    backoff = Backoff(0.01, 0.04)
    tries = [backoff.next_try(0.0, 1.0) for _ in range(4)]
    assert tries == [0.01, 0.02, 0.04, 0.04]
    assert backoff.next_try(0.97, 1.0) is None
