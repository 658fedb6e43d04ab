"""docs/tutorial.ipynb runs top to bottom in a fresh kernel, from any directory, and draws."""

from __future__ import annotations

import time
from pathlib import Path

import nbclient  # the test extras (make install) carry nbclient, nbformat and ipykernel
import nbformat

TUTORIAL = Path(__file__).resolve().parent.parent / "docs" / "tutorial.ipynb"


def test_tutorial_runs_and_shows_figures(tmp_path):
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
    assert len(figures) >= 6, len(figures)
    assert not any(o.get("name") == "stderr" and "Traceback" in o.get("text", "") for o in outputs)
    assert seconds < 60, f"the tutorial took {seconds:.0f} s"
    assert list(tmp_path.iterdir()) == []  # nothing written to the working directory
