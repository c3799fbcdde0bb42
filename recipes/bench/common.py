"""Helpers shared by the benchmark scripts: median timing, one forked process per measurement (so its
peak RSS is that model's alone), and the machine description written next to the numbers."""
from __future__ import annotations

import multiprocessing as mp
import platform
import resource
import statistics
import time

import torch


def median_time(fn, repeats: int, warmup: int = 1) -> float:
    """Median wall seconds of ``fn()`` over ``repeats`` calls, after ``warmup`` calls, under inference mode."""
    with torch.inference_mode():
        for _ in range(warmup):
            fn()
        ts = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def _child(q, threads, fn, args):
    torch.set_num_threads(threads)
    try:
        res = fn(*args)
        res["peak_rss_MB"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        q.put(res)
    except Exception as e:  # report, don't hide
        q.put({"error": f"{type(e).__name__}: {e}"})


def run_isolated(fn, threads: int, *args) -> dict:
    """``fn(*args)`` in a forked process with ``threads`` torch threads; its result dict + ``peak_rss_MB``."""
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q, threads, fn, args))
    p.start()
    res = q.get()
    p.join()
    return res


def machine(threads: int) -> dict:
    info = {"threads": threads, "torch": torch.__version__, "machine": platform.machine(),
            "processor": platform.processor() or platform.machine()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info
