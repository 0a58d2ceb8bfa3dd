#!/usr/bin/env bash
# One device call for DANCER's context scorer (issue 5): train cross-encoders with fewer layers (cheaper
# to serve: the 4-layer one costs ~2.7 ms a candidate on one CPU thread, ~12 ms an utterance at 100k
# entities) on the pairs of scripts/dump_dancer_pairs.py, each with its two fold models for the
# out-of-fold logits the combination is fitted on. On 2026-11-28 an H200 trained the 4-layer model and
# its folds in 189 s (3 epochs, batch 128).
#   run(command="bash scripts/device_context_session.sh", carry=["runs/ctx/pairs.jsonl.gz"], timeout_s=560)
# Results: $OUT/ctx-L<layers>/{weights.safetensors,oof.npy,report.json} and $OUT/session.log. Then, here:
#   .venv-train/bin/python scripts/export_context_scorer.py OUT/ctx-L2/weights.safetensors \
#       --out src/emendo/data/models/context-l2 --pairs runs/ctx/pairs.jsonl.gz
#   .venv-train/bin/python scripts/stack_context_scorer.py runs/ctx/pairs.jsonl.gz OUT/ctx-L2/oof.npy \
#       src/emendo/data/models/dancer/reranker.json --model src/emendo/data/models/context-l2 \
#       --floor 0.01 --top 4 --out runs/ctx/reranker-ctx-l2.json
# then scripts/train_dancer_reranker.py --retune, bench/entities_context_floor.py for the served floor,
# bench/entities_dancer.py --reranker.
# Locally (a check that it runs): DEVICE=cpu LIMIT=300 EPOCHS=1 LAYERS=2 bash scripts/device_context_session.sh
# REAL_WEIGHT=5 weighs the real TTS->ASR pairs 5x in the loss (results in ctx-L<layers>-r5); session 24 found
# the shipped 4-layer model (weight 1) gives 40% of its own real positives a negative logit. LAYERS=4 REAL_WEIGHT=5
# retrains the served size that way (~190 s with its folds on an H200).
# Session 27 (an H200): PAIRS=runs/ctx/pairs-ctxcand.jsonl.gz (dump_dancer_pairs.py --candidates context --top 8,
# 128,835 pairs) LAYERS="4 2" REAL_WEIGHT=5 took 297 s (4 layers 168 s, 2 layers 120 s, each with its folds);
# LAYERS=3 137 s; LAYERS=4 EPOCHS=5 282 s. Set OUT=$OUT/<name> to keep two runs of one size apart.
# DISTIL=1 distils the served model into 2 layers instead (scripts/distil_context_scorer.py on every pair,
# EPOCHS=5); session 27 did 2 epochs on 45k pairs here on CPU (19 min, 17.7% at 100k against the served 18.9%).
# A start for the student does not fit the carry beside the tree and the pairs (64 MiB), so train it in the
# same call: P=runs/ctx/pairs-ctxcand.jsonl.gz; PAIRS=$P LAYERS=2 REAL_WEIGHT=5 bash scripts/device_context_session.sh;
#   PAIRS=$P DISTIL=1 DISTIL_INIT=$OUT/ctx-L2-r5/weights.safetensors OUT=$OUT/d bash scripts/device_context_session.sh
set -u
export PYTHONUNBUFFERED=1
DEVICE=${DEVICE:-cuda}; OUTD=${OUT:-/tmp/out}; PAIRS=${PAIRS:-runs/ctx/pairs.jsonl.gz}
mkdir -p "$OUTD"
exec > >(tee "$OUTD/session.log") 2>&1
t0=$(date +%s)
if [ "$DEVICE" = cuda ]; then
  PY=${PY:-python3}
  export PYTHONPATH=$PWD/src
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
else
  PY=${PY:-.venv-train/bin/python}
fi
$PY -c "import torch, transformers, tokenizers, safetensors, onnxruntime; print(torch.__version__, transformers.__version__)" \
  || { echo "missing a package the training script imports"; exit 1; }
[ -f "$PAIRS" ] || { echo "$PAIRS missing: carry it"; exit 1; }
RW=${REAL_WEIGHT:-1}
SUFFIX=""; [ "$RW" = 1 ] || SUFFIX="-r$RW"
if [ -n "${DISTIL:-}" ]; then  # the served model distilled into a 2-layer student (scripts/distil_context_scorer.py)
  echo "== distil into 2 layers from ${DISTIL_INIT:-the sentence encoder} ($(( $(date +%s) - t0 )) s)"
  $PY scripts/distil_context_scorer.py "$PAIRS" --device "$DEVICE" --others "${OTHERS:-200000}" \
    --epochs "${EPOCHS:-5}" --batch "${BATCH:-128}" --lr "${LR:-2e-4}" --threads "${THREADS:-8}" \
    ${DISTIL_INIT:+--init "$DISTIL_INIT"} --out "$OUTD/distil-l2"
  echo "exit $? after $(( $(date +%s) - t0 )) s"
  ls -laR "$OUTD"
  exit 0
fi
for layers in ${LAYERS:-2 3}; do
  echo "== $layers layers, real pairs weighted $RW ($(( $(date +%s) - t0 )) s)"
  $PY scripts/train_context_scorer.py "$PAIRS" --device "$DEVICE" --layers "$layers" --epochs "${EPOCHS:-3}" \
    --batch "${BATCH:-128}" --lr "${LR:-5e-5}" --max-length 96 --limit "${LIMIT:-0}" --real-weight "$RW" \
    --out "$OUTD/ctx-L$layers$SUFFIX"
  echo "exit $? after $(( $(date +%s) - t0 )) s"
done
ls -laR "$OUTD"
