"""``dualtts bench``: codec, LM, acoustic-stage and end-to-end speed in one run (:mod:`dualtts.bench`)."""
from __future__ import annotations

import json
import sys

from dualtts.commands.common import add_device, csv_list

PARTS = ("codec", "lm", "flow", "e2e")
OPTIONAL = ("published", "gpu")  # the published DualCodec TTS with random weights of the real size; the GPU check of the
                                 # LibriTTS recipe's stages (dualtts.bench_gpu); neither runs by default


def cmd_bench(a) -> int:
    from dualtts.bench import run

    parts = csv_list(a.parts)
    bad = sorted(set(parts) - set(PARTS + OPTIONAL))
    if bad or not parts:
        raise SystemExit(f"error: --parts: unknown part(s) {', '.join(bad) or '(none given)'}; choose from {','.join(PARTS + OPTIONAL)}")
    out = a.out_dir or ("exp/bench-quick" if a.quick else "recipes/bench")
    if "gpu" in parts:  # the GPU check: its own stages and report (recipes/bench/gpu_check.py takes all its options)
        from dualtts.bench_gpu import README, run as run_gpu

        size = "tiny" if a.quick else "recipe"
        rep = run_gpu(None if a.device == "auto" else a.device, size=size, out=f"{out}/gpu_check.json",
                      readme=README if size == "recipe" and not a.out_dir else None)
        print(json.dumps({"out": f"{out}/gpu_check.json", "stages": {k: r.get("status") for k, r in rep["stages"].items()}}))
        parts = [p for p in parts if p != "gpu"]
        if not parts:
            return 0
    res = run(parts, a.model, a.threads, a.device, out, quick=a.quick, log=lambda m: print(m, file=sys.stderr, flush=True))
    print(json.dumps({"out_dir": out, "e2e": res.get("e2e_summary"), "ratios": res["ratios"]}))
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("bench", help="codec, LM, acoustic stage and end-to-end speed in one run, as ratios to Mimi/EnCodec "
                                     "-> OUT_DIR/bench.json, RESULTS.md, PNG plots, e2e_speed.json, flow_speed.json")
    p.add_argument("--model", default=None, help="model folder with codec/ lm/ flow/ (default: the shipped dualtts-mini)")
    p.add_argument("--threads", type=int, default=2, help="torch threads of every measurement")
    p.add_argument("--out-dir", default=None, help="default: recipes/bench (with --quick: exp/bench-quick)")
    p.add_argument("--quick", action="store_true", help="tiny sizes, one repeat: a smoke run whose numbers mean nothing")
    p.add_argument("--parts", default=",".join(PARTS), help="comma list of codec,lm,flow,e2e (default), and published: the "
                   "published DualCodec TTS pipeline, random weights of its real size, RTF and time to first audio; gpu: "
                   "the LibriTTS recipe's stages at its sizes on one GPU (training steps/s, MFU, hours; inference), "
                   "-> OUT_DIR/gpu_check.json (recipes/bench/gpu_check.py has all its options)")
    add_device(p)
    p.set_defaults(func=cmd_bench)
