#!/usr/bin/env bash
# DualTTS on LibriTTS (or LibriTTS-R), every stage from the download to the scores, on the `dualtts` commands alone.
#   bash recipes/libritts/run.sh [--stage N] [--stop-stage M] [--frame-rate 12.5|25] [--ngpu G] ...   (--help: all)
# Stages (each skipped when its output exists; each training resumes from its latest checkpoint, so a stopped run
# goes on where it was when started again with the same options):
#   0 download       DATA/LibriTTS (or DATA/LibriTTS_R) from openslr: the train subsets, dev-clean, test-clean
#   1 manifests      phonemized train/dev/test manifests split by subset (train-* / dev-clean / test-clean), and
#                    the codec's SSL teacher's feature mean/std over training utterances (dualtts codec-stats)
#   2 codec          DualCodec training (conf/<rate>/codec.yaml)
#   3 tokens         every utterance's codes under the trained codec (dualtts extract-tokens; sharded over --ngpu)
#   4 lm             the semantic LM (conf/<rate>/lm.yaml)
#   5 lm-states      the LM's teacher-forced states of the train and dev utterances (dualtts lm-states)
#   6 acoustic       the NAR acoustic stage reading them (conf/<rate>/nar.yaml)
#   7 synthesize     test-clean, cross-sentence: each target is said in the voice of another utterance of its speaker
#                    (LM tokens from text + prompt, then the acoustic layers; dualtts lm-generate, flow-generate)
#   8 evaluate       the synthesized speech (and the ground truth) scored against test-clean (dualtts evaluate)
# Trainings run under `accelerate launch`: --ngpu G processes on this machine; anything else accelerate takes
# (several machines, a config file) goes in ACCELERATE_ARGS, e.g. on each of 2 machines with 8 GPUs:
#   ACCELERATE_ARGS="--num_processes 16 --num_machines 2 --machine_rank R --main_process_ip HOST --main_process_port 29500"
# Several machines share DATA and --exp on one file system: run a training stage (2, 4 or 6: --stage N --stop-stage N)
# on all of them at once, every other stage on one machine only.
# Extra training settings: CODEC_OVERRIDES, LM_OVERRIDES, NAR_OVERRIDES (key=value ..., as `dualtts train` takes them);
# step counts: CODEC_STEPS, LM_STEPS, NAR_STEPS (default: the config's train.max_steps).
# --dry-run: tiny models (conf/tiny), a couple of steps a training, no download; on a LibriTTS-shaped tree such as
#   dualtts make-corpus --out DATA/LibriTTS --layout libritts --engines espeak-ng --speakers 6 --utterances 4 --holdout 1
# Expected hours per stage on one GPU (estimates, not measurements): recipes/libritts/README.md.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; cat <<'EOF'
Options:
  --stage N --stop-stage M    run stages N..M (default 0..8)
  --data-root DIR             folder holding LibriTTS/ or LibriTTS_R/ (default corpus)
  --subset libritts|libritts-r
  --train-subsets LIST        comma list (default train-clean-100,train-clean-360,train-other-500;
                              train-clean-100 with --dry-run)
  --frame-rate 12.5|25        codec frame rate; picks conf/12hz or conf/25hz (default 12.5)
  --exp DIR                   outputs (default exp/libritts-<rate>, exp/libritts-dry-<rate> with --dry-run)
  --ngpu G                    accelerate processes on this machine (default 1)
  --per-speaker N|all         test-clean targets per speaker in stages 7-8 (default 10; 2 with --dry-run)
  --metrics LIST              dualtts evaluate metrics (default wer,sim,dnsmos; sim with --dry-run)
  --asr-model NAME            ASR of the wer/nll metrics (default base)
  --dry-run                   tiny models and a couple of steps (see above)
EOF
}

STAGE=0 STOP=8 DATA=corpus SUBSET=libritts FR=12.5 EXP="" NGPU=1 DRY=0 PER_SPK="" METRICS="" ASR=base
TRAIN_SUBSETS=""
DEV_SUBSET=dev-clean TEST_SUBSET=test-clean
while [ $# -gt 0 ]; do
  case "$1" in
    --stage) STAGE=$2; shift 2;;
    --stop-stage) STOP=$2; shift 2;;
    --data-root) DATA=$2; shift 2;;
    --subset) SUBSET=$2; shift 2;;
    --train-subsets) TRAIN_SUBSETS=$2; shift 2;;
    --frame-rate) FR=$2; shift 2;;
    --exp) EXP=$2; shift 2;;
    --ngpu) NGPU=$2; shift 2;;
    --per-speaker) PER_SPK=$2; shift 2;;
    --metrics) METRICS=$2; shift 2;;
    --asr-model) ASR=$2; shift 2;;
    --dry-run) DRY=1; shift;;
    -h|--help) usage; exit 0;;
    *) echo "run.sh: unknown option $1 (--help lists them)" >&2; exit 2;;
  esac
