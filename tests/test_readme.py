"""The README is a landing page whose links, commands and picture are real, and the
documentation's commands and Python snippet work as written."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lamport.__main__ import COMMANDS
from lamport.__main__ import main as lamport_main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: ``python -m lamport.X`` -> the ``lamport`` command it is.
MODULES = {
    "des": "des",
    "realtime": "realtime",
    "report": "report",
    "imports": "import",
    "check": "check",
    "export": "export",
    "compare": "compare",
}
#: Commands whose first word is a subcommand of their own.
WITH_SUBCOMMANDS = ("des", "realtime")


def _code_blocks(text: str) -> list[tuple[str, str]]:
    """Every fenced block as (language, body)."""
    return re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M)


def _commands() -> dict[tuple[str, ...], set[str]]:
    """Every ``lamport ...`` or ``python -m lamport...`` line in a shell block of the README
    or docs/: (command, subcommand) -> the options it is given, with where each is written."""
    found: dict[tuple[str, ...], set[str]] = {}
    pattern = re.compile(r"(?:\.venv/bin/)?(?:lamport|python -m lamport(?:\.(\w+))?)(?:\s+(.*))?$")
    for page in PAGES:
        for lang, body in _code_blocks(page.read_text(encoding="utf-8")):
            if lang in ("python", "toml", "json", "text"):
                continue
            for line in body.splitlines():
                m = pattern.match(line.strip().removeprefix("$ "))
                if not m:
                    continue
                words = (m.group(2) or "").split("#", 1)[0].split()
                command = MODULES.get(m.group(1), m.group(1)) if m.group(1) else None
                if command is None:
                    if not words or not re.fullmatch(r"[a-z]+", words[0]):
                        continue  # output, such as "lamport DES benchmark: ..."
                    command, words = words[0], words[1:]
                key: tuple[str, ...] = (command,)
                if command in WITH_SUBCOMMANDS and words and not words[0].startswith("-"):
                    key = (command, words[0])
                options = found.setdefault(key, set())
                options.update(w.split("=", 1)[0] for w in words if w.startswith("--"))
    return found


def _help(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        try:
            status = lamport_main([*argv, "--help"])
        except SystemExit as stop:
            status = stop.code if isinstance(stop.code, int) else 1
    return status, out.getvalue()


def test_the_readme_is_a_landing_page():
    lines = README.splitlines()
    assert len(lines) <= 200, f"{len(lines)} lines: the rest belongs in docs/"
    first_screen = "\n".join(lines[:60])
    # your own logs stay on the first screen
    assert "## Analyse your own implementation's logs" in first_screen
    assert "lamport import" in first_screen and "docs/import.md" in first_screen
    # one picture, and the two commands, both of them targets of the Makefile
    assert re.search(r"!\[[^\]]+\]\([^)]+\.png\)", README)
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("run", "test"):
        assert f"make {target}" in README
        assert re.search(rf"^{target}:", makefile, flags=re.M), f"no {target} target"
    assert "docs/spec.md" in README and "experiments/RESULTS.md" in README


def test_every_link_and_picture_of_the_readme_exists():
    targets = re.findall(r"\]\(([^)]+)\)", README)
    local = [t.split("#", 1)[0] for t in targets if not re.match(r"\w+://", t)]
    assert local
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"README links to missing files: {missing}"
    # every page of the documentation is linked from the README, but the site's own: its
    # home page and the API reference, which only the site generates
    pages = {f"docs/{p.name}" for p in (ROOT / "docs").iterdir() if p.suffix in (".md", ".ipynb")}
    pages -= {"docs/index.md", "docs/reference.md"}
    assert pages <= set(local), f"not linked from the README: {sorted(pages - set(local))}"


def test_no_reference_points_at_a_spec_outside_the_repository():
    """The contract is docs/spec.md: code, docs and tests cite it, nothing else."""
    sources = [
        *PAGES,
        *(ROOT / "lamport").rglob("*.py"),
        *(ROOT / "experiments").glob("*.toml"),
        *(ROOT / "experiments").glob("*.py"),
        *(ROOT / "benchmarks").glob("*.py"),
        *(p for p in (ROOT / "tests").glob("*.py") if p.name != "test_readme.py"),
    ]
    for page in sources:
        text = page.read_text(encoding="utf-8")
        assert "SPEC.md" not in text and "STYLE.md" not in text, page
        assert not re.search(r"SPEC section \d", text), page


def test_every_command_and_option_in_the_readme_and_docs_exists():
    commands = _commands()
    assert ("import",) in commands and ("des", "exp") in commands
    for key, options in sorted(commands.items()):
        assert key[0] in COMMANDS, f"`lamport {key[0]}` is not a command ({', '.join(COMMANDS)})"
        status, text = _help(list(key))
        assert status == 0, f"`lamport {' '.join(key)} --help` exited {status}"
        unknown = sorted(o for o in options if o not in text)
        assert not unknown, f"`lamport {' '.join(key)}` has no option {unknown}"


@pytest.mark.parametrize("page", ["docs/api.md"])
def test_the_python_api_snippet_runs_as_written(tmp_path, page):
    text = (ROOT / page).read_text(encoding="utf-8")
    blocks = [body for lang, body in _code_blocks(text) if lang == "python"]
    assert blocks, f"no python block in {page}"
    script = tmp_path / "snippet.py"
    script.write_text("\n".join(blocks), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env={**os.environ, "MPLBACKEND": "Agg"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "runs" / "exp4" / "run.json").is_file()
    assert (tmp_path / "runs" / "exp4" / "report.html").is_file()
    assert (tmp_path / "queue.png").is_file()
