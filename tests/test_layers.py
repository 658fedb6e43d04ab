"""lamport's imports run one way: no circles, and no module imports a layer above its own
(docs/architecture.md, "Layers and what each owns", holds the same table).

Every module under lamport/ is parsed with ``ast``; its imports at the top and inside
functions make the graph. Imports under ``if TYPE_CHECKING:`` are left out: they never
run, and they are how a module names a type from above it. Importing ``a.b.c`` counts
as an edge to ``a.b.c`` only, not to the packages Python initialises on the way.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "lamport"

#: Modules left out of both checks: none since the real-time package's circle
#: (cluster <-> launcher <-> __main__) was broken.
EXEMPT: tuple[str, ...] = ()

#: The layers, bottom first: a module imports its own layer or the ones below it only.
#: An entry names a module or a package (all of its modules); the longest entry that
#: names a module decides its layer, and every ``__main__`` is a command.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "facts",
        (
            "lamport",
            "lamport.errors",
            "lamport.files",
            "lamport.validate",
            "lamport.core",
            "lamport.schema",
            "lamport.stats",
            "lamport.args",
        ),
    ),
    ("model", ("lamport.config", "lamport.faults", "lamport.plan", "lamport.backend")),
    (
        "records",
        (
            "lamport.logs",
            "lamport.summary",
            "lamport.result",
            "lamport.frames",
            "lamport.invariants",
            "lamport.causality",
            "lamport.fastcheck",
            "lamport.theory",
        ),
    ),
    ("backends", ("lamport.des", "lamport.realtime", "lamport.imports")),
    (
        "reading runs",
        (
            "lamport.compare",
            "lamport.analysis",
            "lamport.check",
            "lamport.export",
            "lamport.console",
        ),
    ),
    ("reports", ("lamport.report",)),
    ("commands", ("lamport.cli", "lamport.__main__")),
)
COMMANDS = len(LAYERS) - 1

#: What runs a simulation; a report module is handed the results instead. Only
#: ``lamport.report`` itself (``write_report``, the public API that writes a report)
#: calls these, as a command does.
SIMULATES = ("lamport.des.model", "lamport.des.rerun", "lamport.des.sweep")
SIMULATING_NAMES = {"simulate", "simulate_summary", "compare_run", "model_sample", "rerun"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str) -> list[tuple[str, str | None]]:
    """What ``module`` imports when it runs: (module, name) pairs, the name None for
    ``import m``; lamport's own modules only."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, str | None]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for other in child.orelse:
                    visit_one(other)
                continue
            visit_one(child)

    def visit_one(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            found.extend((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in MODULES:
                    found.append((submodule, None))
                else:
                    found.append((base, alias.name))
        visit(node)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return [(m, name) for m, name in found if m in MODULES and m != module]


def _exempt(module: str) -> bool:
    return any(module == e or module.startswith(e + ".") for e in EXEMPT)


GRAPH = {
    module: sorted({m for m, _ in _imports(module)} - {module})
    for module in MODULES
    if not _exempt(module)
}


def _layer(module: str) -> int:
    if module.rpartition(".")[2] == "__main__":
        return COMMANDS
    best, layer = -1, None
    for index, (_, entries) in enumerate(LAYERS):
        for entry in entries:
            if (module == entry or module.startswith(entry + ".")) and len(entry) > best:
                best, layer = len(entry), index
    if layer is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS and docs/architecture.md")
    return layer


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def test_the_graph_sees_top_level_and_function_level_imports():
    assert "lamport.core" in GRAPH["lamport.config"]  # at the top
    assert "lamport.args" in GRAPH["lamport.check"]  # inside main()
    assert "lamport.compare" in GRAPH["lamport.report"]  # inside build_report()


def test_no_import_circles():
    cycles = _cycles(GRAPH)
    assert not cycles, "import circles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_every_module_has_a_layer():
    for module in MODULES:
        _layer(module)


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_no_module_imports_a_layer_above_its_own(module):
    mine = _layer(module)
    upward = [
        f"{module} ({LAYERS[mine][0]}) imports {imported} ({LAYERS[_layer(imported)][0]})"
        for imported in GRAPH[module]
        if not _exempt(imported) and _layer(imported) > mine
    ]
    assert not upward, upward


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if m.startswith("lamport.report.")))
def test_a_report_module_runs_no_simulation(module):
    """Only write_report (lamport.report itself) calls the simulations a report quotes."""
    calls = [
        f"{imported}.{name}" if name else imported
        for imported, name in _imports(module)
        if imported in SIMULATES or name in SIMULATING_NAMES
    ]
    assert not calls, calls


def test_the_architecture_page_shows_the_same_layers():
    page = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    for name, entries in LAYERS:
        assert f"| {name} |" in page, name
        for entry in entries:
            shown = entry.removeprefix("lamport.").replace(".", "/") if entry != "lamport" else ""
            if shown:
                assert f"`{shown}" in page, entry
