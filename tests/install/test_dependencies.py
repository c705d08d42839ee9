"""Every third-party import under peekr/ is a declared dependency, or an extra's package imported where
its absence is handled.

``peekr/bus`` once imported sniffio, which nothing declared: every test venv had it through the SDKs,
but a plain ``pip install`` could not ``import peekr``. The per-extra venvs of ``test_extras_smoke.py``
run the main paths; this check covers every file, quickly, in the main venv.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "peekr"

#: Pinned exactly by a core dependency: as safe as a direct one.
PINNED_BY_CORE = {"pydantic-core": "pydantic's engine (pydantic requires pydantic-core==its version)"}

#: Not in an extra's list but present whenever the code importing it can run.
INDIRECT = {
    "starlette": "FastAPI is built on it (server and fastapi extras)",
    "httpx2": "the HTTP client of the openai, anthropic and google-genai SDKs; only the fake provider's "
    "in-process transports for those SDKs import it",
    "trio": "imported only when the running event loop is trio",
    "aiobotocore": "comes with aioboto3 (bedrock-async extra)",
    "botocore": "comes with boto3 (bedrock extra)",
}

#: Modules that are only imported once their extra is known to be installed (after the integration's
#: ``find_spec`` check, or behind a package ``__init__`` that turns the ImportError into an install hint).
EXTRA_ONLY_MODULES = {
    "peekr.integrations.bedrock._body": "the bedrock integration, enabled only when botocore imports",
    "peekr.integrations.bedrock._aio_body": "loaded by the bedrock integration when aiobotocore is imported",
    "peekr.integrations.langchain._handler": "imported by the langchain integration's hook, when langchain_core is imported",
    "peekr.integrations.llamaindex._handler": "imported by the llamaindex integration's hook, when llama_index.core is imported",
    "peekr.integrations.openai_agents._processor": "imported by the openai_agents integration's hook, when agents is imported",
    "peekr.server": "peekr/server/__init__.py raises the install hint for the server extra",
    "peekr.ui._routes": "imported by peekr.server's app, behind the server extra's install hint",
    "peekr.mcp": "peekr/mcp/__init__.py raises the install hint for the mcp extra (the server app and "
    "`peekr mcp` import it in try/except ImportError)",
    "peekr.ui._local_app": "imported by `peekr ui` after it checked for the server extra",
    "peekr.testing.fake_provider._transport": "loaded by FakeProvider.transport() for httpx2-based SDKs",
}


@dataclass(frozen=True)
class Import:
    module: str  # peekr module doing the import
    line: int
    name: str  # top-level imported name
    guarded: bool  # inside a function, a try/except ImportError, or `if TYPE_CHECKING`


def _catches_import_error(node: ast.Try) -> bool:
    names = {"ImportError", "ModuleNotFoundError", "Exception"}
    for handler in node.handlers:
        caught = handler.type
        elts = caught.elts if isinstance(caught, ast.Tuple) else [caught]
        if caught is None or any(isinstance(e, ast.Name) and e.id in names for e in elts):
            return True
    return False


def _imports(path: Path, package: Path) -> list[Import]:
    module = ".".join(path.relative_to(package.parent).with_suffix("").parts).removesuffix(".__init__")
    found: list[Import] = []

    def visit(node: ast.AST, guarded: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(Import(module, node.lineno, a.name.split(".")[0], guarded) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(Import(module, node.lineno, node.module.split(".")[0], guarded))
        for field, value in ast.iter_fields(node):
            children = value if isinstance(value, list) else [value]
            inner = guarded
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                inner = True
            elif isinstance(node, ast.Try) and field == "body" and _catches_import_error(node):
                inner = True
            elif isinstance(node, ast.If) and field == "body" and "TYPE_CHECKING" in ast.unparse(node.test):
                inner = True
            for child in children:
                if isinstance(child, ast.AST):
                    visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def _declared() -> tuple[set[str], dict[str, set[str]]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    own = canonicalize_name(project["name"])
    core = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    extras = {
        extra: {canonicalize_name(Requirement(r).name) for r in reqs} - {own}
        for extra, reqs in project["optional-dependencies"].items()
        if extra != "dev"
    }
    return core, extras  # type: ignore[return-value]


@functools.cache
def _other_pythons_only() -> set[str]:
    """Requirements whose environment marker excludes this interpreter (``tomli; python_version < '3.11'``)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    every = [*project["dependencies"], *(r for reqs in project["optional-dependencies"].values() for r in reqs)]
    requirements = [Requirement(r) for r in every]
    return {canonicalize_name(r.name) for r in requirements if r.marker is not None and not r.marker.evaluate()}


@functools.cache
def _distributions(name: str) -> set[str]:
    return {canonicalize_name(d) for d in importlib.metadata.packages_distributions().get(name, [])}


def _problems(package: Path) -> list[str]:
    core, extras = _declared()
    in_extras = set().union(*extras.values())
    problems: list[str] = []
    for path in sorted(package.rglob("*.py")):
        for imp in _imports(path, package):
            if imp.name in sys.stdlib_module_names or imp.name in ("peekr", "__future__"):
                continue
            where = f"{imp.module}:{imp.line} imports {imp.name}"
            dists = _distributions(imp.name)
            if not dists and canonicalize_name(imp.name) in _other_pythons_only():
                continue  # e.g. tomli, declared for Python < 3.11 only and imported only there
            if not dists:
                problems.append(f"{where}, which no installed distribution provides")
            elif dists & (core | set(PINNED_BY_CORE)):
                continue
            elif not dists & (in_extras | set(INDIRECT)):
                problems.append(f"{where} ({', '.join(sorted(dists))}): declare it in pyproject.toml")
            elif not imp.guarded and not any(
                imp.module == m or imp.module.startswith(m + ".") for m in EXTRA_ONLY_MODULES
            ):
                problems.append(
                    f"{where} ({', '.join(sorted(dists))}) at module level: it is not a core dependency, so "
                    "import it lazily or in try/except ImportError with an install hint"
                )
    return problems


def test_every_third_party_import_is_declared() -> None:
    problems = _problems(PACKAGE)
    assert not problems, "\n".join(problems)


def test_the_check_sees_an_undeclared_import(tmp_path: Path) -> None:
    """A module-level import of an undeclared package (sniffio, before it was declared) is reported, and
    so is an extra's package imported at module level; a lazy import of an extra's package is fine."""
    package = tmp_path / "peekr"
    package.mkdir()
    (package / "_bus.py").write_text("import pytest\n\n\ndef lazy():\n    import fastapi\n")
    (package / "_server.py").write_text("import fastapi\n")
    (package / "_guarded.py").write_text("try:\n    import fastapi\nexcept ImportError:\n    fastapi = None\n")
    assert _problems(package) == [
        "peekr._bus:1 imports pytest (pytest): declare it in pyproject.toml",
        "peekr._server:1 imports fastapi (fastapi) at module level: it is not a core dependency, so "
        "import it lazily or in try/except ImportError with an install hint",
    ]
