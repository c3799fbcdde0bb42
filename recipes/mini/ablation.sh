#!/usr/bin/env bash
# The paper's ablation, small: same budget, three tiny 25 Hz codecs — acoustic only (DAC-like, semantic_mode=none),
# acoustic + SSL distillation on RVQ-1 (SpeechTokenizer-like, distill), dual stream (dual) — and the RVQ-1-only
# WER of each on held-out speakers (paper at 25 Hz: 31.8 / 17.8 / 2.98 %). Mel-only training (no GAN) to fit a CPU.
#   STEPS=1500 bash recipes/mini/ablation.sh      (after recipes/quickstart.sh and recipes/mini/codec.sh's stats)
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 PATH="$PWD/${VENV:-.venv}/bin:$PATH"
M=${MANIFESTS:-exp/quickstart/manifests}; STEPS=${STEPS:-1500}; PER_SPK=${EVAL_PER_SPEAKER:-5}
STATS=${STATS:-exp/mini/codec-25hz-init}
[ -f "$STATS/model.safetensors" ] || dualtts codec-stats --codec tiny-25hz --manifest "$M/train.jsonl" --out "$STATS" --max-utterances 150
for MODE in none distill dual; do
  OUT=exp/ablation/$MODE
  dualtts train codec --config recipes/mini/codec.yaml "model={preset: tiny-25hz, semantic_mode: $MODE}" ssl_stats_from="$STATS" \
    gan=false train.out_dir="$OUT" train.max_steps="$STEPS" train.val_every=0 train.save_every="$STEPS"
  CK="$OUT/checkpoints/$(cat "$OUT/checkpoints/latest")/codec"
  dualtts reconstruct --tokenizer "$CK" --manifest "$M/test.jsonl" --out "$OUT/recon-q1" --layers 1
  dualtts evaluate --ref "$M/test.jsonl" --hyp "$OUT/recon-q1" --metrics wer,nll,stoi,mel --per-speaker "$PER_SPK" --by speaker \
    --out "$OUT/eval-q1.json"
done
GT=exp/ablation/eval-ground-truth.json
[ -f "$GT" ] || dualtts evaluate --ref "$M/test.jsonl" --hyp "$(dirname "$M")/corpus" --metrics wer,nll --per-speaker "$PER_SPK" \
  --by speaker --out "$GT"
STEPS=$STEPS python - <<'PY'
import json
import os
steps = os.environ.get("STEPS", "1500")
rows = [f"RVQ-1 alone after {steps} mel-only steps (tiny 25 Hz); nll: Whisper base's mean negative log-likelihood per token "
        "of the reference text (lower = more intelligible)", "",
        "| variant | RVQ-1-only WER | RVQ-1-only NLL | STOI | mel distance |", "|---|---|---|---|---|"]
gt = json.load(open("exp/ablation/eval-ground-truth.json"))["overall"]
rows.append(f"| ground-truth audio | {gt['wer']:.3f} | {gt['nll']:.3f} | - | - |")
names = {"none": "acoustic only (DAC-like)", "distill": "acoustic + SSL distillation on RVQ-1", "dual": "dual stream (DualCodec)"}
for mode in ("none", "distill", "dual"):
    o = json.load(open(f"exp/ablation/{mode}/eval-q1.json"))["overall"]
    rows.append(f"| {names[mode]} | {o['wer']:.3f} | {o['nll']:.3f} | {o['stoi']:.3f} | {o['mel']:.3f} |")
open("recipes/mini/ablation.md", "w").write("\n".join(rows) + "\n")
print("\n".join(rows))
PY
