#!/usr/bin/env bash
# GPU training: one process per GPU, each with its own colocated vLLM engine (generation.backend=vllm).
# Usage: launch/gpu.sh launch/recipes/qwen2.5_0.5b_gsm8k.yaml [section.field=value ...]
# ACCELERATE_CONFIG defaults to one GPU; use launch/accelerate/multi_gpu.yaml (set num_processes) for more.
set -euo pipefail
recipe=$1; shift
exec accelerate launch --config_file "${ACCELERATE_CONFIG:-$(dirname "$0")/accelerate/single_gpu.yaml}" \
    "$(dirname "$0")/train.py" --config "$recipe" "$@"
