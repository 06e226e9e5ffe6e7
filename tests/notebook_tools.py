"""Reading lesson notebooks for the structure tests: sections, code cells as ``ast`` trees, course calls."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_utils.paths import NOTEBOOKS_DIR as NOTEBOOK_DIR

NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))

_MAGIC = re.compile(r"^\s*[%!]")


@dataclass
class CodeCell:
    """A code cell with its position, section and parsed tree."""

    index: int  # position in the notebook
    section: str  # the last "## " heading above it ("" before the first)
    source: str  # the cell's source
    tree: ast.Module  # parsed source (IPython magics blanked out)


def read(path: Path) -> nbformat.NotebookNode:
    """The notebook at ``path`` (nbformat 4)."""
    return nbformat.read(path, as_version=4)


def headings(nb: nbformat.NotebookNode) -> list[tuple[int, int, str]]:
    """(cell index, level, text) of every Markdown heading outside code fences."""
    out = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        fenced = False
        for line in cell.source.splitlines():
            if line.lstrip().startswith("```"):
                fenced = not fenced
            m = re.match(r"^(#{1,6})\s+(.*\S)\s*$", line)
            if m and not fenced:
                out.append((i, len(m.group(1)), m.group(2)))
    return out


def parse(source: str) -> ast.Module:
    """Parse a code cell; lines with IPython magics or shell escapes become ``pass``."""
    lines = ["pass" if _MAGIC.match(line) else line for line in source.splitlines()]
    return ast.parse("\n".join(lines))


def code_cells(nb: nbformat.NotebookNode) -> list[CodeCell]:
    """Every code cell with its section (raises SyntaxError naming the cell when one does not parse)."""
    section = ""
    cells = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for _, level, text in headings(nbformat.v4.new_notebook(cells=[cell])):
                if level == 2:
                    section = text
        elif cell.cell_type == "code":
            try:
                tree = parse(cell.source)
            except SyntaxError as err:
                raise SyntaxError(f"code cell {i} does not parse: {err}\n{cell.source}") from None
            cells.append(CodeCell(i, section, cell.source, tree))
    return cells


def course_calls(tree: ast.AST, module: str, function: str) -> list[ast.Call]:
    """Calls written ``module.function(...)``, e.g. ``quiz.show("04")``."""
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == function and isinstance(node.func.value, ast.Name) and node.func.value.id == module]


def section_text(nb: nbformat.NotebookNode, title: str) -> str:
    """The Markdown of the section ``## title`` (its cells up to the next level-2 heading)."""
    out, inside = [], False
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            m = re.match(r"^##\s+(.*\S)\s*$", line)
            if m:
                inside = m.group(1) == title
                continue
            if inside:
                out.append(line)
    return "\n".join(out)
