"""Run the whole course headless: ``python -m course_utils.tools.lesson_runner`` (``make course``).

Every lesson ``notebooks/NN_*.ipynb`` is executed in order, each from a fresh kernel with the
kernel's working folder set to ``notebooks/``. The executed notebooks and an HTML page per lesson
(readable in any browser, no Jupyter needed) go to ``build/`` with an ``index.html`` linking them.
A table (lesson, time, status, headline metric) is printed and written to ``build/summary.md`` and
``build/summary.json``. The exit status is non-zero when a lesson fails.

The headline metric is what a lesson publishes with ``course_utils.tools.headline.headline(name, value)``.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import platform
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from queue import Empty
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbconvert import HTMLExporter

from ..paths import COURSE_BUDGET_S, LESSON_BUDGET_S, NOTEBOOKS_DIR
from .headline import find_headline
from .widget_snapshot import snapshot_widgets

LESSON_PATTERN = re.compile(r"^(\d\d)_\w+\.ipynb$")


class SlicedReplies:
    """Mixin for nbclient clients: read the kernel's replies in short slices.

    nbclient waits for a cell's ``execute_reply`` with one blocking read of the shell channel that
    lasts up to the cell timeout. After a cell that displays an ipywidgets ``interactive`` with a
    figure, that read often sleeps through a reply that has already arrived and only returns when
    the timeout runs out (measured here: about half of such cells stalled for the whole timeout,
    10 minutes per cell at the default). Reading in slices of ``poll_interval`` seconds, until the
    same overall deadline, picks the reply up at once. Everything else is the client's own; the
    course's lesson runner and its nbgrader autograder (``tools.nbgrader_execute``) both use it.
    """

    poll_interval = 0.5  # seconds per read of the shell channel

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        channel = kc.shell_channel
        blocking_get = channel.get_msg

        async def get_msg(timeout: float | None = None, **kwargs):
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                left = self.poll_interval if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    return await blocking_get(timeout=min(self.poll_interval, left), **kwargs)
                except Empty:
                    if deadline is not None and time.monotonic() >= deadline:
                        raise

        channel.get_msg = get_msg
        return kc


class CourseNotebookClient(SlicedReplies, NotebookClient):
    """``NotebookClient`` that reads the kernel's replies in short slices (see ``SlicedReplies``)."""


@dataclass
class LessonResult:
    """What running one lesson gave."""

    lesson: str  # "03"
    stem: str  # "03_fcn_semantic_segmentation"
    seconds: float  # wall time from kernel start to the last cell
    status: str  # "ok", "slow" (ok but over LESSON_BUDGET_S), "failed" or "timeout"
    headline: dict[str, Any] | None  # the record from tools.headline.headline, if the lesson published one
    error: str | None  # the error's last line and the cell it came from, when not ok
    ipynb: str  # executed notebook, relative to the output folder
    html: str  # HTML page, relative to the output folder

    @property
    def failed(self) -> bool:
        """Whether this lesson counts as a failure of the run."""
        return self.status in ("failed", "timeout")


def discover(notebooks_dir: Path, only: list[str] | None = None) -> list[Path]:
    """The lesson notebooks ``NN_topic.ipynb`` in course order, optionally only some numbers.

    Args:
        notebooks_dir: the folder holding the lessons.
        only: lesson numbers to keep ("03", "3"); None keeps all.

    Returns:
        notebook paths sorted by lesson number.
    """
    lessons = sorted(p for p in notebooks_dir.glob("*.ipynb") if LESSON_PATTERN.match(p.name))
    if only is None:
        return lessons
    wanted = {n.zfill(2) for n in only}
    unknown = wanted - {p.name[:2] for p in lessons}
    if unknown:
        have = ", ".join(p.name[:2] for p in lessons) or "none"
        raise ValueError(f"no lesson numbered {', '.join(sorted(unknown))} in {notebooks_dir} (lessons: {have})")
    return [p for p in lessons if p.name[:2] in wanted]


