#!/usr/bin/env bash
# Generalize: the default model's LM and token reader continued on everyday English (recipes/mini/generalize/), mixed
# with the text it was trained on, its acoustic stage folded onto the new LM's states, then scored on natural sentences
# and real voices it never saw; SHIP=1 makes it the default model.
#   bash recipes/mini/generalize.sh        (needs recipes/quickstart.sh's install: the speech engines and eval models)
# The run starts from BASE, the model recipes/mini/speak.sh builds (default: exp/generalize/base, taken from git at
# BASE_COMMIT when missing: the speak.sh model the shipped one was made from).
# Stages (each skipped when its output exists; trainings resume from their latest checkpoint):
#   1. natural text: >= 50,000 everyday sentences from registry packages -> exp/natural/train.txt
#      (recipes/mini/generalize/natural_text.py; sources and licences in recipes/mini/generalize/SOURCES.md)
#   2. real voices for the scorer -> exp/real-voices (recipes/mini/generalize/real_voices.py)
#   3. the TTS corpus of the shipped model (corpus-v3's voices, split and held-out sentences; NAT_OLD_UTT sentences
#      per training voice) and a natural corpus: every training voice x NAT_UTT sentences of exp/natural/train.txt,
#      the held-out voices saying nothing -> exp/corpus-v3, exp/corpus-nat
#   4. tokens with the shipped codec; the LM's training manifest = both corpora (rows whose phonemes the LM's table
#      lacks are dropped)
#   5. the shipped LM continued on it with text dropout (LM_STEPS), 6. the token reader continued on it (READER_STEPS)
#   7. the acoustic stage folded onto the new LM's states: the NAR and the tuned decoder read the LM's states through
#      linear projections; a ridge map new -> old states, fitted on both LMs' teacher-forced states of the training
#      tokens, is folded into them (recipes/mini/generalize/fold_states.py; no new weights, no retraining)
#   8. a candidate bundle (BASE's codec, the folded acoustic stage, the new LM and reader) -> exp/generalize/bundle
#   9. scores: recipes/mini/generalize_eval.py on BASE and the candidate (natural sentences; 5 real voices x REAL_PER_SPK),
#      and the 102 held-out engine clips (recipes/mini/generalize/eval_held_out.sh)
#  10. SHIP=1: the candidate becomes recipes/mini/checkpoints/dualtts-mini; recipes/mini/speak_eval.sh (102 held-out
#      engine clips) and generalize_eval.py --results write recipes/mini/results.json
# Env: NAT_UTT (default 250), NAT_OLD_UTT (150), LM_STEPS (1000), READER_STEPS (600), REAL_PER_SPK (10), PREC (auto).
# CPU time (2 cores, sessions 12-13; the first two shared the machine with other work): natural corpus 8 min, its
# tokens 37 min, LM 1000 steps 20 min, reader 600 steps 3.5 min, fold 5 min, scores ~10 min per model, speak_eval ~25 min.
# On top of speak.sh (results.json stage_wall_s): about 1.5 h.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 PATH="$PWD/${VENV:-.venv}/bin:$PATH"
SHIPPED=recipes/mini/checkpoints/dualtts-mini
BASE=${BASE:-exp/generalize/base}; BASE_COMMIT=${BASE_COMMIT:-9bb3749}
NAT_UTT=${NAT_UTT:-250}; NAT_OLD_UTT=${NAT_OLD_UTT:-150}; LM_STEPS=${LM_STEPS:-1000}; READER_STEPS=${READER_STEPS:-600}
REAL_PER_SPK=${REAL_PER_SPK:-10}; PREC=${PREC:-auto}
G=exp/generalize; V=exp/corpus-v3; N=exp/corpus-nat
mkdir -p $G
stamp() { echo "[generalize $(date +%H:%M:%S)] $*"; }
if [ ! -f $BASE/lm/model.safetensors ]; then
  stamp "base model from git $BASE_COMMIT"
  rm -rf $BASE.tmp && mkdir -p $BASE.tmp
  git archive $BASE_COMMIT recipes/mini/checkpoints/dualtts-mini | tar -x -C $BASE.tmp --strip-components 4
  mv $BASE.tmp $BASE
fi

[ -f exp/natural/train.txt ] || { stamp "natural text"; python recipes/mini/generalize/natural_text.py; }

corpus() {  # out, extra make-corpus args...
  local out=$1; shift
  [ -f "$out/manifests/train.jsonl" ] && return
  stamp "corpus $out"
  dualtts make-corpus --out "$out/corpus" --speakers all --holdout 5 --screen-wer 0.4 --screen-model base --jobs 2 "$@"
}
corpus $V --utterances "$NAT_OLD_UTT" --text varied --generated 16000 --heldout-sentences 100
[ -f $V/manifests/train.jsonl ] || dualtts prepare --corpus $V/corpus --out $V/manifests
corpus $N --utterances "$NAT_UTT" --text-file exp/natural/train.txt
[ -f $N/manifests/train.jsonl ] || dualtts prepare --corpus $N/corpus --out $N/manifests --dev-fraction 0

