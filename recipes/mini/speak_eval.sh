#!/usr/bin/env bash
# Evaluate a bundled model on the mini corpus' held-out speakers saying held-out sentences -> recipes/mini/results.json,
# speak_results.md, speak_curves.png (the last stage of recipes/mini/speak.sh; also runs alone, on the shipped model):
#   bash recipes/mini/speak_eval.sh          (≈30 min on 2 cores; needs exp/corpus-v3 and its tokens, made by speak.sh)
# Env: BUNDLE (default the shipped dualtts-mini), EVAL_DIR (default exp/speak3/eval; files there are reused),
# EVAL_PER_SPEAKER (17: 102 clips), CANDIDATES (16: what the bundle does by default), PREVIOUS_EVAL (the previous model's evaluations, for its rows),
# LM_PRESET (the run's LM preset, for its logs), TRAIN_SECONDS (the training time to report; default: the sum of the stages' logged times).
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 PATH="$PWD/${VENV:-.venv}/bin:$PATH"
T=exp/corpus-v3; TM=$T/manifests; Z=exp/speak3; TOK=${TOKENS:-$Z/tokens}
B=${BUNDLE:-recipes/mini/checkpoints/dualtts-mini}; E=${EVAL_DIR:-$Z/eval}
PER_SPK=${EVAL_PER_SPEAKER:-17}   # 17 x 6 held-out speakers = 102 clips (36 clips could not resolve 0.02)
CANDIDATES=${CANDIDATES:-16}
for f in "$TM/test.jsonl" "$TOK/test/manifest.jsonl" "$TOK/train/manifest.jsonl" "$TOK/dev/manifest.jsonl"; do
  [ -f "$f" ] || { echo "speak_eval: $f is missing: run recipes/mini/speak.sh (its corpus and tokens stages) first" >&2; exit 2; }
done
stamp() { echo "[speak-eval $(date +%H:%M:%S)] $*"; }
mkdir -p "$E"
stamp "evaluating $B -> $E"
ev() { [ -f "$3" ] || dualtts evaluate --ref "$TM/test.jsonl" --hyp "$1" --metrics "$2" --per-speaker "$PER_SPK" --by speaker --out "$3"; }
ev "$T/corpus" wer,dnsmos "$E/eval-ground-truth.json"
for l in 1 all; do
  [ -d "$E/codec-q$l" ] || dualtts reconstruct --tokenizer "$B/codec" --manifest "$TM/test.jsonl" --out "$E/codec-q$l" \
    --per-speaker "$PER_SPK" $([ $l = all ] || echo --layers 1)
  ev "$E/codec-q$l" wer,stoi,pesq,sim "$E/eval-codec-q$l.json"
done
# LM tokens decoded semantic-only: one sample, and the best of CANDIDATES by the token reader (what the model does)
lmgen() { [ -d "$2" ] || dualtts lm-generate --lm "$B/lm" --tokenizer "dualcodec:$B/codec" --manifest "$TOK/test/manifest.jsonl" \
            --per-speaker "$PER_SPK" --out "$2" "${@:3}"; }
lmgen - "$E/lm-q1"
ev "$E/lm-q1" wer,sim "$E/eval-lm-q1.json"
lmgen - "$E/lm-q1-r$CANDIDATES" --reader "$B/reader" --candidates "$CANDIDATES"
ev "$E/lm-q1-r$CANDIDATES" wer,sim "$E/eval-lm-q1-r$CANDIDATES.json"
# the acoustic stage on the true first-layer tokens (what it adds to a perfect LM), then on the LM's: the TTS pipeline
gen() { [ -d "$1" ] || dualtts flow-generate --flow "$B/flow" --lm "$B/lm" --tokenizer "dualcodec:$B/codec" \
          --manifest "$TOK/test/manifest.jsonl" --per-speaker "$PER_SPK" --out "$1" "${@:2}"; }
gen "$E/gt-acoustic"
ev "$E/gt-acoustic" wer,sim "$E/eval-gt-acoustic.json"
gen "$E/tts-single" --tokens "$E/lm-q1"
ev "$E/tts-single" wer,sim,dnsmos "$E/eval-tts-single.json"
gen "$E/tts" --tokens "$E/lm-q1-r$CANDIDATES"
ev "$E/tts" wer,sim,dnsmos "$E/eval-tts.json"
python recipes/mini/speak_report.py --runs $Z --eval-dir "$E" --previous "${PREVIOUS_EVAL:-$Z/eval-previous}" --bundle "$B" \
  ${TRAIN_SECONDS:+--train-seconds $TRAIN_SECONDS} ${LM_PRESET:+--lm-preset $LM_PRESET} --candidates "$CANDIDATES" --out recipes/mini
stamp done
