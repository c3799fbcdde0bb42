#!/usr/bin/env bash
# The two acoustic streams side by side on a CPU, in the same wall-clock budget: the spectral stream (STFT in,
# ConvNeXt at frame rate, iSTFT out; preset tiny-12hz) and the paper's DAC-style waveform stream (tiny-12hz-dac),
# mel-only training (no GAN) on the quickstart corpus, 2 threads, one after the other. Each gets the steps that its
# measured speed on this machine (recipes/bench/codec_train_speed.py) fits into MINUTES.
#   MINUTES=15 bash recipes/mini/streams.sh      (after recipes/quickstart.sh; writes recipes/mini/streams.{md,json}, streams_curves.png)
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 PATH="$PWD/${VENV:-.venv}/bin:$PATH"
MINUTES=${MINUTES:-15}
python recipes/bench/codec_train_speed.py --json exp/streams/train_speed.json --steps 10
for C in 12hz 12hz-dac; do
  STEPS=$(python -c "import json; print(int($MINUTES * 60 * json.load(open('exp/streams/train_speed.json'))['tiny-$C']['mel_only_steps_per_s']))")
  echo "== tiny-$C: $STEPS mel-only steps in about $MINUTES min"
  RUNS=exp/streams REPORT=streams CURVES=streams_curves REPORT_ARGS=--decode-speed CODECS=$C STEPS=$STEPS GAN_START=$STEPS \
    EXTRA="train.val_every=$((STEPS / 5)) train.save_every=$STEPS" bash recipes/mini/codec.sh
done
