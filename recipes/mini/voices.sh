#!/usr/bin/env bash
# Voices beyond the engines: speaker augmentation of the codec and the acoustic stage, on top of the model
# recipes/mini/generalize.sh made (BASE, default exp/generalize/bundle); SHIP=1 makes the result the default model.
#   bash recipes/mini/voices.sh            (after generalize.sh; needs its corpora, tokens and exp/real-voices)
# Stages (each skipped when its output exists; trainings resume from their latest checkpoint):
#   1. codec: BASE's codec continued CODEC_STEPS mel-only steps on 1200 corpus-v3 training utterances, every crop
#      speaker-augmented (dualtts.data.augment: pitch and formants, tilt and EQ, 8/16 kHz band limits, noise), its
#      semantic stream frozen and then copied back bit for bit (generalize/keep_semantic.py): the first-layer tokens
#      do not change, so BASE's LM and token reader stay as they are
#   2. speaker-augmented copies of AUG_UTT training utterances, each a new voice (generalize/augment_corpus.py)
#   3. tokens with the new codec (train, dev, test, the copies) and BASE's LM's states of them
#   4. BASE's NAR continued on the training tokens + the copies (NAR_STEPS; the acoustic codes changed)
#   5. the new codec's decoder fine-tuned on that NAR's soft output, with the LM-state projection (DECODER_STEPS)
#   6. the candidate: BASE with the new codec/ and flow/ -> exp/voices/bundle
#   7. scores: what the codec keeps of real voices (generalize/codec_ceiling.py) for BASE's codec and the new one;
#      generalize_eval.py and the 102 held-out engine clips for the candidate
#   8. SHIP=1: the candidate becomes recipes/mini/checkpoints/dualtts-mini; speak_eval.sh and generalize_eval.py
#      --results write recipes/mini/results.json
# Env: CODEC_STEPS (1000), AUG_UTT (1800), NAR_STEPS (2500), DECODER_STEPS (1000), CANDIDATES (4), PREC (auto).
# CPU time (2 cores, session 14, wall clock): codec 5 min (teacher cache included), copies 1 min, tokens 6 min, LM states
# 4 min, NAR 15 min, decoder 16 min, bundle and codec ceilings 2 min, scores 10 min; SHIP=1's speak_eval ~25 min and
# bench 2 min. About 1 h of training on top of generalize.sh, 1.6 h with SHIP=1.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 PATH="$PWD/${VENV:-.venv}/bin:$PATH"
SHIPPED=recipes/mini/checkpoints/dualtts-mini
BASE=${BASE:-exp/generalize/bundle}
CODEC_STEPS=${CODEC_STEPS:-1000}; AUG_UTT=${AUG_UTT:-1800}; NAR_STEPS=${NAR_STEPS:-2500}; DECODER_STEPS=${DECODER_STEPS:-1000}
PREC=${PREC:-auto}; REAL_PER_SPK=${REAL_PER_SPK:-10}
CANDIDATES=${CANDIDATES:-4}   # LM samples per sentence: the default recipes/bench/set_default.py chose (issue 31)
V=exp/voices; TM=exp/corpus-v3/manifests
mkdir -p $V
stamp() { echo "[voices $(date +%H:%M:%S)] $*"; }
[ -f $BASE/lm/model.safetensors ] || { echo "voices: $BASE is not a model folder: run recipes/mini/generalize.sh first" >&2; exit 2; }

if [ ! -f $V/codec/model.safetensors ]; then
  [ -f $V/codec-train.jsonl ] || python -c "
import json, random, sys
rows = open(sys.argv[1], encoding='utf-8').read().splitlines()
rows = [r for r in rows if r.strip()]
random.Random(0).shuffle(rows)
open(sys.argv[2], 'w', encoding='utf-8').write('\n'.join(rows[:1200]) + '\n')" $TM/train.jsonl $V/codec-train.jsonl
  stamp "codec: $CODEC_STEPS steps on speaker-augmented crops, semantic stream frozen"
  dualtts train codec --config recipes/mini/codec.yaml init=$BASE/codec train_manifest=$V/codec-train.jsonl \
    val_manifest=$TM/dev.jsonl gan=false teacher_cache=exp/teacher-cache-v3 'augment={}' 'freeze=[semantic_encoder,semantic_vq]' \
    train.lr=2e-4 train.warmup_steps=50 train.min_lr_ratio=0.1 train.max_steps=$CODEC_STEPS train.val_every=$CODEC_STEPS \
    train.save_every=500 train.log_every=50 train.mixed_precision=$PREC train.out_dir=$V/codec-aug
  python recipes/mini/generalize/keep_semantic.py --tuned $V/codec-aug/checkpoints/step-$CODEC_STEPS/codec \
    --base $BASE/codec --out $V/codec
