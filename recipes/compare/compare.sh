#!/usr/bin/env bash
# Token pipelines compared under equal conditions: DualCodec 12.5 Hz and 25 Hz, Mimi, EnCodec at 1.5 and 6 kbps.
#   bash recipes/compare/compare.sh
# Each codec is trained from scratch here, from its config (Mimi/EnCodec: transformers' classes through
# codec/hf_train.py; users with internet may instead point MIMI=kyutai/mimi ENCODEC=facebook/encodec_24khz at the
# published weights), on the same utterances, crops, batch, steps and seed (mel-only, no GAN: the same for all;
# DualCodec distils the Whisper teacher into its first layer, Mimi's WavLM distillation is not reproduced). Then the
# same LM preset and the same NAR preset are trained on each one's tokens for the same steps, and everything is
# scored on the held-out speakers and sentences: codec resynthesis (first layer, all layers) and TTS (LM tokens
# semantic-only, and + NAR). Outputs: OUT/<tokenizer>/..., recipes/compare/results.json and RESULTS.md.
# Settings (env): MANIFESTS (prepared corpus, default exp/corpus-v3/manifests), OUT (exp/compare), TRAIN_UTTS (4000),
# CODEC_STEPS (3000), LM_STEPS (2000), NAR_STEPS (1000), EVAL_PER_SPEAKER (6), TOKENIZERS ("dc12 dc25 mimi enc1.5 enc6";
# add dc25a dc25d for the paper's ablation: acoustic-only and distillation codecs at 25 Hz under the same budget),
# NOTES (a Markdown file of what the run says: RESULTS.md's "Reading"). A rerun skips what is done and adds metrics
# that the evaluation reports lack.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} PATH="$PWD/${VENV:-.venv}/bin:$PATH"
TM=${MANIFESTS:-exp/corpus-v3/manifests}; O=${OUT:-exp/compare}
TRAIN_UTTS=${TRAIN_UTTS:-4000}; CODEC_STEPS=${CODEC_STEPS:-3000}; LM_STEPS=${LM_STEPS:-2000}; NAR_STEPS=${NAR_STEPS:-1000}
PER_SPK=${EVAL_PER_SPEAKER:-6}; TOKENIZERS=${TOKENIZERS:-"dc12 dc25 mimi enc1.5 enc6"}; PREC=${PREC:-auto}
stamp() { echo "[compare $(date +%H:%M:%S)] $*"; }
M=$O/manifests; mkdir -p $M
# the same training utterances for every tokenizer: every k-th of the training split
python - "$TM" "$M" "$TRAIN_UTTS" <<'PY'
import sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = open(f"{src}/train.jsonl").read().splitlines()
step = max(1, len(rows) // n)
open(f"{dst}/train.jsonl", "w").write("\n".join(rows[::step][:n]) + "\n")
open(f"{dst}/dev.jsonl", "w").write("\n".join(open(f"{src}/dev.jsonl").read().splitlines()[:200]) + "\n")
PY
cp $TM/test.jsonl $TM/symbols.json $M/

# the codec each tokenizer trains: its folder under OUT and model= of `dualtts train codec`; dc25a / dc25d are the
# paper's ablation at 25 Hz: acoustic only (semantic_mode none, DAC-like), SSL distillation on RVQ-1 (distill)
codec_of() { case $1 in dc12) echo "tiny-12hz tiny-12hz";; dc25) echo "tiny-25hz tiny-25hz";;
  dc25a) echo "tiny-25hz-acoustic {preset: tiny-25hz, semantic_mode: none}";;
  dc25d) echo "tiny-25hz-distill {preset: tiny-25hz, semantic_mode: distill}";;
  mimi) echo "hf-mimi-tiny hf:mimi-tiny";; enc*) echo "hf-encodec-tiny hf:encodec-tiny";; esac; }
spec_of() {  # tokenizer spec of a trained codec folder
  case $1 in dc*) echo "dualcodec:$2";; mimi) echo "mimi:${MIMI:-$2}";; enc*) echo "encodec@${1#enc}:${ENCODEC:-$2}";; esac; }
# scores a generated folder; --update: a report that exists gets only the metrics it lacks (a rerun adds new metrics)
ev() { dualtts evaluate --ref "$M/test.jsonl" --hyp "$1" --metrics "$2" --per-speaker "$PER_SPK" --by speaker --out "$3" --update > /dev/null; }

