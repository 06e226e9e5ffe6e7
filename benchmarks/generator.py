"""Scene generator throughput on ONE core, measured in a pinned subprocess.

The parent calls :func:`measure_generator`; it starts this file as a script with
``OMP_NUM_THREADS=1`` (and ``MKL_NUM_THREADS=1``) in the environment, and the child pins
itself to one core with ``os.sched_setaffinity`` and calls ``torch.set_num_threads(1)``
before generating anything. The child prints one JSON line with the per-repeat timings.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _child(num_scenes: int, repeats: int, warmup: int, size: int, core: int) -> dict:
    """Generate scenes on one core and time each repeat (runs inside the pinned subprocess).

    Args:
        num_scenes: scenes per timed repeat.
        repeats: timed repeats (each on fresh scene indices, so nothing is cached).
        warmup: scenes generated first and not timed (texture tiles, allocator, imports).
        size: scene side in pixels.
        core: the CPU core to pin to.

    Returns:
        ``{"core", "threads", "wall_s": [...], "cpu_s": [...]}`` one entry per repeat.
    """
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})
    import torch

    torch.set_num_threads(1)
    from course_utils.data import make_scene

    for i in range(warmup):
        make_scene(0, 10_000_000 + i, size)
    wall, cpu = [], []
    for r in range(repeats):
        first = r * num_scenes
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(first, first + num_scenes):
            make_scene(0, i, size)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {"core": core, "affinity": affinity, "threads": torch.get_num_threads(), "wall_s": wall, "cpu_s": cpu}


def measure_generator(num_scenes: int = 1000, repeats: int = 5, warmup: int = 200, size: int = 128) -> dict:
    """Scenes per second of ``make_scene`` at ``size`` on one pinned core (median of the repeats).

    Args:
        num_scenes: scenes per timed repeat.
        repeats: timed repeats; the median is reported.
        warmup: untimed scenes generated first.
        size: scene side in pixels (the bar is at 128).

    Returns:
        ``{"size", "num_scenes", "repeats", "scenes_per_s_wall", "scenes_per_s_cpu",
        "per_repeat_wall", "per_repeat_cpu", "core", "threads"}``; rates are medians.
    """
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    core = cores[-1]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    args = [sys.executable, str(Path(__file__).resolve()), str(num_scenes), str(repeats), str(warmup), str(size),
            str(core)]
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"generator benchmark subprocess failed:\n{proc.stderr[-3000:]}")
    child = json.loads(proc.stdout.strip().splitlines()[-1])
    wall_rates = [num_scenes / t for t in child["wall_s"]]
    cpu_rates = [num_scenes / t for t in child["cpu_s"]]
    return {
        "size": size, "num_scenes": num_scenes, "repeats": repeats, "warmup": warmup,
        "scenes_per_s_wall": statistics.median(wall_rates), "scenes_per_s_cpu": statistics.median(cpu_rates),
        "per_repeat_wall": wall_rates, "per_repeat_cpu": cpu_rates,
        "core": child["core"], "affinity": child["affinity"], "threads": child["threads"],
    }


if __name__ == "__main__":
    n, reps, warm, side, pin = (int(a) for a in sys.argv[1:6])
    print(json.dumps(_child(n, reps, warm, side, pin)))
