"""Run under 2 processes by tests/test_ppo.py: each rank trains the same tiny model and critic with PPO on its
own prompts."""

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
    "algorithm.name=ppo", "run.steps=2", "run.prompts_per_step=4", "generation.group_size=4",
    "generation.max_new_tokens=12", "task.eval_size=8", f"run.output_dir={out / 'run'}", "run.progress=false",
    "optim.micro_batch_size=3", "critic.micro_batch_tokens=40", "critic.update_epochs=2", "optim.warmup_steps=0",
    "optim.lr=1e-3", "algorithm.kl_reward_coef=0.01", "algorithm.kl_target=0.01"])
result = train(config, model=model, tokenizer=tokenizer, task=dense_task(), accelerator=accelerator)
torch.save({"distributed_type": str(accelerator.distributed_type), "world": accelerator.num_processes,
            "actor": {k: v.detach().clone() for k, v in model.state_dict().items()},
            "critic": {k: v.detach().clone() for k, v in result["critic"].state_dict().items()}},
           out / f"rank{accelerator.process_index}.pt")
accelerator.wait_for_everyone()
accelerator.end_training()  # end the process group on every rank before exiting
