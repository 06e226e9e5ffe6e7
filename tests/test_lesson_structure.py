"""Every lesson notebook follows the course template (fast: nothing is executed except exercise functions)."""

from __future__ import annotations

import ast
import inspect
import re
import textwrap

import pytest
from notebook_tools import NOTEBOOK_DIR, NOTEBOOKS, code_cells, course_calls, headings, read, section_text

from course_utils import exercises, quiz, solutions
from course_utils.course_map import LESSONS

TEMPLATE = ["Learning objectives", "Common mistakes", "Practice questions", "Mini assignment", "Quick recap",
            "Next lesson"]
LESSON00 = ["Learning objectives", "Practice questions", "Mini assignment", "Next lesson"]

ids = [p.stem for p in NOTEBOOKS]
pytestmark = pytest.mark.skipif(not NOTEBOOKS, reason="no lesson notebooks yet")


def lesson_of(path) -> str:
    return path.name[:2]


def bullets(text: str) -> int:
    return sum(bool(re.match(r"^(?:[-*]|\d+\.)\s+\S", line)) for line in text.splitlines())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_committed_without_outputs(path) -> None:
    nb = read(path)
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: code cells {dirty} have outputs or execution counts; commit it stripped"
    assert "widgets" not in nb.metadata, f"{path.name}: saved widget state in the metadata; strip it"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_every_cell_has_a_unique_id(path) -> None:
    """nbformat 4.5 cell ids, read from the raw file (nbformat.read would fill in missing ones)."""
    import json

    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    missing = [i for i, c in enumerate(cells) if not c.get("id")]
    assert not missing, f"{path.name}: cells {missing} have no id"
    assert len({c["id"] for c in cells}) == len(cells), f"{path.name}: two cells share an id"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_template_headings_in_order(path) -> None:
    nb = read(path)
    lesson = lesson_of(path)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith(f"# Lesson {int(lesson)} of 11: "), (
        f"{path.name}: the first cell must be the title '# Lesson {int(lesson)} of 11: ...'")
    assert "CPU" in first.source and "GPU" in first.source, f"{path.name}: give the estimated time on CPU and GPU"
    found = [text for _, level, text in headings(nb) if level == 2]
    wanted = LESSON00 if lesson == "00" else TEMPLATE
    positions = []
    for title in wanted:
        assert title in found, f"{path.name}: missing the heading '## {title}' (has: {found})"
        positions.append(found.index(title))
    assert positions == sorted(positions), f"{path.name}: headings out of order, expected {wanted}, found {found}"
    assert 3 <= bullets(section_text(nb, "Learning objectives")) <= 6, f"{path.name}: 3-6 learning objectives"
    if lesson != "00":
        assert 3 <= bullets(section_text(nb, "Common mistakes")) <= 6, f"{path.name}: 3-6 common mistakes"
        assert bullets(section_text(nb, "Quick recap")) >= 2, f"{path.name}: the recap is a bullet list"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_next_lesson_link(path) -> None:
    lesson = int(lesson_of(path))
    text = section_text(read(path), "Next lesson")
    links = re.findall(r"\[([^\]]+)\]\(([^)\s]+)\)", text)
    assert links, f"{path.name}: the Next lesson section needs a Markdown link"
    if lesson < 10:
        nxt = f"{lesson + 1:02d}"
        targets = [t for label, t in links if t.startswith(f"{nxt}_") and t.endswith(".ipynb")
                   and label.startswith(f"Lesson {nxt}")]
        assert targets, f"{path.name}: link '[Lesson {nxt}: title]({nxt}_topic.ipynb)' to the next lesson"
        expected = next(ls.notebook for ls in LESSONS if ls.number == nxt)
        assert targets[0] == expected, f"{path.name}: the next lesson is {expected}, not {targets[0]}"


def test_course_map_and_notebooks_agree() -> None:
    """Every notebook is on the course map under its file name, and the map lists lessons 00-11."""
    on_map = [ls.notebook for ls in LESSONS]
    assert [ls.number for ls in LESSONS] == [f"{n:02d}" for n in range(12)]
    strays = [p.name for p in NOTEBOOKS if p.name not in on_map]
    assert not strays, f"notebooks not on the course map (course_utils/course_map.py): {strays}"


def test_every_lesson_on_the_map_has_a_notebook() -> None:
    """The course is complete: every lesson on the map has its notebook."""
    missing = [ls.notebook for ls in LESSONS if not (NOTEBOOK_DIR / ls.notebook).is_file()]
    assert not missing, f"lessons on the course map without a notebook: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_practice_questions_exist(path) -> None:
    nb = read(path)
    lesson = lesson_of(path)
    shown = []
    for cell in code_cells(nb):
        for call in course_calls(cell.tree, "quiz", "show"):
            assert call.args and isinstance(call.args[0], ast.Constant), (
                f"{path.name} cell {cell.index}: quiz.show needs the lesson as a literal, e.g. quiz.show(\"{lesson}\")")
            key = quiz.lesson_key(call.args[0].value)
            bank = quiz.load_bank(key)
            assert len(bank.questions) >= 5, f"{path.name}: bank {key} has fewer than 5 questions"
            known = {q.id for q in bank.questions}
            id_args = [kw.value for kw in call.keywords if kw.arg == "ids"] + call.args[1:2]
            for node in id_args:
                for qid in ast.literal_eval(node) if not isinstance(node, ast.Constant) else [node.value]:
                    assert qid in known, f"{path.name}: question id {qid!r} is not in bank {key}"
            shown.append((cell.section, key))
        for fn in ("answer", "hint"):
            for call in course_calls(cell.tree, "quiz", fn):
                if call.args and isinstance(call.args[0], ast.Constant):
                    assert quiz.find_question(call.args[0].value), f"{path.name}: unknown id {call.args[0].value!r}"
    assert ("Practice questions", lesson) in shown, (
        f"{path.name}: the Practice questions section needs a cell calling quiz.show(\"{lesson}\")")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_answers_are_not_in_the_notebook(path) -> None:
    source = "\n".join(c.source for c in read(path).cells)
    bank = quiz.load_bank(lesson_of(path))
    for q in bank.questions:
        secrets = [o.explanation for o in q.options] + [q.explanation, q.model_answer]
        for secret in secrets:
            if len(secret) >= 25:
                assert secret not in source, f"{path.name}: the explanation of {q.id} is in the notebook's source"