tok() {  # manifest, out
  [ -f "$2/manifest.jsonl" ] || { stamp "tokens $2"; dualtts extract-tokens --tokenizer "dualcodec:$BASE/codec" --manifest "$1" --out "$2"; }
}
for s in test dev train; do tok $V/manifests/$s.jsonl $G/tokens-v3/$s; done
tok $N/manifests/train.jsonl $G/tokens-nat/train
if [ ! -f $G/train.jsonl ]; then
  python - "$BASE/lm/symbols.json" $G/tokens-v3/train/manifest.jsonl $G/tokens-nat/train/manifest.jsonl > $G/train.jsonl.tmp <<'EOF'
import json, sys
from dualtts.data.text import SymbolTable
table = SymbolTable.load(sys.argv[1])
kept = dropped = 0
for i, m in enumerate(sys.argv[2:]):
    for line in open(m, encoding="utf-8"):
        row = json.loads(line)
        try:
            table.encode(row["phonemes"], source=row["id"])
        except Exception:
            dropped += 1
            continue
        if not row["codes"].startswith("/"):  # token paths are relative to their own manifest
            row["codes"] = str((__import__("pathlib").Path(m).parent / row["codes"]).resolve())
        row["id"] = f"{i}-{row['id']}"  # both corpora number their utterances alike
        kept += 1
        print(json.dumps(row))
print(f"train rows kept {kept}, dropped {dropped} (phonemes outside the LM's table)", file=sys.stderr)
EOF
  mv $G/train.jsonl.tmp $G/train.jsonl
fi
cp -n $G/tokens-v3/train/tokenizer.json $G/tokenizer.json 2>/dev/null || true

L=$G/lm
if [ ! -f "$L/checkpoints/step-$LM_STEPS/state.json" ]; then
  stamp "lm continued ($LM_STEPS steps)"
  dualtts train lm --config recipes/mini/lm.yaml train_manifest=$G/train.jsonl val_manifest=$G/tokens-v3/dev/manifest.jsonl \
    symbols=$BASE/lm/symbols.json init=$BASE/lm text_dropout=0.15 model.preset=small train.max_steps=$LM_STEPS train.lr=3e-4 \
    train.warmup_steps=50 train.mixed_precision=$PREC train.val_every=500 train.save_every=250 train.out_dir=$L
fi
R=$G/reader
if [ ! -f "$R/checkpoints/step-$READER_STEPS/state.json" ]; then
  stamp "reader continued ($READER_STEPS steps)"
  dualtts train reader --config recipes/mini/reader.yaml train_manifest=$G/train.jsonl val_manifest=$G/tokens-v3/dev/manifest.jsonl \
    symbols=$BASE/lm/symbols.json init=$BASE/reader train.max_steps=$READER_STEPS train.lr=3e-4 train.warmup_steps=50 \
    train.mixed_precision=$PREC train.out_dir=$R
fi
F=$G/flow-folded
if [ ! -f $F/fold_states.json ]; then
  stamp "acoustic stage folded onto the new LM's states"
  python recipes/mini/generalize/fold_states.py --old-lm $BASE/lm --new-lm $L/checkpoints/step-$LM_STEPS/lm --flow $BASE/flow \
    --fit $G/train.jsonl --check $G/tokens-v3/dev/manifest.jsonl --out $F
fi
B=$G/bundle
if [ ! -f $B/lm/model.safetensors ]; then
  stamp "candidate bundle"
  rm -rf $B.tmp && cp -r $BASE $B.tmp && rm -rf $B.tmp/flow && cp -r $F $B.tmp/flow && rm $B.tmp/flow/fold_states.json
  python recipes/mini/generalize/candidate_bundle.py --lm $L/checkpoints/step-$LM_STEPS/lm \
    --reader $R/checkpoints/step-$READER_STEPS/reader --base-commit $BASE_COMMIT --fold $F/fold_states.json --out $B.tmp
  mv $B.tmp $B
fi
[ -f exp/real-voices/manifest.jsonl ] || { stamp "real voices"; python recipes/mini/generalize/real_voices.py; }
for m in base candidate; do
  d=$([ $m = base ] && echo $BASE || echo $B)
  [ -f $G/eval-$m/report.json ] || { stamp "score $m"; python recipes/mini/generalize_eval.py --model $d --out $G/eval-$m --real-per-speaker $REAL_PER_SPK; }
  [ -f $G/eval-102/$m/eval-tts.json ] || { stamp "102 held-out clips: $m"; bash recipes/mini/generalize/eval_held_out.sh $d $G/eval-102/$m; }
done
if [ "${SHIP:-0}" = 1 ]; then
  stamp "ship: $B -> $SHIPPED"
  rm -rf $SHIPPED.tmp && cp -r $B $SHIPPED.tmp && rm -rf $SHIPPED && mv $SHIPPED.tmp $SHIPPED
  mkdir -p exp/speak3 && { [ -e exp/speak3/tokens ] || ln -s "$PWD/$G/tokens-v3" exp/speak3/tokens; }  # what speak_eval.sh reads
  EVAL_DIR=$G/eval-shipped-102 PREVIOUS_EVAL=$G/eval-102/base BUNDLE=$SHIPPED bash recipes/mini/speak_eval.sh
  python recipes/mini/generalize_eval.py --model $SHIPPED --out $G/eval-candidate --real-per-speaker $REAL_PER_SPK --results recipes/mini/results.json
  python scripts/gen_docs.py
fi
stamp done
