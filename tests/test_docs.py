"""The documentation site builds in strict mode, and every page of docs/ is in it.

``mkdocs build --strict`` fails on a broken link, a missing anchor, a page left
out of the nav or an API reference that names nothing; the packages come with
the ``docs`` and ``dev`` extras. Without mkdocs the test is skipped, except in
CI (``CI`` set), where ``make test`` installs the dev extras and a skip would
hide a missing install step.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _need_mkdocs() -> None:
    missing = [
        name
        for name in ("mkdocs", "material", "mkdocstrings", "mkdocs_jupyter")
        if importlib.util.find_spec(name) is None
    ]
    if not missing:
        return
    reason = f"the docs packages are not installed ({', '.join(missing)}): pip install -e '.[docs]'"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI installs the dev extras, so this is a broken install")
    pytest.skip(reason)


def _nav_pages(nav: list) -> list[str]:
    pages: list[str] = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _need_mkdocs()
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, (build.stdout + build.stderr)[-4000:]
    return out


def test_every_page_of_docs_is_in_the_nav():
    _need_mkdocs()
    import yaml  # PyYAML comes with mkdocs

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    nav = _nav_pages(config["nav"])
    pages = sorted(p.name for p in DOCS.iterdir() if p.suffix in (".md", ".ipynb"))
    assert sorted(nav) == pages
    assert "install.md" in nav and "spec.md" in nav and "tutorial.ipynb" in nav


def test_the_site_builds_strictly_with_spec_api_reference_tutorial_and_benchmarks(site):
    def page(name: str) -> str:
        return (site / name / "index.html").read_text(encoding="utf-8")

    assert "lamport" in (site / "index.html").read_text(encoding="utf-8")
    spec = page("spec")
    for heading in ("The model", "The experiment catalogue", "The log schema", "The invariants"):
        assert heading in spec
    assert "high-comm-extreme" in spec
    # the reference comes from the docstrings: functions of the package with their signatures
    reference = page("reference")
    assert "lamport.des.model.simulate" in reference
    assert "lamport.analysis.stats.machine_stats" in reference
    # the docstrings' Sphinx roles become code and links (mkdocs_hooks.py), never literal text
    assert ":func:" not in reference and ":class:" not in reference
    assert 'href="#lamport.core.machine_streams"' in reference
    # the notebook is rendered, its code cells included
    tutorial = page("tutorial")
    assert "machine_stats" in tutorial and "simulate" in tutorial
    assert "machine-ticks per CPU second" in page("benchmarks")
    assert (site / "install" / "index.html").is_file()