for t in $TOKENIZERS; do
  read -r CNAME CMODEL <<< "$(codec_of $t)"
  R=$O/$t; C=$O/codec-$CNAME; mkdir -p $R; echo "$C" > $R/codec_dir
  CK=$C/checkpoints/step-$CODEC_STEPS/codec
  if [ ! -f "$CK/model.safetensors" ] && { [ $t != mimi ] || [ -z "${MIMI:-}" ]; } && { [[ $t != enc* ]] || [ -z "${ENCODEC:-}" ]; }; then
    stamp "$t: codec $CMODEL"
    dualtts train codec --config recipes/mini/codec.yaml "model=$CMODEL" train_manifest=$M/train.jsonl \
      val_manifest=$M/dev.jsonl gan=false teacher_cache=exp/teacher-cache train.max_steps=$CODEC_STEPS \
      train.mixed_precision=$PREC train.val_every=0 train.save_every=$CODEC_STEPS train.out_dir=$C > $C.log 2>&1
  fi
  SPEC=$(spec_of $t $CK); TOK=$R/tokens
  for s in test dev train; do
    [ -f "$TOK/$s/manifest.jsonl" ] || { stamp "$t: tokens $s"; dualtts extract-tokens --tokenizer "$SPEC" --manifest "$M/$s.jsonl" --out "$TOK/$s" > /dev/null; }
  done
  if [ ! -f "$R/lm/checkpoints/step-$LM_STEPS/state.json" ]; then
    stamp "$t: lm"
    dualtts train lm --config recipes/mini/lm.yaml train_manifest=$TOK/train/manifest.jsonl val_manifest=$TOK/dev/manifest.jsonl \
      symbols=$M/symbols.json train.max_steps=$LM_STEPS train.mixed_precision=$PREC train.val_every=0 \
      train.save_every=$LM_STEPS train.out_dir=$R/lm > $R/lm.log 2>&1
  fi
  if [ ! -f "$R/nar/checkpoints/step-$NAR_STEPS/state.json" ]; then
    stamp "$t: nar"
    dualtts train nar --config recipes/mini/nar.yaml train_manifest=$TOK/train/manifest.jsonl val_manifest=$TOK/dev/manifest.jsonl \
      lm_states= train.max_steps=$NAR_STEPS train.mixed_precision=$PREC train.val_every=0 train.save_every=$NAR_STEPS \
      train.out_dir=$R/nar > $R/nar.log 2>&1
  fi
  LM=$R/lm/checkpoints/step-$LM_STEPS/lm; NAR=$R/nar/checkpoints/step-$NAR_STEPS/nar
  stamp "$t: evaluation"
  for l in 1 all; do
    [ -d $R/codec-q$l ] || dualtts reconstruct --tokenizer "$SPEC" --manifest "$M/test.jsonl" --out "$R/codec-q$l" \
      --per-speaker "$PER_SPK" $([ $l = all ] || echo --layers 1) > /dev/null
    ev $R/codec-q$l wer,nll,stoi,pesq,sim,dnsmos $R/eval-codec-q$l.json
  done
  [ -d $R/lm-q1 ] || dualtts lm-generate --lm $LM --tokenizer "$SPEC" --manifest "$TOK/test/manifest.jsonl" --out $R/lm-q1 \
    --per-speaker "$PER_SPK" > /dev/null
  ev $R/lm-q1 wer,nll,sim,dnsmos $R/eval-lm-q1.json
  [ -d $R/tts ] || dualtts flow-generate --flow $NAR --tokenizer "$SPEC" --manifest "$TOK/test/manifest.jsonl" --tokens $R/lm-q1 \
    --out $R/tts --per-speaker "$PER_SPK" > /dev/null
  ev $R/tts wer,nll,sim,dnsmos $R/eval-tts.json
done
# the ground truth on the same clips as the tokenizers (the targets of the first one's TTS), linked into one folder
python - "$M/test.jsonl" "$O/$(echo $TOKENIZERS | cut -d' ' -f1)/tts" "$O/ground-truth" <<'PY'
import json, os, sys
from pathlib import Path
ref, done, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
out.mkdir(parents=True, exist_ok=True)
for r in map(json.loads, open(ref)):
    if (done / f"{r['id']}.wav").is_file() and not (out / f"{r['id']}.wav").exists():
        os.symlink(os.path.abspath(r["audio"]), out / f"{r['id']}.wav")
PY
ev $O/ground-truth wer,nll,dnsmos $O/eval-ground-truth.json
python recipes/compare/report.py --runs $O --tokenizers $TOKENIZERS --settings "train_utts=$TRAIN_UTTS codec_steps=$CODEC_STEPS lm_steps=$LM_STEPS nar_steps=$NAR_STEPS per_speaker=$PER_SPK" \
  --out ${REPORT_DIR:-recipes/compare} ${NOTES:+--notes $NOTES}
stamp done
