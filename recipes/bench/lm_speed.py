"""Semantic-LM speed: generation tokens/s at batch 1 and 8, prefill tokens/s and peak memory of the
``base`` preset (≈110M, 16384-entry codebook) on CPU threads (and on a GPU when there is one), for fp32,
bf16 and int8 (dynamic int8 Linear layers) weights. Random weights: speed only; the quality check of the
reduced-precision weights runs on a trained LM when ``--quality-lm`` is given (validation loss / top-1
accuracy next to fp32, and the agreement of greedy next tokens).

    python recipes/bench/lm_speed.py --json recipes/bench/lm_speed.json [--threads 2] \\
        [--quality-lm exp/mini/lm-12hz/checkpoints/step-N/lm --quality-manifest exp/tokens-12hz/dev/manifest.jsonl]

Setup: a 10 s target (125 tokens at 12.5 Hz, min = max so every run generates exactly that many), a
prompt of 150 phonemes + 38 speech tokens (3 s). ``tokens_per_s`` = new tokens / (generate time - prefill
time); ``tokens_per_s_end_to_end`` includes the prefill. Top-level ``tokens_per_s_batch1`` is batch 1
with the weights named in ``tokens_per_s_batch1_weights`` (the fastest whose quality check holds, fp32
when no check ran); target >= 50 on 2 CPU threads.
"""
from __future__ import annotations

import argparse
import json

import torch
from common import machine, run_isolated

NEW, PHONEMES, PROMPT = 125, 150, 38


def measure(weights: str, batch: int, device: str, repeats: int) -> dict:
    """The ``base`` preset (random weights): see :func:`dualtts.bench.measure_lm`."""
    from dualtts.bench import measure_lm

    return measure_lm("base", weights, batch, device, repeats, NEW, PHONEMES, PROMPT)


def quality(lm_path: str, manifest: str) -> dict:
    """Validation loss / accuracy of a trained LM with each kind of weights, and greedy agreement with fp32."""
    from torch.utils.data import DataLoader

    from dualtts.lm.model import quantize_for_cpu
    from dualtts.lm.model import SemanticLM, collate
    from dualtts.lm.train import TokenDataset

    base = SemanticLM.from_pretrained(lm_path)
    ds = TokenDataset(manifest, base.symbols())
    batches = list(DataLoader(ds, batch_size=16, collate_fn=lambda it: collate(base.cfg, it)))
    ref_pred, out = None, {}
    for w in ("none", "bf16", "int8"):
        m = quantize_for_cpu(SemanticLM.from_pretrained(lm_path), w)
        loss = acc = n = 0.0
        preds = []
        with torch.inference_mode():
            for b in batches:
                logits = m(b["ids"], b["attention_mask"])[0].float()
                keep = b["labels"] != -100
                k = float(keep.sum())
                loss += float(torch.nn.functional.cross_entropy(logits[keep], b["labels"][keep])) * k
                acc += float((logits.argmax(-1)[keep] == b["labels"][keep]).float().mean()) * k
                preds.append(logits.argmax(-1)[keep])
                n += k
        preds = torch.cat(preds)
        ref_pred = preds if ref_pred is None else ref_pred
        out[w] = {"val_loss": round(loss / n, 4), "val_acc": round(acc / n, 4),
                  "greedy_agreement_with_fp32": round(float((preds == ref_pred).float().mean()), 4)}
    return {"lm": lm_path, "manifest": manifest, **out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quality-lm")
    ap.add_argument("--quality-manifest")
    a = ap.parse_args()
    rows = []
    for w in ("none", "bf16", "int8"):
        for b in (1, 8):
            r = run_isolated(measure, a.threads, w, b, "cpu", a.repeats)
            print(json.dumps(r), flush=True)
            rows.append(r)
    if torch.cuda.is_available():
        for b in (1, 8):
            r = run_isolated(measure, a.threads, "none", b, "cuda", a.repeats)
            print(json.dumps(r), flush=True)
            rows.append(r)
    q = run_isolated(quality, a.threads, a.quality_lm, a.quality_manifest) if a.quality_lm else None
    ok = ["none"]
    if q and "error" not in q:  # reduced weights hold when accuracy stays within 1 point and loss within 2 %
        ok += [w for w in ("bf16", "int8") if q[w]["val_acc"] >= q["none"]["val_acc"] - 0.01
               and q[w]["val_loss"] <= 1.02 * q["none"]["val_loss"]]
    b1 = [r for r in rows if r.get("batch") == 1 and r.get("device") == "cpu" and r.get("weights") in ok]
    best = max(b1, key=lambda r: r["tokens_per_s"])
    result = {"tokens_per_s_batch1": best["tokens_per_s"], "tokens_per_s_batch1_weights": best["weights"],
              "tokens_per_s_batch1_fp32": next(r["tokens_per_s"] for r in rows if r.get("batch") == 1 and r.get("weights") == "none"),
              "target_tokens_per_s_batch1": 50, "setup": {**machine(a.threads), "new_tokens": NEW, "prompt_phonemes": PHONEMES,
                                                          "prompt_tokens": PROMPT, "preset": "base", "weights": "random (speed only)"},
              "runs": rows, "quality": q}
    from dualtts.data.atomic import write_text_atomic

    write_text_atomic(a.json, json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k.startswith("tokens")}))


if __name__ == "__main__":
    main()
