"""Speed and quality benchmarks of the course (spec §7): ``make bench`` = ``.venv/bin/python benchmarks/run.py``.

Measures, in one run on one machine:

* every lesson's wall time from a fresh kernel at default settings (``course_utils.tools.lesson_runner``);
* the scene generator's throughput on one pinned core;
* the course FCN-8s (lesson 03's recipe) beside torchvision's ``fcn_resnet50`` trained on the same
  data for the same training time;
* lesson 04's U-Net and DeepLab recipes on the same scenes, each beside FCN-8s after the same training time;
* the course Mask R-CNN beside torchvision's ``maskrcnn_resnet50_fpn`` (same image size and batch);
* batch-1 inference latency of every model.

Default budgets (documented again in BENCHMARKS.md's header):

* lessons: every notebook at its default settings (one fresh kernel each);
* generator: 200 warm-up scenes, then 5 repeats of 1000 new scenes;
* FCN: lesson 03's ``FCNTrainConfig`` as it is (its epochs of 2000 whole 128x128 scenes, its batch,
  a validation per epoch); ``fcn_resnet50`` the same training time, 2 validations;
* Mask R-CNN: 180 s of training each (the course model stops earlier if its ``num_epochs`` end),
  6 and 2 validations on the 200 scenes lesson 07 scores (``--maskrcnn-budget`` changes the 180 s);
* step times: 10 (course) / 3 (stock) timed steps after 3 / 1 warm-up steps; latency: 30 / 5
  batch-1 inferences after 5 / 1 warm-ups.

Without the lessons this took about 16 minutes on a quiet 2-core CPU (2026-11-29: 24 min in all,
8:23 of it the lessons): 2 x 3 min of Mask R-CNN, 2 x the FCN recipe, validations and the stock
models' few slow steps; the lessons add their own times (the §7 bar for all of them is 20 min).

``--one-core`` (``make bench-one-core``) runs the same sections pinned to one core with one thread
(``OMP_NUM_THREADS=1``, CPU affinity inherited by the lesson kernels): spec §7's stand-in for a
learner's CPU twice as slow. Its results fill the "one core" column.

``--only alone`` (``make bench-alone``, not part of a default run) runs each lesson that loads an earlier
lesson's checkpoint by itself with an empty checkpoint folder, as a learner who starts there, and adds
that table to the last run of its kind (with ``--one-core``: the one-core column).

Writes ``benchmarks/results.json`` (merged by device kind: "cpu", "cpu1" for one core, "gpu"; a
run of one kind keeps the others' results) and ``BENCHMARKS.md``. ``--quick`` uses tiny budgets
and, unless told otherwise, writes to ``build/bench-quick/`` so a smoke run never replaces real results.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, is_dataclass, replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a script: make the ``benchmarks`` package importable
    sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402

from benchmarks import instance, one_stage, queries, segmenters, semantic  # noqa: E402
from benchmarks.generator import measure_generator  # noqa: E402
from benchmarks.machine import load_average, machine_info, pin_to_one_core  # noqa: E402
from benchmarks.report import merge_results, render_markdown  # noqa: E402
from course_utils import engine  # noqa: E402

SECTIONS = ("lessons", "generator", "fcn", "unet", "maskrcnn", "one_stage", "queries")
# Opt-in sections (not part of a default run): "alone" runs each lesson that loads an earlier lesson's
# checkpoint by itself, with an empty checkpoint folder, as a learner who starts there would.
OPT_IN = ("alone",)
APART_KEYS = tuple(s for s in SECTIONS if s != "lessons")  # sections a run of only some can add to the last run
ALONE_LESSONS = ("04", "05", "07", "08", "09", "10", "11")
# On a GPU, steps and inferences take milliseconds: more repeats for steadier medians.
GPU_REPEATS = dict(step_repeats=30, step_warmup=10, stock_step_repeats=20, stock_step_warmup=5,
                   latency_repeats=100, latency_warmup=20, stock_latency_repeats=50, stock_latency_warmup=10)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see ``--help``)."""
    p = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny budgets: a smoke test of every piece (minutes)")
    p.add_argument("--device", help="cpu, cuda or mps (default: engine.get_device())")
    p.add_argument("--one-core", action="store_true",
                   help="pin everything to one core, one thread (the 'one core' column; CPU only)")
    p.add_argument("--skip-lessons", action="store_true", help="do not run the lessons")
    p.add_argument("--lessons", help="only these lessons, e.g. 01,03 (default: all; for 'alone': 04,05,07-11)")
    p.add_argument("--only", help=f"only these sections, comma-separated, of {','.join(SECTIONS + OPT_IN)} "
                                  "(a run of only some, without 'lessons', adds them to the last run of its kind, "
                                  "each dated)")
    p.add_argument("--maskrcnn-budget", type=float, help="training seconds per Mask R-CNN model (default 180)")
    p.add_argument("--results", type=Path, help="results JSON (default benchmarks/results.json)")
    p.add_argument("--markdown", type=Path, help="report page (default BENCHMARKS.md at the repository root)")
    args = p.parse_args(argv)
    out_dir = REPO_ROOT / ("build/bench-quick" if args.quick else "benchmarks")
    args.results = args.results or out_dir / "results.json"
    args.markdown = args.markdown or (out_dir / "BENCHMARKS.md" if args.quick else REPO_ROOT / "BENCHMARKS.md")
    sections = set(SECTIONS) if not args.only else {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = sections - set(SECTIONS + OPT_IN)
    if unknown:
        p.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS + OPT_IN)}")
    if args.skip_lessons:
        sections.discard("lessons")
    args.sections = sections
    return args


