"""Run under 2 processes by tests/test_ddp.py: each rank trains the same tiny model on its own prompts."""

import os
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
    "run.steps=2", "run.prompts_per_step=4", "generation.group_size=4", "generation.max_new_tokens=12",
    "task.eval_size=8", f"run.output_dir={out / 'run'}", "run.progress=false", "optim.micro_batch_size=3",
    "optim.warmup_steps=0", "optim.lr=1e-3", "algorithm.drop_zero_std_groups=false"])
train(config, model=model, tokenizer=tokenizer, task=dense_task(), accelerator=accelerator)
torch.save({"distributed_type": str(accelerator.distributed_type), "world": accelerator.num_processes,
            "state": {k: v.detach().clone() for k, v in model.state_dict().items()}},
           out / f"rank{accelerator.process_index}.pt")
accelerator.wait_for_everyone()
accelerator.end_training()  # end the process group on every rank before exiting
# Everything is done and saved. Under two torchrun agents on one host (tests/test_multinode.py), torch 2.13 aborted
# in about 1 run of 20 while the interpreter finalized: "terminate called without an active exception", SIGABRT,
# with no Python frame left. Leave without interpreter teardown, so the exit code speaks of the training only.
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)
