#!/usr/bin/env bash
# Does a phase-aware complex-STFT loss help the tiny codec? Continue the committed tiny 12.5 Hz checkpoint
# mel-only on the 3 h TTS corpus (recipes/mini/tts.sh builds it) with and without the loss, the two runs
# side by side with one thread each, then score all-layer reconstructions of the 30 held-out clips.
#   STEPS=3000 bash recipes/mini/codec_phase.sh      (≈35 min on 2 cores; writes exp/codec-phase/eval-*.json)
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 PATH="$PWD/${VENV:-.venv}/bin:$PATH"
M=exp/corpus-tts/manifests; STEPS=${STEPS:-3000}; OUT=exp/codec-phase
[ -f "$M/train.jsonl" ] || { echo "no $M/train.jsonl: run recipes/mini/tts.sh first"; exit 1; }
for v in base:0 complex:5; do
  n=${v%%:*}; w=${v##*:}
  OMP_NUM_THREADS=1 dualtts train codec --config recipes/mini/codec.yaml init=recipes/mini/checkpoints/tiny-12hz \
    train_manifest=$M/train.jsonl val_manifest=$M/dev.jsonl gan=false loss.complex=$w train.max_steps=$STEPS \
    train.lr=0.0001 train.warmup_steps=50 train.min_lr_ratio=0.5 train.val_every=0 train.save_every=1000 \
    train.out_dir=$OUT/$n > $OUT-$n.log 2>&1 &
done
wait
for n in base complex; do
  dualtts reconstruct --tokenizer "$OUT/$n/checkpoints/step-$STEPS/codec" --manifest $M/test.jsonl --out $OUT/$n/recon --per-speaker 5
  dualtts evaluate --ref $M/test.jsonl --hyp $OUT/$n/recon --metrics wer,stoi,pesq,mel --per-speaker 5 --out $OUT/eval-$n.json
done
dualtts reconstruct --tokenizer "$OUT/base/checkpoints/step-$STEPS/codec" --manifest $M/test.jsonl --out $OUT/base/recon-q1 --per-speaker 5 --layers 1
dualtts evaluate --ref $M/test.jsonl --hyp $OUT/base/recon-q1 --metrics wer,stoi,pesq,mel --per-speaker 5 --out $OUT/eval-base-q1.json
