"""Command line of the real-time backend: ``python -m lamport.realtime exp 4``.

Parses arguments, calls :func:`lamport.realtime.run_backend`, shows the
machines live on a terminal, and prints the same per-machine summary as the
DES, a line saying that the same seed draws the same events on both backends,
and one ``warning:`` line if the machine could not keep up at the speed asked
(with what that means for the run). Signals are handled here and only here
(:func:`on_signals`): SIGINT and SIGTERM set the run's stop event, a second one
hurries the drain, and the exit status is 128 + the signal (130, 143) with
complete logs and ``run.json``.
"""

from __future__ import annotations

from lamport.errors import quiet_start

quiet_start()  # a signal during start-up: exit 130/143, no traceback

# ruff: noqa: E402

import argparse
import logging
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamport.args import Parser, port, positive_float, seed_int
from lamport.backend import get_backend
from lamport.cli import (
    add_fault_option,
    add_run_commands,
    default_out,
    print_report,
    run_config,
    run_identity,
    run_options,
)
from lamport.errors import ConfigError, Terminated, run_cli
from lamport.logs import claim_out
from lamport.realtime.shutdown import Shutdown, on_signals

if TYPE_CHECKING:
    from lamport.realtime.cluster import Result

# The cluster, the console and what a run's record needs are imported by the run
# commands that use them: the launcher's fork server runs this module for its nodes,
# and a node needs none of them (docs/realtime.md, "A fork server").


def _options(parser: argparse.ArgumentParser) -> None:
    add_fault_option(parser)
    parser.add_argument(
        "--speed",
        type=positive_float,
        default=1.0,
        help="time compression: every rate times X, so a 60 s run takes 60/X s (default 1)",
    )
    parser.add_argument(
        "--base-port",
        type=port,
        default=None,
        help="listen on ports P, P+1, ... (default: ports picked free by the OS)",
    )
    parser.add_argument(
        "--connect-timeout",
        type=positive_float,
        default=5.0,
        help="seconds for all machines to connect before the run fails (default 5)",
    )
    parser.add_argument(
        "--processes",
        action="store_true",
        help="run each machine as an OS process of its own on this host (default: threads)",
    )
    parser.add_argument(
        "--real-crash",
        action="store_true",
        help="with --processes: each 'crash' of the fault plan SIGKILLs the machine's process "
        "at the crash instant, and its restart is a new process that rejoins the others and "
        "restores its clock from the file the killed one wrote (or 0 with 'reset')",
    )


def _node_command(commands: Any) -> None:
    node = commands.add_parser(
        "node",
        help="run one machine of a run on its own (a run can span hosts)",
        description="Run one machine of a run as this process: listen, connect to every peer "
        "over authenticated links, tick from the common start, write machine-<ID>.csv and "
        "node-<ID>.json into --out. Machine 0 fixes the start once every node is ready.",
    )
    node.add_argument(
        "--config",
        type=Path,
        required=True,
        help="the run's model and options (a run.json, e.g. one written by an earlier run)",
    )
    node.add_argument("--id", type=seed_int, required=True, help="this machine's id")
    node.add_argument("--listen", required=True, metavar="HOST:PORT", help="where to listen")
    node.add_argument(
        "--peer",
        action="append",
        default=[],
        metavar="J=HOST:PORT",
        help="machine J's address; one per other machine",
    )
    node.add_argument(
        "--secret-file",
        type=Path,
        required=True,
        help="the run's secret, hex, in a file only you may read (chmod 600)",
    )
    node.add_argument("--out", type=Path, required=True, help="directory for this node's files")
    node.add_argument("--listen-fd", type=seed_int, default=None, help=argparse.SUPPRESS)
    node.add_argument(
        "--control", choices=("links", "stdio"), default="links", help=argparse.SUPPRESS
    )
    node.add_argument("--progress", action="store_true", help=argparse.SUPPRESS)
    # under a launcher's --real-crash: halt at this machine's crashes, keep stable storage;
    # --rejoin K: the process started again after its K-th crash, killed at --killed-at
    node.add_argument("--real-crash", action="store_true", help=argparse.SUPPRESS)
    node.add_argument("--rejoin", type=seed_int, default=None, help=argparse.SUPPRESS)
    node.add_argument("--killed-at", type=float, default=None, help=argparse.SUPPRESS)
    # a process started ahead of a real crash: it waits for "go <K> <killed-at>" on stdin
    node.add_argument("--standby", action="store_true", help=argparse.SUPPRESS)
    collect = commands.add_parser(
        "collect",
        help="assemble the node directories of a run into one run directory",
        description="Assemble the node-<ID>.json and machine-<ID>.csv files left by the "
        "nodes of one run (gathered from every host) into one run directory.",
    )
    collect.add_argument("directories", nargs="+", type=Path, metavar="DIR")
    collect.add_argument("--out", type=Path, required=True, help="the run directory to write")
    collect.add_argument("--force", action="store_true", help="replace what --out holds")
    # the launcher's fork server (lamport.realtime.forkserver): forks node processes
    server = commands.add_parser("forkserver")
    server.add_argument("--fd", type=seed_int, required=True)


def build_parser() -> Parser:
    parser = Parser(
        prog="python -m lamport.realtime",
        description="Lamport clocks on threads or processes and authenticated TCP links, on the "
        "wall clock.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_run_commands(
        commands,
        "realtime",
        "model seconds to run; wall time is this / --speed",
        extra=_options,
    )
    _node_command(commands)
    return parser


