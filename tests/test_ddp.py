"""Two processes under `accelerate launch` (gloo DDP on CPU) end with identical parameters."""

import json

import torch
from launching import launch_two_cpu_processes


def test_two_process_ddp_identical_parameters(tmp_path):
    result = launch_two_cpu_processes("ddp_train.py", tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=False)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=False)
    assert rank0["world"] == rank1["world"] == 2
    assert "MULTI_CPU" in rank0["distributed_type"]
    initial = _initial_state()
    changed = False
    for name, tensor in rank0["state"].items():
        assert torch.equal(tensor, rank1["state"][name]), f"{name} differs between ranks"
        changed |= not torch.equal(tensor, initial[name])
    assert changed, "training did not change the parameters"
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2]  # only the main process writes metrics


def _initial_state():
    from zero_rl.embedded import build_tiny_random

    model, _ = build_tiny_random(seed=3)
    return model.state_dict()
