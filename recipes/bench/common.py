"""Helpers shared by the benchmark scripts: median timing, one forked process per measurement (so its
peak RSS is that model's alone), and the machine description written next to the numbers. They live in
:mod:`dualtts.bench_timing` (how ``dualtts bench`` measures); this module keeps the scripts' imports."""
from dualtts.bench_timing import machine, median_time, run_isolated

__all__ = ["machine", "median_time", "run_isolated"]
