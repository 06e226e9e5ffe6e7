"""The detail tables of BENCHMARKS.md for one run (one device kind)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .report import _apart, _get, _num, _secs, apart_text


def details(kind: str, run: dict) -> list[str]:
    """Markdown detail sections of one run.

    Args:
        kind: "CPU" or "GPU" (section titles).
        run: that run's results.

    Returns:
        lines of Markdown.
    """
    out = [f"## Details, {kind} run ({run['machine']['device']}, {run['machine']['date']})", ""]
    out += _lessons(run.get("lessons"))
    if run.get("lessons_alone"):
        out += _lessons_alone(run["lessons_alone"])
    out += _generator(run.get("generator"))
    if run.get("fcn"):
        out += _pair("FCN-8s vs torchvision fcn_resnet50", run["fcn"], "miou",
                     [("val mIoU", "miou"), ("val mIoU of the thing classes", "things_miou"),
                      ("val pixel accuracy", "pixel_acc")])
    if run.get("maskrcnn"):
        out += _pair("Mask R-CNN vs torchvision maskrcnn_resnet50_fpn", run["maskrcnn"], "mask_AP50",
                     [("mask AP[.50:.95]", "mask_AP"), ("mask AP50", "mask_AP50"), ("box AP[.50:.95]", "box_AP"),
                      ("box AP50", "box_AP50")])
    out += _latency(run)
    return out


def _lessons(lessons: dict | None) -> list[str]:
    """Per-lesson wall times from the course runner."""
    out = ["### Lessons (fresh kernel, default settings)", ""]
    if not lessons:
        return out + ["Not run (`--skip-lessons`).", ""]
    if lessons.get("error"):
        out += [f"The course runner reported: {lessons['error']}", ""]
    rows = lessons.get("lessons", [])
    out += ["| lesson | wall time | status | headline metric / error |", "|---|---:|---|---|"]
    for r in rows:
        text = r.get("error") or (_get(r, "headline", "text") or "-").removeprefix("Headline: ")
        out.append(f"| {r['stem']} | {_secs(r['seconds'])} | {r['status']} | {text.replace('|', '/')} |")
    total = sum(r["seconds"] for r in rows)
    out.append(f"| total ({len(rows)} lessons) | {_secs(total)} | | |")
    omp = lessons.get("omp_num_threads") or "unset (torch's default thread count)"
    return out + ["", f"Runner command: `{lessons.get('command', '')}`; kernels inherit OMP_NUM_THREADS={omp}.", ""]


def _lessons_alone(alone: dict) -> list[str]:
    """Wall times of the lessons that load earlier checkpoints, each run alone with none of the learner's."""
    out = ["### Lessons alone, with none of the learner's earlier checkpoints", "",
           "Each lesson by itself with an empty checkpoint folder (a learner who starts there): it uses the "
           "reference checkpoints in `reference/` for lessons 03 and 07's models and trains any other model it "
           "needs.", ""]
    if alone.get("error"):
        out += [f"The course runner reported: {alone['error']}", ""]
    out += ["| lesson | wall time | status | headline metric / error | measured |", "|---|---:|---|---|---|"]
    for r in alone.get("lessons", []):
        text = r.get("error") or (_get(r, "headline", "text") or "-").removeprefix("Headline: ")
        out.append(f"| {r['stem']} | {_secs(r['seconds'])} | {r['status']} | {text.replace('|', '/')} | "
                   f"{r.get('date', alone.get('date', ''))} |")
    omp = alone.get("omp_num_threads") or "unset (torch's default thread count)"
    return out + ["", f"Command: `{alone.get('command', '')}`; OMP_NUM_THREADS={omp}.", ""]


def _generator(gen: dict | None) -> list[str]:
    """Scene generator throughput on one core."""
    out = ["### Scene generator (one core)", ""]
    if not gen:
        return out + ["Not run.", ""]
    per_wall = ", ".join(f"{x:,.0f}" for x in gen["per_repeat_wall"])
    return out + [
        f"`make_scene(seed, index, {gen['size']})` in a subprocess pinned to core {gen['core']} "
        f"(`os.sched_setaffinity`), `OMP_NUM_THREADS=1`, `torch.set_num_threads(1)`; {gen['warmup']} warm-up "
        f"scenes, then {gen['repeats']} repeats of {gen['num_scenes']} new scenes; medians.", "",
        "| rate | scenes/s |", "|---|---:|",
        f"| wall clock (median) | {gen['scenes_per_s_wall']:,.0f} |",
        f"| CPU time of the process (median) | {gen['scenes_per_s_cpu']:,.0f} |",
        f"| wall clock, each repeat | {per_wall} |", "",
    ]


