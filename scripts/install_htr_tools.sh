#!/usr/bin/env bash
# Install what `emendo synth handwriting` (emendo.synth.htr_pairs) and its tests need.
# Idempotent: installs only what is missing; safe to run again (CI runs it before the
# handwriting tests).
#
#   bash scripts/install_htr_tools.sh
#   PYTHON=/path/to/python bash scripts/install_htr_tools.sh
#
# Debian (main):
#   tesseract-ocr          Tesseract 5 program + libtesseract5 (the pipeline loads the library
#                          through ctypes; the program is the fallback backend)
#   tesseract-ocr-eng/rus  language data (English, Russian)
#   hershey-fonts-data     Hershey stroke fonts (.jhf) — only to rebuild the stroke tables
#   fonts-paratype         PT Sans/Serif outline fonts — only to rebuild the skeleton tables
# The stroke tables themselves ship in src/emendo/data/strokes/ (made by
# scripts/build_cyrillic_strokes.py), so rendering needs neither font package.
# PyPI (into the project venv): pillow, numpy, tqdm, jiwer (brings rapidfuzz).
# No scikit-image/scipy: the skeletoniser is numpy.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$REPO/.venv/bin/python}"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

APT_PKGS=(tesseract-ocr tesseract-ocr-eng tesseract-ocr-rus hershey-fonts-data fonts-paratype)
PIP_PKGS=("pillow>=10" "numpy>=1.26" "tqdm>=4.60" "jiwer>=4.0,<5")

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

want=()
for p in "${APT_PKGS[@]}"; do installed "$p" || want+=("$p"); done
if [ "${#want[@]}" -gt 0 ]; then
  echo "apt: installing ${want[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${want[@]}"
else
  echo "apt: all packages present"
fi

if "$PY" -c "import PIL, numpy, tqdm, jiwer, rapidfuzz" 2>/dev/null; then
  echo "pip: all packages present"
else
  echo "pip: installing ${PIP_PKGS[*]}"
  "$PY" -m pip install -q "${PIP_PKGS[@]}"
fi

tesseract --version 2>&1 | head -1
tesseract --list-langs 2>/dev/null | tail -n +2 | tr '\n' ' '
echo
