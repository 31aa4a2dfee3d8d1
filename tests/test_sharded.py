"""distributed.strategy=fsdp2 (and LoRA) on 2 CPU processes with gloo, against DDP on the same seed and data; the
vLLM sync from shards; sharded checkpoints, exact resume and export; a rank that skips a sync fails loudly.

FSDP2 vs DDP is compared within fp32 tolerance, not bitwise: FSDP2 reduce-scatters each layer's gradients (a
different summation order from DDP's one flat all-reduce) and the gradient norm is summed shard by shard.
Measured after 3 steps: max |difference| 3.1e-7 (policy), 2.7e-6 (critic, 5x the learning rate).
"""

import pytest
import torch
from launching import launch_two_cpu_processes

from zero_rl.config import ConfigError
from zero_rl.embedded import build_tiny_random

RUNS = ["uneven", "grpo_ddp", "grpo_fsdp2", "grpo_fsdp2_offload", "grpo_fsdp2_bf16", "ppo_ddp", "ppo_fsdp2", "lora_fsdp2", "resume_full", "resume_first",
        "resume_second"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One 2-process launch for every run below (the start-up of a launch costs more than a tiny run)."""
    out = tmp_path_factory.mktemp("sharded")
    result = launch_two_cpu_processes("sharded_train.py", out, *RUNS)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return out, result.stdout


def load(out, name, rank=0):
    return torch.load(out / f"{name}.rank{rank}.pt", weights_only=False)


_INITIAL = {}


def initial_state():
    if not _INITIAL:
        _INITIAL.update(build_tiny_random(seed=3)[0].state_dict())
    return _INITIAL


def max_difference(a: dict, b: dict) -> float:
    assert set(a) == set(b)
    return max(float((a[k] - b[k]).abs().max()) for k in a)


@pytest.mark.parametrize("algorithm,parts", [("grpo", {"policy": 1e-5}), ("ppo", {"policy": 1e-5, "critic": 5e-5})])
def test_fsdp2_trains_like_ddp(runs, algorithm, parts):
    out, _ = runs
    ddp, fsdp2, fsdp2_rank1 = load(out, f"{algorithm}_ddp"), load(out, f"{algorithm}_fsdp2"), \
        load(out, f"{algorithm}_fsdp2", 1)
    initial = initial_state()
    for part, tolerance in parts.items():
        assert max_difference(ddp[part], fsdp2[part]) < tolerance, part
        assert all(torch.equal(fsdp2[part][k], fsdp2_rank1[part][k]) for k in fsdp2[part]), "ranks differ"
    assert max_difference(ddp["policy"], initial) > 1e-3, "training did not move the policy"
    assert [m["step"] for m in fsdp2["metrics"]] == [1, 2, 3]
    for d, f in zip(ddp["metrics"], fsdp2["metrics"]):
        assert d["reward/total"] == f["reward/total"]  # the same completions were sampled
        assert abs(d["loss/grad_norm"] - f["loss/grad_norm"]) < 1e-4
        assert f["memory/peak_rss_mb/rank0"] > 0 and f["memory/peak_rss_mb/rank1"] > 0


def test_sync_gathers_uneven_shards_exactly_in_any_bucket_size(runs):
    out, _ = runs
    for rank in (0, 1):
        saved = load(out, "uneven", rank)
        for bucket, gathered in saved["gathered"].items():
            assert list(gathered) == list(saved["full"])  # the state-dict order
            for name, tensor in saved["full"].items():
                assert gathered[name].dtype == tensor.dtype and torch.equal(gathered[name], tensor), (bucket, name)


def test_fsdp2_cpu_offload_and_bf16_mixed_precision(runs):
    out, _ = runs
    ddp, offload, bf16 = load(out, "grpo_ddp"), load(out, "grpo_fsdp2_offload"), load(out, "grpo_fsdp2_bf16")
    assert max_difference(ddp["policy"], offload["policy"]) < 1e-5  # offload moves where shards live, not math
    assert all(v.dtype == torch.float32 for v in bf16["policy"].values())  # master weights stay float32
    difference = max_difference(ddp["policy"], bf16["policy"])
    assert 0 < difference < 1e-2, difference  # bf16 compute: close to, not equal to, float32
    assert all(abs(m["loss/grad_norm"] - d["loss/grad_norm"]) < 0.05 for m, d in zip(bf16["metrics"], ddp["metrics"]))


def test_startup_says_what_each_rank_holds(runs):
    _, stdout = runs
    for rank in (0, 1):
        assert f"rank {rank}: policy fsdp2, 99,904 parameters, holds 0.2 MB of them (sharded)" in stdout
        assert f"rank {rank}: policy ddp, 99,904 parameters, holds 0.4 MB of them (full copy)" in stdout
        assert f"rank {rank}: critic fsdp2" in stdout
        assert f"rank {rank}: policy fsdp2 + LoRA, 108,096 parameters" in stdout
    assert "LoRA trainable 8,192 / 108,096" in stdout


def test_lora_under_fsdp2_trains_only_the_adapters(runs):
    out, _ = runs
    lora = load(out, "lora_fsdp2")
    initial = initial_state()
    assert lora["trainable"] and all(".lora_A." in n or ".lora_B." in n for n in lora["trainable"])
    for name, tensor in lora["raw"].items():
        if ".lora_" in name:
            continue
        base = name.removeprefix("base_model.model.").replace(".base_layer", "")
        assert torch.equal(tensor, initial[base]), f"frozen base weight {name} changed"
    moved = [k for k in lora["raw"] if ".lora_B." in k and float(lora["raw"][k].abs().max()) > 0]
    assert moved, "no adapter learned anything (lora_B starts at 0)"
    # what the generator receives: merged weights under the base names, different from the base
    assert set(lora["policy"]) == set(initial)
    assert max_difference(lora["policy"], initial) > 1e-4


def test_sharded_checkpoint_resume_is_exact(runs):
    out, stdout = runs
    straight, resumed = load(out, "resume_full"), load(out, "resume_second")
    assert "resumed from" in stdout and "step-000002" in stdout
    for part in ("policy", "critic"):
        for name, tensor in straight[part].items():
            assert torch.equal(tensor, resumed[part][name]), f"{part} {name} differs after resume"
    assert [m["step"] for m in resumed["metrics"]] == [1, 2, 3, 4]
    for a, b in zip(straight["metrics"][2:], resumed["metrics"][2:]):
        assert a["reward/total"] == b["reward/total"] and a["loss/grad_norm"] == b["loss/grad_norm"]
    checkpoint = out / "resume" / "checkpoints" / "step-000002"
    assert sorted(p.name for p in (checkpoint / "dcp").glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]
    assert (checkpoint / "rng_rank0.pt").exists() and (checkpoint / "rng_rank1.pt").exists()


def test_export_gives_a_from_pretrained_model_with_the_trainers_logprobs(runs, tmp_path):
    from transformers import AutoModelForCausalLM

    from zero_rl.cli import main

    out, _ = runs
    trained = load(out, "resume_full")["policy"]
    assert main(["export", str(out / "resume_full" / "checkpoints" / "step-000004"), str(tmp_path / "hf")]) == 0
    exported = AutoModelForCausalLM.from_pretrained(tmp_path / "hf")
    assert all(torch.equal(exported.state_dict()[k], trained[k]) for k in trained)
    reference, _ = build_tiny_random(seed=3)
    reference.load_state_dict(trained)
    ids = torch.tensor([[5, 17, 42, 99, 7, 3, 250, 11]])
    with torch.no_grad():
        assert torch.equal(exported(ids).logits.log_softmax(-1), reference(ids).logits.log_softmax(-1))


def test_resume_on_another_world_size_is_refused_clearly(runs):
    from zero_rl.sharded_checkpoint import load_sharded_checkpoint

    out, _ = runs
    model, _ = build_tiny_random(seed=3)
    optimizer = torch.optim.AdamW(model.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    with pytest.raises(ConfigError, match="written by 2 processes and this launch has 1"):
        load_sharded_checkpoint(out / "resume_full" / "checkpoints" / "step-000004", model, optimizer, scheduler)


def test_export_of_a_ddp_checkpoint_says_it_is_already_hf(tmp_path, capsys):
    from zero_rl.cli import main

    (tmp_path / "step-000001").mkdir()
    assert main(["export", str(tmp_path / "step-000001"), str(tmp_path / "out")]) == 2
    assert "already a Hugging Face model folder" in capsys.readouterr().err


def test_fsdp2_with_vllm_syncs_from_shards_and_a_skipped_sync_fails_loudly(tmp_path):
    result = launch_two_cpu_processes("vllm_fsdp_sync.py", tmp_path, "train")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    rank0, rank1 = load(tmp_path, "train"), load(tmp_path, "train", 1)
    assert [m["step"] for m in rank0["metrics"]] == [1, 2, 3]
    for metrics in rank0["metrics"]:  # the sync check ran after every step's sync (it raises on a mismatch)
        assert metrics["sync/greedy_token_match"] == 1.0 and metrics["sync/logp_abs_max"] < 1e-3
    assert rank1["final_check"]["sync/logp_abs_max"] < 1e-3
    for saved in (rank0, rank1):  # rank 1 skipped a sync: both ranks stop before gathering
        assert "ranks disagree on 'vLLM weight sync" in saved["mismatch"]


@pytest.mark.slow
def test_a_rank_that_never_joins_the_sync_times_out_instead_of_hanging(tmp_path):
    result = launch_two_cpu_processes("vllm_fsdp_sync.py", tmp_path, "hang", timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    rank0 = load(tmp_path, "hang")
    assert "Timed out" in rank0["error"] or "timeout" in rank0["error"].lower(), rank0["error"]
    assert rank0["seconds"] < 60


@pytest.mark.parametrize("override,message", [
    ("distributed.strategy=zero3", "distributed.strategy='zero3' is not valid; choose one of: ddp, fsdp2"),
    ("distributed.param_dtype=float16", "distributed.param_dtype='float16' is not valid"),
    ("distributed.timeout_s=0", "distributed.timeout_s must be > 0"),
    ("generation.sync_bucket_mb=0", "generation.sync_bucket_mb must be > 0"),
])
def test_bad_distributed_options_are_config_errors(override, message):
    from zero_rl.config import build_config

    with pytest.raises(ConfigError, match=message):
        build_config({}, [override])


@pytest.mark.parametrize("kind,refused", [("DistributedType.FSDP", True), ("DistributedType.DEEPSPEED", True),
                                          ("DistributedType.MULTI_GPU", False), ("DistributedType.MULTI_CPU", False),
                                          ("DistributedType.NO", False)])
def test_an_accelerate_config_that_shards_by_itself_is_refused(kind, refused):
    from types import SimpleNamespace

    from zero_rl.distributed import check_launcher

    if refused:
        with pytest.raises(ConfigError, match="set distributed.strategy=fsdp2"):
            check_launcher(SimpleNamespace(distributed_type=kind))
    else:
        check_launcher(SimpleNamespace(distributed_type=kind))


@pytest.mark.slow
def test_cli_train_with_fsdp2_through_the_launch_script(tmp_path):
    """`launch/cpu_fsdp.sh` (2 processes, zero-rl train, embedded base model): training, checkpoint and the
    before/after report, whose after-part every rank generates in step (each sharded forward is a collective)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, ZERO_RL_PYTHON=sys.executable, OMP_NUM_THREADS="1")
    run = subprocess.run(["bash", str(root / "launch" / "cpu_fsdp.sh"), "--steps", "2", "--output-dir",
                          str(tmp_path / "run"), "run.prompts_per_step=4", "generation.group_size=4",
                          "task.eval_size=8", "run.progress=false"], env=env, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "rank 1: policy fsdp2" in run.stdout
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["after"]["greedy"]["n"] == 8
    checkpoint = tmp_path / "run" / "checkpoints" / "step-000002"
    assert json.loads((checkpoint / "checkpoint.json").read_text())["world_size"] == 2


def test_resume_may_not_switch_strategy_but_may_change_bucket_and_timeout():
    from zero_rl.config import build_config, resume_differences

    saved = build_config({}, []).to_dict()
    new = build_config({}, ["distributed.strategy=fsdp2", "generation.sync_bucket_mb=1",
                            "distributed.timeout_s=60"]).to_dict()
    assert resume_differences(saved, new) == ["distributed.strategy: 'ddp' -> 'fsdp2'"]
