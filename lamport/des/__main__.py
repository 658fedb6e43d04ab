"""``python -m lamport.des``: run the SimPy backend from the command line.

Subcommands: ``exp N`` (one catalogue experiment), ``run --rates ...`` (a
custom configuration), ``rerun DIR`` (a run directory's model again),
``sweep`` (experiments x seeds over the cores), ``grid FILE`` (a parameter
grid into Parquet, locally or on Dask) and ``bench`` (throughput figures).
Each parses, validates, calls one library function and prints.
"""

from __future__ import annotations

from lamport.errors import quiet_start

quiet_start()  # a signal during start-up: exit 130/143, no traceback

# ruff: noqa: E402

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamport.args import Parser, non_negative_float, positive_float, positive_int
from lamport.backend import get_backend
from lamport.cli import (
    add_fault_option,
    add_output_options,
    add_run_commands,
    default_out,
    print_report,
    run_config,
    run_identity,
    run_options,
)
from lamport.config import DEFAULT_LATENCY, RunConfig
from lamport.console import console_out, print_run_summary, progress_bar
from lamport.des.options import DesOptions
from lamport.errors import ConfigError, run_cli
from lamport.schema import RUN_FILE, SUMMARY_FILE

if TYPE_CHECKING:
    from lamport.des.sweep import SweepResult


def _latency_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--latency",
        type=non_negative_float,
        default=DEFAULT_LATENCY,
        help=f"one-way network latency in model seconds (default {DEFAULT_LATENCY})",
    )


def _des_options(parser: argparse.ArgumentParser) -> None:
    # --latency and the latency distribution come with cli.add_timing_options
    add_fault_option(parser)
    parser.add_argument(
        "--start-epoch",
        type=float,
        default=0.0,
        help="Unix time of the model's start, for the wall column (default 0: logs "
        "stay byte-identical across runs)",
    )


def _seeds_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--seeds", type=positive_int, default=100, help=f"{what} (default 100)")


