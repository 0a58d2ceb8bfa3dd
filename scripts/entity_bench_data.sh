#!/usr/bin/env bash
# Rebuild, from nothing, the data the entity benchmarks and the DANCER training scripts read
# (all under runs/, git-ignored). About 11 minutes on 2 cores (session 24, a fresh machine):
#   runs/corpora/en/{train,dev,test}.jsonl.gz   scripts/build_corpora.py --langs en (~4 min)
#   runs/real/speech_{test,train}.jsonl          seeded samples of the corpus's test / train split
#                                                (entity-free sentences: evaluation-set clean records and
#                                                the benchmark's --clean-extra / the scorer's negatives)
#   runs/entities/evalset.jsonl                  two real TTS->ASR builds of scripts/make_entity_evalset.py,
#                                                merged (~7 min, the two builds side by side)
# Needs the project venv (make install) and the speech engines (scripts/install_synth_tools.sh).
# Steps whose output exists are skipped; delete a file to rebuild it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -f runs/corpora/en/test.jsonl.gz ] || nice "$PY" scripts/build_corpora.py --langs en
[ -f runs/real/speech_test.jsonl ] || "$PY" scripts/sample_corpus.py runs/corpora/en/test.jsonl.gz \
    --count 500 --seed 3 --out runs/real/speech_test.jsonl
[ -f runs/real/speech_train.jsonl ] || "$PY" scripts/sample_corpus.py runs/corpora/en/train.jsonl.gz \
    --count 2000 --seed 3 --out runs/real/speech_train.jsonl
if [ ! -f runs/entities/evalset.jsonl ]; then
  mkdir -p runs/entities
  pids=()
  [ -f runs/entities/part1.jsonl ] || { nice "$PY" scripts/make_entity_evalset.py --out runs/entities/part1.jsonl \
      --clean runs/real/speech_test.jsonl --confusable 600 --normal 200 --clean-count 150 --asr & pids+=($!); }
  [ -f runs/entities/part2.jsonl ] || { nice "$PY" scripts/make_entity_evalset.py --out runs/entities/part2.jsonl \
      --clean runs/real/speech_test.jsonl --seed 14 --confusable 900 --normal 200 --clean-count 100 --asr & pids+=($!); }
  for pid in "${pids[@]}"; do wait "$pid"; done
  "$PY" scripts/make_entity_evalset.py --merge runs/entities/part1.jsonl runs/entities/part2.jsonl \
      --out runs/entities/evalset.jsonl
fi
echo "entity benchmark data ready under runs/"
