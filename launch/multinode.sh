#!/usr/bin/env bash
# N nodes x M processes with torchrun's static rendezvous: run this once on every node, with the same
# MASTER_ADDR/MASTER_PORT/NNODES and that node's NODE_RANK. Each process is one rank (global rank =
# NODE_RANK * NPROC_PER_NODE + local rank); the rendezvous is a TCP store on MASTER_ADDR:MASTER_PORT.
#
#   NNODES          number of nodes (machines)                                  default 1
#   NPROC_PER_NODE  processes per node (one per GPU)                            default: GPUs here, else 1
#   NODE_RANK       this node's index, 0 .. NNODES-1 (node 0 hosts the store)  default 0
#   MASTER_ADDR     address of node 0, reachable from every node               default 127.0.0.1
#   MASTER_PORT     a free TCP port on node 0                                   default 29500
#   ZERO_RL_CPU=1   CPU processes with gloo (tests, CI); otherwise NCCL on GPUs
#   ZERO_RL_ENTRY   the script each process runs (default launch/train.py = `zero-rl train`)
#
# Usage: NNODES=2 NODE_RANK=0 MASTER_ADDR=node0 launch/multinode.sh --config recipe.yaml distributed.strategy=fsdp2
# Under Slurm: launch/slurm_multinode.sbatch sets these from SLURM_* and runs this on every node.
# (Same thing with accelerate: launch/accelerate/multi_node.yaml, `accelerate launch --config_file ...
#  --machine_rank $NODE_RANK --main_process_ip $MASTER_ADDR --main_process_port $MASTER_PORT`.)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/find_python.sh"
gpus=$("$python" -c "import torch; print(torch.cuda.device_count())" 2>/dev/null || echo 0)
nproc=${NPROC_PER_NODE:-$([ "$gpus" -gt 0 ] && echo "$gpus" || echo 1)}
if [ "${ZERO_RL_CPU:-0}" = 1 ]; then
    export ACCELERATE_USE_CPU=true  # accelerate's MULTI_CPU (gloo) under torchrun
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
entry=${ZERO_RL_ENTRY:-$here/train.py}
if [ "$entry" = "$here/train.py" ] && [ "${NODE_RANK:-0}" = 0 ]; then
    # a user error is one line here, once, not one per process followed by the launcher's traceback
    WORLD_SIZE=$(( ${NNODES:-1} * nproc )) "$python" "$entry" --check "$@" >/dev/null
fi
exec "$python" -m torch.distributed.run --nnodes "${NNODES:-1}" --nproc-per-node "$nproc" \
    --node-rank "${NODE_RANK:-0}" --master-addr "${MASTER_ADDR:-127.0.0.1}" --master-port "${MASTER_PORT:-29500}" \
    "$entry" "$@"
