"""The import graph of nmt/ and cli/, read with `ast`: no cycles, and no import inside a
function that could hide one. Layers are what make the code readable top-down; a cycle
is two modules that can only be understood together."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"nmt": ROOT / "nmt", "nmt_cli": ROOT / "cli"}
# Imports inside functions that stay, each for a reason of its own: `nmt.Translator`
# loads torch only when used (nmt/__init__.py), and the commands import what they run
# when they run, so that `nmt --help` is instant (cli/).
LAZY = {"nmt": {"__getattr__"}}


def modules() -> dict[str, Path]:
    """Every module by its dotted name."""
    found = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


def imported(node: ast.Import | ast.ImportFrom, known: set[str]) -> set[str]:
    """The modules of ours an import statement loads (`from nmt import distributed` is
    the module nmt.distributed; `from nmt import __version__` the package nmt)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif node.level:
        raise AssertionError(f"relative import at line {node.lineno}: write it whole")
    else:
        names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
    ours = {name for name in names if name in known}
    return {name for name in ours if not any(other.startswith(name + ".") for other in ours)}


def graph() -> tuple[dict[str, set[str]], list[str]]:
    """module -> the modules of ours it imports, anywhere in it (TYPE_CHECKING too); and
    the imports of our modules made inside functions."""
    known = set(modules())
    edges: dict[str, set[str]] = {}
    inside: list[str] = []
    for name, path in modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        edges[name] = set()
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom) and imported(node, known):
                    if not name.startswith("nmt_cli") and function.name not in LAZY.get(name, ()):
                        inside.append(f"{name}.{function.name} (line {node.lineno})")
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges[name] |= imported(node, known) - {name}
    return edges, sorted(set(inside))


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph, as the modules along it, or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node], path[len(path) :] = "open", [node]
        for target in sorted(edges[node]):
            if state.get(target) == "open":
                return path[path.index(target) :] + [target]
            if target not in state and (found := visit(target)):
                return found
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_import_graph_has_no_cycle():
    edges, _ = graph()
    found = cycle(edges)
    assert found is None, "import cycle: " + " -> ".join(found)


def test_no_import_of_ours_hides_inside_a_function():
    _, inside = graph()
    assert inside == []


def test_the_cycle_finder_finds_one():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None
