#!/usr/bin/env bash
# Two CPU processes with gloo DDP. Note: `accelerate launch --cpu --num_processes 2` silently starts ONE process;
# ACCELERATE_USE_CPU=true with --multi_gpu is the form that really gives MULTI_CPU DDP.
# Usage: launch/cpu_ddp.sh [--config launch/recipes/arithmetic_tiny.yaml] [section.field=value ...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/find_python.sh"
export ACCELERATE_USE_CPU=true OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# a user error is one line here, once, not one per process followed by the launcher's traceback
WORLD_SIZE="${NUM_PROCESSES:-2}" "$python" "$here/train.py" --check "$@" >/dev/null
exec "$python" -m accelerate.commands.launch --multi_gpu --num_processes "${NUM_PROCESSES:-2}" --num_machines 1 \
    --mixed_precision no --dynamo_backend no "$here/train.py" "$@"