def command_line() -> str:
    """The command as typed, with the interpreter's path relative to the repository when inside it."""
    exe = Path(sys.executable)
    try:
        exe_text = str(exe.relative_to(REPO_ROOT)) if exe.is_relative_to(REPO_ROOT) else str(exe)
    except ValueError:
        exe_text = str(exe)
    script = Path(sys.argv[0]).resolve()
    script_text = str(script.relative_to(REPO_ROOT)) if script.is_relative_to(REPO_ROOT) else sys.argv[0]
    return shlex.join([exe_text, script_text, *sys.argv[1:]])


def run_lessons(only: str | None, out_dir: Path, env: dict[str, str] | None = None) -> dict:
    """Every lesson (or ``only`` some) from a fresh kernel via ``python -m course_utils.tools.lesson_runner``.

    Args:
        only: comma-separated lesson numbers, or None for all.
        out_dir: the runner's output folder (executed notebooks, summary.json).
        env: extra environment variables of the runner and its kernels (e.g. ``COURSE_CHECKPOINTS``).

    Returns:
        ``{"complete", "command", "returncode", "omp_num_threads", "lessons": [{lesson, stem, seconds,
        status, headline, error}], "error"}``.
    """
    rel_out = out_dir.relative_to(REPO_ROOT) if out_dir.is_relative_to(REPO_ROOT) else out_dir
    cmd = [sys.executable, "-m", "course_utils.tools.lesson_runner", "--out", str(rel_out)]
    if only:
        cmd += ["--only", *[n.strip() for n in only.split(",") if n.strip()]]
    print(f"[lessons] {shlex.join(cmd)}", flush=True)
    proc = subprocess.run(cmd, cwd=REPO_ROOT, text=True, capture_output=True, env={**os.environ, **(env or {})})
    print(proc.stdout[-3000:], flush=True)
    summary_path = REPO_ROOT / rel_out / "summary.json"
    result = {"complete": only is None, "command": shlex.join(["python", *cmd[1:]]), "returncode": proc.returncode,
              "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "lessons": [], "error": None}
    if not summary_path.exists():
        result["error"] = (proc.stderr.strip().splitlines() or ["the runner wrote no summary"])[-1]
        return result
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    keep = ("lesson", "stem", "seconds", "status", "headline", "error")
    result["lessons"] = [{k: x.get(k) for k in keep} for x in summary.get("lessons", [])]
    return result


def run_lessons_alone(lessons: tuple[str, ...], out_dir: Path) -> dict:
    """Each of ``lessons`` by itself, from a fresh kernel, with an empty checkpoint folder of its own.

    A learner who opens lesson 10 first has no checkpoint of lessons 03 or 07: the lesson then uses the
    course's reference checkpoints (``reference/``) and trains any other model it needs, and this measures
    how long that takes (spec §7: still <= 4 min).

    Returns:
        ``{"command", "date", "omp_num_threads", "lessons": [run_lessons' rows], "error"}``.
    """
    rows, errors = [], []
    for n in lessons:
        with tempfile.TemporaryDirectory(prefix=f"no-checkpoints-{n}-") as folder:
            res = run_lessons(n, out_dir / n, env={"COURSE_CHECKPOINTS": folder})
        rows += [{**r, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())} for r in res["lessons"]]
        if res["error"]:
            errors.append(f"{n}: {res['error']}")
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return {"command": "COURSE_CHECKPOINTS=<empty folder> python -m course_utils.tools.lesson_runner --only NN, "
                       f"for NN in {', '.join(lessons)}", "date": when,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "lessons": rows, "error": "; ".join(errors) or None}