fi
[ -f $V/aug/manifest.jsonl ] || { stamp "augmented copies"; python recipes/mini/generalize/augment_corpus.py --manifest $TM/train.jsonl --n $AUG_UTT --out $V/aug; }
tok() {  # manifest, split
  [ -f $V/tokens/$2/manifest.jsonl ] || { stamp "tokens $2"; dualtts extract-tokens --tokenizer dualcodec:$V/codec --manifest $1 --out $V/tokens/$2; }
  [ -f $V/states/.done-$2 ] || { stamp "LM states $2"; dualtts lm-states --lm $BASE/lm --manifest $V/tokens/$2/manifest.jsonl --out $V/states && touch $V/states/.done-$2; }
}
tok $TM/dev.jsonl dev; tok $TM/train.jsonl train; tok $V/aug/manifest.jsonl aug; tok $TM/test.jsonl test
if [ ! -f $V/tokens/train+aug/manifest.jsonl ]; then
  mkdir -p $V/tokens/train+aug
  python - <<'PY'
import json
from pathlib import Path
out = Path("exp/voices/tokens/train+aug")
rows = []
for s in ("train", "aug"):
    d = Path(f"exp/voices/tokens/{s}").resolve()
    for x in open(d / "manifest.jsonl", encoding="utf-8"):
        r = json.loads(x)
        r["codes"] = str(d / r["codes"])  # (token paths are relative to their own manifest)
        rows.append(r)