done
case "$FR" in 12.5|12|12hz) RATE=12hz;; 25|25hz) RATE=25hz;; *) echo "run.sh: --frame-rate must be 12.5 or 25" >&2; exit 2;; esac
case "$SUBSET" in libritts) TOP=LibriTTS;; libritts-r) TOP=LibriTTS_R;; *) echo "run.sh: --subset must be libritts or libritts-r" >&2; exit 2;; esac
[[ "$NGPU" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --ngpu must be a positive number" >&2; exit 2; }
if [ "$DRY" = 1 ]; then
  EXP=${EXP:-exp/libritts-dry-$RATE}; PER_SPK=${PER_SPK:-2}; METRICS=${METRICS:-sim}; TRAIN_SUBSETS=${TRAIN_SUBSETS:-train-clean-100}
  CONF=recipes/libritts/conf/tiny; CODEC_CONF=$CONF/codec-$RATE.yaml; LM_CONF=$CONF/lm.yaml; NAR_CONF=$CONF/nar.yaml
else
  EXP=${EXP:-exp/libritts-$RATE}; PER_SPK=${PER_SPK:-10}; METRICS=${METRICS:-wer,sim,dnsmos}
  TRAIN_SUBSETS=${TRAIN_SUBSETS:-train-clean-100,train-clean-360,train-other-500}
  CONF=recipes/libritts/conf/$RATE; CODEC_CONF=$CONF/codec.yaml; LM_CONF=$CONF/lm.yaml; NAR_CONF=$CONF/nar.yaml
fi
# paths given relative to where the script was started; the commands run from the repository root
DATA=$(realpath -m "$DATA"); X=$(realpath -m "$EXP")
cd "$(dirname "$0")/../.."
[ -d "${VENV:-.venv}/bin" ] && export PATH="$PWD/${VENV:-.venv}/bin:$PATH"
CORPUS=$DATA/$TOP
ALL_SUBSETS=$TRAIN_SUBSETS,$DEV_SUBSET,$TEST_SUBSET
M=$X/manifests TOK=$X/tokens STATES=$X/lm-states SYN=$X/synth EV=$X/eval
mkdir -p "$X"

stamp() { echo "[libritts $(date +%H:%M:%S)] $*"; }
run_stage() { [ "$STAGE" -le "$1" ] && [ "$1" -le "$STOP" ]; }
skip() { stamp "stage $1: skipped ($2 exists)"; }
cfg_get() { python -c 'import sys, yaml; d = yaml.safe_load(open(sys.argv[1])) or {}
for k in sys.argv[2].split("."): d = (d or {}).get(k)
print("" if d is None else d)' "$1" "$2"; }
steps_of() { local s; s=$(cfg_get "$1" train.max_steps); echo "${s:-1000}"; }  # (1000: TrainConfig's default)
launch() {  # [--local] COMMAND ...: dualtts COMMAND under accelerate (--local: on this machine, without ACCELERATE_ARGS)
  local multi=() extra=${ACCELERATE_ARGS:-}
  if [ "$1" = --local ]; then extra=""; shift; fi
  if [ "$NGPU" -gt 1 ]; then multi=(--multi_gpu); fi
  # shellcheck disable=SC2086  # ACCELERATE_ARGS: several words on purpose
  accelerate launch --num_processes "$NGPU" --num_machines 1 --mixed_precision no --dynamo_backend no "${multi[@]}" \
    $extra -m dualtts.cli "$@"
}
wait_all() { local p; for p in "$@"; do wait "$p"; done; }  # (set -e: the first that failed stops the script)
best_or_last() {  # DIR NAME STEPS: the best checkpoint (lowest validation loss) where kept, else the last one
  if [ -f "$1/checkpoints/best/$2/model.safetensors" ]; then echo "$1/checkpoints/best/$2"; else echo "$1/checkpoints/step-$3/$2"; fi
}
CODEC_STEPS=${CODEC_STEPS:-$(steps_of "$CODEC_CONF")}
LM_STEPS=${LM_STEPS:-$(steps_of "$LM_CONF")}
NAR_STEPS=${NAR_STEPS:-$(steps_of "$NAR_CONF")}
CODEC=$X/codec/checkpoints/step-$CODEC_STEPS/codec
stamp "exp $X, corpus $CORPUS ($ALL_SUBSETS), $RATE, stages $STAGE..$STOP$([ "$DRY" = 1 ] && echo ', dry run')"

# --- 0: download ---------------------------------------------------------------------------------------------------
if run_stage 0; then
  have=1
  for s in ${ALL_SUBSETS//,/ }; do [ -d "$CORPUS/$s" ] || have=0; done
  if [ "$have" = 1 ] && ! ls "$DATA"/*.tar.gz >/dev/null 2>&1; then
    skip 0 "$CORPUS/{${ALL_SUBSETS}}"
  elif [ "$DRY" = 1 ]; then
    echo "run.sh: --dry-run downloads nothing and $CORPUS lacks some of $ALL_SUBSETS; make a tiny tree with" >&2
    echo "  dualtts make-corpus --out $CORPUS --layout libritts --engines espeak-ng --speakers 6 --utterances 4 --holdout 1" >&2
    exit 1
  else
    stamp "stage 0: download $SUBSET ($ALL_SUBSETS) -> $CORPUS"
    dualtts download --corpus "$SUBSET" --subsets "$ALL_SUBSETS" --out "$DATA"
  fi
fi

# --- 1: manifests + phonemes -----------------------------------------------------------------------------------------
if run_stage 1; then
  if [ -f "$M/symbols.json" ]; then skip 1 "$M/symbols.json"; else
    stamp "stage 1: manifests -> $M"
    dualtts prepare --corpus "$CORPUS" --subsets "$ALL_SUBSETS" --split-by subset --out "$M"
  fi
  # the SSL teacher's feature mean/std over (up to 500) training utterances: the fresh codec normalizes with them
  if [ -f "$X/codec/ssl-stats/model.safetensors" ]; then skip 1 "$X/codec/ssl-stats"; else
    stamp "stage 1: SSL feature statistics -> $X/codec/ssl-stats"
    dualtts codec-stats --codec "$(cfg_get "$CODEC_CONF" model)" --manifest "$M/train.jsonl" --out "$X/codec/ssl-stats"
  fi
fi

# --- 2: codec --------------------------------------------------------------------------------------------------------
if run_stage 2; then
  if [ -f "$CODEC/model.safetensors" ]; then skip 2 "$CODEC"; else
    stamp "stage 2: codec ($CODEC_CONF, $CODEC_STEPS steps) -> $X/codec"
    # shellcheck disable=SC2086
    launch train codec --config "$CODEC_CONF" train_manifest="$M/train.jsonl" val_manifest="$M/dev.jsonl" \
      ssl_stats_from="$X/codec/ssl-stats" train.out_dir="$X/codec" train.max_steps="$CODEC_STEPS" ${CODEC_OVERRIDES:-}
  fi
fi

# --- 3: tokens -------------------------------------------------------------------------------------------------------
if run_stage 3; then
  pids=()
  for s in train dev test; do
    if [ -f "$TOK/$s/manifest.jsonl" ]; then skip 3 "$TOK/$s/manifest.jsonl"; continue; fi
    stamp "stage 3: tokens $s -> $TOK/$s"
    args=(extract-tokens --tokenizer "dualcodec:$CODEC" --manifest "$M/$s.jsonl" --out "$TOK/$s")
    if [ "$NGPU" -gt 1 ]; then launch --local "${args[@]}"  # sharded over this machine's GPUs, one split after the other
    else dualtts "${args[@]}" & pids+=($!); fi      # one process per split, all at once
  done
  wait_all "${pids[@]}"
fi

# --- 4: semantic LM --------------------------------------------------------------------------------------------------
if run_stage 4; then
  if [ -f "$X/lm/checkpoints/step-$LM_STEPS/state.json" ]; then skip 4 "$X/lm/checkpoints/step-$LM_STEPS"; else
    stamp "stage 4: LM ($LM_CONF, $LM_STEPS steps) -> $X/lm"
    # shellcheck disable=SC2086
    launch train lm --config "$LM_CONF" train_manifest="$TOK/train/manifest.jsonl" val_manifest="$TOK/dev/manifest.jsonl" \
      symbols="$M/symbols.json" train.out_dir="$X/lm" train.max_steps="$LM_STEPS" ${LM_OVERRIDES:-}
  fi
fi
LM=$(best_or_last "$X/lm" lm "$LM_STEPS")

# --- 5: the LM's states, which the acoustic stage reads to know which phonemes a frame says ---------------------------
if run_stage 5; then
  pids=()
  for s in train dev; do  # (the test utterances' states are computed where they are used, with their prompt's)
    if [ -f "$STATES/.done-$s" ]; then skip 5 "$STATES/.done-$s"; continue; fi
    stamp "stage 5: LM states $s -> $STATES"
    { dualtts lm-states --lm "$LM" --manifest "$TOK/$s/manifest.jsonl" --out "$STATES" && touch "$STATES/.done-$s"; } &
    pids+=($!)
  done
  wait_all "${pids[@]}"
fi

# --- 6: acoustic stage (NAR) -----------------------------------------------------------------------------------------
if run_stage 6; then
  if [ -f "$X/nar/checkpoints/step-$NAR_STEPS/state.json" ]; then skip 6 "$X/nar/checkpoints/step-$NAR_STEPS"; else
    stamp "stage 6: NAR ($NAR_CONF, $NAR_STEPS steps) -> $X/nar"
    # shellcheck disable=SC2086
    launch train nar --config "$NAR_CONF" train_manifest="$TOK/train/manifest.jsonl" val_manifest="$TOK/dev/manifest.jsonl" \
      lm_states="$STATES" train.out_dir="$X/nar" train.max_steps="$NAR_STEPS" ${NAR_OVERRIDES:-}
  fi
fi
NAR=$(best_or_last "$X/nar" nar "$NAR_STEPS")

# --- 7: synthesize test-clean with cross-sentence prompts ------------------------------------------------------------
PER=(); [ "$PER_SPK" = all ] || PER=(--per-speaker "$PER_SPK")
if run_stage 7; then
  # targets: the first N utterances of each test speaker; prompt: the speaker's next utterance (its text and tokens
  # for the LM, its first 3 s of codes for the acoustic stage)
  if [ -f "$SYN/lm/summary.json" ]; then skip 7 "$SYN/lm/summary.json"; else
    stamp "stage 7: LM tokens for test-clean -> $SYN/lm"
    dualtts lm-generate --lm "$LM" --tokenizer "dualcodec:$CODEC" --manifest "$TOK/test/manifest.jsonl" --out "$SYN/lm" "${PER[@]}"
  fi
  if [ -f "$SYN/tts/summary.json" ]; then skip 7 "$SYN/tts/summary.json"; else
    stamp "stage 7: speech for test-clean -> $SYN/tts"
    dualtts flow-generate --flow "$NAR" --lm "$LM" --tokenizer "dualcodec:$CODEC" --manifest "$TOK/test/manifest.jsonl" \
      --tokens "$SYN/lm" --out "$SYN/tts" "${PER[@]}"
  fi
fi

# --- 8: evaluate -----------------------------------------------------------------------------------------------------
if run_stage 8; then
  if [ -f "$EV/tts.json" ]; then skip 8 "$EV/tts.json"; else
    stamp "stage 8: scores ($METRICS) -> $EV/tts.json"
    dualtts evaluate --ref "$M/test.jsonl" --hyp "$SYN/tts" --metrics "$METRICS" --asr-model "$ASR" --by speaker --out "$EV/tts.json"
  fi
  # the ground truth on the metrics that need no reference clip (a clip compared with itself says nothing)
  GT=$(echo "$METRICS" | tr ',' '\n' | grep -E '^(wer|nll|dnsmos)$' | paste -sd, || true)
  if [ -n "$GT" ]; then
    if [ -f "$EV/ground-truth.json" ]; then skip 8 "$EV/ground-truth.json"; else
      stamp "stage 8: ground truth ($GT) -> $EV/ground-truth.json"
      dualtts evaluate --ref "$M/test.jsonl" --hyp "$CORPUS/$TEST_SUBSET" --metrics "$GT" --asr-model "$ASR" --by speaker \
        "${PER[@]}" --out "$EV/ground-truth.json"
    fi
  fi
fi
stamp "done (stages $STAGE..$STOP)"
