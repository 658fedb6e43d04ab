"""Nothing read from a file chooses where lamport writes: ``rerun`` and run.json's ``name``.

``rerun DIR`` writes to ``--out`` or to the default run directory its model names
(``runs/des/<one name>``). Whatever ``name`` run.json holds (absolute, ``../``, a NUL,
a thousand characters, not a string at all), the output lands there or the command
refuses in one line with exit status 2; and a deeply nested run.json is one line too.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lamport.config import RunConfig
from lamport.des.__main__ import main
from lamport.des.model import simulate
from lamport.errors import run_cli
from lamport.schema import RUN_FILE

#: Names an attacker would try; "{root}" is the sandbox every example runs in.
HOSTILE = [
    "/tmp/lamport-escaped",
    "{root}/escaped",
    "../escaped",
    "../../escaped",
    "../../../../../../{root}/escaped",
    "..",
    ".",
    "",
    "a/../../escaped",
    "runs/../../escaped",
    "\x00",
    "x\x00/../escaped",
    "~/escaped",
    "$HOME",
    "-rf",
    "x" * 1000,
    "é/../..",
    "..\\..\\escaped",
]
NAMES = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=80),
    st.lists(st.sampled_from(["..", ".", "/", "a", "{root}", "\x00", "~"]), max_size=8).map(
        "".join
    ),
    st.integers(),
    st.none(),
    st.lists(st.integers(), max_size=2),
)


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=NAMES, with_out=st.booleans())
def test_any_name_in_run_json_keeps_rerun_inside_runs_or_out(name, with_out, tmp_path, capsys):
    root = Path(tempfile.mkdtemp(dir=tmp_path))
    config = RunConfig(rates=(1, 3, 6), p_send=0.3, duration=2, experiment=4, name="x")
    run = root / "src"
    simulate(config).write(run)
    metadata = json.loads((run / RUN_FILE).read_text())
    if isinstance(name, str):
        name = name.replace("{root}", str(root))
    metadata["name"] = name
    (run / RUN_FILE).write_text(json.dumps(metadata))
    cwd = root / "cwd"
    cwd.mkdir()
    out = root / "chosen"
    before = _files(root)
    args = ["rerun", str(run), "--quiet", *(["--out", str(out)] if with_out else [])]
    here = os.getcwd()
    os.chdir(cwd)
    capsys.readouterr()
    try:
        status = run_cli(main, args)
    except SystemExit as exc:
        status = exc.code
    finally:
        os.chdir(here)
    err = capsys.readouterr().err
    new = _files(root) - before
    if status != 0:
        assert status == 2 and err.count("\n") == 1 and err.startswith("error: "), err
        assert not new, new
        return
    home = out if with_out else cwd / "runs" / "des"
    # every new path is inside home, or one of the folders on the way to it
    assert new and all(home in p.parents or p in (home, *home.parents) for p in new), sorted(new)
    if not with_out:  # one directory, directly under runs/des
        (made,) = [p for p in new if p.parent == home]
        assert made.is_dir() and (made / RUN_FILE).is_file()
    assert not Path("/tmp/lamport-escaped").exists()


@pytest.mark.parametrize("depth", [40, 1000, 100_000])
def test_a_deeply_nested_run_json_is_one_line(depth, tmp_path, capsys):
    run = tmp_path / "src"
    simulate(RunConfig(rates=(1, 3, 6), p_send=0.3, duration=2)).write(run)
    metadata = (run / RUN_FILE).read_text()
    nested = "[" * depth + "1" + "]" * depth
    (run / RUN_FILE).write_text(metadata.replace('"seed": 0', f'"seed": 0, "deep": {nested}', 1))
    with pytest.raises(SystemExit) as info:
        run_cli(main, ["rerun", str(run), "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1, err
    assert "nested deeper" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()
