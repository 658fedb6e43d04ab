"""lamport import's described formats: recipe files, ShiViz logs, a lamport run's own logs."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamport.check import check_run
from lamport.config import RunConfig
from lamport.core import INTERNAL, RECEIVE, SEND
from lamport.des import simulate
from lamport.errors import LogError
from lamport.export import export_run, host
from lamport.imports import import_logs, read_sources
from lamport.imports.recipe import load_recipe
from lamport.imports.shiviz import DERIVED, EXACT, parse_shiviz

RECIPES = Path(__file__).resolve().parent.parent / "docs" / "recipes"
#: The columns an import must give back exactly (``t`` to 1e-9 s: the import rounds it).
SAME = ("machine", "tick", "event", "clock", "jump", "queue", "peer", "msg_clock", "msg_id")
NAMES = ("A", "B", "C", "D")


def _des(rates=(1, 3, 6), p_send=0.6, duration=6.0, seed=3):
    return simulate(RunConfig(rates=tuple(rates), p_send=p_send, duration=duration, seed=seed))


def _assert_same(imported, run, columns=SAME, t_origin=0.0, t_tolerance=1e-9):
    assert len(imported.logs) == len(run.logs)
    for log, orig in zip(imported.logs, run.logs, strict=True):
        assert len(log) == len(orig)
        for e, o in zip(log, orig, strict=True):
            assert [getattr(e, c) for c in columns] == [getattr(o, c) for c in columns], (e, o)
            assert abs(e.t - (o.t - t_origin)) <= t_tolerance, (e, o)


def _assert_same_message_clocks(imported, run):
    for log, orig in zip(imported.logs, run.logs, strict=True):
        assert [e.msg_clock for e in log if e.event == RECEIVE] == [
            o.msg_clock for o in orig if o.event == RECEIVE
        ]


def _cli(capsys, *args):
    from lamport.__main__ import main

    try:
        status = main(["import", *map(str, args)])
    except SystemExit as exc:
        status = exc.code
    return status, capsys.readouterr()


def _refused(capsys, out, words, *args):
    status, captured = _cli(capsys, *args, "--out", out)
    assert status == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert words in lines[0]
    assert "Traceback" not in captured.err
    assert not out.exists()


# -- recipes ----------------------------------------------------------------------------------


def _example_shape(run) -> list[str]:
    """The run in docs/recipes/example.toml's shape: one file, every machine's events by time."""
    rows = []
    for log in run.logs:
        for e in log:
            me = NAMES[e.machine]
            if e.event == SEND:
                peers = e.peer.split("+")
                peer = "*" if len(peers) > 1 else NAMES[int(peers[0])]
                text = f"{e.t:.6f} {me}>{peer} {e.clock} q{e.queue}"
            elif e.event == RECEIVE:
                text = f"{e.t:.6f} {me}<{NAMES[int(e.peer)]} {e.clock} ({e.msg_clock}) q{e.queue}"
            else:
                text = f"{e.t:.6f} {me}. {e.clock} q{e.queue}"
            rows.append((e.t, e.machine, text))
    return ["# a terse log", *(text for _, _, text in sorted(rows))]


def _arrows_shape(run, machine) -> list[str]:
    """The run in docs/recipes/arrows.toml's shape: one file per machine, no times."""
    out = [f"# node {NAMES[machine]}, {run.rates[machine]:g} ticks/s, p={run.config.p_send:g}"]
    for e in run.logs[machine]:
        if e.event == SEND:
            peers = e.peer.split("+")
            out.append(f"@{e.clock} -> {'all' if len(peers) > 1 else NAMES[int(peers[0])]}")
        elif e.event == RECEIVE:
            out.append(f"@{e.clock} <- {NAMES[int(e.peer)]} [{e.msg_clock}] q{e.queue}")
        else:
            out.append(f"@{e.clock} ..")
    return out