def build_parser() -> Parser:
    parser = Parser(
        prog="python -m lamport.des",
        description="Lamport clocks on a SimPy discrete-event model: fast, deterministic, seeded.",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=Parser
    )
    add_run_commands(
        sub,
        "des",
        "model seconds to simulate",
        extra=_des_options,
    )
    sweep = sub.add_parser(
        "sweep",
        help="run experiments x seeds and summarize with 95%% confidence intervals",
        description="Run every chosen experiment for seeds 0..K-1 over the machine's cores "
        "(each with its file's timing: random start phases unless it sets phase); "
        "write the runs' summaries (a Parquet dataset with one folder per experiment, the "
        "grid over experiment x seed, and summary.csv beside it) and print mean and 95% CI "
        "per experiment and machine.",
    )
    _seeds_option(sweep, "number of seeds, 0..K-1")
    sweep.add_argument(
        "--exp",
        type=positive_int,
        nargs="+",
        default=None,
        metavar="N",
        help="experiment numbers to run (default: all eleven)",
    )
    sweep.add_argument(
        "--duration",
        type=positive_float,
        default=None,
        help="model seconds per run (default: each experiment's own, 60 for every catalogue "
        "experiment)",
    )
    _latency_option(sweep)
    add_fault_option(sweep)
    sweep.add_argument(
        "--jobs", type=positive_int, default=None, help="worker processes (default: one per core)"
    )
    add_output_options(
        sweep,
        "sweep directory (default runs/des/sweep-<all|expN-M-...>-s<K>, with -d<SEC>, "
        "-lat<SEC> and the --keep-logs format appended when given); the same sweep there is "
        "replaced, a different one refused without --force",
        kind="sweep",
    )
    sweep.add_argument(
        "--keep-logs",
        choices=("csv", "parquet"),
        default=None,
        help="also keep every run's events: csv (a run directory per run) or parquet "
        "(one events.parquet)",
    )
    grid = sub.add_parser(
        "grid",
        help="run a parameter grid file: every combination of factors x seeds, into Parquet",
        description="Run every cell of a grid file (experiments/grids/*.toml, see docs/grids.md) "
        "for every seed on the DES's summaries-only path and write a Parquet dataset "
        "partitioned by cell. An interrupted grid resumes: chunks of seeds already written "
        "are skipped.",
    )
    grid.add_argument("file", metavar="FILE", type=Path, help="a grid file (.toml)")
    grid.add_argument(
        "--jobs",
        type=positive_int,
        default=None,
        help="worker processes, locally or on the LocalCluster (default: one per core)",
    )
    where = grid.add_mutually_exclusive_group()
    where.add_argument(
        "--dask",
        action="store_true",
        help="run on a dask.distributed LocalCluster on this host (pip install 'lamport[dask]')",
    )
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="run on an existing Dask cluster, e.g. tcp://HOST:8786",
    )
    add_output_options(
        grid,
        "dataset directory (default runs/des/grid-<name>); the same grid there is resumed, "
        "a different one refused without --force",
        kind="grid",
    )
    grid._option_string_actions["--force"].help = (
        "replace the different grid the --out directory holds (the same grid is always "
        "resumed); also run a grid of more cells than the limit (10,000)"
    )
    grid._option_string_actions[
        "--report"
    ].help = (
        "write _report/report.md and report.html with the phase diagrams into the grid directory"
    )
    rerun = sub.add_parser(
        "rerun",
        help="run a run directory's model again on the DES",
        description=f"Read DIR/{RUN_FILE} and run the same model again on the DES. A DES run "
        "keeps its own options (latency, start epoch) and gives byte-identical logs; a run "
        "of another backend (realtime) is replayed with the default DES options.",
    )
    rerun.add_argument("directory", metavar="DIR", type=Path, help="a run directory")
    add_output_options(
        rerun,
        "run directory to write (default: the one `exp` or `run` would write for this "
        "model and these options, under runs/des/); the same run there is replaced, a "
        "different one refused without --force",
    )
    bench = sub.add_parser(
        "bench",
        help="print DES throughput and the wall time of a full sweep",
        description="Benchmark: machine-ticks per second with full event records, per core, "
        "and the wall time of `sweep --seeds 100` over all eleven experiments.",
    )
    sub.add_parser(
        "list",
        help="list the catalogue's experiments: rates, p_send, question",
        description="List the catalogue's experiments (the same as `lamport list`).",
    )
    _seeds_option(bench, "seeds for the sweep")
    bench.add_argument(
        "--repeat", type=positive_int, default=3, help="repetitions, best kept (default 3)"
    )
    return parser


def _one_run(args: argparse.Namespace) -> int:
    backend = get_backend("des")
    return _run_and_print(args, run_config(args), run_options(args, backend))


def _rerun(args: argparse.Namespace) -> int:
    from lamport.des.rerun import replay

    plan = replay(args.directory)
    if plan.foreign and not args.quiet:
        print(
            f"{args.directory}: a {plan.made_by.name} run; replaying its model on the DES "
            "with the default DES options"
        )
    return _run_and_print(args, plan.config, plan.options)


