"""The columnar checker against the reference: the same verdict and the same lines on
random runs, good and corrupted; its reader takes no file the exact reader refuses and
reads every file it takes to the exact reader's values."""

from __future__ import annotations

import io
import json
import math
import re
import shutil
from pathlib import Path

import hypothesis.strategies as st
import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
import test_corruption
from hypothesis import HealthCheck, assume, event, given, settings

from lamport import fastcheck
from lamport.check import check_run
from lamport.config import RunConfig
from lamport.core import EVENT_KINDS, INTERNAL, RECEIVE
from lamport.des import simulate
from lamport.des.options import DesOptions
from lamport.errors import LogError
from lamport.faults import parse_fault
from lamport.logs import read_drops, read_log, read_metadata
from lamport.schema import INTEGER_TEXT, NUMBER_TEXT, RUN_FILE, parse_vc

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

#: Cells at the edges of the schema's grammar and of pyarrow's.
CELLS = [
    "", " 1", "1 ", "+1", "-1", "-0", "01", "1e5", "1E5", "1.", ".5", "+.5", "nan", "NAN",
    "NaN", "inf", "INF", "1e309", "-1e309", "9223372036854775807", "9223372036854775808",
    "-9223372036854775808", "-9223372036854775809", "0x1", "\u0663", "1_0", "1:1", "0:1",
    "1+2", "0+0", "2+1", "SEND", "RECEIVE", "INTERNAL", "CRASH", "send", '"1"', "1\r",
    "1.5", "1e-5", "00:01", "0:01", "+0:1", "0:1:2", "E", "e", "-", ".", "1e", "1 2 3",
    "1  2 0", "0 0 0 0", "18446744073709551616 0 0", "9223372036854775808 0 0", "5 5 5",
    "1000000000", "999999999.9", "-0.0", "0", "1", "2", "3", "7",
]  # fmt: skip


def outcome(run: Path, reference: bool) -> tuple[str, object]:
    """What check_run says of a run: its one-line refusal, or its whole report."""
    try:
        report = check_run(run, reference=reference)
    except LogError as exc:
        return "refused", str(exc)
    return "report", (
        report.machines, report.events, report.messages, report.problems, report.carried,
        report.hlc, report.checked, report.not_checked, report.summary(),
    )  # fmt: skip


def events_of(columns: fastcheck.Columns) -> list[tuple]:
    """The columns as rows comparable to the exact reader's events (vc as numbers)."""
    kinds = [columns.kinds[k] for k in columns.event.tolist()]
    peers = [columns.peers[k] for k in columns.peer.tolist()]
    carried = [None if x == -1 else x for x in columns.msg_clock.tolist()]
    rows = zip(
        columns.t.tolist(), columns.machine.tolist(), columns.tick.tolist(), kinds,
        columns.clock.tolist(), columns.jump.tolist(), columns.queue.tolist(), peers, carried,
        columns.msg_id.to_pylist(), strict=True,
    )  # fmt: skip
    vcs = columns.vc.tolist() if columns.vc is not None else [None] * len(columns)
    return [(*row, vc) for row, vc in zip(rows, vcs, strict=True)]


def exact_rows(events) -> list[tuple]:
    return [
        (e.t, e.machine, e.tick, e.event, e.clock, e.jump, e.queue, e.peer, e.msg_clock,
         e.msg_id, parse_vc(e.vc) if hasattr(e, "vc") else None)
        for e in events
    ]  # fmt: skip


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


@st.composite
def runs(draw):
    """A small DES run of any kind: rates, p_send, phases, clock kind, latency, faults."""
    n = draw(st.sampled_from([2, 3, 3, 4]))
    rates = tuple(draw(st.sampled_from([1, 2, 3, 4, 6])) for _ in range(n))
    faults = draw(
        st.sampled_from(
            [
                (),
                (),
                (),
                ("crash 1 at 1 for 2",),
                ("loss 0.2",),
                ("delay 0->1 +0.8 at 1 for 2",),
                ("pause 0 at 1 for 1.5",),
            ]
        )
    )
    config = RunConfig(
        rates=rates,
        p_send=draw(st.sampled_from([0.0, 0.3, 0.6, 0.9])),
        duration=draw(st.sampled_from([3, 6])),
        seed=draw(st.integers(0, 10**6)),
        phase=draw(st.sampled_from(["random", "aligned"])),
        clock=draw(st.sampled_from(["lamport", "lamport", "vector", "vector", "hlc"])),
        drift_ppm=draw(st.sampled_from([0.0, 0.0, 0.0, 300.0])),
        faults=tuple(parse_fault(f) for f in faults),
    )
    latency = draw(st.sampled_from([0.001, 0.4]))
    return simulate(config, DesOptions(latency=latency, latency_dist="exponential"))


