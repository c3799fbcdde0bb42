#!/usr/bin/env bash
# "Make it speak": the default voice model `dualtts-mini`, trained on 2 CPU cores from the offline corpus, in one command.
#   bash recipes/mini/speak.sh            (needs recipes/quickstart.sh's install: the speech engines and eval models)
#   CODEC=recipes/mini/checkpoints/dualtts-mini/codec bash recipes/mini/speak.sh   (the TTS stages on the committed codec)
# Stages (each skipped when its output exists, each training resumes from its latest checkpoint):
#   1. codec corpus: every screened engine voice x 200 sentences (Harvard + grammar sentences), 5 held-out speakers
#      who say only 100 held-out Harvard sentences (unseen text) -> exp/corpus-v2
#   2. codec, 12.5 Hz: the committed tiny-12hz-3h continued mel-only on it (cached teacher) -> exp/speak/codec
#   3. codec, 25 Hz: `tiny-25hz` warm-started from it (every same-shaped tensor: all but the encoder's STFT input and the
#      decoder's upsampler), mel-only, cosine over 12,000 steps stopped at CODEC25_STEPS -> exp/speak25/codec
#      (stages 1-3 are skipped when CODEC names a codec checkpoint)
#   4. TTS corpus: every screened voice x 500 sentences of `--text varied` (Harvard, grammar sentences and free-order
#      sentences over ~970 common words and names: 12.3 h, ~16,000 distinct sentences), the same held-out speakers
#      and sentences -> exp/corpus-v3
#   5. tokens, 6. LM (LM_PRESET, default small: 8M, dropout), 7. the LM's states at every token (dualtts lm-states),
#   8. the NAR acoustic stage (tiny, warm-started from NAR_INIT when given; a NAR that read another LM's states keeps
#      all but their projection) reading them, decoding expected code vectors (`decode: soft`), 9. the LM fine-tuned
#      with text dropout (classifier-free guidance on the text, scale TEXT_CFG), 9b. the token reader (CTC phonemes
#      from first-layer tokens: the best of CANDIDATES LM samples), 9c. the codec's decoder fine-tuned on the NAR's
#      soft latents (true first-layer tokens in, the recording out; half the rows on the true codes), 9d. that decoder
#      continued with the guided LM's states projected onto its input (state_adapter; the projection ships with the
#      NAR); all in bf16 autocast where the hardware computes it (recipes/bench/train_speed.json) -> exp/speak3
#  10. the bundle (the base model) -> exp/speak3/bundle/{codec,lm,flow,reader} (flow/ holds the acoustic stage, here
#      the NAR, and the decoder tuned for it) + prompt.wav/prompt.txt (fp16 weights)
#  11. generalize (recipes/mini/generalize.sh with BASE=exp/speak3/bundle): the LM and token reader continued on
#      everyday English, the acoustic stage folded onto their states -> exp/generalize/bundle
#  12. voices (recipes/mini/voices.sh with SHIP=1): the codec's acoustic layers and decoder continued on speaker-augmented
#      audio, the NAR and tuned decoder retrained on the new codes -> recipes/mini/checkpoints/dualtts-mini, then its
#      evaluation (recipes/mini/speak_eval.sh, generalize_eval.py) -> recipes/mini/results.json, speak_results.md
#      (the shipped model of session 14 came from the base of git 9bb3749, i.e. stages 1-10 of earlier sessions)
# Steps: CODEC_STEPS CODEC25_STEPS LM_STEPS NAR_STEPS CFG_STEPS READER_STEPS DECODER_STEPS STATE_STEPS (env). Time on 2 cores: see recipes/mini/results.json (stage_wall_s).
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 PATH="$PWD/${VENV:-.venv}/bin:$PATH"
C=exp/corpus-v2; M=$C/manifests; X=exp/speak; Y=exp/speak25     # the codec's corpus and runs
T=exp/corpus-v3; TM=$T/manifests; Z=exp/speak3                  # the TTS stages' corpus and runs
CODEC_STEPS=${CODEC_STEPS:-7000}; CODEC25_STEPS=${CODEC25_STEPS:-10000}; LM_STEPS=${LM_STEPS:-5000}; NAR_STEPS=${NAR_STEPS:-2500}
LM_PRESET=${LM_PRESET:-small}; READER_STEPS=${READER_STEPS:-3000}; CANDIDATES=${CANDIDATES:-16}
CFG_STEPS=${CFG_STEPS:-600}; TEXT_CFG=${TEXT_CFG:-2.0}; DECODER_STEPS=${DECODER_STEPS:-2000}; STATE_STEPS=${STATE_STEPS:-2000}
# the 12.5 Hz codec to continue: the committed tiny-12hz-3h (what the shipped model started from)
CODEC_INIT=${CODEC_INIT:-recipes/mini/checkpoints/tiny-12hz-3h}
# a NAR checkpoint to warm-start the acoustic stage from. The shipped NAR's lineage: the NAR of git show
# 91abf30:recipes/mini/checkpoints/dualtts-mini/flow/ (4000 steps on corpus-v2), continued 2500 steps on the tiny LM's
# states (git show e8be1e3:recipes/mini/checkpoints/dualtts-mini/flow/), then NAR_STEPS on the small LM's (its states'
# projection afresh); empty: from scratch
NAR_INIT=${NAR_INIT:-}
PREC=${PREC:-auto}   # bf16 where the hardware computes it natively, else fp32 (recipes/bench/train_speed.json)
mkdir -p $X $Y $Z
T0=$(date +%s)
stamp() { echo "[speak $(date +%H:%M:%S)] $*"; }

