#!/usr/bin/env bash
# Mini codec run on a CPU: tiny presets at 12.5 and 25 Hz on the offline corpus, Whisper-base teacher.
# Needs the corpus and manifests of recipes/quickstart.sh. Writes exp/mini/ and recipes/mini/results.{md,json,png}.
#   STEPS=4000 EVAL_PER_SPEAKER=5 bash recipes/mini/codec.sh     (about 27 min per frame rate on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 PATH="$PWD/${VENV:-.venv}/bin:$PATH"
M=${MANIFESTS:-exp/quickstart/manifests}
STEPS=${STEPS:-4000}; PER_SPK=${EVAL_PER_SPEAKER:-5}; RATES=${RATES:-"12 25"}
[ -f "$M/train.jsonl" ] || { echo "no $M/train.jsonl: run recipes/quickstart.sh first"; exit 1; }
for R in $RATES; do
  OUT=exp/mini/codec-${R}hz
  [ -f "$OUT-init/model.safetensors" ] || dualtts codec-stats --codec "tiny-${R}hz" --manifest "$M/train.jsonl" --out "$OUT-init" --max-utterances 150
  dualtts train codec --config recipes/mini/codec.yaml init="$OUT-init" train.out_dir="$OUT" train.max_steps="$STEPS"
  CK="$OUT/checkpoints/$(cat "$OUT/checkpoints/latest")/codec"
  for Q in all 1; do
    L=$([ "$Q" = all ] && echo "" || echo "--layers $Q")
    dualtts reconstruct --tokenizer "$CK" --manifest "$M/test.jsonl" --out "$OUT/recon-q$Q" $L
    dualtts evaluate --ref "$M/test.jsonl" --hyp "$OUT/recon-q$Q" --metrics wer,sim,stoi,pesq,mel --per-speaker "$PER_SPK" \
      --by speaker --out "$OUT/eval-q$Q.json"
  done
done
dualtts evaluate --ref "$M/test.jsonl" --hyp "$(dirname "$M")/corpus" --metrics wer --per-speaker "$PER_SPK" --by speaker \
  --out exp/mini/eval-ground-truth.json
python recipes/mini/report.py --runs exp/mini --out recipes/mini
