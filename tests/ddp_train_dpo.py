"""Run under 2 processes by tests/test_dpo.py: online DPO, each rank on its own prompts (gloo DDP on CPU)."""

import sys
from pathlib import Path

import torch
from accelerate import Accelerator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_train_smoke import dense_task  # noqa: E402

from zero_rl.config import build_config  # noqa: E402
from zero_rl.embedded import build_tiny_random  # noqa: E402
from zero_rl.trainer import train  # noqa: E402

out = Path(sys.argv[1])
accelerator = Accelerator()
model, tokenizer = build_tiny_random(seed=3)
config = build_config({}, [
    "algorithm.name=online_dpo", "algorithm.dpo_pairs_per_group=2", "run.steps=2", "run.prompts_per_step=4",
    "generation.group_size=4", "generation.max_new_tokens=12", "task.eval_size=4", f"run.output_dir={out / 'run'}",
    "run.progress=false", "optim.micro_batch_size=2", "optim.warmup_steps=0", "optim.lr=1e-3"])
train(config, model=model, tokenizer=tokenizer, task=dense_task(), accelerator=accelerator)
torch.save({"world": accelerator.num_processes,
            "state": {k: v.detach().clone() for k, v in model.state_dict().items()}},
           out / f"rank{accelerator.process_index}.pt")
accelerator.wait_for_everyone()
accelerator.end_training()
