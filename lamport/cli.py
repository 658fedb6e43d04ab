"""What the backends' command lines share: argument parsing with one-line errors,
the model and options of a single run, and where its directory goes.

Each backend's ``__main__`` builds its parser from these pieces, calls one
library function, and prints with :mod:`lamport.console`. Heavy imports
(pandas, seaborn) never happen here.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import re
from pathlib import Path
from typing import Any

from lamport.args import (
    Parser,
    non_negative_float,
    positive_float,
    probability,
    seed_int,
)
from lamport.backend import Backend
from lamport.config import (
    DEFAULT_DURATION,
    DEFAULT_PHASE,
    EXPERIMENTS_ENV,
    LATENCY_DISTS,
    PHASE_MODES,
    RunConfig,
    as_fault,
    parse_rates,
    resolve_experiment,
)
from lamport.core import CLOCK_KINDS, KINDS, LAMPORT
from lamport.errors import ConfigError
from lamport.faults import fault_forms, plan_label
from lamport.logs import number_text
from lamport.validate import parse_float

__all__ = [
    "OPTION_SUFFIXES",
    "add_output_options",
    "add_run_commands",
    "default_out",
    "list_main",
    "phase_arg",
    "print_report",
    "run_config",
    "run_identity",
    "run_options",
]


def phase_arg(text: str) -> str | tuple[float, ...]:
    """An argparse type for ``--phase``: a mode, or phases in seconds joined by commas."""
    if text in PHASE_MODES:
        return text
    try:
        return tuple(parse_float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither {' nor '.join(PHASE_MODES)} nor a list of phases in seconds"
        ) from None


#: The default extra latency per backend: the DES models the network, real time has one.
_LATENCY_HELP = {
    "des": "mean one-way network latency in model seconds (default 0.001)",
    "realtime": "mean extra latency added to every message on top of the network's own, "
    "model seconds (default 0)",
}


def add_timing_options(parser: argparse.ArgumentParser, backend: str) -> None:
    """Add the timing model's options (``--phase``, ``--drift-ppm``, ``--jitter``) and the
    latency's (``--latency``, ``--latency-dist``, ``--latency-spread``)."""
    parser.add_argument(
        "--phase",
        type=phase_arg,
        default=None,
        metavar="random|aligned|PHI,...",
        help="start phases: random (drawn from the seed; the default unless the experiment "
        "file says otherwise), aligned (every machine's first tick one period after the "
        "start, lock-step for equal rates), or each machine's first tick in seconds",
    )
    parser.add_argument(
        "--drift-ppm",
        type=non_negative_float,
        default=None,
        metavar="X",
        help="clock drift: each machine's true rate is off by a draw in [-X, X] parts per "
        "million (default 0)",
    )
    parser.add_argument(
        "--jitter",
        type=non_negative_float,
        default=None,
        metavar="SEC",
        help="each tick late by a uniform draw in [0, SEC), not accumulating (default 0)",
    )
    parser.add_argument(
        "--latency", type=non_negative_float, default=None, help=_LATENCY_HELP[backend]
    )
    parser.add_argument(
        "--latency-dist",
        choices=LATENCY_DISTS,
        default=None,
        help="distribution of the latency, with mean --latency (default constant)",
    )
    parser.add_argument(
        "--latency-spread",
        type=non_negative_float,
        default=None,
        metavar="SEC",
        help="standard deviation of a uniform or lognormal latency (default half the mean)",
    )


def add_fault_option(parser: argparse.ArgumentParser) -> None:
    """Add the repeatable ``--fault`` option (the fault plan, :mod:`lamport.faults`)."""
    parser.add_argument(
        "--fault",
        action="append",
        default=None,
        metavar="SPEC",
        help=f"inject a fault (repeatable): {fault_forms()}; "
        "added to the experiment file's [[faults]] (see docs/faults.md)",
    )


