"""What machine a benchmark ran on: CPU, cores, RAM, GPU, load, versions."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime, timezone

import torch
import torchvision


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if platform.system() == "Darwin":
        try:
            return subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                                  timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine()


def ram_gib() -> float:
    """Total RAM in GiB (NaN when the platform does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    except (ValueError, OSError, AttributeError):
        return float("nan")


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where unsupported)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def gpu_name(device: torch.device) -> str | None:
    """The accelerator's name when ``device`` is CUDA or MPS, else None."""
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"{props.name} ({props.total_memory / 2 ** 30:.0f} GiB)"
    if device.type == "mps":
        return "Apple MPS"
    return None


def cpu_details() -> str | None:
    """Family and model numbers (Linux) and the vector instructions torch's CPU kernels use, e.g.
    "family 25, model 1; torch kernels AVX2": two CPUs with the same model name can differ here by 2x and more."""
    parts = []
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            fields = dict(line.split(":", 1) for line in f.read().split("\n\n")[0].splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        if "cpu family" in fields and "model" in fields:
            parts.append(f"family {fields['cpu family']}, model {fields['model']}")
    except OSError:
        pass
    capability = getattr(torch.backends.cpu, "get_cpu_capability", lambda: None)()
    if capability:
        parts.append(f"torch kernels {capability}")
    return "; ".join(parts) or None


def machine_info(device: torch.device, one_core: bool = False) -> dict:
    """Everything needed to read the timings right.

    Args:
        device: the device the models run on.
        one_core: the run was pinned to one core (``run.py --one-core``): its column is "cpu1".

    Returns:
        ``{"cpu", "cpu_details", "cores", "usable_cores", "ram_gib", "gpu", "device", "device_kind", "torch",
        "torchvision", "python", "platform", "torch_threads", "omp_num_threads", "date", "load_start"}``.
    """
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu_model(),
        "cpu_details": cpu_details(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "ram_gib": round(ram_gib(), 1),
        "gpu": gpu_name(device),
        "device": str(device),
        "device_kind": device_kind(device, one_core),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_start": load_average(),
    }


def device_kind(device: torch.device, one_core: bool = False) -> str:
    """"cpu", "cpu1" (pinned to one core) or "gpu": the column a result goes to (CUDA and MPS count as GPU)."""
    if device.type != "cpu":
        return "gpu"
    return "cpu1" if one_core else "cpu"


def pin_to_one_core() -> int | None:
    """Pin this process and everything it starts to one core, one thread (a stand-in for a CPU twice as slow).

    The same as ``OMP_NUM_THREADS=1 taskset -c N``: the affinity and the variable are inherited by the
    lesson kernels and the generator's subprocess.

    Returns:
        the core pinned to (the first one this process may use), or None where affinity is unsupported.
    """
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    if not hasattr(os, "sched_setaffinity"):
        return None
    core = sorted(os.sched_getaffinity(0))[0]
    os.sched_setaffinity(0, {core})
    return core