def _error_line(nb: nbformat.NotebookNode, exc: BaseException, timeout: float) -> str:
    """The last line of what went wrong, and in which cell (counting code cells from 1)."""
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    if isinstance(exc, CellTimeoutError):
        started = [n for n, c in enumerate(code_cells, start=1) if c.get("execution_count") is not None]
        where = f" (code cell {started[-1]})" if started else ""
        return f"a cell ran longer than the {timeout:.0f} s limit{where}"
    for number, cell in enumerate(code_cells, start=1):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return f"{out.get('ename', 'Error')}: {out.get('evalue', '')} (code cell {number})".strip()
    if isinstance(exc, DeadKernelError):
        return "the kernel died (out of memory?); its log is in logs/"
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def export_html(nb: nbformat.NotebookNode, path: Path, title: str) -> None:
    """Write ``nb`` as a stand-alone HTML page (figures embedded, widgets as static snapshots) with nbconvert.

    Args:
        nb: an executed notebook.
        path: the .html file to write.
        title: the page title.
    """
    body, _ = HTMLExporter().from_notebook_node(snapshot_widgets(nb), resources={"metadata": {"name": title}})
    path.write_text(body, encoding="utf-8")


def run_lesson(
    path: Path, out_dir: Path, timeout: float, env: dict[str, str] | None = None, startup_timeout: float = 120.0
) -> LessonResult:
    """Execute one lesson from a fresh kernel (cwd = its folder) and save it as .ipynb and .html.

    Args:
        path: the lesson notebook.
        out_dir: where ``<stem>.ipynb``, ``<stem>.html`` and the kernel's log ``logs/<stem>.kernel.log`` go.
        timeout: seconds any one cell may run.
        env: the kernel's environment (default: this process's).
        startup_timeout: seconds the kernel may take to start.

    Returns:
        the lesson's result.
    """
    nb = nbformat.read(path, as_version=4)
    kernel = nb.metadata.get("kernelspec", {}).get("name", "python3")
    client = CourseNotebookClient(
        nb,
        timeout=timeout,
        startup_timeout=startup_timeout,
        kernel_name=kernel,
        resources={"metadata": {"path": str(path.parent)}},
    )
    status, error = "ok", None
    stem = path.stem
    # The kernel's own messages (warnings, a crash) go to a log beside the pages, not into the summary.
    log_path = out_dir / "logs" / f"{stem}.kernel.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(log_path, "wb") as log:
        try:
            client.execute(env=dict(os.environ if env is None else env), stdout=log, stderr=log)
        except Exception as exc:  # any failure (cell error, timeout, kernel start) is reported
            status = "timeout" if isinstance(exc, CellTimeoutError) else "failed"
            error = _error_line(nb, exc, timeout)
    seconds = time.perf_counter() - start
    if status == "ok" and seconds > LESSON_BUDGET_S:
        status = "slow"
    nbformat.write(nb, out_dir / f"{stem}.ipynb")
    export_html(nb, out_dir / f"{stem}.html", title=stem)
    return LessonResult(
        lesson=stem[:2],
        stem=stem,
        seconds=seconds,
        status=status,
        headline=find_headline(nb),
        error=error,
        ipynb=f"{stem}.ipynb",
        html=f"{stem}.html",
    )


def _clock(seconds: float) -> str:
    """"m:ss" for a duration."""
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}"


def _rows(results: list[LessonResult]) -> list[tuple[str, str, str, str]]:
    """(lesson, time, status, headline-or-error) for each result, then a total row."""
    rows = []
    for r in results:
        if r.failed:
            last = r.error or ""
        elif r.headline:
            last = r.headline.get("text", "").removeprefix("Headline: ")
        else:
            last = "-"
        rows.append((r.stem, _clock(r.seconds), r.status.upper() if r.failed else r.status, last))
    total = sum(r.seconds for r in results)
    n_failed = sum(r.failed for r in results)
    verdict = f"{n_failed} of {len(results)} failed" if n_failed else f"all {len(results)} ran"
    rows.append(("total", _clock(total), verdict, f"course bar {_clock(COURSE_BUDGET_S)}"))
    return rows


def format_table(results: list[LessonResult]) -> str:
    """The summary as an aligned plain-text table.

    Args:
        results: one per lesson run.

    Returns:
        the table, one line per lesson plus a header and a total line.
    """
    rows = [("lesson", "time", "status", "headline metric / error"), *_rows(results)]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c:<{widths[2]}}  {d}".rstrip() for a, b, c, d in rows]
    lines.insert(1, "-" * max(len(line) for line in lines))
    lines.insert(-1, lines[1])
    return "\n".join(lines)