def add_to_last_run(path: Path, run: dict, keys: tuple[str, ...]) -> dict:
    """Put ``run[key]`` for each of ``keys`` into the last run of the same device kind in ``path`` (sections
    measured on their own, replacing that run's).

    For ``lessons_alone``, lessons measured again replace their rows and the others are kept (each row
    carries the date it was measured). Any other section is stamped with ``measured_apart`` (date, command,
    CPU, load), which the report names beside its figures. Without such a run, ``run`` becomes that kind's run.
    Returns the merged document (also written).
    """
    kind = run["machine"]["device_kind"]
    old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    last = old.get("runs", {}).get(kind)
    if last is None:
        return merge_results(path, run)
    merged = dict(last)
    for key in keys:
        section = run[key]
        if key == "lessons_alone" and last.get(key):
            new = {r["lesson"]: r for r in section.get("lessons", [])}
            kept = [{"date": last[key].get("date"), **r} for r in last[key].get("lessons", [])
                    if r["lesson"] not in new]
            rows = sorted([*kept, *new.values()], key=lambda r: r["lesson"])
            section = {**section, "lessons": rows,
                       "command": section["command"].split(", for NN in ")[0] + ", for NN in "
                       + ", ".join(r["lesson"] for r in rows)}
        elif key != "lessons_alone":
            m = run["machine"]
            section = {**section, "measured_apart": {"date": m["date"], "command": run["command"],
                                                     "cpu": m.get("cpu"), "cpu_details": m.get("cpu_details"),
                                                     "load_start": m.get("load_start")}}
        merged[key] = section
    if "budgets" in run:
        merged["budgets"] = {**last.get("budgets", {}), **run["budgets"]}
    return merge_results(path, merged)


