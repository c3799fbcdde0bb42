#!/usr/bin/env bash
# README command (a): install everything (venv, Python packages, speech engines), build the offline
# corpus and evaluate its ground truth — the ceiling for every model trained on it.
#   OUT=exp/quickstart SPEAKERS=all UTTERANCES=20 EVAL_PER_SPEAKER=4 bash recipes/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-exp/quickstart}; SPEAKERS=${SPEAKERS:-all}; UTTERANCES=${UTTERANCES:-20}
HOLDOUT=${HOLDOUT:-5}; MAX_WER=${MAX_WER:-0.4}; EVAL_PER_SPEAKER=${EVAL_PER_SPEAKER:-4}
bash scripts/install.sh --eval --voices
export HF_HUB_OFFLINE=1 PATH="$PWD/${VENV:-.venv}/bin:$PATH"
echo "== 1. voices installed"
dualtts make-corpus --list-engines
echo "== 2. corpus: screen every voice (Whisper base WER > $MAX_WER: dropped), then synthesize"
dualtts make-corpus --out "$OUT/corpus" --speakers "$SPEAKERS" --utterances "$UTTERANCES" --holdout "$HOLDOUT" \
  --screen-wer "$MAX_WER" --screen-model base
echo "== 3. manifests (phonemized, speaker-disjoint)"
dualtts prepare --corpus "$OUT/corpus" --out "$OUT/manifests"
echo "== 4. ground-truth evaluation per engine (Whisper base WER, DNSMOS, SIM/PESQ/STOI against itself)"
dualtts evaluate --ref "$OUT/corpus" --hyp "$OUT/corpus" --per-speaker "$EVAL_PER_SPEAKER" --out "$OUT/ground_truth_eval.json"
