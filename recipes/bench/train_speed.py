"""Training speed of every stage's mini preset in each mode, measured in one run on this machine:
steps per second through the real training loop (``training.Trainer``, AdamW, clipping, schedules) and
the training loss after the same number of steps from the same seed, so a speed-up that hurts learning
shows. Modes: fp32 eager; bf16 autocast; cached teacher features (codec); torch.compile; and the
combination. One forked process per measurement. The ``profile`` entry lists the top operators of one
step of the fastest mode.

    python recipes/bench/train_speed.py --codec-manifest exp/corpus-v2/manifests/train.jsonl \\
        --tokens exp/corpus-v2/tokens-12hz/train/manifest.jsonl --symbols exp/corpus-v2/manifests/symbols.json \\
        --tokenizer recipes/mini/checkpoints/tiny-12hz-3h --json recipes/bench/train_speed.json
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, run_isolated  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NO_CACHE, FP32, COMPILE = "teacher_cache=null", "train.mixed_precision=no", "train.compile=true"
CACHE, BF16 = "teacher_cache={cache}", "train.mixed_precision=bf16"
MODES = {  # every row sets every option, whatever the mini YAML defaults to
    "codec": {"fp32": [NO_CACHE, FP32], "bf16": [NO_CACHE, BF16], "cached_teacher": [CACHE, FP32],
              "compiled": [NO_CACHE, FP32, COMPILE], "cached_compiled": [CACHE, FP32, COMPILE],
              "cached_bf16": [CACHE, BF16], "cached_bf16_compiled": [CACHE, BF16, COMPILE]},
    "lm": {"fp32": [FP32], "bf16": [BF16], "compiled": [FP32, COMPILE], "bf16_compiled": [BF16, COMPILE]},
    "flow": {"fp32": [FP32], "bf16": [BF16], "compiled": [FP32, COMPILE], "bf16_compiled": [BF16, COMPILE]},
}
LOSS_KEY = {"codec": "mel", "lm": "loss", "flow": "loss"}


def _task(stage: str, overrides: list[str]):
    if stage == "codec":
        from dualtts.codec.train import CodecTask, load_train_config

        cfg = load_train_config(str(ROOT / "recipes/mini/codec.yaml"), overrides)
        return cfg, CodecTask(cfg)
    if stage == "lm":
        from dualtts.lm.train import LMTask, load_lm_train_config

        cfg = load_lm_train_config(str(ROOT / "recipes/mini/lm.yaml"), overrides)
        return cfg, LMTask(cfg)
    from dualtts.flow.train import FlowTask, load_flow_train_config

    cfg = load_flow_train_config(str(ROOT / "recipes/mini/flow.yaml"), overrides)
    return cfg, FlowTask(cfg)


def measure(stage: str, overrides: list[str], steps: int, profile: bool) -> dict:
    """Train ``steps`` steps; steps/s excludes the first step (compilation), loss = mean of the last quarter."""
    from dualtts.training.loop import Trainer

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        cfg, task = _task(stage, overrides + [f"train.out_dir={tmp}", f"train.max_steps={steps}", "train.log_every=1",
                                              "train.val_every=0", "train.save_every=0"])
        setup_s = time.monotonic() - t0
        trainer = Trainer(cfg.train, task)
        trainer.save = lambda: None  # the end-of-run checkpoint is not what we time
        t = time.monotonic()
        out = trainer.fit(resume=False)
        total = time.monotonic() - t
        res = {"steps": steps, "steps_per_s": round((steps - 1) / max(1e-9, total - trainer.first_step_s), 3),
               "first_step_s": trainer.first_step_s, "setup_s": round(setup_s, 1), "compiled": trainer.compiled,
               "precision": trainer.precision, "losses": [round(h[LOSS_KEY[stage]], 5) for h in out["history"]]}
        if profile:
            res["profile"] = _profile(trainer, task)
        return res


def _profile(trainer, task, top: int = 12) -> list[dict]:
    from torch.profiler import ProfilerActivity, profile

    from dualtts.training.loop import _to

    batch = next(iter(task.train_loader(0, 0)))
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        task.train_step(_to(batch, trainer.accelerator.device), trainer.update, trainer.step)
    rows = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    total = sum(e.self_cpu_time_total for e in prof.key_averages())
    return [{"op": e.key, "self_ms": round(e.self_cpu_time_total / 1e3, 1), "share": round(e.self_cpu_time_total / total, 3)}
            for e in rows]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--codec-manifest", required=True, help="audio manifest for the codec")
    ap.add_argument("--tokens", required=True, help="token manifest (extract-tokens) for the LM and flow")
    ap.add_argument("--symbols", required=True)
    ap.add_argument("--tokenizer", required=True, help="the codec checkpoint the tokens came from (flow)")
    ap.add_argument("--cache", default="exp/teacher-cache", help="teacher feature cache folder")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--slow-steps", type=int, default=6,
                    help="steps for the slow modes: bf16 on a CPU without native bf16, compiled LM/flow")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--stages", default="codec,lm,flow")
    ap.add_argument("--json", required=True)
    a = ap.parse_args()
    common = {"codec": [f"train_manifest={a.codec_manifest}", "val_manifest=null", "gan=false", "init=null"],
              "lm": [f"train_manifest={a.tokens}", "val_manifest=null", f"symbols={a.symbols}"],
              "flow": [f"train_manifest={a.tokens}", "val_manifest=null", f"tokenizer=dualcodec:{a.tokenizer}"]}
    from dualtts.training.loop import fast_bf16_cpu

    native_bf16 = torch.cuda.is_available() or fast_bf16_cpu()
    res: dict = {"setup": {**machine(a.threads), "steps": a.steps, "native_bf16": native_bf16,
                           "note": "steps/s after the first step (compilation included there); loss: mean over the last "
                                   "quarter of the steps both runs took, same seed, against fp32 eager"}}
    for stage in a.stages.split(","):
        rows = {}
        for mode, ov in MODES[stage].items():
            ov = [o.format(cache=a.cache) for o in ov]
            bf16 = any("bf16" in o for o in ov)
            if bf16 and not native_bf16 and mode != "bf16":
                rows[mode] = {"skipped": "no native bf16 on this CPU (see the bf16 row)"}
                continue
            # slow modes get fewer steps: bf16 without native support (seconds a step), and compiling the LM/flow,
            # whose batches change length (each new shape recompiles for tens of seconds on 2 cores)
            slow = (bf16 and not native_bf16) or (stage != "codec" and "train.compile=true" in ov)
            n = a.slow_steps if slow else a.steps
            rows[mode] = run_isolated(measure, a.threads, stage, common[stage] + ov, n, False)
            print(stage, mode, json.dumps(rows[mode]), file=sys.stderr)
        ok = {m: r for m, r in rows.items() if "steps_per_s" in r}
        base = ok.get("fp32")
        if base:
            for r in ok.values():
                n = min(len(r["losses"]), len(base["losses"]))
                w = slice(n - max(1, n // 4), n)
                r["loss"] = round(sum(r["losses"][w]) / len(r["losses"][w]), 4)
                r["fp32_loss"] = round(sum(base["losses"][w]) / len(base["losses"][w]), 4)
                r["speedup"] = round(r["steps_per_s"] / base["steps_per_s"], 2)
                r["loss_vs_fp32"] = round(r["loss"] / r["fp32_loss"] - 1, 4)
            keep = {m: r for m, r in ok.items() if abs(r["loss_vs_fp32"]) <= 0.02} or {"fp32": base}
            best = max(keep, key=lambda m: keep[m]["steps_per_s"])
            rows["best"] = {"mode": best, "speedup": keep[best]["speedup"], "loss_vs_fp32": keep[best]["loss_vs_fp32"]}
            prof = run_isolated(measure, a.threads, stage, common[stage] + [o.format(cache=a.cache) for o in MODES[stage][best]],
                                4, True)
            rows["best"]["profile"] = prof.get("profile", prof)
        res[stage] = rows
    from dualtts.data.atomic import write_text_atomic

    write_text_atomic(a.json, json.dumps(res, indent=1))
    print(json.dumps({s: res[s].get("best") and {k: v for k, v in res[s]["best"].items() if k != "profile"}
                      for s in a.stages.split(",")}))


if __name__ == "__main__":
    main()
