"""One OS process per machine: the launcher, the ``node`` command, ``collect``, and their faults."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from bands import des_band
from peer import Outsider, cli_ticking, wait_for

from lamport.analysis import load_run
from lamport.check import check_logs
from lamport.config import RunConfig, experiment
from lamport.core import CRASH, RECEIVE, RESTART, SEND, TICK_KINDS
from lamport.des.model import simulate
from lamport.faults import fault_table
from lamport.invariants import check, violations
from lamport.logs import read_run
from lamport.realtime import Cluster, RealtimeOptions, auth, run_backend
from lamport.realtime.launcher import Launcher

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def alive(pid: int) -> bool:
    """True if a process with this id exists (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def node_processes(folder: Path) -> list[int]:
    """Ids of the live node processes of a run started in ``folder`` (a /proc scan): forked
    by the fork server they are named ``lamport:node<ID>`` and work in ``folder``; started
    afresh, their command line names ``--out=<folder>/...``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or not alive(int(entry)):
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read()
            with open(f"/proc/{entry}/comm", encoding="utf-8") as handle:
                name = handle.read().strip()
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        forked = name.startswith("lamport:node") and cwd == str(folder)
        if forked or f"--out={folder}".encode() in cmdline:
            found.append(int(entry))
    return found


# -- the launcher ------------------------------------------------------------------------


def test_a_process_run_satisfies_every_invariant_and_falls_in_the_des_band(tmp_path):
    exp = experiment(4)
    band = des_band(exp.config, ["final_clock", "final_queue"], range(30))
    seed = band.seed
    out = tmp_path / "run"
    result = run_backend(exp.config(seed), RealtimeOptions(speed=15, processes=True), out=out)
    metadata, logs = read_run(out)
    check(metadata, logs, tick_tolerance=1)
    assert [len(events) for events in logs] == [exp.config(seed).ticks(i) for i in range(3)]
    assert metadata["mode"] == "processes" and metadata["options"]["processes"] is True
    assert metadata["degraded"] is False and metadata["dead"] == []
    assert 0 <= metadata["start_skew_ms"] < 20  # target under 1 ms; loaded CI hosts vary
    assert len(metadata["start_offsets_ms"]) == 3
    assert "secret" not in json.dumps(metadata)
    band.check(result.summary())
    assert sorted(p.name for p in out.iterdir() if p.name != "network.log") == [
        "machine-0.csv",
        "machine-1.csv",
        "machine-2.csv",
        "run.json",
    ]


def test_a_killed_node_is_reported_and_the_others_finish_with_complete_logs(tmp_path):
    config = RunConfig(rates=(2, 3, 4), p_send=0.3, duration=30, seed=2)
    launcher = Launcher(config, RealtimeOptions(speed=10, processes=True), out=tmp_path / "run")
    box: dict = {}
    thread = threading.Thread(target=lambda: box.update(result=launcher.run()))
    thread.start()
    assert launcher.started.wait(20)
    for pid in launcher.pids:  # the secret is in a file, never on a command line
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            cmdline = handle.read()
        assert launcher.secret.hex().encode() not in cmdline
        with open(f"/proc/{pid}/environ", "rb") as handle:
            assert launcher.secret.hex().encode() not in handle.read()
    time.sleep(0.5)
    os.kill(launcher.pids[1], signal.SIGKILL)
    thread.join(20)
    assert not thread.is_alive()
    metadata, logs = read_run(tmp_path / "run")
    assert metadata["degraded"] is True
    (dead,) = metadata["dead"]
    assert dead["machine"] == 1 and dead["exit"] == "killed by SIGKILL"
    assert 3 <= dead["at"] <= 20  # model seconds: killed about 0.5 wall s (5 model s) in
    for machine in (0, 2):
        assert len(logs[machine]) == config.ticks(machine)
    assert 0 < len(logs[1]) < config.ticks(1)
    assert not any(alive(pid) for pid in launcher.pids)


def test_an_outsider_racing_node_processes_from_before_they_start_gets_nothing_in(tmp_path):
    """The launcher's ports are known before the node interpreters even start: the outsider
    hammers them from then on with forged hellos, auths and messages (a 10^20 clock)."""
    config = experiment(4).config(seed=1, duration=20)
    launcher = Launcher(config, RealtimeOptions(speed=20, processes=True), out=tmp_path / "run")
    box: dict = {}
    thread = threading.Thread(target=lambda: box.update(result=launcher.run()))
    thread.start()
    wait_for(lambda: len(launcher.ports) == 3)
    outsider = Outsider(list(launcher.ports))
    outsider.thread.start()
    thread.join(40)
    outsider.stop.set()
    outsider.thread.join(10)
    assert not thread.is_alive() and "result" in box
    assert outsider.tries > 10
    metadata, logs = read_run(tmp_path / "run")
    check(metadata, logs, tick_tolerance=1)
    sent = {e.msg_id for events in logs for e in events if e.event == SEND}
    for events in logs:
        assert max(e.clock for e in events) < 10**4
        assert all(e.msg_id in sent for e in events if e.event == RECEIVE)
    assert "failed the handshake" in (tmp_path / "run" / "network.log").read_text()


def test_a_frozen_node_is_never_waited_on_forever(tmp_path):
    """SIGSTOP: the node neither ends nor dies; the launcher kills it after the drain's grace."""
    config = RunConfig(rates=(2, 3, 4), p_send=0.3, duration=10, seed=2)
    launcher = Launcher(config, RealtimeOptions(speed=10, processes=True), out=tmp_path / "run")
    box: dict = {}
    thread = threading.Thread(target=lambda: box.update(result=launcher.run()))
    thread.start()
    assert launcher.started.wait(20)
    began = time.monotonic()
    os.kill(launcher.pids[2], signal.SIGSTOP)
    thread.join(20)
    assert not thread.is_alive()
    assert time.monotonic() - began < 1 + 2 + 2 + 6  # the run, its drain, the grace, slack
    metadata, logs = read_run(tmp_path / "run")
    (dead,) = metadata["dead"]
    assert dead["machine"] == 2 and dead["exit"] == "killed: not done 4 s after the run's end"
    assert [len(logs[m]) for m in (0, 1)] == [20, 30]
    assert not any(alive(pid) for pid in launcher.pids)


def test_ctrl_c_on_the_launcher_stops_every_node_within_2_s_and_leaves_no_orphan(tmp_path):
    out = tmp_path / "run"
    launcher = cli_ticking(tmp_path, ["exp", "4", "--processes", "--speed", "5", "--quiet"])
    try:
        nodes = node_processes(tmp_path)
        assert len(nodes) == 3
        launcher.send_signal(signal.SIGINT)
        asked = time.monotonic()
        _, err = launcher.communicate(timeout=10)
        elapsed = time.monotonic() - asked
    finally:
        launcher.kill()
        launcher.wait()
    assert launcher.returncode == 130, err
    assert elapsed < 4.0  # nodes are killed 1.8 s after the request; slack for a loaded host
    assert not any(alive(pid) for pid in nodes)
    assert node_processes(tmp_path) == []
    metadata, logs = read_run(out)
    assert metadata["interrupted"] is True and metadata["stop_signal"] == "SIGINT"
    assert metadata["degraded"] is False
    assert violations({**metadata, "duration": metadata["stopped_at"]}, logs) == []


def test_a_port_in_use_fails_the_process_run_in_one_line_with_no_process_left(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as held:
        port = held.getsockname()[1]
        argv = ["run", "--rates", "2,3", "--duration", "5", "--processes"]
        argv += ["--base-port", str(port), "--out", str(tmp_path / "run")]
        done = subprocess.run(
            [sys.executable, "-m", "lamport.realtime", *argv],
            cwd=tmp_path,
            env=ENV,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == f"error: port {port} (machine 0) is already in use"
    assert node_processes(tmp_path) == []
    assert not (tmp_path / "run").exists()
    assert not list(tmp_path.glob(".run.partial-*"))


def test_nodes_outlive_no_killed_launcher(tmp_path):
    """SIGKILL leaves the launcher no chance to clean up: its nodes see stdin end and stop."""
    argv = ["exp", "4", "--processes", "--speed", "5", "--out", str(tmp_path / "run"), "--quiet"]
    launcher = subprocess.Popen(
        [sys.executable, "-m", "lamport.realtime", *argv],
        cwd=tmp_path,
        env=ENV,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: len(node_processes(tmp_path)) == 3, timeout=20)
        wait_for(lambda: list(tmp_path.glob(".run.partial-*/machine-2.csv")), timeout=20)
        launcher.kill()
        launcher.wait()
        wait_for(lambda: node_processes(tmp_path) == [], timeout=5)
    finally:
        launcher.kill()
        launcher.wait()


# -- the node command --------------------------------------------------------------------


@pytest.fixture
def run_files(tmp_path):
    """A node config for 2 machines at speed 10 and a secret file: (config, secret)."""
    config = RunConfig(rates=(3, 5), p_send=0.5, duration=10, seed=1)
    path = tmp_path / "config.json"
    options = {"speed": 10.0, "base_port": None, "connect_timeout": 2.0}
    path.write_text(json.dumps({"backend": "realtime", **config.metadata(), "options": options}))
    secret = auth.write_secret(tmp_path / "secret", auth.new_secret())
    return path, secret


def listening() -> socket.socket:
    return socket.create_server(("127.0.0.1", 0), backlog=8)


def node(
    machine: int,
    config: Path,
    secret: Path,
    listener: socket.socket,
    peers: dict[int, socket.socket],
    out: Path,
) -> subprocess.Popen:
    """Start ``python -m lamport.realtime node`` on a listener the test holds."""
    argv = [
        sys.executable,
        "-m",
        "lamport.realtime",
        "node",
        f"--config={config}",
        f"--id={machine}",
        f"--listen=127.0.0.1:{listener.getsockname()[1]}",
        f"--listen-fd={listener.fileno()}",
        *[f"--peer={j}=127.0.0.1:{s.getsockname()[1]}" for j, s in peers.items()],
        f"--secret-file={secret}",
        f"--out={out}",
    ]
    return subprocess.Popen(
        argv,
        pass_fds=(listener.fileno(),),
        cwd=out.parent,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def two_nodes_collected(tmp_path: Path, config: Path, secret: Path) -> list[tuple[str, str]]:
    """Machines 0 and 1 of a run started by hand (``node``, each in tmp_path/host<i>),
    then ``collect`` into tmp_path/run; both must succeed. Return the nodes' outputs."""
    socks = [listening(), listening()]
    nodes = [
        node(i, config, secret, socks[i], {1 - i: socks[1 - i]}, tmp_path / f"host{i}")
        for i in (0, 1)
    ]
    outputs = [p.communicate(timeout=20) for p in nodes]
    for sock in socks:
        sock.close()
    assert [p.returncode for p in nodes] == [0, 0], outputs
    collected = realtime_cli(tmp_path, "collect", "host0", "host1", "--out", "run")
    assert collected.returncode == 0, collected.stderr
    return outputs


def realtime_cli(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """``python -m lamport.realtime ARGV`` run in ``cwd``, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "lamport.realtime", *argv],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_nodes_started_by_hand_run_and_collect_into_one_run(tmp_path, run_files):
    config, secret = run_files
    outputs = two_nodes_collected(tmp_path, config, secret)
    assert "start offset" in outputs[0][0]
    metadata, logs = read_run(tmp_path / "run")
    check(metadata, logs, tick_tolerance=1)
    assert [len(events) for events in logs] == [30, 50]
    assert metadata["start_skew_ms"] < 20 and metadata["mode"] == "processes"
    # collect's bad input: one line, exit 2
    (tmp_path / "other").mkdir()
    report = json.loads((tmp_path / "host1" / "node-1.json").read_text())
    (tmp_path / "other" / "node-1.json").write_text(json.dumps({**report, "p_send": 0.1}))
    for argv, message in [
        (["host0", "--out", "run2"], "no node-1.json in the directories given"),
        (["host0", "host1", "--out", "run"], "--out run exists; --force replaces it"),
        (["host0", "other", "--out", "run2"], "other/node-1.json: a different run from"),
        (["host0", "host0", "host1", "--out", "run2"], "machine 0 also in"),
    ]:
        bad = realtime_cli(tmp_path, "collect", *argv)
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
        assert message in bad.stderr, bad.stderr


def one_line_exit_2(process: subprocess.Popen, timeout: float = 20) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_peers_that_disagree_with_the_config_are_one_line(tmp_path, run_files):
    config, secret = run_files
    with listening() as mine, listening() as other:
        process = node(1, config, secret, mine, {0: other, 2: other}, tmp_path / "n")
        line = one_line_exit_2(process)
    assert "the peers disagree with the config (2 machines, this is machine 1)" in line


def test_a_missing_or_world_readable_secret_file_is_one_line(tmp_path, run_files):
    config, secret = run_files
    with listening() as mine, listening() as other:
        line = one_line_exit_2(node(1, config, tmp_path / "nope", mine, {0: other}, tmp_path / "n"))
        assert "secret file" in line and "no such file" in line
        os.chmod(secret, 0o644)
        line = one_line_exit_2(node(1, config, secret, mine, {0: other}, tmp_path / "n"))
        assert "readable by group or others" in line


def test_a_peer_that_never_answers_is_one_line_within_the_connect_timeout(tmp_path, run_files):
    """Machine 0's port takes connections into its backlog and never says a word."""
    config, secret = run_files
    with listening() as mine, listening() as silent:
        began = time.monotonic()
        line = one_line_exit_2(node(1, config, secret, mine, {0: silent}, tmp_path / "n"))
        elapsed = time.monotonic() - began
    assert "machine 1: cannot reach machine 0 within 2 s" in line
    assert elapsed < 2 + 3  # the timeout, plus the interpreter's start and exit


def test_two_nodes_with_the_same_id_one_is_refused_in_one_line(tmp_path, run_files):
    config, secret = run_files
    socks = [listening(), listening(), listening()]
    first = node(0, config, secret, socks[0], {1: socks[1]}, tmp_path / "a")
    twins = [
        node(1, config, secret, socks[1], {0: socks[0]}, tmp_path / "b"),
        node(1, config, secret, socks[2], {0: socks[0]}, tmp_path / "c"),
    ]
    results = [(p, *p.communicate(timeout=30)) for p in [first, *twins]]
    for sock in socks:
        sock.close()
    codes = sorted(p.returncode for p, _, _ in results)
    assert codes == [0, 0, 2], results
    (refused,) = [err for p, _, err in results if p.returncode == 2]
    assert refused.strip().splitlines()[-1] == (
        "error: machine 0 refused machine 1: machine 1 is already connected "
        "(two machines with id 1?)"
    )


def test_nodes_whose_configs_differ_both_fail_in_one_line(tmp_path, run_files):
    config, secret = run_files
    other = tmp_path / "other.json"
    data = json.loads(config.read_text())
    other.write_text(json.dumps({**data, "p_send": 0.25}))
    socks = [listening(), listening()]
    nodes = [
        node(0, config, secret, socks[0], {1: socks[1]}, tmp_path / "a"),
        node(1, other, secret, socks[1], {0: socks[0]}, tmp_path / "b"),
    ]
    lines = [one_line_exit_2(p) for p in nodes]
    for sock in socks:
        sock.close()
    for line in lines:
        assert "machine 1's config differs from machine 0's" in line


# -- two hosts: two network namespaces joined by a veth pair -----------------------------


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def two_hosts():
    """Two network namespaces, 10.77.<k>.1 and 10.77.<k>.2, joined by a veth pair (root only)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2")
    tag = f"{os.getpid() % 100000}"
    a, b = f"lamA{tag}", f"lamB{tag}"
    k = os.getpid() % 250 + 1
    try:
        _ip("netns", "add", a)
        _ip("netns", "add", b)
        _ip("link", "add", f"va{tag}", "type", "veth", "peer", "name", f"vb{tag}")
        for ns, dev, address in ((a, f"va{tag}", f"10.77.{k}.1"), (b, f"vb{tag}", f"10.77.{k}.2")):
            _ip("link", "set", dev, "netns", ns)
            _ip("-n", ns, "addr", "add", f"{address}/24", "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
    except (subprocess.CalledProcessError, OSError) as exc:
        for ns in (a, b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        pytest.skip(f"cannot make network namespaces here: {exc}")
    yield (a, f"10.77.{k}.1"), (b, f"10.77.{k}.2")
    for ns in (a, b):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_the_two_host_recipe_runs_across_two_network_namespaces(tmp_path, two_hosts):
    """docs/realtime.md's recipe: machines 0 and 1 on host A, machine 2 on host B."""
    (ns_a, ip_a), (ns_b, ip_b) = two_hosts
    config = tmp_path / "config.json"
    config.write_text(
        '{"rates": [1, 3, 6], "p_send": 0.3, "duration": 60, "seed": 0, "options": {"speed": 20}}'
    )
    secret = auth.write_secret(tmp_path / "secret", auth.new_secret())
    where = {0: (ns_a, ip_a, 7000), 1: (ns_a, ip_a, 7001), 2: (ns_b, ip_b, 7002)}
    nodes = []
    for i, (ns, address, port) in where.items():
        peers = [f"--peer={j}={w[1]}:{w[2]}" for j, w in where.items() if j != i]
        argv = ["ip", "netns", "exec", ns, sys.executable, "-m", "lamport.realtime", "node"]
        argv += [f"--config={config}", f"--id={i}", f"--listen={address}:{port}", *peers]
        argv += [f"--secret-file={secret}", f"--out=nodes-{'a' if ns == ns_a else 'b'}"]
        nodes.append(
            subprocess.Popen(
                argv,
                cwd=tmp_path,
                env=ENV,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=30) for p in nodes]
    assert [p.returncode for p in nodes] == [0, 0, 0], outputs
    collected = subprocess.run(
        [sys.executable, "-m", "lamport.realtime", "collect", "nodes-a", "nodes-b", "--out", "run"],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert collected.returncode == 0, collected.stderr
    metadata, logs = read_run(tmp_path / "run")
    check(metadata, logs, tick_tolerance=1)
    assert [len(events) for events in logs] == [60, 180, 360]
    assert metadata["ports"] == [7000, 7001, 7002]


def test_a_node_with_the_wrong_secret_is_refused_and_both_say_why(tmp_path, run_files):
    config, secret = run_files
    wrong = auth.write_secret(tmp_path / "wrong", auth.new_secret())
    socks = [listening(), listening()]
    nodes = [
        node(0, config, secret, socks[0], {1: socks[1]}, tmp_path / "a"),
        node(1, config, wrong, socks[1], {0: socks[0]}, tmp_path / "b"),
    ]
    results = [p.communicate(timeout=30) for p in nodes]
    for sock in socks:
        sock.close()
    assert [p.returncode for p in nodes] == [2, 2], results
    errors = [err.strip().splitlines()[-1] for _, err in results]
    assert errors[0] == "error: machine 0: no connection from machine 1 within 2 s"
    assert errors[1].startswith("error: machine 1: cannot reach machine 0 on 127.0.0.1:")
    assert errors[1].endswith(
        "(the listener failed the handshake (wrong secret, or not a machine of this run))"
    )
    assert "warning: machine 1: dropped connection to 127.0.0.1:" in results[1][1]
    assert "calling as machine 1, hung up during the handshake" in results[0][1]


# -- fault plans on processes ------------------------------------------------------------


def _faulted(*faults: str, duration: float = 20) -> RunConfig:
    return RunConfig(
        rates=(5, 3, 2), p_send=0.5, duration=duration, seed=4, phase="aligned", faults=faults
    )


def _ticks(events: list) -> list:
    return [e for e in events if e.event in TICK_KINDS]


def test_a_fault_plan_on_processes_writes_network_csv_like_threads(tmp_path):
    config = _faulted("crash 1 at 5 for 4", "loss 0.1")
    out = tmp_path / "run"
    result = run_backend(config, RealtimeOptions(speed=10, processes=True), out=out)
    run = load_run(out)
    metadata, logs = run.metadata, read_run(out)[1]
    assert violations(metadata, logs) == []  # ticks less downtime, conservation with drops
    assert sorted(p.name for p in out.iterdir() if p.name != "network.log") == [
        "machine-0.csv",
        "machine-1.csv",
        "machine-2.csv",
        "network.csv",
        "run.json",
    ]
    des = simulate(config)  # the same schedule as the DES: its ticks, the window's removed
    assert [len(_ticks(x)) for x in logs] == [len(_ticks(x)) for x in des.logs] == [100, 48, 40]
    assert [e.event for e in logs[1] if e.event in (CRASH, RESTART)] == [CRASH, RESTART]
    assert metadata["faults"] == [fault_table(f) for f in config.faults]
    assert run.dropped == result.dropped and result.dropped
    by_reason = metadata["dropped_by_reason"]
    assert by_reason["loss"] > 0 and by_reason["crash"] > 0 and by_reason["partition"] == 0
    assert sum(by_reason.values()) == len(run.dropped)
    assert all(5 <= d.t <= 9 and d.recipient == 1 for d in run.dropped if d.reason == "crash")
    assert metadata["degraded"] is False and "real_crashes" not in metadata


def test_a_real_crash_kills_the_process_and_a_new_one_rejoins(tmp_path):
    # machine 1 (called by 2, calls 0) keeps its clock; machine 2 (calls both) resets it
    config = _faulted("crash 1 at 5 for 4", "crash 2 at 11 for 4 reset", "loss 0.2")
    out = tmp_path / "run"
    options = RealtimeOptions(speed=10, processes=True, real_crash=True)
    launcher = Launcher(config, options, out=out)
    result = launcher.run()
    metadata, logs = read_run(out)
    assert metadata["degraded"] is False and metadata["dead"] == []
    first, second = metadata["real_crashes"]
    for entry, machine in ((first, 1), (second, 2)):
        assert entry["machine"] == machine and entry["killed_pid"] == launcher.pids[machine]
        assert entry["pid"] not in launcher.pids and not alive(entry["killed_pid"])
    # killed in their windows (at speed 10 a model second is 100 ms of wall time)
    assert 5 <= first["killed_at"] < 9 and 11 <= second["killed_at"] < 15
    assert violations(metadata, logs) == []  # conservation: what died with them is "crash"
    assert len(_ticks(logs[0])) == config.ticks(0)  # the other logs are complete
    assert [len(_ticks(x)) for x in logs] == [100, 48, 32]
    dropped = load_run(out).dropped
    assert dropped == result.dropped
    crashed = [d for d in dropped if d.reason == "crash"]
    assert metadata["dropped_by_reason"]["crash"] == len(crashed) > 0
    assert sum(row["dropped_crash"] for row in result.summary()) == len(crashed)
    assert all(d.recipient in (1, 2) or d.sender in (1, 2) for d in crashed)
    # machine 1 restored its clock from the file the killed process wrote
    log = logs[1]
    at = next(k for k, e in enumerate(log) if e.event == CRASH)
    before, crash, restart, after = log[at - 1], log[at], log[at + 1], log[at + 2]
    assert (crash.t, restart.t, restart.event) == (5.0, 9.0, RESTART)
    assert before.clock == crash.clock == restart.clock < after.clock
    assert before.tick == crash.tick == restart.tick == after.tick - 1
    assert after.t >= 9.0
    # machine 2 came back at 0 and broke the clock condition, which the check reports
    log = logs[2]
    at = next(k for k, e in enumerate(log) if e.event == RESTART)
    assert log[at].clock == 0 and log[at - 1].clock > 0 and 1 <= log[at + 1].clock <= 30
    problems = check_logs(metadata, logs).problems
    assert problems and all("clock condition broken" in p for p in problems)
    assert "machine-2.csv" in problems[0]
    assert not [p for p in out.iterdir() if p.name.startswith(("state-", "drops-", "node-"))]
    # the restarted processes went on with their loss streams: each link's k-th message is
    # lost iff the k-th draw of its stream is below p, as in the DES and on threads
    assert lost_as_the_streams_say(logs, dropped, config.seed, 0.2)


def lost_as_the_streams_say(logs: list, dropped: list, seed: int, p: float) -> bool:
    from lamport.core import loss_stream

    lost = {(d.msg_id, d.recipient) for d in dropped if d.reason == "loss"}
    for sender, log in enumerate(logs):
        sends = [e for e in log if e.event == SEND]
        for recipient in {int(r) for e in sends for r in e.peer.split("+")}:
            draw = loss_stream(seed, sender, recipient)
            to_it = [e for e in sends if str(recipient) in e.peer.split("+")]
            if any((draw() < p) != ((e.msg_id, recipient) in lost) for e in to_it):
                return False
    return True


def test_real_crash_without_processes_is_one_line_exit_2(tmp_path):
    done = realtime_cli(tmp_path, "exp", "5", "--real-crash", "--quiet")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "--real-crash needs --processes" in done.stderr
    assert not list(tmp_path.iterdir())


def test_nodes_started_by_hand_under_a_plan_collect_their_drops(tmp_path):
    config = RunConfig(
        rates=(3, 5), p_send=0.5, duration=10, seed=1, faults=("crash 1 at 3 for 2", "loss 0.2")
    )
    path = tmp_path / "config.json"
    options = {"speed": 10.0, "base_port": None, "connect_timeout": 2.0}
    path.write_text(json.dumps({"backend": "realtime", **config.metadata(), "options": options}))
    secret = auth.write_secret(tmp_path / "secret", auth.new_secret())
    two_nodes_collected(tmp_path, path, secret)
    run = load_run(tmp_path / "run")
    metadata, logs = read_run(tmp_path / "run")
    assert violations(metadata, logs) == []
    assert (tmp_path / "run" / "network.csv").is_file() and run.dropped
    assert {d.reason for d in run.dropped} <= {"crash", "loss"}
    lost = [len(_data_rows(tmp_path / f"host{i}" / f"drops-{i}.csv")) for i in (0, 1)]
    assert sum(lost) == len(run.dropped) == sum(metadata["dropped"])
    assert metadata["dropped_by_reason"]["loss"] > 0


def _data_rows(path: Path) -> list[str]:
    """The data rows of a node's drops file."""
    return path.read_text(encoding="utf-8").splitlines()[1:]


def test_the_pipe_reader_reads_a_process_added_after_every_other_ended():
    from lamport.realtime.pipes import Pipes

    def start(text: str) -> subprocess.Popen:
        argv = [sys.executable, "-c", f"print({text!r})"]
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)

    first = start("one")
    pipes = Pipes([first])
    try:
        got = [pipes.lines.get(timeout=10) for _ in range(2)]
        assert got == [(0, 0, "out", "one"), (0, 0, "eof", "")]
        time.sleep(0.2)  # every pipe closed: the reader used to end here
        second = start("two")
        pipes.add(0, 1, second)
        got = [pipes.lines.get(timeout=10) for _ in range(2)]
        assert got == [(0, 1, "out", "two"), (0, 1, "eof", "")]
    finally:
        pipes.join()
        for proc in (first, "second" in locals() and second):
            if proc:
                proc.wait()
                proc.stdout.close()
                proc.stderr.close()


def test_a_stop_right_after_a_real_crash_is_no_death(tmp_path):
    config = _faulted("crash 1 at 2 for 6", duration=20)
    out = tmp_path / "run"
    stop = threading.Event()
    options = RealtimeOptions(speed=10, processes=True, real_crash=True)
    launcher = Launcher(config, options, out=out, stop=stop)
    kill = launcher._kill_and_restart

    def stopped_at_the_kill(i: int, k: int) -> None:
        stop.set()  # between the crash thread's look at the stop and the new process
        kill(i, k)

    launcher._kill_and_restart = stopped_at_the_kill  # type: ignore[method-assign]
    began = time.monotonic()
    launcher.run()
    assert time.monotonic() - began < 15
    metadata, logs = read_run(out)
    assert metadata["degraded"] is False and metadata["dead"] == [], metadata["dead"]
    assert metadata["interrupted"] is True and len(metadata["real_crashes"]) == 1
    assert logs[1][-1].event == CRASH and logs[1][-1].t == 2.0  # down when the run stopped
    assert violations(metadata, logs) == []


def test_a_dead_node_keeps_its_vector_clock_log(tmp_path):
    config = RunConfig(rates=(5, 3, 4), p_send=0.5, duration=10, seed=4, clock="vector")
    out = tmp_path / "run"
    launcher = Launcher(config, RealtimeOptions(speed=10, processes=True), out=out)
    thread = threading.Thread(target=launcher.run)
    thread.start()
    launcher.started.wait(20)
    time.sleep(0.4)
    os.kill(launcher.pids[0], signal.SIGKILL)
    thread.join(30)
    metadata, logs = read_run(out)
    assert [d["machine"] for d in metadata["dead"]] == [0]
    assert logs[0] and all(e.vc for e in logs[0])  # its rows up to the kill, not wiped


@pytest.mark.parametrize("processes", [False, True])
def test_a_stop_before_the_start_instant_stops_the_run_at_0(tmp_path, processes):
    config = _faulted(duration=20)
    out = tmp_path / "run"
    stop = threading.Event()
    cls = Launcher if processes else Cluster
    cluster = cls(config, RealtimeOptions(speed=10, processes=processes), out=out, stop=stop)
    thread = threading.Thread(target=cluster.run)
    thread.start()
    cluster.started.wait(20)
    stop.set()  # within the start's lead
    thread.join(30)
    metadata, logs = read_run(out)
    assert 0 <= metadata["stopped_at"] < 1 and violations(metadata, logs) == []


# -- how many processes fit --------------------------------------------------------------


def test_more_processes_than_the_memory_holds_are_refused_up_front_with_the_estimate(
    tmp_path, monkeypatch
):
    from lamport.des import size
    from lamport.errors import NetworkError
    from lamport.realtime import capacity

    need = capacity.process_memory(200)
    assert 2e9 < need < 4e9  # measured: 1.9 GB of PSS for 200 nodes, plus the kernel's sockets
    monkeypatch.setattr(size, "available_memory", lambda: need - 1)
    config = RunConfig(rates=(1,) * 200, p_send=0.3, duration=10, seed=1)
    launcher = Launcher(config, RealtimeOptions(processes=True), out=tmp_path / "run")
    with pytest.raises(NetworkError, match=r"200 machines as processes need about 3\.\d GB"):
        launcher.run()
    assert launcher.pids == []  # refused before any process, socket or file
    assert list(tmp_path.iterdir()) == []


def test_a_descriptor_limit_too_low_for_the_processes_is_one_line_and_exit_2(tmp_path):
    import resource

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))

    rates = ",".join(["1"] * 250)
    argv = ["run", "--rates", rates, "--duration", "5", "--processes", "--quiet"]
    done = subprocess.run(
        [sys.executable, "-m", "lamport.realtime", *argv, "--out", str(tmp_path / "run")],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        preexec_fn=limited,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "(ulimit -n)" in done.stderr, done.stderr
    assert "250 node processes need about 1064 file descriptors in one process" in done.stderr
    assert list(tmp_path.iterdir()) == []


# -- real pauses -------------------------------------------------------------------------


def _state(pid: int) -> str:
    """The process's state letter in /proc/PID/stat (T: stopped), or '' once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return ""


def test_a_pause_under_processes_is_a_real_sigstop_then_sigcont(tmp_path):
    """``pause 1 at 2 for 3`` at speed 1: machine 1's process is stopped (state T) for the
    window's wall time, its PAUSE and RESUME rows are the plan's, the run checks clean,
    and run.json lists the pause played. (Half a second of slack at each end: a loaded
    host may run the sampler late.)"""
    config = RunConfig(
        rates=(2, 3, 4), p_send=0.4, duration=7, seed=3, faults=("pause 1 at 2 for 3",)
    )
    launcher = Launcher(config, RealtimeOptions(speed=1, processes=True), out=tmp_path / "run")
    box: dict = {}
    thread = threading.Thread(target=lambda: box.update(result=launcher.run()))
    thread.start()
    assert launcher.started.wait(20)
    pid = launcher.pids[1]
    seen: list[tuple[float, str]] = []
    while thread.is_alive():
        model = time.monotonic() - launcher.record.start
        seen.append((model, _state(pid)))
        time.sleep(0.01)
    thread.join()
    assert "result" in box
    metadata, logs = read_run(tmp_path / "run")
    (played,) = metadata["real_pauses"]
    assert played["machine"] == 1 and played["pid"] == pid
    stopped, continued = played["stopped_at"], played["continued_at"]
    assert 2.0 <= stopped < 4.0 and 5.0 <= continued < 6.0  # stopped in the window, to its end
    inside = [state for model, state in seen if stopped + 0.5 < model < continued - 0.5]
    assert len(inside) > 50 and set(inside) == {"T"}
    assert "T" not in {state for model, state in seen if model < 1.5 or model > continued + 0.5}
    assert check_logs(metadata, logs).ok
    rows = [(e.event, e.t) for e in logs[1] if e.event in ("PAUSE", "RESUME")]
    assert rows == [("PAUSE", 2.0), ("RESUME", 5.0)]
    assert not [e for e in logs[1] if e.event in TICK_KINDS and 2.0 <= e.t < 5.0]
    assert metadata["degraded"] is False


def test_a_node_stopped_for_a_pause_outlives_no_killed_launcher(tmp_path):
    """SIGKILL of the launcher while a node is stopped: the fork server continues it, it
    sees its stdin end and stops like the others."""
    argv = ["run", "--rates", "2,3,4", "--duration", "20", "--speed", "2", "--processes"]
    argv += ["--fault", "pause 1 at 1 for 15", "--out", str(tmp_path / "run"), "--quiet"]
    launcher = subprocess.Popen(
        [sys.executable, "-m", "lamport.realtime", *argv],
        cwd=tmp_path,
        env=ENV,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: len(node_processes(tmp_path)) == 3, timeout=20)
        nodes = node_processes(tmp_path)
        wait_for(lambda: any(_state(pid) == "T" for pid in nodes), timeout=20)
        launcher.kill()
        launcher.wait()
        wait_for(lambda: node_processes(tmp_path) == [], timeout=10)
    finally:
        launcher.kill()
        launcher.wait()


def _ticked(folder: Path) -> bool:
    """Whether machine 0 of the run being written in ``folder`` logged a row."""
    return any(
        len(log.read_text(encoding="utf-8").splitlines()) > 1
        for log in folder.glob(".run.partial-*/machine-0.csv")
    )


def _wait_for_lamport(pid: int) -> None:
    """Return once lamport's first line ran in process ``pid``: it holds SIGTERM, then
    catches it (``SigBlk``, ``SigCgt`` of /proc/PID/status)."""
    mask = 1 << (signal.SIGTERM - 1)

    def ran() -> bool:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return True  # gone already
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        return bool((int(fields["SigBlk"], 16) | int(fields["SigCgt"], 16)) & mask)

    wait_for(ran, timeout=30)


def test_a_stop_at_any_stage_of_a_process_run_is_130_and_leaves_nothing_running(tmp_path):
    """SIGINT while the fork server starts, while the nodes are forked, while they connect,
    while they tick: exit 130, one line, no traceback, no process left working in the
    folder, and either no run or a complete one that records the stop."""
    rates = ",".join(["1"] * 20)
    outcomes = []
    # seconds after lamport's first line ran; None: once machine 0 logged a tick
    for delay in (0.0, 0.3, 0.8, 1.5, None):
        folder = tmp_path / f"d{delay}"
        folder.mkdir()
        argv = ["run", "--rates", rates, "--duration", "30", "--processes", "--quiet"]
        launcher = subprocess.Popen(
            [sys.executable, "-m", "lamport.realtime", *argv, "--out", "run"],
            cwd=folder,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _wait_for_lamport(launcher.pid)  # before it, CPython's own start-up answers
        if delay is None:
            wait_for(lambda f=folder: _ticked(f), timeout=60)
        else:
            time.sleep(delay)
        launcher.send_signal(signal.SIGINT)
        _, err = launcher.communicate(timeout=30)
        assert launcher.returncode == 130, (delay, err)
        lines = [line for line in err.strip().splitlines() if "could not keep up" not in line]
        assert "Traceback" not in err and len(lines) == 1, (delay, err)
        wait_for(lambda f=folder: node_processes(f) == [], timeout=5)
        assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == [], delay
        if (folder / "run").exists():
            metadata, logs = read_run(folder / "run")
            assert metadata["interrupted"] is True and metadata["degraded"] is False
            assert violations({**metadata, "duration": metadata["stopped_at"]}, logs) == []
        outcomes.append((folder / "run").exists())
    assert outcomes[0] is False and outcomes[-1] is True  # before the start, and ticking
