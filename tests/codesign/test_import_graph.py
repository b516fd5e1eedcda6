"""The house's floors, read from the source: no import circle among codesign's modules (imports
inside functions count: they run too), and the Python API (codesign.api) is the top floor,
imported only by the package and the CLI."""
from __future__ import annotations

import ast
from pathlib import Path

import codesign

ROOT = Path(codesign.__file__).resolve().parent.parent


def _module_names() -> dict[str, Path]:
    names = {}
    for path in (ROOT / "codesign").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


MODULES = _module_names()


def _imports(name: str, path: Path) -> set[str]:
    """The codesign modules `name` imports anywhere in its file (a package's own __init__, run
    first by Python, is not counted: it is not the module's choice)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle of `graph` (as a path back to its start), or [] when there is none."""
    state: dict[str, int] = {}           # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return []


def test_the_scan_sees_imports_inside_functions_and_finds_a_planted_circle():
    assert "codesign.network_plan" in GRAPH["codesign.api"]          # imported inside api.plan
    planted = {k: set(v) for k, v in GRAPH.items()}
    planted["codesign.plans"].add("codesign.api")
    found = _cycle(planted)
    assert "codesign.api" in found and "codesign.plans" in found and found[0] == found[-1]


def test_no_import_circle_inside_codesign():
    assert _cycle(GRAPH) == []


def test_the_api_is_imported_only_by_the_package_and_the_cli():
    importers = sorted(m for m, imported in GRAPH.items() if "codesign.api" in imported)
    assert importers and all(m == "codesign" or m.startswith("codesign.cli.") for m in importers), importers
