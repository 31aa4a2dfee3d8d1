"""Multi-node on one machine: two launches of launch/multinode.sh (torchrun, --nnodes 2 --nproc-per-node 1,
static rendezvous on localhost) train exactly as a 2-process single-node launch does (gloo DDP, same seed)."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from launching import launch_two_cpu_processes

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_nodes_on_localhost_train_like_one_node_with_two_processes(tmp_path):
    single, multi = tmp_path / "single", tmp_path / "multi"
    single.mkdir()
    multi.mkdir()
    port = free_port()
    nodes = []
    for node_rank in (0, 1):
        env = dict(os.environ, NNODES="2", NPROC_PER_NODE="1", NODE_RANK=str(node_rank), MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=str(port), ZERO_RL_CPU="1", ZERO_RL_PYTHON=sys.executable,
                   ZERO_RL_ENTRY=str(ROOT / "tests" / "ddp_train.py"),
                   PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]))
        nodes.append(subprocess.Popen(["bash", str(ROOT / "launch" / "multinode.sh"), str(multi)], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [node.communicate(timeout=600)[0] for node in nodes]
    assert all(node.returncode == 0 for node in nodes), "\n".join(o[-3000:] for o in outputs)
    result = launch_two_cpu_processes("ddp_train.py", single)
    assert result.returncode == 0, result.stderr[-4000:]
    for rank in (0, 1):
        a = torch.load(single / f"rank{rank}.pt", weights_only=False)
        b = torch.load(multi / f"rank{rank}.pt", weights_only=False)
        assert a["world"] == b["world"] == 2 and "MULTI_CPU" in b["distributed_type"]
        for name, tensor in a["state"].items():
            assert torch.equal(tensor, b["state"][name]), f"rank {rank}: {name} differs"
    rows = [[json.loads(line) for line in (d / "run" / "metrics.jsonl").read_text().splitlines()] for d in (single, multi)]
    assert [r["step"] for r in rows[1]] == [1, 2]
    assert [r["reward/total"] for r in rows[0]] == [r["reward/total"] for r in rows[1]]