@st.composite
def corruptions(draw):
    """A function that damages a run directory (or leaves it whole), and its name."""
    kind = draw(
        st.sampled_from(
            ["none", "none", "cell", "cell", "cell", "delete", "duplicate", "swap", "truncate",
             "garbage", "header", "hidden", "fifo", "json"]
        )
    )  # fmt: skip
    machine = draw(st.integers(0, 3))
    row = draw(st.integers(0, 400))
    other = draw(st.integers(0, 400))
    column = draw(st.integers(0, 11))
    cell = draw(st.sampled_from(CELLS) | st.text(alphabet="0123456789:+-. eE", max_size=6))
    fraction = draw(st.floats(0, 1))
    garbage = draw(st.binary(min_size=1, max_size=6))
    value = draw(st.sampled_from([None, [0, 0, 0], 0, -1, "x", True]))
    key = draw(st.sampled_from(["queued_at_end", "dropped", "clock", "faults", "duration"]))

    def corrupt(run: Path) -> None:
        n = len(read_metadata(run)["rates"])
        log = run / f"machine-{machine % n}.csv"
        lines = _lines(log)
        body = len(lines) - 1
        r = 1 + row % body if body else 0
        if kind == "cell":
            cells = lines[r].rstrip("\n").split(",")
            cells[column % len(cells)] = cell.replace(",", "").replace("\n", "")
            lines[r] = ",".join(cells) + "\n"
        elif kind == "delete" and body:
            del lines[r]
        elif kind == "duplicate":
            lines.insert(r, lines[r])
        elif kind == "swap" and body:
            o = 1 + other % body
            lines[r], lines[o] = lines[o], lines[r]
        elif kind == "header":
            cells = lines[0].rstrip("\n").split(",")
            cells[column % len(cells)] = cell.replace(",", "") or "extra"
            lines[0] = ",".join(cells) + "\n"
        elif kind in ("hidden", "fifo"):
            _protocol_edit(lines, kind, other)
        if kind in ("cell", "delete", "duplicate", "swap", "header", "hidden", "fifo"):
            log.write_text("".join(lines), encoding="utf-8")
        elif kind in ("truncate", "garbage"):
            data = log.read_bytes()
            at = int(len(data) * fraction)
            log.write_bytes(data[:at] if kind == "truncate" else data[:at] + garbage + data[at:])
        elif kind == "json":
            metadata = json.loads((run / RUN_FILE).read_text())
            metadata[key] = value
            (run / RUN_FILE).write_text(json.dumps(metadata))

    return kind, corrupt


def _protocol_edit(lines: list[str], kind: str, pick: int) -> None:
    """A hidden receive (a RECEIVE turned INTERNAL) or two receives of one link swapped,
    on the text of a log: only that edit, the clocks left as they were."""
    cells = [line.rstrip("\n").split(",") for line in lines]
    receives = [i for i, c in enumerate(cells) if i and len(c) > 10 and c[4] == RECEIVE]
    if not receives:
        return
    i = receives[pick % len(receives)]
    if kind == "hidden":
        cells[i][4], cells[i][8], cells[i][9], cells[i][10] = INTERNAL, "", "", ""
    else:
        same = [j for j in receives if j > i and cells[j][8] == cells[i][8]]
        if not same:
            return
        j = same[0]
        for k in (9, 10):
            cells[i][k], cells[j][k] = cells[j][k], cells[i][k]
    lines[:] = [",".join(c) + "\n" for c in cells]


@SETTINGS
@given(result=runs(), corruption=corruptions())
def test_the_columnar_checker_and_the_reference_say_the_same(tmp_path, result, corruption):
    """Every verdict and every line: the same refusal, or the same report."""
    _, corrupt = corruption
    run = tmp_path / "run"
    shutil.rmtree(run, ignore_errors=True)
    result.write(run)
    corrupt(run)
    assert outcome(run, reference=False) == outcome(run, reference=True)


