#!/usr/bin/env bash
# Mini TTS-stage runs on a CPU: the semantic LM (tiny) and the flow stage (tiny) on a larger offline
# corpus (the quickstart's 32 voices and held-out split, 150 Harvard sentences each: 4800 utterances,
# 3.0 h) tokenized by the committed tiny 12.5 Hz DualCodec `tiny-12hz-3h` (recipes/mini/codec_tts.sh: the
# quickstart codec continued on this corpus), then zero-shot evaluation on the held-out speakers (each target
# prompted by another utterance of its speaker). Needs recipes/quickstart.sh's install. ≈75 min on 2 cores.
#   bash recipes/mini/tts.sh
# Writes exp/corpus-tts/, exp/mini/{lm,flow}-12hz/, exp/mini/tts-eval/ and recipes/mini/tts_results.{md,json}, tts_curves.png.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 PATH="$PWD/${VENV:-.venv}/bin:$PATH"
C=exp/corpus-tts
M=$C/manifests
CODEC=${CODEC:-recipes/mini/checkpoints/tiny-12hz-3h}
TOK=$C/tokens-12hz
PER_SPK=${EVAL_PER_SPEAKER:-5}
if [ ! -f "$M/test.jsonl" ]; then
  dualtts make-corpus --out "$C/corpus" --speakers all --utterances 150 --holdout 5 --screen-wer 0.4 --screen-model base --jobs 2
  dualtts prepare --corpus "$C/corpus" --out "$M"
fi
for s in train dev test; do
  dualtts extract-tokens --tokenizer "dualcodec:$CODEC" --manifest "$M/$s.jsonl" --out "$TOK/$s"
done
dualtts train lm --config recipes/mini/lm.yaml
dualtts train flow --config recipes/mini/flow.yaml
LM=exp/mini/lm-12hz/checkpoints/best/lm           # lowest validation loss
FLOW=exp/mini/flow-12hz/checkpoints/best/flow
E=exp/mini/tts-eval
# the flow's starting-noise temperature: the one with the highest speaker similarity on the 2 dev speakers
D=$E/dev
for l in 1 all; do
  dualtts reconstruct --tokenizer "$CODEC" --manifest "$M/dev.jsonl" --out "$D/codec-q$l" --per-speaker 10 $([ $l = all ] || echo --layers 1)
  dualtts evaluate --ref "$M/dev.jsonl" --hyp "$D/codec-q$l" --metrics sim,stoi --per-speaker 10 --out "$D/eval-codec-q$l.json"
done
TEMPS="1.0 0.7 0.5 0.3"
for t in $TEMPS; do
  dualtts flow-generate --flow "$FLOW" --tokenizer "dualcodec:$CODEC" --manifest "$TOK/dev/manifest.jsonl" --out "$D/flow-t$t" \
    --per-speaker 10 --temperature $t
  dualtts evaluate --ref "$M/dev.jsonl" --hyp "$D/flow-t$t" --metrics sim,stoi --per-speaker 10 --out "$D/eval-flow-t$t.json"
done
T=$(python -c "import json,sys; print(max(sys.argv[1:], key=lambda t: json.load(open(f'$D/eval-flow-t{t}.json'))['overall']['sim']))" $TEMPS)
echo "{\"temperature\": $T}" > "$D/chosen.json"
echo "noise temperature chosen on dev: $T"
ev() { dualtts evaluate --ref "$M/test.jsonl" --hyp "$1" --metrics "$2" --per-speaker "$PER_SPK" --by speaker --out "$3"; }
# references: the ground truth, and its tokens decoded with the first layer only / all layers
dualtts reconstruct --tokenizer "$CODEC" --manifest "$M/test.jsonl" --out "$E/codec-q1" --layers 1 --per-speaker "$PER_SPK"
dualtts reconstruct --tokenizer "$CODEC" --manifest "$M/test.jsonl" --out "$E/codec-qall" --per-speaker "$PER_SPK"
ev "$C/corpus" wer,nll "$E/eval-ground-truth.json"
ev "$E/codec-q1" wer,nll,sim,stoi "$E/eval-codec-q1.json"
ev "$E/codec-qall" wer,nll,sim,stoi "$E/eval-codec-qall.json"
# LM: sampled first-layer tokens, decoded semantic-only
dualtts lm-generate --lm "$LM" --tokenizer "dualcodec:$CODEC" --manifest "$TOK/test/manifest.jsonl" --out "$E/lm-q1" --per-speaker "$PER_SPK"
ev "$E/lm-q1" wer,nll,sim "$E/eval-lm-q1.json"
# flow: ground-truth first-layer tokens + a 3 s prompt -> acoustic layers
dualtts flow-generate --flow "$FLOW" --tokenizer "dualcodec:$CODEC" --manifest "$TOK/test/manifest.jsonl" --out "$E/flow-gt-tdev" \
  --per-speaker "$PER_SPK" --temperature "$T"
ev "$E/flow-gt-tdev" wer,nll,sim,stoi "$E/eval-flow-gt-tdev.json"
# the whole pipeline: LM tokens -> flow -> codec
dualtts flow-generate --flow "$FLOW" --tokenizer "dualcodec:$CODEC" --manifest "$TOK/test/manifest.jsonl" --out "$E/lm-flow" \
  --per-speaker "$PER_SPK" --tokens "$E/lm-q1" --temperature "$T"
ev "$E/lm-flow" wer,nll,sim "$E/eval-lm-flow.json"
python recipes/mini/tts_report.py --runs exp/mini --out recipes/mini
