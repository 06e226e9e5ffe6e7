"""Every lesson runs top to bottom from a fresh kernel at default settings, in lesson order, without errors.

Executed copies are saved under ``test-output/notebooks/`` for inspection (figures included).
Run only these with ``pytest -m notebook``; leave them out with ``pytest -m "not slow"``.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from notebook_tools import NOTEBOOK_DIR, NOTEBOOKS

from course_utils.paths import REPO_ROOT
from course_utils.tools.lesson_runner import CourseNotebookClient

OUTPUT_DIR = REPO_ROOT / "test-output" / "notebooks"
CELL_TIMEOUT = 600  # seconds for one cell; a lesson must finish in 4 minutes on a 2-core CPU
STARTUP_TIMEOUT = 300  # kernel start-up on a busy machine is slow
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _error_cells(nb: nbformat.NotebookNode) -> list[tuple[int, str]]:
    """(cell index, readable description) of every code cell with an error output."""
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "error":
                trace = _ANSI.sub("", "\n".join(out.get("traceback", [])))[-3000:]
                found.append((i, f"--- cell {i} ---\n{cell.source}\n--- error ---\n"
                                 f"{out.get('ename')}: {out.get('evalue')}\n{trace}"))
    return found


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.timeout(CELL_TIMEOUT * 3)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The kernel inherits this environment: two threads, figures rendered inline (so the saved copies show
    # them), and conftest's temporary progress file and session-wide checkpoint folder.
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    nb = nbformat.read(path, as_version=4)
    client = CourseNotebookClient(nb, timeout=CELL_TIMEOUT, startup_timeout=STARTUP_TIMEOUT, kernel_name="python3",
                                  resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    failure = None
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
        failure = err
    finally:
        nbformat.write(nb, OUTPUT_DIR / path.name)
    seconds = time.perf_counter() - start
    print(f"{path.name}: {seconds:.0f} s, executed copy in {OUTPUT_DIR / path.name}")
    errors = _error_cells(nb)
    if failure is not None or errors:
        detail = "\n\n".join(text for _, text in errors) or _ANSI.sub("", str(failure))[-4000:]
        pytest.fail(f"{path.name} failed after {seconds:.0f} s (executed copy: {OUTPUT_DIR / path.name})\n{detail}",
                    pytrace=False)
    assert os.environ["COURSE_PROGRESS"] != str(REPO_ROOT / "progress.json")  # never the learner's own file