def test_the_example_recipe_reads_a_whole_run_in_one_terse_file(tmp_path):
    run = _des()
    log = tmp_path / "run.log"
    log.write_text("\n".join(_example_shape(run)) + "\n")
    imported = import_logs([log], tmp_path / "out", fmt=str(RECIPES / "example.toml"))
    info = imported.metadata["import"]
    assert info["ids"] == ["A", "B", "C"]
    assert info["format"] == "recipe example.toml"
    assert info["time"] == "relative"
    assert info["matching"] == "fifo"
    assert info["unparsed_lines"] == 0
    assert imported.metadata["rates"] == [1.0, 3.0, 6.0]  # inferred from the times
    first = min(log[0].t for log in run.logs)
    columns = tuple(c for c in SAME if c != "msg_clock")  # sends do not log it
    _assert_same(imported, run, columns=columns, t_origin=first, t_tolerance=1.5e-6)
    _assert_same_message_clocks(imported, run)
    assert check_run(imported.path).ok


def test_the_arrows_recipe_reads_files_without_times_and_their_header(tmp_path):
    run = _des(rates=(2, 5, 3), p_send=0.5, seed=8)
    paths = []
    for machine in range(3):
        paths.append(tmp_path / f"node-{machine}.log")
        paths[-1].write_text("\n".join(_arrows_shape(run, machine)) + "\n")
    imported = import_logs(paths, tmp_path / "out", fmt=str(RECIPES / "arrows.toml"))
    info = imported.metadata["import"]
    assert info["ids"] == ["A", "B", "C"]
    assert info["rates_from"] == ["log"] * 3 and imported.metadata["rates"] == [2.0, 5.0, 3.0]
    assert info["p_send_from"] == "log" and imported.metadata["p_send"] == 0.5
    assert "time" in imported.metadata["absent"]
    columns = ("event", "clock", "jump", "peer", "msg_id")
    _assert_same(imported, run, columns=columns, t_tolerance=float("inf"))
    _assert_same_message_clocks(imported, run)
    for log, orig in zip(imported.logs, run.logs, strict=True):
        assert [e.queue for e in log if e.event == RECEIVE] == [
            o.queue for o in orig if o.event == RECEIVE
        ]


def test_the_auto_recogniser_does_not_read_the_example_shapes(tmp_path):
    """Why the recipes exist: ``--format auto`` refuses these shapes or misreads them."""
    run = _des()
    log = tmp_path / "run.log"
    log.write_text("\n".join(_example_shape(run)) + "\n")
    try:
        imported = import_logs([log], tmp_path / "out")
    except LogError:
        return
    assert [[e.event for e in x] for x in imported.logs] != [[e.event for e in x] for x in run.logs]


LINE = (
    r"^(?P<time>\S+ \S+) (?P<machine>\w+) (?P<kind>\w+)"
    r"(?: to (?P<to>[\w,]+))?(?: from (?P<from>\w+))? clock=(?P<clock>\S+)"
    r"(?: msg=(?P<msg_clock>\d+))?(?: id=(?P<msg_id>\S+))?(?: q=(?P<queue>\d+))?$"
)
RECIPE = (
    f"""
description = "python logging with a strftime time"
line = '{LINE}'
"""
    + r"""
time = "%Y-%m-%d %H:%M:%S,%f"
everyone = ["both", "BROADCAST"]
rate = 'rate (?P<rate>[\d.]+)'
p_send = 'p_send (?P<p>[\d.]+)'
skip = ['^-- ', 'starting']

[kinds]
SEND = ["sent", "SEND"]
RECEIVE = ["RECV", "received"]
INTERNAL = ["internal"]
"""
)


