#!/usr/bin/env bash
# Train the release denoising LM on the GPU machine (device tool):
#   1. simulate the training pairs there (all cores) from the carried clean corpora with the bundled
#      fitted simulator, plus real synth pairs when carried (scripts/make_dlm_data.py);
#   2. train configs/dlm-release.json (bf16 on CUDA) with --time-limit LIMIT seconds: the run fits its
#      LR schedule into the time left and ends with a final checkpoint (emendo.models.train);
#   3. pack the last checkpoint (without optimizer state) into $OUT in 15 MB parts.
# The carry dir (default .dlm-carry, git-ignored) holds: whl/ (wheels the device lacks: jiwer,
# rapidfuzz), release/{clean_*_train.jsonl.gz, clean_*_dev.jsonl.gz[, real.jsonl.gz]}. The tree and the carry
# travel within 64 MiB together: since session 20 the tree is ~58 MB (the context scorer), so the carry
# has ~9 MB; the session-18 carry (15 MB: 12 MB of clean corpora) no longer fits: sample the corpora.
# The tokenizer is the bundled model's (TOKENIZER=... for another). EXTRA="--init-from DIR" goes on
# from a carried checkpoint. scripts/device_dlm_session.sh runs this after the GPU benchmark.
# Locally: DEVICE=cpu SIMLIMIT=300 LIMIT=60 bash scripts/device_train_dlm.sh
set -u
export PYTHONUNBUFFERED=1
CARRY=${CARRY:-.dlm-carry}; STEPS=${STEPS:-20000}; EVAL=${EVAL:-2500}; LIMIT=${LIMIT:-420}
DEVICE=${DEVICE:-cuda}; OUTD=${OUT:-/tmp/out}; WORKERS=${WORKERS:-$(nproc)}; BATCH=${BATCH:-1024}
TOKENIZER=${TOKENIZER:-src/emendo/data/models/dlm/tokenizer.json}
mkdir -p "$OUTD"
if [ "$DEVICE" = cuda ]; then
  [ -d /tmp/site ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "$CARRY"/whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD/src
  PY=python3
else
  PY=${PY:-.venv-train/bin/python}
fi
R="$CARRY/release"
t0=$(date +%s)
real=(); [ -f "$R/real.jsonl.gz" ] && real=(--real "$R/real.jsonl.gz")
$PY scripts/make_dlm_data.py --simulator "${SIM:-src/emendo/data/simulator/simulator.json.gz}" --clean "$R"/clean_*_train.jsonl.gz \
  --dev-clean "$R"/clean_*_dev.jsonl.gz "${real[@]}" --workers "$WORKERS" --rate-scales "${RATES:-1.0,0.4,0.15}" \
  ${SIMLIMIT:+--limit $SIMLIMIT --dev-limit $SIMLIMIT} --out /tmp/dlmdata > /tmp/dlmdata.log 2>&1 || { tail -30 /tmp/dlmdata.log; exit 1; }
cp /tmp/dlmdata/manifest.json "$OUTD/data_manifest.json"
left=$(( LIMIT - ($(date +%s) - t0) ))
echo "data: $(( $(date +%s) - t0 )) s; training time left: $left s"; grep -A12 '"counts"' /tmp/dlmdata/manifest.json
rm -rf /tmp/dlmrun
timeout $(( left + 60 )) $PY -m emendo.models.train --config configs/dlm-release.json --out /tmp/dlmrun \
  --train '/tmp/dlmdata/train-*.jsonl' --dev /tmp/dlmdata/dev.jsonl --tokenizer "$TOKENIZER" \
  --max-steps "$STEPS" --eval-every "$EVAL" --batch-size "$BATCH" --time-limit "$left" --device "$DEVICE" \
  --no-progress ${EXTRA:-} 2>&1 | tail -n 40
echo "train exit: ${PIPESTATUS[0]}"
cp /tmp/dlmrun/log.jsonl "$OUTD/" 2>/dev/null
ck=$(ls -d /tmp/dlmrun/checkpoints/step-* 2>/dev/null | grep -v '\.tmp$' | tail -1)
[ -n "$ck" ] || { echo "no checkpoint"; exit 1; }
ln -sfn "$ck" /tmp/dlm-last-checkpoint
[ "${PACK:-1}" = 1 ] || { echo "not packing $ck (PACK=0)"; exit 0; }
echo "packing $ck"
rm -f /tmp/ckpt.tgz; tar -C "$ck" --exclude trainer_state.pt -czf /tmp/ckpt.tgz .
split -b 15m /tmp/ckpt.tgz "$OUTD/ckpt.tgz.part-"
ls -la "$OUTD"
