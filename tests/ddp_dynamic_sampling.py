"""Run under 2 processes by tests/test_dynamic_sampling.py: dynamic sampling with batch-std advantages and the
entropy bonus, where rank 0's prompts of block 1 have constant rewards and rank 1's do not, so only the gathered
counts can tell rank 1 to run a second round. argv: OUT STRATEGY [STRATEGY ...] (ddp, fsdp2)."""

import json
import sys
from pathlib import Path

import torch
from accelerate import Accelerator

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_dynamic_sampling as dynamic  # noqa: E402

import zero_rl.advantages as advantages  # noqa: E402
import zero_rl.trainer as trainer  # noqa: E402
from zero_rl.config import build_config  # noqa: E402
from zero_rl.distributed import hf_weight_items  # noqa: E402
from zero_rl.embedded import build_tiny_random  # noqa: E402

out = Path(sys.argv[1])
accelerator = Accelerator()
task = dynamic.known_constant_task()
block1 = trainer.step_examples(task.load("train"), 1, 4, 0, 0, 1)
dynamic.CONSTANT_IDS.update({block1[0]["id"], block1[1]["id"]})  # rank 0's share of block 1 (2 prompts per rank)
blocks, seen_rows = [], []
original = trainer.step_examples
trainer.step_examples = lambda examples, block, *args: blocks.append(block) or original(examples, block, *args)
batch_std = advantages.ADVANTAGES["grpo_batch_std"]
advantages.ADVANTAGES["grpo_batch_std"] = lambda rewards_B, *a, **k: seen_rows.append(len(rewards_B)) or batch_std(
    rewards_B, *a, **k)
for strategy in sys.argv[2:]:
    blocks.clear()
    seen_rows.clear()
    model, tokenizer = build_tiny_random(seed=3)
    config = build_config({}, [
        "run.steps=2", "run.prompts_per_step=4", "generation.group_size=4", "generation.max_new_tokens=12",
        "task.eval_size=8", f"run.output_dir={out / strategy}", "run.progress=false", "optim.micro_batch_size=3",
        "optim.warmup_steps=0", "optim.lr=1e-3", "algorithm.dynamic_sampling=true",
        "algorithm.advantage=grpo_batch_std", "algorithm.entropy_coef=0.01", f"distributed.strategy={strategy}"])
    result = trainer.train(config, model=model, tokenizer=tokenizer, task=task, accelerator=accelerator)
    torch.save({"world": accelerator.num_processes, "blocks": list(blocks), "seen_rows": list(seen_rows),
                "policy": dict(hf_weight_items(result["model"], tag=f"{strategy} policy")),
                "metrics": [json.loads(line) for line in (out / strategy / "metrics.jsonl").read_text().splitlines()]
                if accelerator.is_main_process else None},
               out / f"{strategy}.rank{accelerator.process_index}.pt")
accelerator.wait_for_everyone()
accelerator.end_training()