def plain(obj):
    """Dataclasses (budgets) -> dicts for results.json."""
    return asdict(obj) if is_dataclass(obj) else obj


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks, merge results.json, render BENCHMARKS.md.

    Returns:
        0 (a bar that is missed is a result, not an error).
    """
    args = parse_args(argv)
    device = engine.get_device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda, but torch sees no CUDA GPU here", file=sys.stderr)
        return 2
    if device.type == "mps" and not torch.backends.mps.is_available():
        print("error: --device mps, but Apple's MPS is not available here", file=sys.stderr)
        return 2
    if args.one_core:
        if device.type != "cpu":
            print("error: --one-core measures the CPU; leave out --device or use --device cpu", file=sys.stderr)
            return 2
        pin_to_one_core()
    start = time.perf_counter()
    run: dict = {"command": command_line(), "quick": args.quick, "machine": machine_info(device, args.one_core),
                 "budgets": {}}
    print(f"benchmarking on {device} ({run['machine']['cpu']}, {run['machine']['cores']} cores); "
          f"load {run['machine']['load_start']}", flush=True)
    if "lessons" in args.sections:
        run["lessons"] = run_lessons(args.lessons, REPO_ROOT / "build" / "bench-lessons")
    if "alone" in args.sections:
        chosen = tuple(n.strip() for n in args.lessons.split(",")) if args.lessons else ALONE_LESSONS
        run["lessons_alone"] = run_lessons_alone(chosen, REPO_ROOT / "build" / "bench-alone")
    if "generator" in args.sections:
        gen_kw = dict(num_scenes=100, repeats=3, warmup=20) if args.quick else dict(num_scenes=1000, repeats=5,
                                                                                      warmup=200)
        print(f"[generator] {gen_kw}", flush=True)
        run["generator"] = measure_generator(**gen_kw)
        run["budgets"]["generator"] = f"{gen_kw['repeats']} x {gen_kw['num_scenes']} scenes after {gen_kw['warmup']}"
        print(f"  {run['generator']['scenes_per_s_wall']:,.0f} scenes/s wall", flush=True)
    if "fcn" in args.sections:
        bench = semantic.QUICK if args.quick else semantic.SemanticBench()
        if device.type != "cpu" and not args.quick:  # repeats and validations are cheap on a GPU
            bench = replace(bench, stock_evals=bench.train.num_epochs, **GPU_REPEATS)
        t = bench.train
        print(f"[fcn] {t.num_epochs} epochs of {t.num_train} scenes, then fcn_resnet50 for the same time", flush=True)
        run["fcn"] = semantic.run_semantic(bench, device)
        run["budgets"]["FCN"] = (f"lesson 03 recipe ({t.num_epochs} epochs x {t.num_train} scenes, batch "
                                 f"{t.batch_size}); fcn_resnet50 gets the same training time")
        run["fcn"]["settings"] = plain(bench)
        _say(run["fcn"], "miou")
    if "unet" in args.sections:
        bench = segmenters.QUICK if args.quick else segmenters.SegmenterBench()
        print(f"[unet] lesson 04's U-Net ({bench.unet.num_epochs} epochs) and DeepLab ({bench.deeplab.num_epochs} "
              f"epochs)", flush=True)
        fcn_curve = run.get("fcn", {}).get("course", {}).get("run", {}).get("curve")
        run["unet"] = segmenters.run_segmenters(bench, device, fcn_curve)
        run["budgets"]["U-Net, DeepLab"] = "lesson 04 recipes (UNetTrainConfig, DeepLabTrainConfig defaults)"
        for m in run["unet"].values():
            print(f"  {m['name']}: {m['step']['median_s']:.3f} s/step, {m['steps']} steps in {m['train_s']:.0f} s, "
                  f"final miou {m['final']['miou']:.3f}", flush=True)
    if "maskrcnn" in args.sections:
        bench = instance.QUICK if args.quick else instance.InstanceBench()
        if device.type != "cpu" and not args.quick:
            bench = replace(bench, stock_evals=bench.evals, **GPU_REPEATS)
        if args.maskrcnn_budget:
            bench = replace(bench, budget_s=args.maskrcnn_budget)
        print(f"[maskrcnn] {bench.budget_s:.0f} s of training for each model", flush=True)
        run["maskrcnn"] = instance.run_instance(bench, device)
        run["budgets"]["Mask R-CNN"] = f"{bench.budget_s:.0f} s of training per model"
        run["maskrcnn"]["settings"] = plain(bench)
        _say(run["maskrcnn"], "mask_AP50")
    if "one_stage" in args.sections:
        bench = one_stage.QUICK if args.quick else one_stage.OneStageBench()
        print(f"[one_stage] the one-stage lesson's recipe (at most {bench.recipe.max_minutes} min)", flush=True)
        run["one_stage"] = one_stage.run_one_stage(bench, device)
        run["budgets"]["one-stage"] = run["one_stage"]["recipe"]
        r = run["one_stage"]
        print(f"  one-stage: {r['steps']} steps in {r['train_s']:.0f} s, mask AP {r['final']['mask_AP']:.3f}, "
              f"AP50 {r['final']['mask_AP50']:.3f}", flush=True)
    if "queries" in args.sections:
        bench = queries.QUICK if args.quick else queries.QueriesBench()
        print("[queries] lesson 10's mask classifier and promptable model", flush=True)
        run["queries"] = queries.run_queries(bench, device)
        mf, pr = run["queries"]["mask_former"], run["queries"]["promptable"]
        print(f"  mask classifier: {mf['steps']} steps in {mf['train_s']:.0f} s, PQ {mf['pq']:.3f}; promptable: "
              f"{pr['steps']} steps in {pr['train_s']:.0f} s, one-click IoU {pr['iou1']:.3f}", flush=True)
    run["total_s"] = time.perf_counter() - start
    run["machine"]["load_end"] = load_average()
    args.results.parent.mkdir(parents=True, exist_ok=True)
    if args.only and "lessons" not in args.sections and not args.quick:  # sections on their own: into the last run
        keys = tuple(k for k in ("lessons_alone", *APART_KEYS) if k in run)
        doc = add_to_last_run(args.results, run, keys)
    else:
        doc = merge_results(args.results, run)
    args.markdown.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text(render_markdown(doc), encoding="utf-8")
    print(f"wrote {args.results} and {args.markdown} in {run['total_s']:.0f} s", flush=True)
    return 0


def _say(res: dict, key: str) -> None:
    """One progress line per model of a comparison."""
    for side in ("course", "stock"):
        m = res[side]
        print(f"  {m['name']}: {m['step']['median_s']:.3f} s/step, {m['run']['steps']} steps in "
              f"{m['run']['train_s']:.0f} s, final {key} {m['run']['final'].get(key)}", flush=True)


if __name__ == "__main__":
    torch.set_printoptions(precision=4)
    sys.exit(main())