@SETTINGS
@given(result=runs(), corruption=corruptions())
def test_the_columnar_verdict_is_the_references(tmp_path, result, corruption):
    """Where the columnar checker decides (a run whose logs its reader takes, without
    drifting physical clocks under hybrid ones), it finds a run sound exactly when the
    reference finds no problem."""
    _, corrupt = corruption
    run = tmp_path / "run"
    shutil.rmtree(run, ignore_errors=True)
    result.write(run)
    corrupt(run)
    try:
        metadata = read_metadata(run)
    except LogError:
        return
    n = len(metadata["rates"])
    logs = fastcheck.read_run_columns(run, n)
    assume(logs is not None)
    drifting = any(round(ppm * 10**6) for ppm in metadata.get("drifts_ppm") or ())
    assume(not (drifting and any(c.hlc is not None for c in logs)))
    kind, reference = outcome(run, reference=True)
    sound = fastcheck.check_columns(metadata, logs, read_drops(run, n))
    event("sound" if sound is not None else "problems")
    assert kind == "report", reference  # the columnar reader took what the exact one takes
    assert (sound is not None) == (reference[3] == []), reference[3][:3]
    if sound is not None:
        assert tuple(sound) == (*reference[:3], reference[4], reference[5])


@SETTINGS
@given(result=runs(), corruption=corruptions())
def test_the_reader_takes_no_log_the_exact_reader_refuses(tmp_path, result, corruption):
    _, corrupt = corruption
    run = tmp_path / "run"
    shutil.rmtree(run, ignore_errors=True)
    result.write(run)
    corrupt(run)
    n = len(result.logs)
    for machine in range(n):
        path = run / f"machine-{machine}.csv"
        columns = fastcheck.read_columns(path, n)
        if columns is None:
            continue
        exact = read_log(path)  # raises if the exact reader refuses what the columns took
        assert events_of(columns) == exact_rows(exact)


@pytest.mark.parametrize("cell", CELLS)
def test_every_edge_cell_in_every_column(tmp_path, cell):
    """Each edge cell in each column of a vector run's log: read alike or refused alike."""
    result = simulate(RunConfig(rates=(3, 2, 4), p_send=0.6, duration=3, seed=1, clock="vector"))
    run = result.write(tmp_path / "run")
    path = run / "machine-0.csv"
    pristine = _lines(path)
    for column in range(12):
        for row in (1, len(pristine) - 1):
            lines = list(pristine)
            cells = lines[row].rstrip("\n").split(",")
            cells[column] = cell.replace(",", "")
            lines[row] = ",".join(cells) + "\n"
            path.write_text("".join(lines), encoding="utf-8")
            columns = fastcheck.read_columns(path, 3)
            try:
                exact = read_log(path)
            except LogError:
                assert columns is None, (column, row)
                continue
            if columns is not None:
                assert events_of(columns) == exact_rows(exact)


def _arrow(text: str, kind: pa.DataType) -> object:
    try:
        table = pcsv.read_csv(
            io.BytesIO(f"a\n{text}\n".encode()),
            convert_options=pcsv.ConvertOptions(column_types={"a": kind}, null_values=[""]),
        )
    except pa.ArrowException:
        return "refused"
    return table.column(0)[0].as_py()


#: The bytes a log body may hold for the columnar reader (spaces aside, which it counts).
ALPHABET = "0123456789.-+eE:" + "".join(sorted({c for kind in EVENT_KINDS for c in kind}))


@settings(max_examples=400, deadline=None)
@given(
    text=st.text(alphabet="0123456789.-+eE:", min_size=1, max_size=8)
    | st.text(alphabet=ALPHABET, min_size=1, max_size=8)
)
def test_within_the_log_alphabet_pyarrow_numbers_are_the_schemas(text):
    """The columnar reader relies on it: over the bytes a log body may hold, pyarrow
    parses exactly the cells the schema's grammar takes, to the same values; anything
    else it refuses, or reads as not finite (NAN), which the reader refuses."""
    number = _arrow(text, pa.float64())
    if re.fullmatch(NUMBER_TEXT, text):
        assert number == float(text) or (number is None and float(text) != float(text))
    else:
        assert number == "refused" or number is None or not math.isfinite(number), number
    integer = _arrow(text, pa.int64())
    if re.fullmatch(INTEGER_TEXT, text) and -(2**63) <= int(text) < 2**63:
        assert integer == int(text)
    else:
        assert integer == "refused"