if [ -z "${CODEC:-}" ]; then
  if [ ! -f "$M/test.jsonl" ]; then
    stamp "codec corpus"
    [ -f "$C/corpus/SPEAKERS.tsv" ] && [ "$(find $C/corpus -name '*.wav' | wc -l)" -ge 5000 ] || \
      dualtts make-corpus --out "$C/corpus" --speakers all --utterances 200 --holdout 5 --screen-wer 0.4 --screen-model base \
        --jobs 2 --text mixed --generated 6000 --heldout-sentences 100
    dualtts prepare --corpus "$C/corpus" --out "$M"
  fi

  CODEC12=$X/codec/final
  if [ ! -f "$CODEC12/model.safetensors" ]; then
    stamp "codec 12.5 Hz"
    dualtts train codec --config recipes/mini/codec.yaml init=$CODEC_INIT \
      train_manifest=$M/train.jsonl val_manifest=$M/dev.jsonl gan=false teacher_cache=exp/teacher-cache \
      train.mixed_precision=$PREC train.max_steps=$CODEC_STEPS train.lr=2e-4 train.warmup_steps=100 train.min_lr_ratio=0.1 \
      train.val_every=2000 train.save_every=500 train.log_every=50 train.out_dir=$X/codec
    mkdir -p $CODEC12
    cp $X/codec/checkpoints/step-$CODEC_STEPS/codec/{config.yaml,model.safetensors} $CODEC12/
  fi

  CODEC=$Y/codec/final
  if [ ! -f "$CODEC/model.safetensors" ]; then
    stamp "codec 25 Hz"
    dualtts train codec --config recipes/mini/codec.yaml model=tiny-25hz warm_start=$CODEC12 \
      train_manifest=$M/train.jsonl val_manifest=$M/dev.jsonl gan=false teacher_cache=exp/teacher-cache \
      train.mixed_precision=$PREC train.max_steps=12000 train.stop_at=$CODEC25_STEPS train.lr=3e-4 train.warmup_steps=100 \
      train.min_lr_ratio=0.1 train.val_every=2000 train.save_every=1000 train.out_dir=$Y/codec
    mkdir -p $CODEC
    cp $Y/codec/checkpoints/step-$CODEC25_STEPS/codec/{config.yaml,model.safetensors} $CODEC/
  fi
fi

if [ ! -f "$TM/test.jsonl" ]; then
  stamp "TTS corpus"
  [ -f "$T/corpus/SPEAKERS.tsv" ] && [ "$(find $T/corpus -name '*.wav' | wc -l)" -ge 13000 ] || \
    dualtts make-corpus --out "$T/corpus" --speakers all --utterances 500 --holdout 5 --screen-wer 0.4 --screen-model base \
      --jobs 2 --text varied --generated 16000 --heldout-sentences 100
  dualtts prepare --corpus "$T/corpus" --out "$TM"
fi

TOK=$Z/tokens
for s in test dev train; do
  [ -f "$TOK/$s/manifest.jsonl" ] || { stamp "tokens $s"; dualtts extract-tokens --tokenizer "dualcodec:$CODEC" --manifest "$TM/$s.jsonl" --out "$TOK/$s"; }
done

L=$Z/lm-$LM_PRESET
if [ ! -f "$L/checkpoints/step-$LM_STEPS/state.json" ]; then
  stamp "lm ($LM_PRESET)"
  dualtts train lm --config recipes/mini/lm.yaml train_manifest=$TOK/train/manifest.jsonl val_manifest=$TOK/dev/manifest.jsonl \
    symbols=$TM/symbols.json model.preset=$LM_PRESET train.max_steps=$LM_STEPS train.mixed_precision=$PREC train.val_every=500 \
    train.save_every=500 train.out_dir=$L
fi
# the LM's teacher-forced states at every token: the acoustic stage reads them to know which phonemes a frame says
STATES=$L-states
for s in train dev test; do
  [ -f "$STATES/.done-$s" ] || { stamp "lm-states $s"; dualtts lm-states --lm $L/checkpoints/best/lm --manifest "$TOK/$s/manifest.jsonl" --out $STATES && touch "$STATES/.done-$s"; }
