"""results.json (merged by device kind) and the BENCHMARKS.md page rendered from it."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from course_utils.paths import COURSE_BUDGET_S as COURSE_BAR_S  # §7: the whole course <= 20 min
from course_utils.paths import LESSON_BUDGET_S as LESSON_BAR_S  # §7: any one lesson <= 4 min
from course_utils.paths import REFERENCE_DIR

NOT_MEASURED = "not yet measured"
FCN_BAR = 0.90  # §7: FCN-8s validation mIoU
FCN_TIME_BAR_S = 60.0  # §7: ... reached within 60 s of training
UNET_BAR = 0.92  # §7: U-Net validation mIoU (lesson 04)
UNET_TIME_BAR_S = 90.0  # §7: ... with at most 90 s of training (DeepLab too)
MASK_AP_BAR, MASK_AP50_BAR = 0.75, 0.95  # §7: Mask R-CNN mask AP[.50:.95] and AP50
MASK_TRAIN_BAR_S = 180.0  # §7: ... with <= 3 min of training
MASK_TIME_BAR_S = 90.0  # §7: both reached within 90 s of training
ONE_STAGE_AP_BAR, ONE_STAGE_AP50_BAR = 0.70, 0.92  # §7: one-stage mask AP[.50:.95] and AP50 (lesson 08)
QUERIES_PQ_BAR, QUERIES_CLICK_BAR = 0.80, 0.85  # §7: mask classification PQ, one-click mean IoU (lesson 10)
QUERIES_TRAIN_BAR_S = 180.0  # §7: ... with <= 3 min of training
ONE_STAGE_TRAIN_BAR_S = 180.0  # §7: ... with <= 3 min of training; batch-1 faster than the course Mask R-CNN
PQ_BAR = 0.85  # §7: panoptic quality (lesson 09)
GENERATOR_BAR = 2000.0  # §7: scenes/s at 128x128 on one core


def merge_results(path: Path, run: dict) -> dict:
    """Put ``run`` into results.json under its device kind, keeping the other kinds' runs.

    Args:
        path: results.json (created if missing).
        run: one run's results; ``run["machine"]["device_kind"]`` is "cpu", "cpu1" (one core) or "gpu".

    Returns:
        the merged document ``{"schema": 1, "runs": {"cpu": ..., "cpu1": ..., "gpu": ...}}`` (also written).
    """
    doc: dict[str, Any] = {"schema": 1, "runs": {}}
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(old, dict) and isinstance(old.get("runs"), dict):
                doc["runs"].update(old["runs"])
        except json.JSONDecodeError:
            print(f"warning: {path} is not valid JSON; starting it afresh")
    doc["runs"][run["machine"]["device_kind"]] = run
    path.write_text(json.dumps(_finite(doc), indent=1) + "\n", encoding="utf-8")
    return doc


def _finite(obj: Any) -> Any:
    """NaN/inf -> None so the file is strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _num(x: Any, digits: int = 3) -> str:
    """A number for a table ("-" for missing)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    if isinstance(x, int):
        return str(x)
    return f"{x:.{digits}f}"


def _secs(x: float | None) -> str:
    """Seconds as "12.3 s" or "m:ss" for long ones ("-" for missing)."""
    if x is None:
        return "-"
    if x >= 120:
        m, s = divmod(round(x), 60)
        return f"{m}:{s:02d} min"
    return f"{x:.1f} s" if x >= 1 else f"{1000 * x:.1f} ms"


def _get(d: dict | None, *keys: str) -> Any:
    """d[k1][k2]... or None when any level is missing."""
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


Row = tuple[str, str, str | None, str | None]  # (what, bar, measured text, verdict)
LESSON_ROW = ("any one lesson, fresh kernel", "<= 4 min")
COURSE_ROW = ("the whole course", "<= 20 min")
ALONE_ROW = ("any one lesson alone, with none of the learner's earlier checkpoints", "<= 4 min")
FCN_ROW = ("FCN-8s (lesson 03) val mIoU", ">= 0.90, reached within 60 s of training")
UNET_ROW = ("U-Net and DeepLab (lesson 04)", "U-Net >= 0.92 and DeepLab >= FCN-8s at the same time, both within 90 s")
MASK_ROW = ("Mask R-CNN (lesson 07), <= 3 min training", "mask AP >= 0.75, AP50 >= 0.95, both within 90 s")
QUERIES_ROW = ("queries and prompts (lesson 10), <= 3 min training",
               "mask classification PQ >= 0.80; one-click mean IoU >= 0.85")
ONE_STAGE_ROW = ("one-stage (lesson 08), <= 3 min training",
                 "mask AP >= 0.70, AP50 >= 0.92; batch-1 faster than the course Mask R-CNN")
GEN_ROW = ("scene generator, 128x128, one core", ">= 2,000 scenes/s")


def bar_rows(run: dict | None, time_factor: float = 1.0) -> list[Row]:
    """The §7 bars as one run measured them.

    Args:
        run: one device kind's results, or None.
        time_factor: every time bar (lesson, course, FCN within 60 s, Mask R-CNN within 90 s) is multiplied by
            this; the one-core column, a stand-in for a CPU twice as slow, is judged with 2 (quality bars unchanged).

    Returns:
        ``(what, bar, measured, verdict)`` rows; measured and verdict are None where not measured.
    """
    lessons = _get(run, "lessons", "lessons") or []
    rows: list[Row] = []
    if lessons:
        worst = max(lessons, key=lambda x: x["seconds"])
        all_ran = all(x.get("status") in ("ok", "slow") for x in lessons)
        rows.append((*LESSON_ROW, f"{_secs(worst['seconds'])} (slowest: {worst['stem']})",
                     _verdict(worst["seconds"] <= LESSON_BAR_S * time_factor and all_ran)))
        total = sum(x["seconds"] for x in lessons)
        complete = _get(run, "lessons", "complete")
        rows.append((*COURSE_ROW, _secs(total) + ("" if complete else f" ({len(lessons)} lessons only)"),
                     _verdict(total <= COURSE_BAR_S * time_factor and all_ran) if complete else "partial run"))
    else:
        rows += [(*LESSON_ROW, None, None), (*COURSE_ROW, None, None)]
    alone = _get(run, "lessons_alone", "lessons") or []
    if alone:
        worst = max(alone, key=lambda x: x["seconds"])
        all_ran = all(x.get("status") in ("ok", "slow") for x in alone)
        rows.append((*ALONE_ROW, f"{_secs(worst['seconds'])} (slowest: {worst['stem']})",
                     _verdict(worst["seconds"] <= LESSON_BAR_S * time_factor and all_ran)))
    else:
        rows.append((*ALONE_ROW, None, None))
    l01 = next((x for x in lessons if x["lesson"] == "01"), None)
    rows.append(("pixel classifier (lesson 01)", "stuff learned, things confused", _headline(l01),
                 "judged in lesson 01" if _headline(l01) else None))
    fcn = _get(run, "fcn", "course", "run")
    if fcn:
        miou = _get(fcn, "final", "miou")
        reach = next(iter((fcn.get("time_to") or {}).values()), None)
        rows.append((*FCN_ROW, f"{_num(miou)} after {_secs(fcn['train_s'])} of training; 0.90 after {_secs(reach)}"
                     + _apart(run["fcn"]),
                     _verdict(miou is not None and miou >= FCN_BAR and reach is not None
                              and reach <= FCN_TIME_BAR_S * time_factor)))
    else:
        rows.append((*FCN_ROW, None, None))
    rows.append(_unet_row(_get(run, "unet"), time_factor))
    mr = _get(run, "maskrcnn", "course", "run")
    if mr:
        ap, ap50 = _get(mr, "final", "mask_AP"), _get(mr, "final", "mask_AP50")
        ok = ap is not None and ap50 is not None and ap >= MASK_AP_BAR and ap50 >= MASK_AP50_BAR
        ok = ok and mr["train_s"] <= MASK_TRAIN_BAR_S * 1.02 * time_factor  # a last step may overrun a little
        reach = mr.get("time_to") or {}
        times = [reach.get(f"mask_AP>={MASK_AP_BAR}"), reach.get(f"mask_AP50>={MASK_AP50_BAR}")]
        both = max(times) if None not in times else None  # a run that did not track a bar's target: not shown
        ok = ok and both is not None and both <= MASK_TIME_BAR_S * time_factor
        rows.append((*MASK_ROW, f"AP {_num(ap)}, AP50 {_num(ap50)} after {_secs(mr['train_s'])}; both reached after "
                                f"{_secs(both)}" + _apart(run["maskrcnn"]), _verdict(ok)))
    else:
        rows.append((*MASK_ROW, None, None))
    rows.append(_one_stage_row(_get(run, "one_stage"), time_factor))
    rows.append(_queries_row(_get(run, "queries"), time_factor))
    l09 = next((x for x in lessons if x["lesson"] == "09"), None)
    pq = _get(l09, "headline", "value")
    is_pq = isinstance(pq, (int, float)) and "PQ" in str(_get(l09, "headline", "name"))
    rows.append(("panoptic (lesson 09)", "PQ >= 0.85", _headline(l09), _verdict(pq >= PQ_BAR) if is_pq else None))
    gen = _get(run, "generator")
    if gen:
        rows.append((*GEN_ROW, f"{gen['scenes_per_s_wall']:,.0f} scenes/s wall "
                               f"({gen['scenes_per_s_cpu']:,.0f} per CPU-second)" + _apart(gen),
                     _verdict(gen["scenes_per_s_wall"] >= GENERATOR_BAR)))
    else:
        rows.append((*GEN_ROW, None, None))
    return rows


def _apart(section: dict | None) -> str:
    """" (measured on its own, DATE, on CPU)" for a section that a later run of only some sections put into this
    run; the CPU is named from the details the run recorded (its family and model tell two EPYCs apart)."""
    text = apart_text(section)
    return f" ({text})" if text else ""


def apart_text(section: dict | None) -> str:
    """"measured on its own, DATE, on CPU" (see ``_apart``), or "" for a section measured with its run."""
    measured = (section or {}).get("measured_apart")
    if not measured:
        return ""
    cpu = measured.get("cpu") or ""
    details = f" ({measured['cpu_details']})" if measured.get("cpu_details") else ""
    return f"measured on its own, {measured.get('date', '?')}{', on ' + cpu + details if cpu else ''}"


def _unet_row(res: dict | None, time_factor: float) -> Row:
    """Lesson 04's bars: U-Net's mIoU, DeepLab against FCN-8s after the same training time, both trainings' time."""
    if not res or "unet" not in res or "deeplab" not in res:
        return (*UNET_ROW, None, None)
    unet, deeplab = res["unet"], res["deeplab"]
    fcn = deeplab.get("fcn_miou_same_time")
    text = (f"U-Net {_num(_get(unet, 'final', 'miou'))} after {_secs(unet['train_s'])}; DeepLab "
            f"{_num(_get(deeplab, 'final', 'miou'))} after {_secs(deeplab['train_s'])} vs FCN-8s {_num(fcn)}"
            + _apart(res))
    ok = (_get(unet, "final", "miou") or 0.0) >= UNET_BAR and fcn is not None
    ok = ok and _get(deeplab, "final", "miou") >= fcn
    ok = ok and max(unet["train_s"], deeplab["train_s"]) <= UNET_TIME_BAR_S * time_factor
    return (*UNET_ROW, text, _verdict(ok))


