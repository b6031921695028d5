"""The import graph of nmt/ and cli/, read with `ast`: no cycles, no import that climbs to
a higher floor, and no import inside a function that could hide one. Layers are what make
the code readable top-down; a cycle is two modules that can only be understood together."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

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
    the module nmt.training.distributed; `from nmt import __version__` the package nmt)."""
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


# The packages of nmt's extras (pyproject.toml): a module that needs one skips without it.
EXTRA_PACKAGES = {"fastapi", "uvicorn", "h11", "matplotlib", "onnx", "onnxruntime", "ctranslate2"}


@pytest.mark.parametrize("name", sorted(set(modules()) - {"nmt.__main__"}))  # it runs the CLI
def test_every_module_imports(name):
    """What reading the source cannot see: a module that needs what this Python or this
    torch lacks (.ci/versions.sh runs this file under each Python that nmt claims)."""
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in EXTRA_PACKAGES:
            raise
        pytest.skip(f"{name} needs {error.name}, which comes with an extra not installed")


def test_the_import_graph_has_no_cycle():
    edges, _ = graph()
    found = cycle(edges)
    assert found is None, "import cycle: " + " -> ".join(found)


def test_no_import_of_ours_hides_inside_a_function():
    _, inside = graph()
    assert inside == []


# The floors of nmt/, lowest first (docs/layout.md has one row per floor): a module
# imports from its own folder or a folder on a lower floor, never from one above. "nmt" is
# the shared base (errors, atomic, textio, lock, device, extras); the command line
# (nmt_cli) stands above them all.
FLOORS = [
    "nmt",
    "nmt.config",
    "nmt.data",
    "nmt.models",
    "nmt.run",
    "nmt.generation",
    "nmt.training",
    "nmt.metrics",
    "nmt.inference",
    "nmt.evaluation",
    "nmt.export",
    "nmt.serve",
    "nmt_cli",
]


def floor(module: str) -> int:
    """The floor of a module: that of its folder (a base module, or nmt itself, is floor 0)."""
    parts = module.split(".")
    folder = ".".join(parts[:2]) if parts[0] == "nmt" else parts[0]
    return FLOORS.index(folder) if folder in FLOORS else 0


# The package's doors, on no floor: nmt exports Translator (the public API), and
# nmt.__main__ runs the command line (`python -m nmt`).
DOORS = {"nmt", "nmt.__main__"}


def climbing(edges: dict[str, set[str]]) -> list[str]:
    """The imports that reach a higher floor than their module's."""
    return sorted(
        f"{name} -> {target}"
        for name, targets in edges.items()
        for target in targets - DOORS
        if name not in DOORS and floor(target) > floor(name)
    )


def test_every_folder_has_a_floor():
    folders = {".".join(name.split(".")[:2]) for name in modules() if name.count(".") >= 2}
    assert folders - set(FLOORS) == set()


def test_no_import_climbs_to_a_higher_floor():
    edges, _ = graph()
    assert climbing(edges) == []


def test_the_floor_check_finds_a_climb():
    edges = {
        "nmt.models.model": {"nmt.errors", "nmt.config.recipe"},
        "nmt.config.recipe": {"nmt.models.model"},
    }
    assert climbing(edges) == ["nmt.config.recipe -> nmt.models.model"]


def test_the_cycle_finder_finds_one():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


# The inference road: only these reach search, translation and scoring through anything
# but nmt.Translator (training validates by greedy search; the server's jobs name the
# types of what they return, and the commands' files the type of what they write).
BELOW_TRANSLATOR = {"nmt.generation.search", "nmt.inference.decode_lines", "nmt.generation.scoring"}
ABOVE_TRANSLATOR = ("nmt_cli", "nmt.serve", "nmt.evaluation.evaluate")


def test_inference_has_one_road_through_the_translator():
    edges, _ = graph()
    importers = {name for name, targets in edges.items() if "nmt.inference.translator" in targets}
    assert all(name == "nmt" or name.startswith(ABOVE_TRANSLATOR) for name in importers)
    around = {
        name: sorted(targets & BELOW_TRANSLATOR)
        for name, targets in edges.items()
        if name.startswith(ABOVE_TRANSLATOR) and targets & BELOW_TRANSLATOR
    }
    assert around == {
        "nmt.serve.jobs": ["nmt.generation.scoring"],
        "nmt_cli.decode_files": ["nmt.inference.decode_lines"],
    }


def test_one_class_per_name():
    """Two classes of one name (there were two Hypothesis and two Attention) make a
    reader ask which one is meant."""
    seen: dict[str, list[str]] = {}
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                seen.setdefault(node.name, []).append(name)
    assert {name: where for name, where in seen.items() if len(where) > 1} == {}


def test_bench_scripts_import_each_other_by_whole_name():
    """bench/ is a package: `from bench.speed.results import ...`, never `from results`."""
    bench = ROOT / "bench"
    # not bench/scratch/: what the benchmark generates (the peers' venvs), git-ignored
    ours = [path for path in bench.rglob("*.py") if "scratch" not in path.relative_to(bench).parts]
    local = {path.stem for path in ours} | {path.name for path in bench.iterdir()}
    bare = []
    for path in ours:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                tops = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                tops = [node.module.split(".")[0]]
            else:
                continue
            bare += [f"{path.relative_to(ROOT)}: {top}" for top in tops if top in local - {"bench"}]
    assert bare == []