def test_a_good_run_is_decided_on_columns(tmp_path):
    """A plain run never reaches the reference: check gives its report from the columns."""
    result = simulate(RunConfig(rates=(6, 5, 4), p_send=0.6, duration=30, seed=0, clock="vector"))
    run = result.write(tmp_path / "run")
    metadata = read_metadata(run)
    sound = fastcheck.check_run(run, metadata)
    assert sound is not None and sound.carried and sound.events == sum(map(len, result.logs))
    assert outcome(run, False) == outcome(run, True)


def test_derived_vector_clocks_equal_the_references(tmp_path):
    from lamport import causality

    result = simulate(RunConfig(rates=(1, 4, 6, 2), p_send=0.9, duration=20, seed=7))
    run = result.write(tmp_path / "run")
    logs = fastcheck.read_run_columns(run, 4)
    clocks = fastcheck.derived_vector_clocks(logs)
    reference = causality.analyze(result.logs).clocks
    assert all(np.array_equal(a, b) for a, b in zip(clocks, reference, strict=True))


def test_a_cycle_is_left_to_the_reference(tmp_path):
    """A message received before it is sent: no fixed point, the reference names it."""
    result = simulate(RunConfig(rates=(3, 3), p_send=0.9, duration=4, seed=2, phase="aligned"))
    run = result.write(tmp_path / "run")
    logs = fastcheck.read_run_columns(run, 2)
    # machine 0's first receive takes a message machine 1 sends after it received from 0
    c = logs[0]
    first = int(np.flatnonzero(c.rows(RECEIVE))[0])
    late = f"1:{int((logs[1].rows('SEND')).sum())}"
    ids = c.msg_id.to_pylist()
    ids[first] = late
    c.msg_id = pa.array(ids)
    assert fastcheck.derived_vector_clocks(logs) is None


@pytest.mark.parametrize("clock", ["vector", "hlc"])
def test_a_real_time_run_is_decided_on_columns(tmp_path, clock):
    from lamport.realtime import run as run_realtime

    config = RunConfig(rates=(6, 2, 6), p_send=0.9, duration=8, seed=4, clock=clock)
    result = run_realtime(config, speed=12, out=tmp_path / "rt")
    metadata = read_metadata(tmp_path / "rt")
    sound = fastcheck.check_run(tmp_path / "rt", metadata)
    assert sound is not None and sound.events == sum(map(len, result.logs))
    assert (sound.carried, sound.hlc) == (clock == "vector", clock == "hlc")
    assert outcome(tmp_path / "rt", False) == outcome(tmp_path / "rt", True)


@pytest.fixture(scope="module")
def pristine_vector(tmp_path_factory):
    """A run of three machines carrying vector clocks, for the corruption fuzzer's cases."""
    config = RunConfig(rates=(1, 3, 6), p_send=0.6, duration=8, seed=1, clock="vector")
    return simulate(config).write(tmp_path_factory.mktemp("pristine") / "run")


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(corruption=test_corruption.corruptions(), vector=st.booleans())
def test_the_corruption_fuzzers_cases_get_one_verdict(
    pristine_vector, tmp_path, corruption, vector
):
    """tests/test_corruption.py's corruptions (cells, rows, bytes, headers, times, run.json,
    missing, empty and non-regular files), on a Lamport and a vector run: the columnar
    reader takes no log the exact reader refuses, and check gives the reference's
    refusal or report."""
    _, corrupt = corruption
    run = tmp_path / "run"
    shutil.rmtree(run, ignore_errors=True)
    if vector:
        shutil.copytree(pristine_vector, run)
    else:
        simulate(RunConfig(rates=(1, 3, 6), p_send=0.6, duration=8, seed=1)).write(run)
    corrupt(run)
    for machine in range(3):
        path = run / f"machine-{machine}.csv"
        columns = fastcheck.read_columns(path, 3)
        if columns is not None:
            assert events_of(columns) == exact_rows(read_log(path))
    assert outcome(run, reference=False) == outcome(run, reference=True)


