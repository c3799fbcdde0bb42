#!/usr/bin/env bash
# Install DualTTS into a virtual environment (default .venv, override with VENV=...).
#   --eval    evaluation metrics (faster-whisper + offline Whisper models, resemblyzer, DNSMOS, PESQ, STOI)
#   --dev     test tools (pytest; selenium and the --demo packages, for the web demo's browser test; the
#             reference dualcodec package without its dependencies, for the parity test)
#   --demo    the web demo, `dualtts demo` (gradio)
#   --serve   the speech server, `dualtts serve` (FastAPI + uvicorn)
#   --voices  every speech engine for the offline corpus maker (recipes/setup_voices.sh)
# System packages: espeak-ng (phonemizer and the corpus maker), and with --dev chromium + chromium-driver
# (the demo's browser test), are installed with apt-get when missing, if we are root; otherwise the exact
# apt-get line is printed and the script stops.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
EVAL=0; DEV=0; VOICES=0; DEMO=0; SERVE=0
for a in "$@"; do
  case "$a" in
    --eval) EVAL=1 ;; --dev) DEV=1 ;; --voices) VOICES=1 ;; --demo) DEMO=1 ;; --serve) SERVE=1 ;;
    *) echo "unknown option $a (use --eval --dev --voices --demo --serve)"; exit 2 ;;
  esac
done

need_apt=""
command -v espeak-ng >/dev/null || need_apt="espeak-ng"
if [ "$DEV" = 1 ]; then  # the system browser tests/test_demo.py drives
  [ -x /usr/bin/chromium ] || need_apt="$need_apt chromium"
  [ -x /usr/bin/chromedriver ] || need_apt="$need_apt chromium-driver"
fi
need_apt="${need_apt# }"
if [ -n "$need_apt" ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "[install] apt-get install $need_apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends $need_apt >/dev/null
  else
    echo "[install] missing system packages; run as root:  apt-get update && apt-get install -y $need_apt"
    exit 1
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "[install] creating $VENV"
  python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP="$PY -m pip install -q --disable-pip-version-check"
# The CPU wheel of torch 2.13.0 (local on our machines); any torch>=2.6 works elsewhere.
if ! "$PY" -c "import torch" 2>/dev/null; then
  echo "[install] torch"
  $PIP "torch==2.13.0" 2>/dev/null || $PIP "torch>=2.6"
fi
echo "[install] python packages"
$PIP -r requirements.txt
if [ "$EVAL" = 1 ]; then
  $PIP -r requirements-eval.txt
  # resemblyzer's declared dependency `webrtcvad` needs pkg_resources to build; webrtcvad-wheels
  # (installed above) provides the same module, so resemblyzer goes in without its deps.
  $PIP --no-deps "resemblyzer==0.1.4"
fi
[ "$DEMO" = 1 ] && $PIP -r requirements-demo.txt
[ "$SERVE" = 1 ] && $PIP -r requirements-serve.txt
[ "$DEV" = 1 ] && $PIP -r requirements-dev.txt  # (includes requirements-demo.txt and requirements-serve.txt)
# the reference DualCodec, for tests/test_reference_parity.py: its code only (the test stands in for its imports)
[ "$DEV" = 1 ] && $PIP --no-deps "dualcodec==0.4.2"
$PIP --no-deps -e .
if [ "$VOICES" = 1 ]; then
  PYTHON="$PY" bash recipes/setup_voices.sh
fi
echo "[install] done: $("$PY" -c 'import torch, transformers; print("torch", torch.__version__, "| transformers", transformers.__version__)')"
