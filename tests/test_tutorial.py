"""docs/tutorial.ipynb runs top to bottom in a fresh kernel, from any directory, and draws;
it is committed with the outputs that run gives (executed by nbclient), in plain numbers."""

from __future__ import annotations

import re
import time
from pathlib import Path

import nbclient  # the test extras (make install) carry nbclient, nbformat and ipykernel
import nbformat

TUTORIAL = Path(__file__).resolve().parent.parent / "docs" / "tutorial.ipynb"
#: Scientific notation, as pandas prints small floats by default (``2.93e-01``).
SCIENTIFIC = re.compile(r"\b\d(?:\.\d+)?e[+-]\d+\b")


def _texts(notebook) -> list[list[str]]:
    """Per code cell, its printed and displayed text (figures left out: their bytes may
    differ between matplotlib builds)."""
    out = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        texts = []
        for o in cell.outputs:
            if o.output_type == "stream":
                texts.append(o.text)
            elif "data" in o and "image/png" not in o.data:
                texts += [o.data.get("text/plain", ""), o.data.get("text/html", "")]
        out.append(texts)
    return out


def test_tutorial_runs_and_shows_figures(tmp_path):
    committed = nbformat.read(TUTORIAL, as_version=4)
    notebook = nbformat.read(TUTORIAL, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=60,
        kernel_name="python3",  # ipykernel in the same environment as the tests
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working directory
    )
    started = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - started
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, errors[0].get("evalue")
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(figures) >= 7, len(figures)
    assert not any(o.get("name") == "stderr" and "Traceback" in o.get("text", "") for o in outputs)
    assert seconds < 60, f"the tutorial took {seconds:.0f} s"
    assert list(tmp_path.iterdir()) == []  # nothing written to the working directory
    # the committed notebook holds exactly what a fresh run shows (re-run
    # docs/tutorial.ipynb with nbclient and commit it when this fails)
    assert _texts(committed) == _texts(notebook)


def test_committed_tutorial_has_outputs_in_plain_numbers():
    notebook = nbformat.read(TUTORIAL, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.outputs for c in code[1:])  # every cell but the imports shows something
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    assert TUTORIAL.stat().st_size < 1_000_000
    texts = [t for cell in _texts(notebook) for t in cell]
    assert not [m.group() for t in texts for m in SCIENTIFIC.finditer(t)]
    assert not any("gap" in t or "behind the leader" in t.replace("\n", " ") for t in texts[:20])


def test_tutorial_answers_the_four_questions_and_draws_the_contrasts():
    notebook = nbformat.read(TUTORIAL, as_version=4)
    headings = [
        line for c in notebook.cells if c.cell_type == "markdown" for line in c.source.splitlines()
    ]
    for question in (
        "The queue question",
        "The drift question",
        "What changes when the rates vary less?",
        "What changes when internal events are less likely?",
    ):
        assert any(line.startswith("## ") and question in line for line in headings), question
    source = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    assert "sweep([3, 4, 5, 6, 7], seeds=10" in source
    assert not re.search(r"\bgap_|\bbehind\b|gap at end", source)
    printed = "".join(t for cell in _texts(notebook) for t in cell)
    # what the prose under the contrast figure says, as the sweep found it
    assert "queues growing: machine 0 (1 tick/s) → none" in printed  # 4 -> 5
    assert "queues growing: none → machine 2 (2 tick/s)" in printed  # 5 -> 6
    assert "queues growing: none → none" in printed  # 3 -> 7
    contrast = next(
        c for c in notebook.cells if c.cell_type == "code" and "panels = [(4, 5" in c.source
    )
    assert any("image/png" in o.get("data", {}) for o in contrast.outputs)