def test_a_recipe_reads_each_group_and_names_each_bad_line(tmp_path):
    recipe_file = tmp_path / "mine.toml"
    recipe_file.write_text(RECIPE)
    recipe = load_recipe(recipe_file)
    lines = [
        "-- log of machine m1 --",
        "m1 starting, tick rate 4, p_send 0.3",
        "2024-05-31 16:08:37,250000 m1 Sent to m2 clock=1 id=m1:1 q=0",
        "",
        "2024-05-31 16:08:37,500000 m1 broadcast clock=2",
        "2024-05-31 16:08:37,750000 m1 SEND to both clock=3",
        "2024-05-31 16:08:38,000000 m1 sent to m2,m3 clock=4",
        "2024-05-31 16:08:38,250000 m1 recv from m3 clock=9 msg=8 id=m3:2 q=2",
        "2024-05-31 16:08:38,500000 m1 INTERNAL clock=10",
        "2024-05-31 16:08:38,750000 m1 dropped clock=11",
        "2024-05-31 16:08:39,000000 m1 internal clock=9223372036854775808",
        "2024-05-31 16:08:39,250000 m1 internal clock=\u0661\u0662",
        "2024-05-31 16:08:39,500000 m1 internal clock=-3",
        "rate 5",
        "p_send 0.25",
        "what is this line",
        "2024-05-31 16:08 m1 internal clock=12",
    ]
    source, kind = recipe.parse(tmp_path / "m1.log", lines)
    assert kind == "unix"
    assert source.format == "recipe mine.toml"
    r = source.records
    assert [x.kind for x in r] == [SEND, SEND, SEND, SEND, RECEIVE, INTERNAL]
    assert [x.clock for x in r] == [1, 2, 3, 4, 9, 10]
    assert [x.line for x in r] == [3, 5, 6, 7, 8, 9]
    assert r[0].time == pytest.approx(1_717_171_717.25)
    assert r[1].time - r[0].time == pytest.approx(0.25)
    assert [x.to for x in r[:4]] == [("m2",), ("*",), ("*",), ("m2", "m3")]
    assert (r[0].msg_id, r[0].queue, r[0].machine) == ("m1:1", 0, "m1")
    assert (r[4].sender, r[4].msg_clock, r[4].msg_id, r[4].queue) == ("m3", 8, "m3:2", 2)
    assert r[5].to is None and r[5].sender is None and r[5].queue is None
    assert (source.rate, source.p_send) == (5.0, 0.25)
    assert (source.meta_lines, source.skipped) == (2, 3)  # two metadata; two skip, one blank
    bad = dict(source.bad)
    assert sorted(bad) == [10, 11, 12, 13, 16, 17]
    assert "'dropped'" in bad[10] and "[kinds]" in bad[10]
    assert "2^63" in bad[11]
    assert "integer" in bad[12] and "integer" in bad[13]
    assert "neither" in bad[16]
    assert "does not match" in bad[17]


@pytest.mark.parametrize(
    ("time", "text", "kind", "value"),
    [
        ("%H:%M:%S.%f", "16:08:37.500000", "day", 58_117.5),
        ("seconds", "12.5", "relative", 12.5),
        ("milliseconds", "12500", "relative", 12.5),
        ("unix_ms", "1717171717250", "unix", 1_717_171_717.25),
        ("%d/%m/%Y %H:%M:%S%z", "31/05/2024 18:08:37+0200", "unix", 1_717_171_717.0),
    ],
)
def test_a_recipe_reads_each_kind_of_time(tmp_path, time, text, kind, value):
    recipe_file = tmp_path / "t.toml"
    recipe_file.write_text(
        f"line = '^\\[(?<time>[^\\]]+)\\] (?<kind>\\w+) (?<clock>\\d+)$'\ntime = '{time}'\n"
        "[kinds]\nINTERNAL = ['tick']\n"
    )
    source, found = load_recipe(recipe_file).parse(tmp_path / "x.log", [f"[{text}] TICK 1"])
    assert found == kind
    assert source.bad == []
    assert source.records[0].time == pytest.approx(value)


