#!/usr/bin/env bash
# One device call for the denoising LM (issue 4), everything a lent GPU is needed for:
#   1. bench/dlm_gpu.py on a random-init release-config model: parity of the static-cache / CUDA-graph
#      decoder with HF generate, and sentences/s of both at batch 64 / 256 / 1024 / 4096 (40 tokens forced);
#   2. scripts/device_train_dlm.sh: simulate + train the release model within the time left;
#   3. parity of the decoder on the trained checkpoint with simulated dev inputs.
# On 2026-11-27 (H100): benchmark 42 s, simulation of 1.99M pairs 131 s, reading them ~2 min.
# Results come back as $OUT/results.tgz (bench JSON/Markdown, training log, data manifest, this log)
# and $OUT/ckpt.tgz.part-* (the checkpoint). TOTAL is the seconds this script may take.
#   run(command="bash scripts/device_dlm_session.sh", carry=[".dlm-carry"], timeout_s=570)
# Locally: DEVICE=cpu TOTAL=200 SIMLIMIT=300 BATCHES=8 bash scripts/device_dlm_session.sh
set -u
export PYTHONUNBUFFERED=1
TOTAL=${TOTAL:-540}; DEVICE=${DEVICE:-cuda}; OUTD=${OUT:-/tmp/out}; CARRY=${CARRY:-.dlm-carry}
mkdir -p "$OUTD" /tmp/res
exec > >(tee /tmp/res/session.log) 2>&1
t0=$(date +%s)
if [ "$DEVICE" = cuda ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "$CARRY"/whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD/src
  PY=python3
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
else
  PY=${PY:-.venv-train/bin/python}
fi
$PY -c "import torch, transformers, tokenizers; print(torch.__version__, transformers.__version__, tokenizers.__version__)"
if [ "${BENCH:-1}" = 1 ]; then  # BENCH=0 gives the whole call to training
  echo "== 1. decoder benchmark ($(( $(date +%s) - t0 )) s)"
  timeout "${BENCH_LIMIT:-150}" $PY bench/dlm_gpu.py --random configs/dlm-release.json --batches "${BATCHES:-64,256,1024,4096}" \
    --tokens 40 --rounds 3 --tag "${TAG:-h100}" --out /tmp/res
  echo "bench exit: $?"
fi
echo "== 2. training ($(( $(date +%s) - t0 )) s)"
left=$(( TOTAL - ($(date +%s) - t0) - ${TAIL:-50} ))
LIMIT=$left OUT="$OUTD" DEVICE="$DEVICE" PY="$PY" bash scripts/device_train_dlm.sh
echo "train script exit: $?"
mv "$OUTD"/log.jsonl "$OUTD"/data_manifest.json /tmp/res/ 2>/dev/null
if [ -e /tmp/dlm-last-checkpoint ] && [ $(( TOTAL - ($(date +%s) - t0) )) -gt 25 ]; then
  echo "== 3. parity on the trained checkpoint ($(( $(date +%s) - t0 )) s)"
  timeout $(( TOTAL - ($(date +%s) - t0) - 10 )) $PY bench/dlm_gpu.py /tmp/dlm-last-checkpoint/ --texts /tmp/dlmdata/dev.jsonl \
    --parity-only --parity-rows 512 --tag "${TAG:-h100}-trained" --out /tmp/res
fi
echo "done at $(( $(date +%s) - t0 )) s"
tar -C /tmp/res -czf "$OUTD/results.tgz" .
ls -la "$OUTD"
