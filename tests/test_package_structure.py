"""The shape of ``course_utils``: no import cycle, imports go one way, leaves stay leaves, modules stay small.

Imports are read from the source with ``ast``, every one of them, also those inside functions. An
import of ``course_utils.a.b`` from outside package ``a`` also runs ``course_utils/a/__init__.py``,
so it counts as an import of that package as well.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "course_utils"

LEAVES = {"course_utils.paths", "course_utils.device", "course_utils.progress", "course_utils.course_map",
          "course_utils.verdict"}
"""Modules everything may import; they import nothing of the course except one another."""

LAYERS = [  # (module prefix, layer): a module may import its own layer and the ones below it
    ("course_utils.paths", 0), ("course_utils.device", 0), ("course_utils.progress", 0),
    ("course_utils.course_map", 0), ("course_utils.verdict", 0),
    ("course_utils.data", 1),
    ("course_utils.models", 2),
    ("course_utils.metrics", 3), ("course_utils.train", 3),
    ("course_utils.viz", 4), ("course_utils.tools", 4), ("course_utils.quiz", 4), ("course_utils.exercises", 4),
    ("course_utils.solutions", 4), ("course_utils.progress.report", 4), ("course_utils.progress.classroom", 4),
    ("course_utils.engine", 4),
    ("course_utils.__main__", 5), ("course_utils", 5),
]
"""lessons -> tools / viz / quiz / exercises / solutions / progress.report and .classroom / engine -> train / metrics
-> models -> data -> paths / device / the progress store / course_map (CONTRIBUTING.md)."""

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def module_files(root: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by the name of its ``__init__``)."""
    out = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom, modules: set[str]) -> list[str]:
    """The course modules one import statement names (``from a import b``: the module ``a.b`` if it is one)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[:len(base) - node.level + 1]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        names = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in modules else prefix for a in node.names]
    found = []
    for name in names:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        if name.startswith("course_utils"):
            found.append(name)
    return found


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """``{module: the course modules it imports}``, imports inside functions and parent packages included."""
    files = module_files(root)
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _targets(module, path.name == "__init__.py", node, set(files)):
                    parts = target.split(".")
                    for i in range(2, len(parts) + 1):  # the target and the packages above it
                        name = ".".join(parts[:i])
                        if name in files and not (module == name or module.startswith(name + ".")):
                            edges.add(name)
        graph[module] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first = last), or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def layer(module: str) -> int:
    """The layer of a module: the longest matching prefix in ``LAYERS``."""
    best = max((p for p, _ in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return dict(LAYERS)[best]


def test_the_package_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_hidden_cycle(tmp_path: Path) -> None:
    """The check can fail: a cycle through an import inside a function, and one through a package."""
    pkg = tmp_path / "course_utils"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import f\n")
    (pkg / "b.py").write_text("def f():\n    from . import a\n")
    (pkg / "sub" / "__init__.py").write_text("from ..c import g\n")
    (pkg / "sub" / "leaf.py").write_text("")
    (pkg / "c.py").write_text("from .sub.leaf import x\n")
    cycle = find_cycle(import_graph(pkg))
    assert cycle is not None and cycle[0] == cycle[-1]
    (pkg / "b.py").write_text("def f():\n    pass\n")
    assert find_cycle(import_graph(pkg)) == ["course_utils.c", "course_utils.sub", "course_utils.c"]
    (pkg / "c.py").write_text("x = 1\n")
    assert find_cycle(import_graph(pkg)) is None


def test_imports_go_one_way() -> None:
    wrong = [f"{m} (layer {layer(m)}) imports {t} (layer {layer(t)})"
             for m, targets in import_graph().items() for t in sorted(targets) if layer(t) > layer(m)]
    assert not wrong, "imports against the direction of CONTRIBUTING.md:\n" + "\n".join(wrong)


def test_leaves_import_nothing_else_of_the_course() -> None:
    graph = import_graph()
    for leaf in sorted(LEAVES):
        assert graph[leaf] <= LEAVES, f"{leaf} imports {sorted(graph[leaf] - LEAVES)}"


def test_the_progress_store_does_not_load_torch() -> None:
    code = "import sys, course_utils.progress as p; p.path(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("module", sorted(module_files()))
def test_modules_and_public_functions_are_short(module: str) -> None:
    path = module_files()[module]
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{path.name}: {len(text.splitlines())} lines"
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)" for node in ast.walk(ast.parse(text))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_")
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"{module}: public functions over {MAX_FUNCTION_LINES} lines: {long}"
