#!/usr/bin/env bash
# The 102 held-out engine clips (6 held-out voices x 17 held-out sentences of exp/corpus-v3) said by a model folder as it
# synthesizes by default (best of its bundle.json candidates): lm-generate, flow-generate, evaluate (WER, SIM).
#   bash recipes/mini/generalize/eval_held_out.sh MODEL_DIR OUT_DIR [extra dualtts lm-generate args]  -> OUT_DIR/eval-tts.json
# Needs exp/corpus-v3 and its tokens (recipes/mini/generalize.sh). Files already in OUT_DIR are reused.
set -euo pipefail
cd "$(dirname "$0")/../../.."
export HF_HUB_OFFLINE=1 PATH="$PWD/${VENV:-.venv}/bin:$PATH"
B=$1; E=$2; shift 2
TOK=${TOK:-exp/generalize/tokens-v3}; TM=exp/corpus-v3/manifests
C=$(python -c "import json,sys; print(json.load(open(sys.argv[1])).get('candidates', 16))" "$B/bundle.json")
mkdir -p "$E"
[ -d "$E/lm" ] || dualtts lm-generate --lm "$B/lm" --tokenizer "dualcodec:$B/codec" --manifest $TOK/test/manifest.jsonl \
  --per-speaker 17 --out "$E/lm" --reader "$B/reader" --candidates "$C" "$@"
[ -d "$E/tts" ] || dualtts flow-generate --flow "$B/flow" --lm "$B/lm" --tokenizer "dualcodec:$B/codec" \
  --manifest $TOK/test/manifest.jsonl --per-speaker 17 --out "$E/tts" --tokens "$E/lm"
[ -f "$E/eval-tts.json" ] || dualtts evaluate --ref $TM/test.jsonl --hyp "$E/tts" --metrics wer,sim --per-speaker 17 \
  --by speaker --out "$E/eval-tts.json"
