"""No import cycles among the core modules, not even through imports inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import peekr

ROOT = Path(peekr.__file__).resolve().parent

#: The core: the runtime, the pipeline, the bus, the sinks, the public front door, the evaluator
#: subscriber. A cycle anywhere among these fails the test.
CORE_PACKAGES = ("peekr", "peekr.bus", "peekr.sinks")
CORE_MODULES = ("peekr.eval", "peekr.evaluators._sink", "peekr.evaluators._runner", "peekr.evaluators._base")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in ROOT.rglob("*.py")}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of peekr that ``name`` imports at run time, wherever the import statement is."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:  # only the TYPE_CHECKING branch is skipped: it never runs
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                if f"{target}.{alias.name}" in known:  # ``from . import _runtime``: a module
                    found.add(f"{target}.{alias.name}")
                elif target in known:
                    found.add(target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    """Every peekr module -> the peekr modules it imports at run time (type-only imports excluded)."""
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def _is_core(module: str) -> bool:
    return module.rpartition(".")[0] in CORE_PACKAGES or module in CORE_PACKAGES or module in CORE_MODULES


def test_the_check_sees_imports_inside_functions() -> None:
    graph = {"a": {"b"}, "b": {"a"}, "c": {"a"}}
    assert cycles(graph) == [["a", "b"]]
    assert "peekr.integrations" in import_graph()["peekr._api"]  # imported inside instrument()


def test_no_import_cycle_among_the_core_modules() -> None:
    graph = import_graph()
    core = {name: {other for other in targets if _is_core(other)} for name, targets in graph.items() if _is_core(name)}
    assert cycles(core) == []


def test_the_runtime_and_the_tracer_do_not_import_each_other() -> None:
    graph = import_graph()
    assert "peekr._runtime" in graph["peekr._tracer"]
    assert not [c for c in cycles(graph) if "peekr._runtime" in c or "peekr._tracer" in c]