def _one_stage_row(res: dict | None, time_factor: float) -> Row:
    """The one-stage lesson's bars: mask AP and AP50 within 3 min of training, batch-1 latency below Mask R-CNN's."""
    if not res:
        return (*ONE_STAGE_ROW, None, None)
    ap, ap50 = _get(res, "final", "mask_AP"), _get(res, "final", "mask_AP50")
    ours, theirs = _get(res, "latency", "median_s"), _get(res, "maskrcnn_latency", "median_s")
    speed = (f"batch-1 {ours * 1000:.1f} ms vs Mask R-CNN {theirs * 1000:.1f} ms" if ours and theirs
             else "batch-1 vs Mask R-CNN not measured (no lesson 07 or reference checkpoint)")
    text = f"AP {_num(ap)}, AP50 {_num(ap50)} after {_secs(res['train_s'])}; {speed}" + _apart(res)
    ok = ap is not None and ap50 is not None and ap >= ONE_STAGE_AP_BAR and ap50 >= ONE_STAGE_AP50_BAR
    ok = ok and res["train_s"] <= ONE_STAGE_TRAIN_BAR_S * 1.02 * time_factor and bool(ours and theirs and ours < theirs)
    return (*ONE_STAGE_ROW, text, _verdict(ok))


def _queries_row(res: dict | None, time_factor: float) -> Row:
    """Lesson 10's bars: the mask classifier's PQ and the promptable model's one-click IoU, each within 3 min."""
    if not res or "mask_former" not in res or "promptable" not in res:
        return (*QUERIES_ROW, None, None)
    mf, pr = res["mask_former"], res["promptable"]
    text = (f"PQ {_num(mf.get('pq'))} after {_secs(mf['train_s'])}; one click {_num(pr.get('iou1'))}, two clicks "
            f"{_num(pr.get('iou2'))} after {_secs(pr['train_s'])}" + _apart(res))
    ok = (mf.get("pq") or 0.0) >= QUERIES_PQ_BAR and (pr.get("iou1") or 0.0) >= QUERIES_CLICK_BAR
    ok = ok and max(mf["train_s"], pr["train_s"]) <= QUERIES_TRAIN_BAR_S * 1.02 * time_factor
    return (*QUERIES_ROW, text, _verdict(ok))