_LINE = "line = '(?P<kind>\\w+) (?P<clock>\\d+)'\n"
_KINDS = "[kinds]\nSEND = ['s']\n"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("line = [", "not TOML"),
        (_LINE + "colour = 'red'\n" + _KINDS, "unknown key 'colour'"),
        ("line = '(?P<kind>\\w+ (?P<clock>\\d+)'\n" + _KINDS, "does not compile"),
        ("line = '(?P<kind>\\w+) \\d+'\n" + _KINDS, "no group 'clock'"),
        ("line = '\\w+ (?P<clock>\\d+)'\n" + _KINDS, "no group 'kind'"),
        ("line = '(?P<kind>\\w+) (?P<clock>\\d+) (?P<colour>\\w+)'\n" + _KINDS, "group 'colour'"),
        (_LINE, "no [kinds]"),
        (_LINE + "[kinds]\nSENT = ['s']\n", "unknown kind 'SENT'"),
        (_LINE + "[kinds]\nSEND = ['s']\nRECEIVE = ['S']\n", "both SEND and RECEIVE"),
        (_LINE + "[kinds]\nSEND = [1]\n", "list of non-empty strings"),
        (_LINE + "time = 'epoch'\n" + _KINDS, "strftime"),
        (_LINE + "time = '%Q'\n" + _KINDS, "strftime"),
        (_LINE + "time = 'unix'\n" + _KINDS, "no group 'time'"),
        (_LINE + "rate = 'rate (\\d+)'\n" + _KINDS, "rate: the regular expression has no group"),
        (_LINE + "p_send = 'p (?P<q>[.\\d]+)'\n" + _KINDS, "no group 'p'"),
        (_LINE + "skip = ['(']\n" + _KINDS, "skip: the regular expression does not compile"),
    ],
)
def test_a_malformed_recipe_is_one_line_naming_it_and_exit_2(tmp_path, capsys, text, words):
    recipe_file = tmp_path / "bad.toml"
    recipe_file.write_text(text)
    log = tmp_path / "a.log"
    log.write_text("s 1\n")
    with pytest.raises(LogError, match=r"bad\.toml") as caught:
        load_recipe(recipe_file)
    assert "\n" not in str(caught.value)
    out = tmp_path / "out"
    _refused(capsys, out, words, log, "--format", recipe_file)


def test_a_missing_recipe_file_is_refused(tmp_path, capsys):
    log = tmp_path / "a.log"
    log.write_text("s 1\n")
    _refused(capsys, tmp_path / "out", "no such file", log, "--format", tmp_path / "none.toml")


# -- ShiViz -------------------------------------------------------------------------------------


@st.composite
def _small_runs(draw):
    n = draw(st.integers(2, 4))
    rates = tuple(draw(st.integers(1, 6)) for _ in range(n))
    return RunConfig(
        rates=rates,
        p_send=draw(st.sampled_from([0.0, 0.3, 0.6, 0.9, 1.0])),
        duration=draw(st.sampled_from([1.0, 2.5, 4.0])),
        seed=draw(st.integers(0, 10_000)),
        phase=draw(st.sampled_from(["random", "aligned"])),
    )


@settings(max_examples=15, deadline=None)
@given(config=_small_runs())
def test_shiviz_export_then_import_gives_back_the_same_run(tmp_path_factory, config):
    folder = tmp_path_factory.mktemp("shiviz")
    run = simulate(config)
    run_dir = run.write(folder / "run")
    log = export_run(run_dir, "shiviz", folder / "run.shiviz")
    # rates given: a run this short may have too few events to infer them
    imported = import_logs([log], folder / "back", fmt="shiviz", rates=config.rates)
    assert imported.metadata["import"]["format"] == EXACT
    assert imported.metadata["import"]["ids"] == [host(m) for m in range(config.n_machines)]
    assert imported.metadata["import"]["time"] == "model"
    _assert_same(imported, run)
    assert imported.metadata["import"]["matching"] == ("msg_id" if _received(run) else "none")
    # without lamport's descriptions the vector clocks alone give the same Lamport clocks
    lines = log.read_text().splitlines()
    bare = lines[:2] + [x if k % 2 == 0 else "event" for k, x in enumerate(lines[2:])]
    log.write_text("\n".join(bare) + "\n")
    derived = import_logs([log], fmt="shiviz", rates=config.rates)
    assert derived.metadata["import"]["format"] == DERIVED
    received = {e.msg_id for e in _received(run)}
    for mine, orig in zip(derived.logs, run.logs, strict=True):
        assert [e.clock for e in mine] == [o.clock for o in orig]
        kinds = [
            INTERNAL if o.event == SEND and o.msg_id not in received else o.event for o in orig
        ]
        assert [e.event for e in mine] == kinds
        assert [e.msg_clock for e in mine if e.event == RECEIVE] == [
            o.msg_clock for o in orig if o.event == RECEIVE
        ]


def _received(run):
    return [e for log in run.logs for e in log if e.event == RECEIVE]