def add_run_commands(
    subparsers: Any, backend: str, duration_help: str, extra: Any = None
) -> tuple[Parser, Parser]:
    """Add the ``exp`` and ``run`` subcommands; ``extra(parser)`` adds backend options.

    ``duration_help`` says what ``--duration`` means; each command appends its default.
    """
    exp = subparsers.add_parser(
        "exp",
        help="run one catalogue experiment (1..11, see experiments/) or an experiment file",
        description="Run one catalogue experiment, or your own experiment file in the "
        "catalogue's TOML format, and print a per-machine summary.",
    )
    exp.add_argument(
        "experiment",
        metavar="N|FILE.toml",
        help="catalogue experiment number (1..11), or the path of a .toml experiment file",
    )
    run = subparsers.add_parser(
        "run",
        help="run a custom configuration",
        description="Run a custom configuration and print a per-machine summary.",
    )
    run.add_argument(
        "--rates",
        required=True,
        help="tick rates in ticks per second, one per machine, e.g. 1,3,6 (at least two)",
    )
    run.add_argument(
        "--p-send",
        type=probability,
        default=0.3,
        help="probability that a machine with an empty queue sends (default 0.3)",
    )
    defaults = {
        exp: ("the experiment's own, 60 for every catalogue experiment", "exp<NN>-<name>-seed<S>"),
        run: (f"{DEFAULT_DURATION:g}", "rates<R1>-<R2>-...-p<P>-seed<S>"),
    }
    for parser, (duration_default, pattern) in defaults.items():
        parser.add_argument(
            "--seed", type=seed_int, default=0, help="random seed, an integer >= 0 (default 0)"
        )
        parser.add_argument(
            "--duration",
            type=positive_float,
            default=None,
            help=f"{duration_help} (default: {duration_default})",
        )
        parser.add_argument(
            "--clock",
            choices=CLOCK_KINDS,
            default=LAMPORT,
            help="; ".join(kind.help for kind in KINDS.values()),
        )
        add_output_options(
            parser,
            f"run directory to write (default runs/{backend}/{pattern}, with -d<SEC>"
            f"{OPTION_SUFFIXES[backend]} appended for options that differ from their defaults); "
            "the same run there is replaced, a different one refused without --force",
        )
        add_timing_options(parser, backend)
        if extra is not None:
            extra(parser)
    return exp, run


def add_output_options(parser: argparse.ArgumentParser, out_help: str, kind: str = "run") -> None:
    """Add ``--out`` (helped by ``out_help``), ``--force``, ``--report`` and ``--quiet``."""
    parser.add_argument("--out", type=Path, default=None, help=out_help)
    parser.add_argument(
        "--force",
        action="store_true",
        help=f"replace whatever {kind} the --out directory holds",
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help=f"write report.md and report.html with plots into the {kind} directory",
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")


#: Suffixes of a default run directory beyond ``-d<SEC>``, per backend, for --help.
OPTION_SUFFIXES = {
    "des": ", -aligned, -drift<X>, -jit<SEC>, -lat<SEC>, -<DIST>, -spread<SEC>, -epoch<T>",
    "realtime": ", -aligned, -drift<X>, -jit<SEC>, -x<SPEED>, -lat<SEC>, -<DIST>, -spread<SEC>",
}


def run_config(args: argparse.Namespace) -> RunConfig:
    """The model that ``exp`` or ``run`` arguments describe. Raise ConfigError if invalid."""
    clock = getattr(args, "clock", LAMPORT)
    faults = tuple(as_fault(text) for text in getattr(args, "fault", None) or ())
    timing = {
        "phase": getattr(args, "phase", None),
        "drift_ppm": getattr(args, "drift_ppm", None),
        "jitter": getattr(args, "jitter", None),
    }
    if args.command == "exp":
        config = resolve_experiment(args.experiment).config(
            seed=args.seed, duration=args.duration, faults=faults, **timing
        )
        return config.with_(clock=clock)
    return RunConfig(
        rates=parse_rates(args.rates),
        p_send=args.p_send,
        duration=args.duration if args.duration is not None else DEFAULT_DURATION,
        seed=args.seed,
        clock=clock,
        faults=faults,
        **{key: value for key, value in timing.items() if value is not None},
    )


def run_options(args: argparse.Namespace, backend: Backend) -> Any:
    """The backend's options from the arguments: every field of its options dataclass that
    has an argument of the same name (``--start-epoch`` is ``start_epoch``) and a value.

    Raise ConfigError if the backend does not run the chosen clock kind."""
    kind = KINDS.get(getattr(args, "clock", LAMPORT))
    if kind is not None and backend.name not in kind.backends:
        where = " and ".join(name.upper() for name in kind.backends)
        raise ConfigError(f"{kind.name} runs on the {where} for now")
    given = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(backend.options)
        if getattr(args, f.name, None) is not None
    }
    return backend.make_options(**given)


def _flags_on(options: Any) -> dict[str, str]:
    """The options' switches that are on (``FLAGS``), as ``field -> suffix``."""
    flags = getattr(options, "FLAGS", {})
    return {name: suffix for name, suffix in flags.items() if getattr(options, name)}


def _labelled(options: Any) -> dict[str, tuple[str, Any]]:
    """The options that change a run's result, as ``field -> (suffix, value)``."""
    labels = getattr(options, "LABELS", {})
    return {name: (suffix, getattr(options, name)) for name, suffix in labels.items()}