def _headline(lesson: dict | None) -> str | None:
    """A lesson's published headline text, if any."""
    text = _get(lesson, "headline", "text")
    return text.removeprefix("Headline: ") if text else None


def _verdict(ok: bool) -> str:
    return "pass" if ok else "FAIL"


KINDS = (("cpu", "CPU, all cores"), ("cpu1", "CPU, one core"), ("gpu", "GPU"))  # results.json key, column name
ONE_CORE_TIME_FACTOR = 2.0  # §7: on a CPU twice as slow (one pinned core) the time bars double


def render_markdown(doc: dict) -> str:
    """BENCHMARKS.md from the merged results document.

    Args:
        doc: ``{"runs": {"cpu": run, "cpu1": run, "gpu": run}}`` (any may be missing).

    Returns:
        the Markdown page.
    """
    runs = {k: v for k, v in doc.get("runs", {}).items() if isinstance(v, dict) and "machine" in v}
    out = ["# Benchmarks", ""]
    if any(r.get("quick") for r in runs.values()):
        out += ["> **Smoke run** (`--quick`: tiny budgets). These numbers only show that the script works; "
                "they are not the course's benchmark. Regenerate with `make bench` on a quiet machine.", ""]
    out += ["Generated by `benchmarks/run.py` (`make bench`; the one-core column by `make bench-one-core`, "
            "the same sections pinned to one core with one thread, spec §7's stand-in for a CPU twice as slow). "
            "Every figure below was measured by that script in the run named in the header of its column. "
            "Comparisons are ratios measured within one run; each timing is a median of several repeats "
            "after a warm-up. The one-core column is judged against the same quality bars with the time "
            f"bars x{ONE_CORE_TIME_FACTOR:g}.", ""]
    for key, name in KINDS:
        out += [f"## {name} run", ""]
        if key not in runs:
            out += [f"{NOT_MEASURED.capitalize()}: no {name} run is recorded in `benchmarks/results.json`.", ""]
            continue
        out += _header(runs[key])
    out += ["## Section 7 bars", "", "| what | bar | " + " | ".join(f"measured {n}" for _, n in KINDS)
            + " | pass/fail |", "|---|---|" + "---|" * len(KINDS) + "---|"]
    columns = [bar_rows(runs.get(k), ONE_CORE_TIME_FACTOR if k == "cpu1" else 1.0) for k, _ in KINDS]
    for cells in zip(*columns):
        what, bar = cells[0][0], cells[0][1]
        verdicts = []
        for (key, name), (_, _, _, verdict) in zip(KINDS, cells):
            if verdict:
                smoke = runs.get(key, {}).get("quick")
                verdicts.append(f"{name}: {'smoke run, not judged' if smoke else verdict}")
        measured = " | ".join(c[2] or NOT_MEASURED for c in cells)
        out.append(f"| {what} | {bar} | {measured} | {'; '.join(verdicts) or '-'} |")
    out.append("")
    for key, name in KINDS:
        if key in runs:
            from .report_details import details

            out += details(name, runs[key])
    from .report_details import references

    out += references(REFERENCE_DIR)
    out += GPU_NOTES
    return "\n".join(out).rstrip() + "\n"


