#!/usr/bin/env bash
# README command (b): install DualTTS with its test and evaluation extras, then run the test suite offline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --eval --dev
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
exec "${VENV:-.venv}/bin/python" -m pytest -q tests "$@"
