#!/usr/bin/env bash
# The GPU throughput check, one command that finishes in under 10 minutes on one GPU:
# the training-throughput benchmark at LLaVA-OneVision-0.5B's shape (`mid`: Qwen2-0.5B + SigLIP-so400m, random init),
# 32 frames, activation checkpointing, bf16 — this loop vs a plain HF Trainer on the same batches, with MFU.
#
#   offline GPU box: make gpu-wheels on a machine with PyPI (wheels into .whl/), copy the repo with .whl/, then
#   on the GPU box:  bash benchmarks/gpu_check.sh   (installs .whl/ when present; NO_WHEELS=1 skips that)
#
# SIZE / FRAMES / STEPS override the model size (tiny | small | mid), frames and timed steps; a CPU dry run here:
#   NO_WHEELS=1 PYTHON=.venv/bin/python SIZE=tiny FRAMES=4 STEPS=3 bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${NO_WHEELS:-}" ] && compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site:$PWD"
else export PYTHONPATH="$PWD"; fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
out="${OUT:-/tmp/gpu_check}"; mkdir -p "$out"
PY="${PYTHON:-python3}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$out/gpu.txt" || true
"$PY" -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, 'cuda', torch.cuda.is_available())" | tee -a "$out/gpu.txt"
"$PY" benchmarks/train.py --make-model "${SIZE:-mid}" --frames "${FRAMES:-32}" --batch 1 --steps "${STEPS:-10}" --warmup 3 --ckpt \
  --work /tmp/bench_train_gpu 2>&1 | grep -v "Loading weights\|Writing model" | tee "$out/train_${SIZE:-mid}_f${FRAMES:-32}.txt"
