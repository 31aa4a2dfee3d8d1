"""Run under 2 processes by tests/test_sharded.py: runs of the same tiny model on the same seed and data with
distributed.strategy ddp and fsdp2. argv: OUT RUN [RUN ...], each RUN one of RUNS below. Writes
OUT/<run>.rank{N}.pt with the full (gathered) weights of the policy (and critic) and each step's metrics."""

import json
import sys
from datetime import timedelta
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import InitProcessGroupKwargs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_train_smoke import dense_task  # noqa: E402

from zero_rl.config import build_config  # noqa: E402
from zero_rl.distributed import hf_weight_items  # noqa: E402
from zero_rl.embedded import build_tiny_random  # noqa: E402
from zero_rl.trainer import train  # noqa: E402

COMMON = ["run.prompts_per_step=4", "generation.group_size=4", "generation.max_new_tokens=10", "task.eval_size=4",
          "run.progress=false", "optim.micro_batch_size=3", "optim.warmup_steps=0", "optim.lr=1e-3",
          "run.eval_every=0", "distributed.timeout_s=300"]
GRPO = ["algorithm.drop_zero_std_groups=true", "algorithm.beta=0.05"]
PPO = ["algorithm.name=ppo", "critic.micro_batch_tokens=40", "critic.update_epochs=2", "algorithm.kl_reward_coef=0.01"]
LORA = ["model.lora={rank: 4, alpha: 8, target_modules: all-linear}", "optim.lr=1e-2", "algorithm.beta=0.05"]
RUNS = {
    "grpo_ddp": GRPO + ["run.steps=3"],
    "grpo_fsdp2": GRPO + ["run.steps=3", "distributed.strategy=fsdp2"],
    "grpo_fsdp2_offload": GRPO + ["run.steps=3", "distributed.strategy=fsdp2", "distributed.cpu_offload=true"],
    "grpo_fsdp2_bf16": GRPO + ["run.steps=3", "distributed.strategy=fsdp2", "distributed.param_dtype=bfloat16"],
    "ppo_ddp": PPO + ["run.steps=3"],
    "ppo_fsdp2": PPO + ["run.steps=3", "distributed.strategy=fsdp2", "distributed.reshard_after_forward=false"],
    "lora_ddp": LORA + ["run.steps=2"],
    "lora_fsdp2": LORA + ["run.steps=2", "distributed.strategy=fsdp2"],
    # sharded checkpoint: 4 steps straight, vs 2 steps then a resume to 4 (PPO: the critic is checkpointed too)
    "resume_full": PPO + ["run.steps=4", "run.save_every=2", "distributed.strategy=fsdp2"],
    "resume_first": PPO + ["run.steps=2", "distributed.strategy=fsdp2"],
    "resume_second": PPO + ["run.steps=4", "run.save_every=2", "distributed.strategy=fsdp2", "run.resume=true"],
}
DIRS = {"resume_first": "resume", "resume_second": "resume"}

out = Path(sys.argv[1])
accelerator = Accelerator(kwargs_handlers=[InitProcessGroupKwargs(timeout=timedelta(seconds=300))])
rank = accelerator.process_index
for name in sys.argv[2:]:
    if name == "uneven":  # dim 0 not divisible by the world (rank 1 holds 1 row, or none), mixed dtypes
        from torch import nn

        from zero_rl.distributed import shard_model

        torch.manual_seed(0)
        toy = nn.Module()
        toy.layers = nn.ModuleList([nn.Linear(4, 3), nn.Linear(4, 1)])
        toy.head = nn.Linear(3, 5, bias=False)
        toy.bf16 = nn.Parameter(torch.randn(3, 2).to(torch.bfloat16), requires_grad=False)
        full = {k: v.clone() for k, v in toy.state_dict().items()}
        shard_model(toy, build_config({}, ["distributed.strategy=fsdp2"]).distributed)
        gathered = {bucket: dict(hf_weight_items(toy, bucket, tag=f"uneven {bucket}")) for bucket in (1e-5, 64)}
        torch.save({"full": full, "gathered": gathered}, out / f"uneven.rank{rank}.pt")
        continue
    model, tokenizer = build_tiny_random(seed=3)
    config = build_config({}, COMMON + RUNS[name] + [f"run.output_dir={out / DIRS.get(name, name)}"])
    result = train(config, model=model, tokenizer=tokenizer, task=dense_task(), accelerator=accelerator,
                   log=lambda line: print(f"rank {rank}: {line}", flush=True) if rank == 0 else None)
    saved = {"policy": dict(hf_weight_items(result["model"], tag=f"{name} policy")),
             "trainable": sorted(n for n, p in result["model"].named_parameters() if p.requires_grad),
             "raw": {k: (v.full_tensor() if hasattr(v, "full_tensor") else v).detach().clone()
                     for k, v in result["model"].state_dict().items()}}
    if result["critic"] is not None:
        saved["critic"] = dict(hf_weight_items(result["critic"], tag=f"{name} critic"))
    saved["metrics"] = [json.loads(line) for line in (Path(result["output_dir"]) / "metrics.jsonl").read_text()
                        .splitlines()] if rank == 0 else None
    torch.save(saved, out / f"{name}.rank{rank}.pt")
    print(f"rank {rank}: {name} done", flush=True)
accelerator.wait_for_everyone()
accelerator.end_training()
