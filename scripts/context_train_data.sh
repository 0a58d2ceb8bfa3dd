#!/usr/bin/env bash
# The context scorer's training pairs with more real TTS->ASR data (session 25), all under runs/ (git-ignored).
# About 10 minutes on 2 cores after scripts/entity_bench_data.sh (which this needs, with the project venv and
# the speech engines):
#   runs/entities/extra{31,47}.jsonl   two more real TTS->ASR builds of scripts/make_entity_evalset.py (new seeds,
#                                      side by side, ~7 min); only their dev records are used, for training
#   runs/entities/real_train.jsonl     the benchmark's evaluation set followed by those dev records that name no
#                                      entity of its test groups (make_entity_evalset.py --extend)
#   runs/ctx/pairs-extra.jsonl.gz      scripts/dump_dancer_pairs.py with --real runs/entities/real_train.jsonl
#                                      (~2 min): 111,232 pairs, of them 13,573 real (866 positives)
# The benchmark itself keeps reading runs/entities/evalset.jsonl alone. Steps whose output exists are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -f runs/entities/evalset.jsonl ] || { echo "run scripts/entity_bench_data.sh first" >&2; exit 1; }
pids=()
for seed in 31 47; do
  [ -f "runs/entities/extra$seed.jsonl" ] || { nice "$PY" scripts/make_entity_evalset.py \
      --out "runs/entities/extra$seed.jsonl" --clean runs/real/speech_train.jsonl --seed "$seed" \
      --confusable 1000 --normal 150 --clean-count 100 --asr & pids+=($!); }
done
for pid in "${pids[@]}"; do wait "$pid"; done
[ -f runs/entities/real_train.jsonl ] || "$PY" scripts/make_entity_evalset.py --extend runs/entities/evalset.jsonl \
    runs/entities/extra31.jsonl runs/entities/extra47.jsonl --out runs/entities/real_train.jsonl
[ -f runs/ctx/pairs-extra.jsonl.gz ] || OPENBLAS_NUM_THREADS=1 "$PY" scripts/dump_dancer_pairs.py \
    --exclude runs/entities/evalset.jsonl --real runs/entities/real_train.jsonl --clean runs/real/speech_train.jsonl \
    --utterances 24000 --clean-count 3000 --out runs/ctx/pairs-extra.jsonl.gz
echo "context scorer training data ready: runs/ctx/pairs-extra.jsonl.gz"
