#!/usr/bin/env bash
# GPU training: one process per GPU, each with its own colocated vLLM engine (generation.backend=vllm).
# Usage: launch/gpu.sh launch/recipes/qwen2.5_0.5b_gsm8k.yaml [section.field=value ...]
# ACCELERATE_CONFIG defaults to one GPU; use launch/accelerate/multi_gpu.yaml (set num_processes) for more.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/find_python.sh"
if [ $# -lt 1 ]; then
    echo "usage: launch/gpu.sh RECIPE.yaml [section.field=value ...]" >&2
    exit 2
fi
recipe=$1; shift
# a user error is one line here, once, not one per process followed by the launcher's traceback
"$python" "$here/train.py" --config "$recipe" --check "$@" >/dev/null
exec "$python" -m accelerate.commands.launch --config_file "${ACCELERATE_CONFIG:-$here/accelerate/single_gpu.yaml}" \
    "$here/train.py" --config "$recipe" "$@"
