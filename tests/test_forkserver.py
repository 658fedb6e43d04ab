"""The fork server (lamport/realtime/forkserver.py) with an entry of the test's own.

A server process runs ``serve`` with an entry that writes its arguments and a
line of its stdin to its stdout and exits with the status its arguments name;
the tests fork children through ``ForkServer`` and check what the launcher
relies on: stdio pipes and a listener handed over, exit statuses (signals
too), held children waiting for ``release``, the child's name, and the end.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lamport.realtime.forkserver import ForkServer

ROOT = Path(__file__).resolve().parent.parent
#: The server: ``serve`` with an entry that says its argv and echoes one stdin line.
SERVER = """
import os, socket, sys
from lamport.realtime.forkserver import serve

def entry(argv):
    print("argv", *argv, flush=True)
    listen = [a for a in argv if a.startswith("--listen-fd=")]
    if listen:
        sock = socket.socket(fileno=int(listen[0].split("=")[1]))
        print("listening", sock.getsockname()[1], flush=True)
    print("echo", sys.stdin.readline().strip(), flush=True)
    print("oops", file=sys.stderr, flush=True)
    return int(argv[0])

sys.exit(serve(int(sys.argv[1].split("=")[1]), entry))
"""


@pytest.fixture
def server():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    forks = ForkServer([sys.executable, "-c", SERVER], env)
    yield forks
    forks.close()


def _lines(stream) -> list[str]:
    return stream.read().decode().splitlines()


def test_a_child_gets_its_stdio_its_listener_and_its_exit_status(server):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        child = server.spawn(["3", "hello"], listener, name="lamport:node7")
    first = child.stdout.readline().decode()  # the child runs its entry: it is named
    assert first.startswith("argv 3 hello --listen-fd=")
    with open(f"/proc/{child.pid}/comm", encoding="ascii") as handle:
        assert handle.read().strip() == "lamport:node7"
    child.stdin.write(b"ping\n")
    child.stdin.flush()
    assert _lines(child.stdout) == [f"listening {port}", "echo ping"]
    assert _lines(child.stderr) == ["oops"]
    assert child.wait(10) == 3 and child.poll() == 3


def test_a_killed_child_exits_with_minus_the_signal(server):
    child = server.spawn(["0"])
    assert child.poll() is None
    child.kill()
    assert child.wait(10) == -signal.SIGKILL


def test_held_children_wait_for_release(server):
    children = [server.spawn(["0"], hold=True) for _ in range(3)]
    for child in children:
        child.stdin.write(b"go\n")
        child.stdin.flush()
    time.sleep(0.3)
    with pytest.raises(subprocess.TimeoutExpired):
        children[0].wait(0.1)  # held: it has not even said its argv
    server.release()
    for child in children:
        assert _lines(child.stdout) == ["argv 0", "echo go"]
        assert child.wait(10) == 0


def test_a_child_not_held_never_keeps_the_held_ones_waiting(server):
    held = server.spawn(["0"], hold=True)
    free = server.spawn(["0"])  # forked while the gate is open; still running after
    assert free.stdout.readline().decode() == "argv 0\n"
    server.release()
    held.stdin.write(b"go\n")
    held.stdin.flush()
    assert _lines(held.stdout) == ["argv 0", "echo go"]  # released though free runs on
    assert held.wait(10) == 0 and free.poll() is None
    free.stdin.close()
    assert free.wait(10) == 0


def test_the_end_of_the_server_continues_a_stopped_child(server):
    child = server.spawn(["0"])
    os.kill(child.pid, signal.SIGSTOP)
    server.close()  # the launcher is gone: the server continues its children as it ends
    child.stdin.close()  # and the child, running again, reads the end of its stdin
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{child.pid}/stat", encoding="ascii") as handle:
                state = handle.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            break  # reaped: it ran to its end
        if state == "Z":
            break
        assert state != "T" or time.monotonic() < deadline - 9  # not left stopped
        time.sleep(0.05)
    else:
        raise AssertionError("the stopped child never ran again")
