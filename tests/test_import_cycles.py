"""No import cycle among peekr's modules, counting imports inside functions (a lazy import that dodges a
cycle is still one). ``if TYPE_CHECKING:`` imports never run and are left out.

The import graph comes from grimp (the engine of import-linter); its strongly connected components are the
cycles. A cycle that other work is removing is allowed below, with the reason; the test also fails when an
allowed cycle is gone, so the list only shrinks.
"""

from __future__ import annotations

from pathlib import Path

import grimp
import pytest

#: Cycles still present, each as the set of its modules (a strongly connected component of the graph).
ALLOWED: dict[frozenset[str], str] = {}  # every cycle is gone; keep it that way


def _cycles(graph: grimp.ImportGraph) -> set[frozenset[str]]:
    """The strongly connected components with more than one module, or a module importing itself (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: set[frozenset[str]] = set()
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1 or graph.direct_import_exists(importer=node, imported=node):
                    found.add(frozenset(component))
    return found


def _describe(graph: grimp.ImportGraph, component: frozenset[str]) -> str:
    lines = [" <-> ".join(sorted(component))]
    for importer in sorted(component):
        for imported in sorted(graph.find_modules_directly_imported_by(importer) & component):
            details = graph.get_import_details(importer=importer, imported=imported)
            where = ", ".join(f"line {d['line_number']}: {d['line_contents']}" for d in details)
            lines.append(f"  {importer} -> {imported} ({where})")
    return "\n".join(lines)


def test_no_import_cycle_among_peekr_modules() -> None:
    graph = grimp.build_graph("peekr", exclude_type_checking_imports=True, cache_dir=None)
    cycles = _cycles(graph)
    new = sorted(cycles - ALLOWED.keys(), key=sorted)
    assert not new, "import cycles (restructure; do not hide the import in a function):\n" + "\n".join(
        _describe(graph, c) for c in new
    )
    gone = [sorted(c) for c in ALLOWED.keys() - cycles]
    assert not gone, f"these allowed cycles are gone: remove them from ALLOWED: {gone}"


def test_the_cycle_finder_sees_imports_inside_functions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "cyclic_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from . import b\n")
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from . import c\n\n\ndef later():\n    from . import a\n"
    )
    (package / "c.py").write_text("from . import b\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("cyclic_pkg", exclude_type_checking_imports=True, cache_dir=None)
    assert _cycles(graph) == {frozenset({"cyclic_pkg.a", "cyclic_pkg.b"})}  # b <-> c only under TYPE_CHECKING