def _header(run: dict) -> list[str]:
    """Machine, date, command and versions of one run."""
    m = run["machine"]
    gpu = m.get("gpu") or "none"
    load = m.get("load_start")
    load_end = m.get("load_end")
    details = f" ({m['cpu_details']})" if m.get("cpu_details") else ""  # runs before it was recorded lack it
    lines = [
        f"- machine: {m['cpu']}{details}, {m['cores']} cores ({m['usable_cores']} usable), {m['ram_gib']} GiB RAM; "
        f"GPU: {gpu}",
        f"- device used: `{m['device']}`; torch threads {m['torch_threads']}, OMP_NUM_THREADS={m['omp_num_threads']}",
        f"- date: {m['date']}; total benchmark time {_secs(run.get('total_s'))}",
        f"- command: `{run['command']}`",
        f"- versions: torch {m['torch']}, torchvision {m['torchvision']}, Python {m['python']} ({m['platform']})",
    ]
    if load:
        lines.append(f"- load average (1/5/15 min) at start {load}, at end {load_end}: other work on the machine "
                     "inflates the timings")
    budgets = run.get("budgets", {})
    if budgets:
        lines.append("- budgets: " + ", ".join(f"{k} = {v}" for k, v in budgets.items()))
    return lines + [""]


GPU_NOTES = [
    "## How the GPU path is made efficient",
    "",
    "Read from `course_utils/train/loop.py` (`fit`) and from this script; no GPU figure is claimed here "
    "unless a GPU column above shows one.",
    "",
    "- **Mixed precision.** On CUDA, `engine.fit` runs the forward pass and the loss under `torch.autocast` "
    "(bfloat16 where the GPU supports it, else float16 with a `GradScaler`), so convolutions use tensor cores; "
    "`amp=False` turns it off. The benchmark's fixed-batch step timer uses the same autocast setting.",
    "- **No per-step host sync.** `fit` keeps each step's loss on the device and reads losses back only every "
    "`log_every` steps (one transfer for several steps), so the CPU queues work ahead of the GPU.",
    "- **Data on the device.** The benchmark generates its training and validation scenes once and keeps them "
    "on the device (the uint8 tensors behind `train.CropLoader`, the scene lists behind "
    "`train.SceneBatches`); batches are cropped, flipped and indexed there, so no host-to-device copy "
    "or data-loader worker sits in the training step. `fit` moves anything else with `non_blocking=True`.",
    "- **Honest GPU clocks.** Every timed region is closed with `torch.cuda.synchronize()`, so asynchronous "
    "kernels are counted in the step that launched them.",
    "",
]
