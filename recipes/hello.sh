#!/usr/bin/env bash
# README command (a): install DualTTS and speak a sentence with the shipped default model and voice.
#   TEXT="..." OUT=exp/hello/hello.wav bash recipes/hello.sh
# Prints where the wav is, its duration, the time to the first audio and the real-time factor.
set -euo pipefail
cd "$(dirname "$0")/.."
TEXT=${TEXT:-"The old farmer carried a basket of apples to the market."}
OUT=${OUT:-exp/hello/hello.wav}
bash scripts/install.sh
export HF_HUB_OFFLINE=1 PATH="$PWD/${VENV:-.venv}/bin:$PATH"
dualtts synthesize --text "$TEXT" --out "$OUT"
