#!/usr/bin/env bash
# Mini codec run on a CPU: tiny presets (tiny-<CODEC>) on the offline corpus, Whisper-base teacher.
# Needs the corpus and manifests of recipes/quickstart.sh. Writes exp/mini/ (RUNS=...) and recipes/mini/$REPORT.{md,json} (default codec_results)
# with the curves in recipes/mini/$CURVES.png (default results.{md,json}, loss_curves.png).
#   STEPS=4000 EVAL_PER_SPEAKER=5 bash recipes/mini/codec.sh     (spectral 12.5 + 25 Hz, about 27 min each on 2 cores)
#   RUNS=exp/streams REPORT=streams CURVES=streams_curves bash recipes/mini/streams.sh
#                  (the spectral and the DAC-style waveform stream side by side in the same wall-clock budget)
# EXTRA="key=value ..." adds training overrides.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 PATH="$PWD/${VENV:-.venv}/bin:$PATH"
M=${MANIFESTS:-exp/quickstart/manifests}; RUNS=${RUNS:-exp/mini}; REPORT=${REPORT:-codec_results}; CURVES=${CURVES:-loss_curves}
STEPS=${STEPS:-4000}; PER_SPK=${EVAL_PER_SPEAKER:-5}; CODECS=${CODECS:-"12hz 25hz"}
GAN_START=${GAN_START:-$((STEPS - 200))}   # mel-only first: a GAN step costs ~7 mel-only steps on a CPU
[ -f "$M/train.jsonl" ] || { echo "no $M/train.jsonl: run recipes/quickstart.sh first"; exit 1; }
for C in $CODECS; do
  OUT=$RUNS/codec-$C
  [ -f "$OUT-init/model.safetensors" ] || dualtts codec-stats --codec "tiny-$C" --manifest "$M/train.jsonl" --out "$OUT-init" --max-utterances 150
  dualtts train codec --config recipes/mini/codec.yaml init="$OUT-init" train.out_dir="$OUT" train.max_steps="$STEPS" \
    gan_start_step="$GAN_START" ${EXTRA:-}
  CK="$OUT/checkpoints/$(cat "$OUT/checkpoints/latest")/codec"
  for Q in all 1; do
    L=$([ "$Q" = all ] && echo "" || echo "--layers $Q")
    dualtts reconstruct --tokenizer "$CK" --manifest "$M/test.jsonl" --out "$OUT/recon-q$Q" $L
    dualtts evaluate --ref "$M/test.jsonl" --hyp "$OUT/recon-q$Q" --metrics wer,nll,sim,stoi,pesq,mel --per-speaker "$PER_SPK" \
      --by speaker --out "$OUT/eval-q$Q.json"
  done
done
dualtts evaluate --ref "$M/test.jsonl" --hyp "$(dirname "$M")/corpus" --metrics wer,nll --per-speaker "$PER_SPK" --by speaker \
  --out "$RUNS/eval-ground-truth.json"
python recipes/mini/report.py --runs "$RUNS" --out recipes/mini --name "$REPORT" --curves "$CURVES" ${REPORT_ARGS:-}