def _pair(title: str, res: dict, curve_key: str, metrics: list[tuple[str, str]]) -> list[str]:
    """One side-by-side comparison table (course model vs the stock one)."""
    c, s, r, d = res["course"], res["stock"], res["ratios"], res["data"]
    sample = d.get("sample", f"{d['size']}x{d['size']} scenes")
    apart = apart_text(res)  # "measured on its own, ..." for a section a later run put here
    head = [f"### {title}", "", *([apart[:1].upper() + apart[1:] + ".", ""] if apart else []),
            f"Data: {d['num_train']} training scenes and {d['num_val']} validation scenes at {d['size']}x{d['size']} "
            f"(generated once in {_secs(d['generate_s'])}, not counted); batch {d['batch_size']} {sample}. "
            "Training time excludes validation.", "",
            f"- {c['name']}: {c.get('recipe', '')}", f"- {s['name']}: {s.get('recipe', '')}", "",
            f"| | {c['name']} | {s['name']} | ratio stock/course |", "|---|---:|---:|---:|"]
    rows: list[tuple[str, Any, Any, Any]] = [
        ("trainable parameters", f"{c['params']:,}", f"{s['params']:,}", _ratio(r.get("params"))),
        ("training step, same fixed batch (median)", _secs(c["step"]["median_s"]), _secs(s["step"]["median_s"]),
         _ratio(r.get("step_time"))),
        ("images/s in that step", _num(c["step"]["images_per_s"], 1), _num(s["step"]["images_per_s"], 1), ""),
        ("training time used", _secs(c["run"]["train_s"]), _secs(s["run"]["train_s"]), ""),
        ("steps taken in it", c["run"]["steps"], s["run"]["steps"], ""),
        ("images/s over the whole run", _num(c["run"]["images_per_s"], 1), _num(s["run"]["images_per_s"], 1), ""),
    ]
    for key in c["run"]["time_to"]:
        rows.append((f"training time to {key.replace('>=', ' >= ')}", _reach(c["run"]["time_to"][key]),
                     _reach(s["run"]["time_to"].get(key)), ""))
    for label, key in metrics:
        rows.append((f"final {label}", _num(c["run"]["final"].get(key)), _num(s["run"]["final"].get(key)), ""))
    rows.append(("batch-1 inference latency (median)", _secs(c["latency"]["median_s"]),
                 _secs(s["latency"]["median_s"]), _ratio(r.get("latency"))))
    lines = head + [f"| {a} | {b} | {cc} | {dd} |" for a, b, cc, dd in rows]
    for m in (c, s):
        if m["run"].get("error"):
            lines.append(f"\n{m['name']} stopped early: {m['run']['error']}")
    lines += ["", f"Validation curves ({curve_key} at training time):", ""]
    for m in (c, s):
        pts = ", ".join(f"{p['train_s']:.0f} s: {_num(p.get(curve_key))}" for p in m["run"]["curve"]) or "none"
        lines.append(f"- {m['name']}: {pts}")
    return lines + [""]


def _reach(t: float | None) -> str:
    return "not reached" if t is None else _secs(t)


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}x"


def _latency(run: dict) -> list[str]:
    """Inference latency of every model timed (batch 1)."""
    out = ["### Inference latency (batch 1, after warm-up)", "",
           "One validation image from host memory to a host result (FCN: class map via `engine.predict`; "
           "Mask R-CNN: `model([image])` with its outputs copied back), trained models in eval mode.", "",
           "| model | median | min | max | repeats |", "|---|---:|---:|---:|---:|"]
    found = False
    for section in ("fcn", "maskrcnn"):
        for side in ("course", "stock"):
            m = _get(run, section, side)
            if m:
                lat = m["latency"]
                found = True
                out.append(f"| {m['name']}{_apart(run.get(section))} | {_secs(lat['median_s'])} | "
                           f"{_secs(lat['min_s'])} | {_secs(lat['max_s'])} | {lat['repeats']} |")
    return out + [""] if found else []


def references(folder: Path) -> list[str]:
    """The reference checkpoints in ``folder`` (``make checkpoints``): what each reached, and how it was made."""
    import torch

    out = ["## Reference checkpoints", "",
           "Used by a lesson when the learner has not run the lesson that trains the model (`reference/`, made by "
           "`make checkpoints` with that lesson's recipe; weights stored in half precision and scored after that "
           "rounding).", ""]
    files = sorted(folder.glob("*.pt"))
    if not files:
        return out + ["None in `reference/`: run `make checkpoints`.", ""]
    out += ["| file | size | metrics | training | made |", "|---|---:|---|---:|---|"]
    for path in files:
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - a broken file is reported in the table, not fatal
            out.append(f"| {path.name} | | unreadable: {type(err).__name__} | | |")
            continue
        metrics = payload.get("metrics") or {}
        made = payload.get("made_by") or {}
        scores = ", ".join(f"{k} {_num(v)}" for k, v in metrics.items() if k != "val_scenes")
        if metrics.get("val_scenes"):
            scores += f" on {metrics['val_scenes']} validation scenes"
        out.append(f"| reference/{path.name} | {path.stat().st_size / 2**20:.1f} MiB | {scores or '-'} | "
                   f"{_secs(made.get('train_s'))} | `{made.get('command', '?')}`, {made.get('date', '?')}, "
                   f"{made.get('cpu', '?')}, {made.get('threads', '?')} threads, torch {made.get('torch', '?')} |")
    return out + [""]