def test_shiviz_round_trip_through_the_command_line(tmp_path, capsys):
    from lamport.__main__ import main

    run = _des(rates=(2, 4, 3), seed=11)
    run_dir = run.write(tmp_path / "run")
    log = tmp_path / "run.shiviz"
    assert main(["export", str(run_dir), "--format", "shiviz", "--output", str(log)]) == 0
    status, captured = _cli(capsys, log, "--format", "shiviz", "--out", tmp_path / "back")
    assert status == 0, captured.err
    from lamport.analysis import load_run

    _assert_same(load_run(tmp_path / "back"), run)
    assert check_run(tmp_path / "back").ok


GOVECTOR = """\
(?<host>\\S*) (?<clock>{.*})\\n(?<event>.*)

client {"client":1}
Initialization Complete
client {"client":2}
Sending request
server {"server":1}
Initialization Complete
server {"client":2, "server":2}
Received request
server {"client":2, "server":3}
Sending reply to both
cache {"cache":1}
Initialization Complete
client {"client":3, "server":3}
Received reply
cache {"cache":2, "client":2, "server":3}
Received reply
cache {"cache":3, "client":2, "server":3}
Flushed
client {"client":4, "server":3}
Done
"""


def test_a_govector_log_gets_its_kinds_and_lamport_clocks_from_the_vector_clocks(tmp_path):
    log = tmp_path / "govector.log"
    log.write_text(GOVECTOR)
    sources, kind = parse_shiviz(log, log.read_text().splitlines())
    assert kind == "none"
    assert [s.name for s in sources] == ["cache", "client", "server"]
    assert all(s.format == DERIVED for s in sources)
    by = {s.name: s.records for s in sources}
    assert [(r.kind, r.clock) for r in by["client"]] == [
        (INTERNAL, 1),
        (SEND, 2),
        (RECEIVE, 5),
        (INTERNAL, 6),
    ]
    assert [(r.kind, r.clock) for r in by["server"]] == [(INTERNAL, 1), (RECEIVE, 3), (SEND, 4)]
    assert [(r.kind, r.clock) for r in by["cache"]] == [(INTERNAL, 1), (RECEIVE, 5), (INTERNAL, 6)]
    assert by["server"][2].to == ("cache", "client")
    assert (by["cache"][1].sender, by["cache"][1].msg_clock) == ("server", 4)
    assert (by["server"][1].sender, by["server"][1].msg_clock) == ("client", 2)
    assert [r.line for r in by["client"]] == [3, 5, 15, 21]
    imported = import_logs([log], tmp_path / "out", fmt="shiviz", rates=[1, 1, 1])
    assert imported.metadata["import"]["format"] == DERIVED
    assert imported.metadata["import"]["matching"] == "msg_id"
    assert imported.logs[2][2].peer == "0+1"
    assert check_run(imported.path).ok


def test_shiviz_lines_that_do_not_parse_are_named(tmp_path):
    text = GOVECTOR.replace('server {"client":2, "server":2}', "server {client:2}")
    log = tmp_path / "g.log"
    log.write_text(text + "garbage line\n")
    sources, _ = parse_shiviz(log, log.read_text().splitlines())
    bad = dict(sources[0].bad)
    assert "not JSON" in bad[9]
    assert "does not match" in bad[23]


def test_shiviz_executions_of_lamports_export(tmp_path, capsys):
    """lamport's file of several runs is refused, naming them; one execution under its
    delimiter line imports as the run it is."""
    from lamport.export import export_executions

    config = RunConfig(rates=(3, 2, 1), p_send=0.6, duration=3.0, seed=4)
    run = simulate(config)
    first = run.write(tmp_path / "first")
    second = simulate(RunConfig(rates=(1, 1), p_send=0.5, duration=2.0)).write(tmp_path / "two")
    both = export_executions([first, second], tmp_path / "both.shiviz")
    _refused(capsys, tmp_path / "out", "holds 2 executions: first, two", both, "--format", "shiviz")
    one = export_executions([first], tmp_path / "one.shiviz")
    assert one.read_text().splitlines()[2] == "=== first ==="
    imported = import_logs([one], tmp_path / "back", fmt="shiviz", rates=config.rates)
    assert imported.metadata["import"]["format"] == EXACT
    _assert_same(imported, run)


