"""How ``dualtts bench`` measures (:mod:`dualtts.bench`) and what the scripts in ``recipes/bench/`` share: median
timing, a measurement in its own process (its own peak memory), the machine's facts, the fixed test inputs."""
from __future__ import annotations

import datetime
import multiprocessing as mp
import os
import platform
import queue
import resource
import statistics
import subprocess
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SENTENCES = ["The birch canoe slid on the smooth planks.", "Glue the sheet to the dark blue background.",
             "It is easy to tell the depth of a well.", "These days a chicken leg is a rare dish.",
             "Rice is often served in round bowls.", "The juice of lemons makes fine punch.",
             "The box was thrown beside the parked truck.", "The hogs were fed chopped corn and garbage."]


def _sync() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def median_time(fn, repeats: int, warmup: int = 1) -> float:
    """Median wall seconds of ``fn()`` over ``repeats`` calls, after ``warmup`` calls, under inference mode."""
    with torch.inference_mode():
        for _ in range(warmup):
            fn()
        _sync()
        ts = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            _sync()
            ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def _child(q, threads, fn, args):
    torch.set_num_threads(threads)
    try:
        res = fn(*args)
        res["peak_rss_MB"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            res["peak_cuda_MB"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        q.put(res)
    except Exception as e:  # report, don't hide
        q.put({"error": f"{type(e).__name__}: {e}"})


def run_isolated(fn, threads: int, *args, method: str = "fork") -> dict:
    """``fn(*args)`` in a new process (``method``: fork, or spawn for CUDA children) with ``threads`` torch
    threads; its result dict + ``peak_rss_MB`` (+ ``peak_cuda_MB``)."""
    ctx = mp.get_context(method)
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q, threads, fn, args))
    p.start()
    while True:
        try:
            res = q.get(timeout=2)
            break
        except queue.Empty:
            if not p.is_alive():  # killed (out of memory) or crashed before it could answer
                res = {"error": f"the measuring process died (exit code {p.exitcode})"}
                break
    p.join()
    return res


def _gpu_name() -> dict:
    return {"gpu": torch.cuda.get_device_name(0)}


def _cpu_model() -> str:
    lines = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").is_file() else []
    return next((x.split(":", 1)[1].strip() for x in lines if x.startswith("model name")), platform.processor() or platform.machine())


def machine(threads: int, full: bool = False, method: str = "fork") -> dict:
    """Threads, torch version, CPU (and GPU); ``full``: CPU model, cores, transformers, date, commit too."""
    info = {"threads": threads, "torch": torch.__version__, "machine": platform.machine(),
            "processor": platform.processor() or platform.machine()}
    if not full:
        if torch.cuda.is_available():  # initializes CUDA here: call before forking no CUDA child
            info["gpu"] = torch.cuda.get_device_name(0)
        return info
    import transformers

    try:
        commit = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=ROOT, capture_output=True,
                                text=True, timeout=30).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {**info, "cpu": _cpu_model(), "cores": os.cpu_count(), "cores_usable": len(os.sched_getaffinity(0)),
            "transformers": transformers.__version__, "python": platform.python_version(), "commit": commit,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),  # GPU: asked in a child,
            "gpu": run_isolated(_gpu_name, 1, method=method).get("gpu") if torch.cuda.is_available() else None}  # CUDA-free parent


def wav(batch: int, seconds: float, sr: int = 24000) -> torch.Tensor:
    """A fixed test signal [B, 1, T]: a 200 Hz tone + a little noise."""
    g = torch.Generator().manual_seed(0)
    t = torch.arange(int(seconds * sr)) / sr
    return (0.3 * torch.sin(2 * torch.pi * 200 * t) + 0.05 * torch.randn(batch, 1, t.numel(), generator=g)).float()


def _params_M(m) -> float:
    return round(sum(p.numel() for p in m.parameters()) / 1e6, 2)
