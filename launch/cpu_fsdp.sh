#!/usr/bin/env bash
# Two CPU processes with gloo and FSDP2 (torch fully_shard per decoder layer; accelerate's own FSDP plugin falls
# back to DDP on CPU, so zero-rl shards itself): the path CI runs. Extra arguments are passed to `zero-rl train`.
# Usage: launch/cpu_fsdp.sh [--config launch/recipes/arithmetic_tiny.yaml] [section.field=value ...]
here="$(cd "$(dirname "$0")" && pwd)"
exec "$here/cpu_ddp.sh" "$@" distributed.strategy=fsdp2