def test_the_clock_condition_on_the_matrices(tmp_path):
    """The columnar clock condition finds an event whose clock is not above an event
    that happened before it (a RECEIVE not above its SEND), as the reference does."""
    from lamport import causality

    result = simulate(RunConfig(rates=(2, 5, 3), p_send=0.9, duration=10, seed=3))
    run = result.write(tmp_path / "run")
    logs = fastcheck.read_run_columns(run, 3)
    clocks = fastcheck.derived_vector_clocks(logs)
    assert fastcheck._clock_condition(logs, clocks)
    c = logs[1]
    at = int(np.flatnonzero(c.rows(RECEIVE))[0])
    c.clock = c.clock.copy()
    c.clock[at] = 0  # below its SEND's clock
    assert not fastcheck._clock_condition(logs, clocks)
    events = [list(log) for log in result.logs]
    events[1][at] = events[1][at]._replace(clock=0)
    assert causality.clock_condition(events)


@pytest.mark.parametrize("cell", ["", "-0", "-1", "+1", "01", "1.0", "9223372036854775808", "x"])
@pytest.mark.parametrize("column", [11, 12])
def test_hybrid_clock_cells_read_alike(tmp_path, cell, column):
    result = simulate(RunConfig(rates=(3, 2, 4), p_send=0.6, duration=3, seed=1, clock="hlc"))
    run = result.write(tmp_path / "run")
    path = run / "machine-1.csv"
    lines = _lines(path)
    cells = lines[2].rstrip("\n").split(",")
    cells[column] = cell
    lines[2] = ",".join(cells) + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    columns = fastcheck.read_columns(path, 3)
    try:
        exact = read_log(path)
    except LogError:
        assert columns is None
    else:
        if columns is not None:
            assert columns.hlc.tolist() == [[e.hlc_l, e.hlc_c] for e in exact]
    assert outcome(run, False) == outcome(run, True)


@pytest.mark.parametrize("edit", ["behind", "ahead", "counter", "receive"])
def test_a_broken_hybrid_clock_is_the_references_to_name(tmp_path, edit):
    """hlc_l below or above physical time, a pair that does not grow, a receive not above
    its send: the columnar checker vouches for none, the reference names each."""
    result = simulate(RunConfig(rates=(3, 5, 4), p_send=0.9, duration=6, seed=2, clock="hlc"))
    logs = [list(log) for log in result.logs]
    e = logs[1][4]
    if edit == "behind":
        logs[1][4] = e._replace(hlc_l=e.hlc_l - 1)
    elif edit == "ahead":
        logs[1][4] = e._replace(hlc_l=e.hlc_l + 1)
    elif edit == "counter":
        logs[1][5] = logs[1][5]._replace(hlc_l=e.hlc_l, hlc_c=e.hlc_c)
    else:
        i = next(i for i, x in enumerate(logs[1]) if x.event == RECEIVE)
        logs[1][i] = logs[1][i]._replace(hlc_l=0, hlc_c=0)
    result.logs[:] = logs
    run = result.write(tmp_path / "run")
    kind, report = outcome(run, reference=False)
    assert kind == "report" and report[3], report
    assert fastcheck.check_run(run, read_metadata(run)) is None
    assert (kind, report) == outcome(run, reference=True)


@pytest.mark.parametrize("peer", ["9223372036854775808", "99999999999999999999", "18"])
def test_a_receive_from_a_machine_id_out_of_any_range_is_the_references_verdict(
    tmp_path, peer
) -> None:
    """A RECEIVE's peer naming a machine of 2^63 or more (found by the randomized property:
    an OverflowError building the peer ids) gets the reference's report, not a traceback."""
    config = RunConfig(rates=(1.0, 1.0), p_send=0.3, duration=3, seed=0, phase="random")
    result = simulate(config, DesOptions(latency=0.001, latency_dist="exponential"))
    run = tmp_path / "run"
    result.write(run)
    log = run / "machine-0.csv"
    lines = log.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if f",{RECEIVE}," in line)
    cells = lines[at].split(",")
    cells[8] = peer
    lines[at] = ",".join(cells)
    log.write_text("".join(lines))
    fast, reference = outcome(run, reference=False), outcome(run, reference=True)
    assert fast == reference
    assert fast[0] == "report" and fast[1][3], fast  # the reference names the problem