def _checks(path) -> list[tuple[int, str, str | None]]:
    """(cell index, exercise name, name of the function passed) of every exercises.check call."""
    out = []
    for cell in code_cells(read(path)):
        for call in course_calls(cell.tree, "exercises", "check"):
            assert call.args and isinstance(call.args[0], ast.Constant), (
                f"{path.name} cell {cell.index}: exercises.check needs the exercise name as a literal string")
            fn = call.args[1].id if len(call.args) > 1 and isinstance(call.args[1], ast.Name) else None
            out.append((cell.index, call.args[0].value, fn))
    return out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_mini_assignment_is_checked(path) -> None:
    checks = _checks(path)
    for _, name, _ in checks:
        assert name in exercises.NAMES, f"{path.name}: exercise {name!r} is not registered ({exercises.NAMES})"
    cells = code_cells(read(path))
    in_section = [c for c in cells if c.section == "Mini assignment"]
    assert any("raise NotImplementedError" in c.source for c in in_section), (
        f"{path.name}: the Mini assignment needs a stub raising NotImplementedError")
    assert any(course_calls(c.tree, "exercises", "check") for c in in_section), (
        f"{path.name}: the Mini assignment needs a cell calling exercises.check")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_notebooks_define_no_reusable_code(path) -> None:
    for cell in code_cells(read(path)):
        defined = [n.name for n in ast.walk(cell.tree)
                   if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        if defined and "raise NotImplementedError" not in cell.source and cell.section != "Mini assignment":
            pytest.fail(f"{path.name} cell {cell.index} (section {cell.section!r}) defines {defined}; "
                        "reusable code belongs in course_utils")


def _stub_cases() -> list[tuple]:
    out = []
    for path in NOTEBOOKS:
        nb = read(path)
        cells = code_cells(nb)
        for index, name, fn in _checks(path):
            if fn is None:
                continue
            defining = [c for c in cells if c.index < index and any(
                isinstance(n, ast.FunctionDef) and n.name == fn for n in c.tree.body)]
            if defining and "raise NotImplementedError" in defining[-1].source:
                out.append(pytest.param(path, name, fn, defining[-1], id=f"{path.stem}-{name}"))
    return out


def _imports_namespace(path, reference) -> dict:
    """The reference's module globals plus every top-level import of the notebook."""
    namespace = dict(vars(inspect.getmodule(reference)))
    for cell in code_cells(read(path)):
        imports = [n for n in cell.tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        if imports:
            exec(compile(ast.Module(body=imports, type_ignores=[]), path.name, "exec"), namespace)  # noqa: S102
    return namespace


@pytest.mark.parametrize(("path", "name", "fn", "cell"), _stub_cases())
def test_stub_and_reference_agree(path, name, fn, cell, progress_file, capsys) -> None:
    """The stub's signature is the reference's; the stub reads 'not attempted'; the reference in its place passes."""
    reference = getattr(solutions, name)
    stub = next(n for n in cell.tree.body if isinstance(n, ast.FunctionDef) and n.name == fn)
    stub_params = [a.arg for a in stub.args.posonlyargs + stub.args.args + stub.args.kwonlyargs]
    ref_params = [p.name for p in inspect.signature(reference).parameters.values()]
    assert stub_params == ref_params, f"{path.name}: stub {fn}{tuple(stub_params)} vs reference {tuple(ref_params)}"

    namespace = _imports_namespace(path, reference)
    exec(compile(ast.Module(body=[stub], type_ignores=[]), f"{path.name}-stub", "exec"), namespace)  # noqa: S102
    assert not exercises.check(name, namespace[fn])
    assert "not attempted yet" in capsys.readouterr().out

    lines = cell.source.splitlines()
    start = (stub.decorator_list[0].lineno if stub.decorator_list else stub.lineno) - 1
    ref_source = textwrap.dedent(inspect.getsource(reference))
    ref_source = re.sub(rf"def\s+{reference.__name__}\s*\(", f"def {fn}(", ref_source, count=1)
    replaced = "\n".join(lines[:start] + ref_source.splitlines() + lines[stub.end_lineno:])
    namespace = _imports_namespace(path, reference)
    try:
        exec(compile(replaced, f"{path.name}-solved", "exec"), namespace)  # noqa: S102
    except NameError:  # the cell also uses notebook variables: the function alone is enough here
        exec(compile(ref_source, f"{path.name}-solved", "exec"), namespace)  # noqa: S102
    assert exercises.check(name, namespace[fn]), capsys.readouterr().out