(out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
(out / "tokenizer.json").write_text(Path("exp/voices/tokens/train/tokenizer.json").read_text())
PY
fi
N=$V/nar
if [ ! -f $N/checkpoints/step-$NAR_STEPS/state.json ]; then
  stamp "NAR on the new codes ($NAR_STEPS steps)"
  dualtts train nar --config recipes/mini/nar.yaml train_manifest=$V/tokens/train+aug/manifest.jsonl \
    val_manifest=$V/tokens/dev/manifest.jsonl lm_states=$V/states init=$BASE/flow train.max_steps=$NAR_STEPS \
    train.warmup_steps=100 train.val_every=500 train.save_every=500 train.mixed_precision=$PREC train.out_dir=$N
fi
D=$V/decoder
if [ ! -f $D/checkpoints/step-$DECODER_STEPS/state.json ]; then
  stamp "decoder on the NAR's soft output + LM states ($DECODER_STEPS steps)"
  dualtts train decoder --config recipes/mini/decoder.yaml codec=$V/codec nar=$N/checkpoints/step-$NAR_STEPS/nar \
    state_adapter=true train_manifest=$V/tokens/train+aug/manifest.jsonl val_manifest=$V/tokens/dev/manifest.jsonl \
    lm_states=$V/states train.max_steps=$DECODER_STEPS train.val_every=$DECODER_STEPS train.save_every=250 \
    train.mixed_precision=$PREC train.out_dir=$D
fi
B=$V/bundle
if [ ! -f $B/flow/model.safetensors ]; then
  stamp "candidate bundle"
  rm -rf $B.tmp
  python recipes/mini/bundle.py --codec $V/codec --lm $BASE/lm --flow $D/checkpoints/step-$DECODER_STEPS/nar \
    --tuned-decoder $D/checkpoints/step-$DECODER_STEPS/codec --reader $BASE/reader --text-cfg-scale 2.0 --candidates $CANDIDATES \
    --manifest $TM/train.jsonl --out $B.tmp
  cp $BASE/prompt.wav $BASE/prompt.txt $B.tmp/  # the base's default voice, not a new pick
  python - $BASE/bundle.json $B.tmp/bundle.json <<'PY'
import json, sys
base, new = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
for k in ("generalize", "previous_sources", "prompt_voice", "prompt_licence"):
    if k in base:
        new[k] = base[k]
new["sources"]["prompt"] = base["sources"]["prompt"]
new["candidates_source"] = "recipes/bench/set_default.py: best_of_4 of recipes/bench/e2e_tradeoff.json (issue 31)"
new["voices"] = {"base": sys.argv[1].rsplit("/", 1)[0], "recipe": "recipes/mini/voices.sh",
                 "codec": "the base's codec continued on speaker-augmented crops, its semantic stream kept (first-layer tokens unchanged)",
                 "lm": "the base's", "reader": "the base's", "flow": "the base's NAR continued on the new codes + speaker-augmented copies; decoder tuned on its output"}
json.dump(new, open(sys.argv[2], "w"), indent=1)
PY
  mv $B.tmp $B
fi
for c in base:$BASE/codec voices:$V/codec; do
  [ -f $V/ceiling/${c%%:*}/ceiling.json ] || { stamp "codec ceiling ${c%%:*}"; python recipes/mini/generalize/codec_ceiling.py --codec ${c#*:} --out $V/ceiling/${c%%:*}; }
done
[ -f $V/eval/report.json ] || { stamp "score the candidate"; python recipes/mini/generalize_eval.py --model $B --out $V/eval --real-per-speaker $REAL_PER_SPK; }
[ -f $V/eval-102/eval-tts.json ] || { stamp "102 held-out clips"; TOK=$V/tokens bash recipes/mini/generalize/eval_held_out.sh $B $V/eval-102; }
if [ "${SHIP:-0}" = 1 ]; then
  stamp "ship: $B -> $SHIPPED"
  rm -rf $SHIPPED.tmp && cp -r $B $SHIPPED.tmp && rm -rf $SHIPPED && mv $SHIPPED.tmp $SHIPPED
  cp recipes/mini/results.json $V/results.before.json  # (speak_eval rewrites it: fields of the sentences, not the model, come back below)
  TOKENS=$V/tokens EVAL_DIR=$V/eval-shipped-102 PREVIOUS_EVAL=exp/generalize/eval-shipped-102 BUNDLE=$SHIPPED bash recipes/mini/speak_eval.sh
  python recipes/mini/generalize_eval.py --model $SHIPPED --out $V/eval --real-per-speaker $REAL_PER_SPK --results recipes/mini/results.json
  stamp "the default setting's row: the 102 clips at best of $CANDIDATES, streaming speed (dualtts bench --parts e2e)"
  dualtts bench --parts e2e --model $SHIPPED --out-dir $V/bench  # (into recipes/bench it would rewrite bench.json with e2e alone)
  python - $V/eval-102/eval-tts.json $V/bench/e2e_speed.json recipes/mini/results.json $CANDIDATES $V/results.before.json <<'PY'
import json, sys
from dualtts.data.atomic import write_text_atomic
from dualtts.evaluate import bootstrap_ci
ev, e2e, res, before = (json.load(open(p)) for p in sys.argv[1:4] + sys.argv[5:6])
for k in ("engines_natural_wer", "ground_truth_natural_wer"):  # the natural sentences said by the engines
    res.setdefault(k, before.get(k))
res["default_sampling"] = {"setting": f"best_of_{sys.argv[4]}", "candidates": int(sys.argv[4]), "good_enough": None,
    "round_size": None, "mean_candidates_held_out": float(sys.argv[4]), "wer_held_out": ev["overall"]["wer"],
    "wer_held_out_ci": bootstrap_ci(ev["items"], "wer"), "sim_held_out": ev["overall"]["sim"], "rtf": e2e["rtf"],
    "ttfa_s": e2e["ttfa_s"], "source": "recipes/mini/voices.sh (exp/voices/eval-102; exp/voices/bench/e2e_speed.json)",
    "chosen_by": "recipes/bench/set_default.py on the session-13 model (recipes/bench/e2e_tradeoff.json)"}
write_text_atomic(sys.argv[3], json.dumps(res, indent=1))
PY
  python scripts/gen_docs.py
fi
stamp done
