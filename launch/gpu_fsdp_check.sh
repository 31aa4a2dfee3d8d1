#!/usr/bin/env bash
# A few minutes on one GPU: random-weight Qwen2.5-0.5B-shaped model, GRPO with a colocated vLLM engine, bf16,
# FSDP2 (1 process), then the same with LoRA; prints step time split, sync time and peak GPU memory.
# Usage: launch/gpu_fsdp_check.sh [NPROC]   (NPROC processes on NPROC GPUs; default 1)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/find_python.sh"
for variant in full lora; do
    "$python" -m torch.distributed.run --nproc-per-node "${1:-1}" "$here/gpu_fsdp_check.py" \
        --out "runs/gpu-check-$variant" $([ "$variant" = lora ] && echo --lora)
done