def default_out(backend: Backend, config: RunConfig, options: Any) -> Path:
    """The default run directory: names the experiment or the rates and p_send, the seed,
    and every option that differs from its default, so different runs land apart.

    ``runs/des/exp04-big-differences-seed1``, ``runs/des/rates1-3-6-p0.3-seed0-d120``,
    ``runs/realtime/exp09-high-comm-extreme-seed0-x20``.
    """
    if config.experiment:
        head = f"exp{config.experiment:02d}-{config.name}"
    elif config.name != "custom":  # a user's experiment file names its runs
        head = config.name
    else:
        rates = "-".join(number_text(r) for r in config.rates)
        head = f"rates{rates}-p{number_text(config.p_send)}"
    parts = [head, f"seed{config.seed}"]
    if config.duration != DEFAULT_DURATION:
        parts.append(f"d{number_text(config.duration)}")
    if config.phase != DEFAULT_PHASE:
        if isinstance(config.phase, str):
            parts.append(config.phase)
        else:  # a list of phases: a short digest keeps the name short and distinct
            listed = ",".join(number_text(phi) for phi in config.phase)
            parts.append("phases" + hashlib.sha256(listed.encode()).hexdigest()[:8])
    if config.drift_ppm:
        parts.append(f"drift{number_text(config.drift_ppm)}")
    if config.jitter:
        parts.append(f"jit{number_text(config.jitter)}")
    label = KINDS[config.clock].label
    if label:
        parts.append(label)
    if config.faults:
        parts.append(plan_label(config.faults))
    defaults = _labelled(type(options)())
    for name, (suffix, value) in _labelled(options).items():
        if value != defaults[name][1]:
            text = value if isinstance(value, str) else number_text(value)
            parts.append(f"{suffix}{text}")
    if getattr(options, "processes", False):  # real time: the mode, so runs land apart
        parts.append("proc")
    parts += _flags_on(options).values()
    return Path("runs") / backend.name / path_component("-".join(parts))


#: What a default run directory's name keeps as it is; any other run of characters, and
#: any run of dots, becomes "_".
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+|\.{2,}")
#: The longest directory name a default run directory gets (file systems allow 255 bytes).
_LONGEST = 160


def path_component(text: str) -> str:
    """``text`` as one path component that stays where it is put: a name read from a file
    (``run.json``'s ``name`` for ``rerun``, an experiment file's) must not choose where
    lamport writes, so no ``/``, no ``..``, no leading dot, nothing absolute, no NUL. A
    text that had to change gets a short digest of itself, so two names stay apart."""
    safe = _UNSAFE.sub("_", text).lstrip(".")
    if safe == text and 0 < len(text) <= _LONGEST:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{safe[:_LONGEST]}-{digest}" if safe else f"run-{digest}"


def run_identity(backend: Backend, config: RunConfig, options: Any) -> dict[str, Any]:
    """What makes a run this run, in ``run.json``'s terms (see :func:`lamport.logs.claim_out`):
    the backend, the model, and the options that change the result (their ``LABELS``)."""
    metadata = config.metadata()
    keys: tuple[str, ...] = ("experiment", "name", "rates", "p_send", "duration", "seed")
    keys += ("phase", "phases", "drift_ppm", "jitter")  # the timing model
    labelled = {name: value for name, (_, value) in _labelled(options).items()}
    # A Lamport run's run.json may predate the clock key: name the kind only when it is not.
    clock = {"clock": config.clock} if config.clock != LAMPORT else {}
    faults = {"faults": metadata["faults"]} if config.faults else {}
    mode: dict[str, Any] = {}
    if hasattr(options, "processes"):  # real time: run.json has "mode": "processes" or none
        mode["mode"] = "processes" if options.processes else None
    return {
        "backend": backend.name,
        **{key: metadata[key] for key in keys},
        **labelled,
        **clock,
        **faults,
        **mode,
        **dict.fromkeys(_flags_on(options), True),
    }


def print_report(path: Path, quiet: bool = False) -> None:
    """Write report.md / report.html into a run or sweep directory and say where, as
    ``lamport report`` does: ``report: DIR/report.md  DIR/report.html``."""
    from lamport.report import write_report
    from lamport.schema import REPORT_HTML

    written = write_report(path)
    if not quiet:
        print(f"report: {written}  {written.parent / REPORT_HTML}")


def list_main(argv: list[str] | None = None) -> int:
    """``lamport list``: the catalogue's experiments, their rates, p_send and question."""
    from lamport.config import catalogue, experiments_dir
    from lamport.console import catalogue_table, console_out

    parser = Parser(
        prog="lamport list",
        description="List the catalogue's experiments: number, name, tick rates, p_send, "
        "duration and the question each asks (lamport.config.catalogue() in Python). "
        f"The catalogue is the folder ${EXPERIMENTS_ENV} names, else the one lamport ships.",
    )
    parser.parse_args(argv)
    experiments = catalogue()
    console = console_out()
    console.print(catalogue_table(list(experiments.values())))
    console.print(
        f"{len(experiments)} experiment{'s' * (len(experiments) != 1)} in "
        f"{experiments_dir()}; run one: lamport des exp N "
        "(or lamport realtime exp N); all over 100 seeds: lamport des sweep",
        markup=False,
        highlight=False,
    )
    return 0