done
# the acoustic stage: the VALL-E style NAR reading the LM's states, decoding expected code vectors (decode: soft;
# recipes/mini/speak_experiments.md)
N=$Z/nar-$LM_PRESET
if [ ! -f "$N/checkpoints/step-$NAR_STEPS/state.json" ]; then
  stamp nar
  dualtts train nar --config recipes/mini/nar.yaml train_manifest=$TOK/train/manifest.jsonl val_manifest=$TOK/dev/manifest.jsonl \
    lm_states=$STATES ${NAR_INIT:+init=$NAR_INIT} train.max_steps=$NAR_STEPS train.warmup_steps=100 train.val_every=500 \
    train.save_every=500 train.mixed_precision=$PREC train.out_dir=$N
fi
# classifier-free guidance on the text: the LM fine-tuned with 15 % of its utterances stripped of their text; the
# model samples with text_cfg_scale TEXT_CFG (the NAR keeps reading the states of the LM before this fine-tune)
G=$L-cfg
if [ ! -f "$G/checkpoints/step-$CFG_STEPS/state.json" ]; then
  stamp "lm text dropout"
  dualtts train lm --config recipes/mini/lm.yaml train_manifest=$TOK/train/manifest.jsonl val_manifest=$TOK/dev/manifest.jsonl \
    symbols=$TM/symbols.json init=$L/checkpoints/best/lm text_dropout=0.15 train.max_steps=$CFG_STEPS train.lr=3e-4 \
    train.warmup_steps=30 train.mixed_precision=$PREC train.val_every=300 train.save_every=300 train.out_dir=$G
fi
# the token reader: a CTC phoneme recogniser over first-layer tokens; the model keeps the best of CANDIDATES LM samples
R=$Z/reader
if [ ! -f "$R/checkpoints/step-$READER_STEPS/state.json" ]; then
  stamp reader
  dualtts train reader --config recipes/mini/reader.yaml train_manifest=$TOK/train/manifest.jsonl val_manifest=$TOK/dev/manifest.jsonl \
    symbols=$TM/symbols.json train.max_steps=$READER_STEPS train.mixed_precision=$PREC train.out_dir=$R
fi
# the codec's decoder, fine-tuned on what the NAR hands it at inference (the expected code vectors of its
# predictions, from the true first-layer tokens) -> the bundle's flow/decoder.safetensors (TTS decodes with it;
# codec/ keeps its own decoder for resynthesis)
D=$Z/decoder
if [ ! -f "$D/checkpoints/step-$DECODER_STEPS/state.json" ]; then
  stamp decoder
  dualtts train decoder --config recipes/mini/decoder.yaml codec=$CODEC nar=$N/checkpoints/step-$NAR_STEPS/nar \
    train_manifest=$TOK/train/manifest.jsonl val_manifest=$TOK/dev/manifest.jsonl lm_states=$STATES \
    train.max_steps=$DECODER_STEPS train.mixed_precision=$PREC train.out_dir=$D
fi
# the LM's states straight to the decoder: a projection of the guided LM's states (what the model reads at inference)
# added to the decoder's input, trained with the decoder continued from 9c (state_adapter; saved with the NAR as its
# decoder_cond) -> the bundle's flow/ (recipes/mini/speak_experiments.md, tenth session)
GS=$G-states
for s in train dev; do
  [ -f "$GS/.done-$s" ] || { stamp "lm-states (guided LM) $s"; dualtts lm-states --lm $G/checkpoints/step-$CFG_STEPS/lm --manifest "$TOK/$s/manifest.jsonl" --out $GS && touch "$GS/.done-$s"; }
done
DS=$Z/decoder-states
if [ ! -f "$DS/checkpoints/step-$STATE_STEPS/state.json" ]; then
  stamp "decoder + LM states"
  dualtts train decoder --config recipes/mini/decoder.yaml codec=$D/checkpoints/step-$DECODER_STEPS/codec \
    nar=$N/checkpoints/step-$NAR_STEPS/nar state_adapter=true train_manifest=$TOK/train/manifest.jsonl \
    val_manifest=$TOK/dev/manifest.jsonl lm_states=$GS train.max_steps=$STATE_STEPS train.mixed_precision=$PREC \
    train.val_every=$STATE_STEPS train.save_every=500 train.out_dir=$DS
fi
TRAIN_S=${TRAIN_SECONDS:-$(( $(date +%s) - T0 ))}  # (TRAIN_SECONDS: the training time of a run spread over invocations)
stamp bundle
B=exp/speak3/bundle
python recipes/mini/bundle.py --codec $CODEC --tuned-decoder $DS/checkpoints/step-$STATE_STEPS/codec --lm $G/checkpoints/step-$CFG_STEPS/lm --text-cfg-scale $TEXT_CFG \
  --flow $DS/checkpoints/step-$STATE_STEPS/nar --reader $R/checkpoints/best/reader --candidates $CANDIDATES --manifest $TM/train.jsonl --out $B

BASE=$B TRAIN_SECONDS=$TRAIN_S LM_PRESET=$LM_PRESET bash recipes/mini/generalize.sh
SHIP=1 BASE=exp/generalize/bundle TRAIN_SECONDS=$TRAIN_S bash recipes/mini/voices.sh
