#!/usr/bin/env bash
# Train the release denoising LM on the GPU machine (device tool), in one call:
#   1. simulate the training pairs there (all cores) from the carried clean corpora with the carried
#      fitted simulator, plus the carried real synth pairs (scripts/make_dlm_data.py);
#   2. train configs/dlm-release.json (bf16 on CUDA) for at most LIMIT seconds;
#   3. pack the newest checkpoint (without optimizer state) into $OUT in 15 MB parts.
# The carry dir (default .dlm-carry, git-ignored) holds: whl/ (wheels the device lacks: jiwer,
# rapidfuzz), tokenizer.json, release/{clean_*_train.jsonl.gz, clean_*_dev.jsonl.gz, real.jsonl.gz}.
# The simulator is the bundled one (SIM=... for another; a v1 model from before 2026-11-26 no longer
# loads). EXTRA="--init-from DIR" goes on from a carried checkpoint (weights + tokenizer). Locally: DEVICE=cpu STEPS=20 EVAL=10 SIMLIMIT=300 bash scripts/device_train_dlm.sh
set -u
export PYTHONUNBUFFERED=1
CARRY=${CARRY:-.dlm-carry}; STEPS=${STEPS:-5000}; EVAL=${EVAL:-1000}; LIMIT=${LIMIT:-420}
DEVICE=${DEVICE:-cuda}; OUTD=${OUT:-/tmp/out}; WORKERS=${WORKERS:-$(nproc)}
mkdir -p "$OUTD"
if [ "$DEVICE" = cuda ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "$CARRY"/whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD/src
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  PY=python3
else
  PY=${PY:-.venv-train/bin/python}
fi
$PY -c "import torch, transformers, tokenizers; print(torch.__version__, transformers.__version__, tokenizers.__version__)"
R="$CARRY/release"
t0=$(date +%s)
$PY scripts/make_dlm_data.py --simulator "${SIM:-src/emendo/data/simulator/simulator.json.gz}" --clean "$R"/clean_*_train.jsonl.gz \
  --dev-clean "$R"/clean_*_dev.jsonl.gz --real "$R/real.jsonl.gz" --workers "$WORKERS" --rate-scales "${RATES:-1.0,0.4,0.15}" \
  ${SIMLIMIT:+--limit $SIMLIMIT --dev-limit $SIMLIMIT} --out /tmp/dlmdata > /tmp/dlmdata.log 2>&1 || { tail -30 /tmp/dlmdata.log; exit 1; }
cp /tmp/dlmdata/manifest.json "$OUTD/data_manifest.json"
echo "data: $(( $(date +%s) - t0 )) s"; grep -A12 '"counts"' /tmp/dlmdata/manifest.json
rm -rf /tmp/dlmrun
timeout "$LIMIT" $PY -m emendo.models.train --config configs/dlm-release.json --out /tmp/dlmrun \
  --train '/tmp/dlmdata/train-*.jsonl' --dev /tmp/dlmdata/dev.jsonl --tokenizer "$CARRY/tokenizer.json" \
  --max-steps "$STEPS" --eval-every "$EVAL" --device "$DEVICE" --no-progress ${EXTRA:-} 2>&1 | tail -n 40
echo "train exit: ${PIPESTATUS[0]}"
cp /tmp/dlmrun/log.jsonl "$OUTD/" 2>/dev/null
ck=$(ls -d /tmp/dlmrun/checkpoints/step-* 2>/dev/null | grep -v '\.tmp$' | tail -1)
[ -n "$ck" ] || { echo "no checkpoint"; exit 1; }
echo "packing $ck"
tar -C "$ck" --exclude trainer_state.pt -czf /tmp/ckpt.tgz .
split -b 15m /tmp/ckpt.tgz "$OUTD/ckpt.tgz.part-"
ls -la "$OUTD"