def test_bad_shiviz_logs_are_one_line_and_exit_2(tmp_path, capsys):
    out = tmp_path / "out"
    two = tmp_path / "two.log"
    header, body = GOVECTOR.split("\n\n", 1)
    two.write_text(f"{header}\n=== run\n{body}=== run\n{body}")
    _refused(capsys, out, "executions", two, "--format", "shiviz")
    nogroup = tmp_path / "nogroup.log"
    nogroup.write_text("(?<name>\\S*) (?<clock>{.*})\n\nclient {}\n")
    _refused(capsys, out, "no group 'host'", nogroup, "--format", "shiviz")
    broken = tmp_path / "broken.log"
    broken.write_text("(?<host>\\S* (?<clock>{.*})\n\nclient {}\n")
    _refused(capsys, out, "not a regular expression", broken, "--format", "shiviz")
    _refused(capsys, out, "reads one file", broken, nogroup, "--format", "shiviz")
    norates = tmp_path / "govector.log"
    norates.write_text(GOVECTOR)
    _refused(capsys, out, "--rates", norates, "--format", "shiviz")


# -- a lamport run's own logs ---------------------------------------------------------------------


@pytest.mark.parametrize("rates", [(1, 3, 6), (2,) * 11])
def test_format_lamport_gives_back_the_same_events(tmp_path, rates):
    run = _des(rates=rates, duration=4.0, seed=5)
    run_dir = run.write(tmp_path / "run")
    files = sorted(run_dir.glob("machine-*.csv"))  # machine-10 before machine-2
    random.Random(1).shuffle(files)
    imported = import_logs(files, tmp_path / "out", fmt="lamport")
    info = imported.metadata["import"]
    assert info["format"] == "lamport"
    assert info["matching"] == "msg_id"
    assert info["ids"] == [str(m) for m in range(len(rates))]
    assert info["rates_from"] == ["log"] * len(rates)
    assert imported.metadata["rates"] == [float(r) for r in rates]
    assert (imported.metadata["p_send"], info["p_send_from"]) == (0.6, "log")
    assert info["time"] == "model"
    _assert_same(imported, run)
    assert [info["files"][m]["path"] for m in range(len(rates))] == [
        str(run_dir / f"machine-{m}.csv") for m in range(len(rates))
    ]
    assert check_run(imported.path).ok


def test_format_lamport_refuses_what_is_not_a_lamport_log(tmp_path, capsys):
    run = _des()
    run_dir = run.write(tmp_path / "run")
    out = tmp_path / "out"
    other = tmp_path / "other.csv"
    other.write_text("time,event,clock\n1,SEND,1\n")
    _refused(capsys, out, "header", other, run_dir / "machine-1.csv", "--format", "lamport")
    copy = tmp_path / "copy.csv"
    copy.write_text((run_dir / "machine-1.csv").read_text())
    _refused(capsys, out, "machine 1 again", run_dir / "machine-1.csv", copy, "--format", "lamport")


def test_read_sources_names_the_formats():
    with pytest.raises(LogError, match="recipe file"):
        read_sources([__file__], "xml")


@pytest.mark.parametrize("fmt", ["lamport", "shiviz"])
def test_a_run_with_a_crash_imports_with_its_crash_and_restart(tmp_path, fmt):
    from lamport.faults import Crash

    config = RunConfig(rates=(2, 3, 5), p_send=0.6, duration=8.0, seed=1)
    run = simulate(replace(config, faults=(Crash(1, 2.0, 1.5, True),)))
    run_dir = run.write(tmp_path / "run")
    if fmt == "shiviz":
        files = [export_run(run_dir, "shiviz", tmp_path / "run.shiviz")]
    else:
        files = sorted(run_dir.glob("machine-*.csv"))
    imported = import_logs(files, tmp_path / "out", fmt=fmt)
    assert imported.metadata["import"]["format"] == fmt
    # tick is the event's position in its log, as in every import (docs/spec.md, the log schema)
    _assert_same(imported, run, columns=tuple(c for c in SAME if c != "tick"))
    assert {"CRASH", "RESTART"} <= {e.event for e in imported.logs[1]}