def format_markdown(results: list[LessonResult]) -> str:
    """The summary as a Markdown table (``summary.md``)."""
    lines = ["| lesson | time | status | headline metric / error |", "|---|---:|---|---|"]
    for row in _rows(results):
        cells = [cell.replace("|", "\\|") for cell in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _environment() -> dict[str, Any]:
    """Where the run happened: enough to read its times right."""
    import torch

    from ..device import get_device

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": str(get_device()),
        "cpu_count": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "platform": platform.platform(),
    }


def write_summary(results: list[LessonResult], out_dir: Path) -> None:
    """Write ``summary.md``, ``summary.json`` and ``index.html`` for a run into ``out_dir``.

    Args:
        results: one per lesson run, in course order.
        out_dir: the output folder (already holding the lessons' pages).
    """
    env = _environment()
    total = sum(r.seconds for r in results)
    (out_dir / "summary.md").write_text(
        f"# Course run\n\n{format_markdown(results)}\nDevice: {env['device']}, {env['cpu_count']} CPUs, "
        f"OMP_NUM_THREADS={env['omp_num_threads']}, torch {env['torch']}.\n",
        encoding="utf-8",
    )
    payload = {
        "ok": not any(r.failed for r in results),
        "total_seconds": round(total, 1),
        "lesson_budget_seconds": LESSON_BUDGET_S,
        "course_budget_seconds": COURSE_BUDGET_S,
        "environment": env,
        "lessons": [{**asdict(r), "seconds": round(r.seconds, 1)} for r in results],
    }
    (out_dir / "summary.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    rows = []
    for r, (_, clock, status, metric) in zip(results, _rows(results)):
        rows.append(
            f'<tr class="{r.status}"><td><a href="{html.escape(r.html)}">{html.escape(r.stem)}</a></td>'
            f"<td>{clock}</td><td>{html.escape(status)}</td><td>{html.escape(metric)}</td>"
            f'<td><a href="{html.escape(r.ipynb)}">.ipynb</a></td></tr>'
        )
    (out_dir / "index.html").write_text(
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>Course run</title><style>"
        "body{font-family:sans-serif;margin:2em}td,th{padding:.3em .8em;text-align:left}"
        ".failed,.timeout{background:#fdd}.slow{background:#ffd}</style></head><body>\n"
        "<h1>From pixels to instances: executed lessons</h1>\n"
        "<table><tr><th>lesson</th><th>time</th><th>status</th><th>headline metric / error</th><th></th></tr>\n"
        + "\n".join(rows)
        + f"\n</table>\n<p>Total {_clock(total)} on {html.escape(env['device'])} "
        f"({env['cpu_count']} CPUs), torch {html.escape(env['torch'])}.</p>\n</body></html>\n",
        encoding="utf-8",
    )


def main(argv: list[str] | None = None) -> int:
    """Command line: run the lessons, print and write the summary.

    Args:
        argv: arguments (defaults to ``sys.argv[1:]``).

    Returns:
        0 when every lesson ran, 1 when one failed, 2 for a usage problem.
    """
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.tools.lesson_runner", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--only", nargs="+", metavar="NN", help="run only these lessons, e.g. --only 03 05")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds any one cell may run (default 600)")
    parser.add_argument("--out", type=Path, default=Path("build"), help="output folder (default build/)")
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS_DIR, help="lesson folder (default notebooks/)")
    args = parser.parse_args(argv)
    only = [n for item in args.only for n in item.split(",") if n] if args.only else None
    try:
        lessons = discover(args.notebooks, only)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not lessons:
        print(f"error: no lesson notebooks NN_*.ipynb in {args.notebooks}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    # A headless run must not add to a learner's progress file.
    env.setdefault("COURSE_PROGRESS", str((args.out / "progress.json").resolve()))
    # The kernel's own inline backend puts the figures into the pages; MPLBACKEND=Agg would drop them.
    env.pop("MPLBACKEND", None)
    results = []
    for path in lessons:
        print(f"running {path.name} ...", flush=True)
        result = run_lesson(path, args.out, timeout=args.timeout, env=env)
        tail = f": {result.error}" if result.error else ""
        print(f"  {result.status} in {_clock(result.seconds)}{tail}", flush=True)
        results.append(result)
    write_summary(results, args.out)
    print()
    print(format_table(results))
    print(f"\nExecuted notebooks and HTML pages: {args.out / 'index.html'}")
    return 1 if any(r.failed for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