def _run_and_print(args: argparse.Namespace, config: RunConfig, options: DesOptions) -> int:
    """Run on the DES into ``--out`` or the default directory; print the summary."""
    from lamport.logs import claim_out

    backend = get_backend("des")
    identity = run_identity(backend, config, options)
    out = claim_out(args.out or default_out(backend, config, options), identity, force=args.force)
    started = time.perf_counter()
    result = backend.run(config, options, out=out)
    if not args.quiet:
        print_run_summary(result.metadata, result.summary(), out, time.perf_counter() - started)
    if args.report:
        print_report(out, quiet=args.quiet)
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from lamport.des.sweep import default_sweep_out, sweep

    started = time.perf_counter()
    with progress_bar("runs", show=False if args.quiet else None) as progress:
        result = sweep(
            experiments=args.exp,
            seeds=args.seeds,
            duration=args.duration,
            latency=args.latency,
            jobs=args.jobs,
            out=args.out
            or default_sweep_out(
                args.exp, args.seeds, args.duration, args.latency, args.keep_logs, args.fault or ()
            ),
            keep_logs=args.keep_logs,
            progress=progress,
            force=args.force,
            faults=args.fault or (),
        )
    elapsed = time.perf_counter() - started
    if not args.quiet:
        from lamport.console import sweep_table

        console = console_out()
        n_runs = len(result.metadata["experiments"]) * args.seeds
        title = (
            f"des sweep: {args.seeds} seeds per experiment, mean ± 95% CI "
            f"(duration {args.duration or 'per experiment'}, latency {args.latency:g} s)"
        )
        console.print(sweep_table(result.aggregated, title))
        console.print(
            f"{n_runs} runs, {result.n_events:,} machine-ticks in {elapsed:.2f} s; "
            f"summary: {result.out}/{SUMMARY_FILE}"
        )
        _print_answers(console, result)
    if args.report and result.out is not None:
        print_report(result.out, quiet=args.quiet)
    elif not args.quiet and result.out is not None:
        print(f"the full report (tables, predictions, figures): lamport report {result.out}")
    if not args.quiet:
        print(f"the lab's questions answered at length: {results_md()}")
    return 0


def sweep_answers(result: SweepResult) -> list[str]:
    """The sentences that answer the lab's questions for this sweep: the sweep report's own
    (:func:`lamport.report.grid.findings`), one per experiment and one on the tick rate.

    Imports pandas (about a second): only the sweep command's output calls it."""
    from lamport.analysis import as_sweep, rate_correlations, sweep_rows, sweep_stats
    from lamport.report.grid import findings

    sweep = as_sweep(result)
    rows = sweep_rows(sweep)
    return findings(sweep_stats(sweep, rows), rate_correlations(rows), rows)


def _print_answers(console: Any, result: SweepResult) -> None:
    """The answers after the table, as the sweep report words them."""
    from rich.text import Text

    if not result.rows:  # a sweep too large to keep its rows: the report reads summary.csv
        return
    console.print()
    console.print("Answers (as the sweep report gives them):")
    for sentence in sweep_answers(result):
        line = Text(f"- {sentence}")
        console.print(line)
    console.print()


def results_md() -> str:
    """Where ``experiments/RESULTS.md`` is: its path in this checkout (relative to the current
    folder when below it), or, for an installed package, in the lamport repository."""
    path = Path(__file__).resolve().parents[2] / "experiments" / "RESULTS.md"
    if not path.is_file():
        return "experiments/RESULTS.md in the lamport repository"
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _grid(args: argparse.Namespace) -> int:
    from lamport.des.grid import load_grid, run_grid

    grid = load_grid(args.file, force=args.force)
    out = args.out or Path("runs") / "des" / f"grid-{grid.name}"
    with progress_bar("runs", show=False if args.quiet else None) as progress:
        result = run_grid(
            grid,
            out,
            jobs=args.jobs,
            dask=args.dask,
            scheduler=args.scheduler,
            progress=progress,
            force=args.force,
        )
    if not args.quiet:
        resumed = f" ({result.skipped:,} already there)" if result.skipped else ""
        print(
            f"grid {grid.name}: {grid.n_cells:,} cell{'s' * (grid.n_cells != 1)} x "
            f"{grid.seeds:,} seed{'s' * (grid.seeds != 1)}, "
            f"{result.runs:,} runs in {result.seconds:.2f} s{resumed}; dataset: {result.out}"
        )
    if args.report:
        from lamport.report.grid import write_grid_report

        written = write_grid_report(result.out)
        if not args.quiet:
            print(f"report: {written}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from lamport.des.bench import main as bench_main

    return bench_main(seeds=args.seeds, repeat=args.repeat)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("exp", "run"):
        return _one_run(args)
    if args.command == "rerun":
        return _rerun(args)
    if args.command == "sweep":
        return _sweep(args)
    if args.command == "bench":
        return _bench(args)
    if args.command == "grid":
        return _grid(args)
    if args.command == "list":
        from lamport.cli import list_main

        return list_main([])
    raise ConfigError(f"unknown command {args.command}")


if __name__ == "__main__":
    sys.exit(run_cli(main))