def keep_up_warning(result: Result) -> str | None:
    """One line saying the machine could not keep up at this speed, and what that means for
    the run; None if it kept up."""
    if result.kept_up:
        return None
    metadata = result.metadata
    late = metadata["tick_lateness_ms"]["p99"]
    interval = metadata["shortest_tick_interval_ms"]
    return (
        f"warning: this machine could not keep up at speed {metadata['speed']:g}: ticks ran "
        f"{late:g} ms late (p99) against a shortest tick interval of {interval:g} ms. "
        "The run is still valid (complete logs that keep Lamport's rules: lamport check "
        "DIR), but its timing is not that of the model: messages arrive at other ticks than "
        "they would on time, so queues and drift may differ; for timing you can trust, try "
        "a lower --speed"
    )


def same_draws_note(out: Path) -> str:
    """What the table shares with the DES: the same seed draws the same events."""
    return (
        "same seed, same draws: this table matches the DES's for this model (lamport des "
        f"rerun {out}) except where real timing moved a message to another tick; real time "
        "shows the same protocol over threads and sockets, the DES is the reference"
    )


class _Stderr:
    """sys.stderr looked up at each write, so log lines follow rich's redirection."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _warnings_to_stderr() -> None:
    handler = logging.StreamHandler(_Stderr())
    handler.setFormatter(logging.Formatter("warning: %(message)s"))
    logging.getLogger("lamport.realtime").addHandler(handler)


def node_main(args: argparse.Namespace) -> int:
    """The ``node`` command: one machine, alone in this process."""
    from lamport.realtime.process import NodeSpec, run_node

    if args.standby:  # started ahead of a real crash, so the restart pays no start-up
        import numpy  # noqa: F401  # the machine's streams need it: import it while waiting

        word, k, killed_at = [*sys.stdin.readline().split(), "", "", ""][:3]
        if word != "go":  # the launcher is gone, or the crash never came
            return 0
        args.rejoin, args.killed_at = int(k), float(killed_at)
    spec = NodeSpec.from_arguments(
        args.config,
        args.id,
        args.listen,
        args.peer,
        args.secret_file,
        args.out,
        args.listen_fd,
        args.control,
        args.progress,
        args.real_crash,
        args.rejoin,
        args.killed_at,
    )
    _warnings_to_stderr()
    shutdown = Shutdown()
    restore = on_signals(shutdown)
    try:
        data = run_node(spec, shutdown, shutdown.hurry)
    finally:
        restore()
    if args.control == "links":
        print(
            f"machine {spec.machine}: {data['ticks']} ticks, {data['queued']} queued at the end; "
            f"start offset {(data['start_offset'] or 0.0) * 1000:.3f} ms; files in {spec.out}"
        )
    interrupted = data["stopped_at"] is not None and shutdown.signal
    return 128 + shutdown.signal if interrupted and shutdown.signal else 0


def forkserver_main(args: argparse.Namespace) -> int:
    """The launcher's fork server: import what a node needs once, then fork a node process
    per request (:mod:`lamport.realtime.forkserver`), each running the ``node`` command."""
    import numpy  # noqa: F401  # the machines' draws: imported once, shared by every node

    from lamport.realtime import process  # noqa: F401
    from lamport.realtime.forkserver import serve

    return serve(args.fd, lambda argv: run_cli(main, argv))


def collect_main(args: argparse.Namespace) -> int:
    """The ``collect`` command: the nodes' files into one run directory."""
    from lamport.realtime.assemble import collect

    if args.out.exists() and not args.force:
        raise ConfigError(f"--out {args.out} exists; --force replaces it")
    out = collect(args.directories, args.out)
    print(f"run assembled in {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "node":
        return node_main(args)
    if args.command == "collect":
        return collect_main(args)
    if args.command == "forkserver":
        return forkserver_main(args)
    from lamport.console import live_display, print_run_summary
    from lamport.realtime.cluster import run_backend

    backend = get_backend("realtime")
    config = run_config(args)
    options = run_options(args, backend)
    identity = run_identity(backend, config, options)
    out = claim_out(args.out or default_out(backend, config, options), identity, force=args.force)
    _warnings_to_stderr()
    live = end_live = None
    if sys.stdout.isatty() and not args.quiet:
        live, end_live = live_display()
    shutdown = Shutdown()
    restore = on_signals(shutdown)
    began = time.perf_counter()
    try:
        result = run_backend(config, options, out=out, live=live, stop=shutdown)
    except KeyboardInterrupt:  # stopped before the machines started: nothing to keep
        if shutdown.signal == signal.SIGTERM:
            raise Terminated from None
        raise
    finally:
        restore()
        if end_live is not None:
            end_live()
    seconds = time.perf_counter() - began
    if not args.quiet:
        print_run_summary(result.metadata, result.summary(), out, seconds)
        print(same_draws_note(out))
    if result.interrupted:
        at = result.metadata["stopped_at"]
        print(f"interrupted at t = {at:.1f} s; logs and run.json are complete", file=sys.stderr)
    if args.report:
        print_report(out, quiet=args.quiet)
    warning = keep_up_warning(result)
    if warning is not None:
        print(warning, file=sys.stderr)
    if result.interrupted and shutdown.signal:
        return 128 + shutdown.signal
    dead = result.metadata.get("dead") or []
    if dead:
        said = "; ".join(f"machine {d['machine']} at t = {d['at']:g} s ({d['exit']})" for d in dead)
        print(f"degraded: {said}; the other logs are complete", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
