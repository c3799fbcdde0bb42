#!/usr/bin/env bash
# The codec of the TTS mini run: continue the committed tiny 12.5 Hz checkpoint (4000 steps on the 0.4 h
# quickstart corpus) mel-only on the 3 h TTS corpus (recipes/mini/tts.sh builds it), keep the result in
# recipes/mini/checkpoints/tiny-12hz-3h, and score it on the 30 held-out clips: all layers vs the first alone.
#   STEPS=4500 bash recipes/mini/codec_tts.sh      (≈50 min on 2 cores; writes exp/mini/codec-12hz-3h/)
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 PATH="$PWD/${VENV:-.venv}/bin:$PATH"
M=exp/corpus-tts/manifests; STEPS=${STEPS:-4500}; OUT=exp/mini/codec-12hz-3h
KEEP=${KEEP:-recipes/mini/checkpoints/tiny-12hz-3h}
[ -f "$M/train.jsonl" ] || { echo "no $M/train.jsonl: run the corpus steps of recipes/mini/tts.sh first"; exit 1; }
dualtts train codec --config recipes/mini/codec.yaml init=recipes/mini/checkpoints/tiny-12hz \
  train_manifest=$M/train.jsonl val_manifest=$M/dev.jsonl gan=false train.max_steps=$STEPS \
  train.lr=0.0002 train.warmup_steps=100 train.min_lr_ratio=0.2 train.val_every=2000 train.save_every=1000 \
  train.out_dir=$OUT
mkdir -p "$KEEP"
cp "$OUT/checkpoints/step-$STEPS/codec/config.yaml" "$OUT/checkpoints/step-$STEPS/codec/model.safetensors" "$KEEP/"
for l in 1 all; do
  dualtts reconstruct --tokenizer "$KEEP" --manifest $M/test.jsonl --out $OUT/recon-q$l --per-speaker 5 \
    $([ $l = all ] || echo --layers $l)
  dualtts evaluate --ref $M/test.jsonl --hyp $OUT/recon-q$l --metrics wer,nll,sim,stoi,mel --per-speaker 5 \
    --out $OUT/eval-q$l.json
done
