"""lamport.cli: argument types with one-line errors, the model and options of a run, and
where its directory goes."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from lamport.args import Parser, bounded_int, port, positive_float, probability, seed_int
from lamport.backend import get_backend
from lamport.cli import add_output_options, default_out, run_identity
from lamport.config import RunConfig, experiment
from lamport.des.options import DesOptions


@pytest.mark.parametrize(
    ("parse", "text", "value"),
    [
        (positive_float, "2.5", 2.5),
        (probability, "1", 1.0),
        (seed_int, "0", 0),
        (bounded_int(3, 5), "5", 5),
        (port, "65535", 65535),
    ],
)
def test_argument_types_accept(parse, text, value):
    assert parse(text) == value


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (positive_float, "0", "'0' must be a positive number"),
        (positive_float, "inf", "'inf' is not a number"),
        (positive_float, "x", "'x' is not a number"),
        (probability, "1.5", "'1.5' is outside [0, 1]"),
        (seed_int, "1.5", "'1.5' is not an integer"),
        (seed_int, "-1", "'-1' must be >= 0"),
        (bounded_int(3, 5), "6", "'6' is outside 3..5"),
        (port, "0", "'0' is not a port (1..65535)"),
        (port, "65536", "'65536' is not a port (1..65535)"),
    ],
)
def test_argument_types_refuse_with_the_value_and_the_rule(parse, text, message):
    with pytest.raises(argparse.ArgumentTypeError) as caught:
        parse(text)
    assert str(caught.value) == message


def test_parser_errors_are_one_line_and_exit_2(capsys):
    parser = Parser(prog="prog")
    parser.add_argument("--port", type=port)
    with pytest.raises(SystemExit) as caught:
        parser.parse_args(["--port", "70000"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "error: prog: argument --port: '70000' is not a port (1..65535)"
    ]


def test_output_options():
    parser = Parser(prog="prog")
    add_output_options(parser, "where it goes", kind="sweep")
    args = parser.parse_args(["--out", "x", "--force", "--quiet", "--report"])
    assert (args.out, args.force, args.quiet, args.report) == (Path("x"), True, True, True)
    defaults = parser.parse_args([])
    assert (defaults.out, defaults.force, defaults.quiet, defaults.report) == (
        None,
        False,
        False,
        False,
    )
    assert "replace whatever sweep" in parser.format_help()


def test_default_out_names_what_was_run():
    des = get_backend("des")
    config = experiment(4).config(seed=1)
    assert default_out(des, config, DesOptions()) == Path("runs/des/exp04-big-differences-seed1")
    custom = RunConfig(rates=(1, 3, 6.5), p_send=0.25, duration=30)
    options = DesOptions(latency=0.005)
    assert default_out(des, custom, options) == Path(
        "runs/des/rates1-3-6.5-p0.25-seed0-d30-lat0.005"
    )


def test_run_identity_keeps_the_model_and_the_options_that_change_the_logs():
    des = get_backend("des")
    identity = run_identity(des, experiment(4).config(seed=1), DesOptions(start_epoch=5.0))
    assert identity == {
        "backend": "des",
        "experiment": 4,
        "name": "big-differences",
        "rates": [1, 3, 6],
        "p_send": 0.3,
        "duration": 60,
        "seed": 1,
        "phase": "random",
        "phases": list(experiment(4).config(seed=1).phases),
        "drift_ppm": 0,
        "jitter": 0,
        "latency": 0.001,
        "start_epoch": 5.0,
        "latency_dist": "constant",
        "latency_spread": None,
    }


def test_a_processes_run_lands_apart_from_the_threads_run():
    from lamport.realtime.options import RealtimeOptions

    realtime = get_backend("realtime")
    config = experiment(4).config(seed=1)
    threads = default_out(realtime, config, RealtimeOptions())
    processes = default_out(realtime, config, RealtimeOptions(processes=True))
    assert threads == Path("runs/realtime/exp04-big-differences-seed1")
    assert processes == Path("runs/realtime/exp04-big-differences-seed1-proc")
    # and run.json's "mode" tells them apart when --out names the same folder
    assert run_identity(realtime, config, RealtimeOptions(processes=True))["mode"] == "processes"
    assert run_identity(realtime, config, RealtimeOptions())["mode"] is None
    assert "mode" not in run_identity(get_backend("des"), config, DesOptions())


def test_a_fault_plan_is_named_after_a_separator():
    from lamport.config import as_fault

    config = experiment(4).config(seed=1, faults=(as_fault("loss 0.1"),))
    name = default_out(get_backend("des"), config, DesOptions()).name
    assert re.fullmatch(r"exp04-big-differences-seed1-faults-[0-9a-f]{8}", name), name


def test_a_parser_names_the_command_as_it_was_invoked(capsys):
    from lamport.args import Parser, invoked_prog
    from lamport.errors import invoked_as

    assert invoked_prog("python -m lamport.des") == "python -m lamport.des"  # under pytest
    with invoked_as("lamport des"):
        parser = Parser(prog="python -m lamport.des")
        sub = parser.add_subparsers(dest="command", parser_class=Parser)
        exp = sub.add_parser("exp")
        exp.add_argument("n", type=int)
        assert parser.prog == "lamport des" and exp.prog == "lamport des exp"
        with pytest.raises(SystemExit):
            parser.parse_args(["exp", "x"])
    assert capsys.readouterr().err == (
        "error: lamport des exp: argument n: invalid int value: 'x'\n"
    )
    assert Parser(prog="python -m lamport.des").prog == "python -m lamport.des"
