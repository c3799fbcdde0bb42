"""Flow-stage speed: real-time factor of sampling 10 s of speech with N = 8, 16, 32 ODE steps (Euler, CFG
on: conditional and unconditional rows in one batch) for the ``base`` preset (DualCodec 12.5 Hz latent,
1024 wide), on CPU threads (and a GPU when there is one), batch 1 (and 8 for ``tiny``), with a 3 s prompt in context;
peak memory; and base at 16 steps with bf16 / int8 weights, with the SNR of their output against fp32's. Random
weights: speed only.

    python recipes/bench/flow_speed.py --json recipes/bench/flow_speed.json [--threads 2]

RTF = sampling seconds / seconds of speech generated (lower is faster); the codec decode is not included
(see codec_speed.json). Top-level ``rtf_16_steps`` = base, CPU, batch 1, 16 steps.
"""
from __future__ import annotations

import argparse
import json

import torch
from common import machine, run_isolated

SECONDS, PROMPT_SECONDS, FRAME_RATE = 10.0, 3.0, 12.5


def measure(preset: str, steps: int, batch: int, device: str, repeats: int, weights: str = "fp32") -> dict:
    """See :func:`dualtts.bench.measure_flow` (what ``dualtts bench`` runs too)."""
    from dualtts.bench import measure_flow

    return measure_flow(preset, steps, batch, device, repeats, SECONDS, PROMPT_SECONDS, FRAME_RATE, weights=weights)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    rows = []
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        for preset in ("base", "tiny"):
            for steps in (8, 16, 32):
                for batch in (1, 8) if steps == 16 and preset == "tiny" else (1,):
                    r = run_isolated(measure, a.threads, preset, steps, batch, device, a.repeats)
                    print(json.dumps(r), flush=True)
                    rows.append(r)
        for weights in ("bf16", "int8") if device == "cpu" else ("bf16",):  # reduced-precision weights, base, 16 steps
            r = run_isolated(measure, a.threads, "base", 16, 1, device, a.repeats, weights)
            print(json.dumps(r), flush=True)
            rows.append(r)
    pick = lambda key="rtf", **k: next((r.get(key) for r in rows if all(r.get(x) == v for x, v in k.items())), None)
    base = dict(preset="base", steps=16, batch=1)
    result = {"rtf_16_steps": pick(**base, device="cpu", weights="fp32"),
              "rtf_16_steps_gpu": pick(**base, device="cuda", weights="fp32"),
              **{f"rtf_16_steps_{w}": pick(**base, device="cpu", weights=w) for w in ("bf16", "int8")},
              **{f"snr_db_{w}": pick("snr_db", **base, device="cpu", weights=w) for w in ("bf16", "int8")},
              "setup": {**machine(a.threads), "speech_seconds": SECONDS, "prompt_seconds": PROMPT_SECONDS, "frame_rate": FRAME_RATE,
                        "solver": "euler", "cfg": "on (2 rows per utterance)", "weights": "random (speed only)"},
              "runs": rows}
    from dualtts.data.atomic import write_text_atomic

    write_text_atomic(a.json, json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k.startswith("rtf")}))


if __name__ == "__main__":
    main()
