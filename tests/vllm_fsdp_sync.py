"""Run under 2 processes by tests/test_sharded.py. argv: OUT MODE.

MODE train: fsdp2 GRPO with the vLLM generator (an engine per rank), the sync check after every step, small
sync buckets (several all-gathers per sync); then rank 1 skips a sync (its counter moves on) and both ranks'
next sync must fail with CollectiveMismatchError instead of gathering mismatched tensors.
MODE hang: a sharded model, a 10 s process-group timeout; rank 1 never joins the sync: rank 0 must fail with
an error within the timeout instead of hanging. Writes OUT/<mode>.rank{N}.pt."""

import os
import sys
import time
from datetime import timedelta
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import InitProcessGroupKwargs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_train_smoke import dense_task  # noqa: E402

from zero_rl.config import build_config  # noqa: E402
from zero_rl.distributed import CollectiveMismatchError, hf_weight_items, shard_model  # noqa: E402
from zero_rl.embedded import build_tiny_random  # noqa: E402

out, mode = Path(sys.argv[1]), sys.argv[2]
timeout = 300 if mode == "train" else 10
accelerator = Accelerator(kwargs_handlers=[InitProcessGroupKwargs(timeout=timedelta(seconds=timeout))])
rank = accelerator.process_index
model, tokenizer = build_tiny_random(hidden_size=128, seed=5)  # head size 32: vLLM's CPU attention has it
saved = {}
if mode == "train":
    from zero_rl.trainer import train

    config = build_config({}, [
        "run.steps=3", "run.prompts_per_step=4", "generation.group_size=4", "generation.max_new_tokens=10",
        "task.eval_size=4", f"run.output_dir={out / 'run'}", "run.progress=false", "optim.micro_batch_size=3",
        "optim.warmup_steps=0", "optim.lr=1e-3", "run.eval_every=0", "distributed.strategy=fsdp2",
        "generation.backend=vllm", "generation.check_sync_every=1", "generation.sync_bucket_mb=0.1",
        "algorithm.drop_zero_std_groups=false"])
    result = train(config, model=model, tokenizer=tokenizer, task=dense_task(), accelerator=accelerator,
                   log=lambda line: print(f"rank {rank}: {line}", flush=True))
    generator, policy = result["generator"], result["model"]
    import json

    saved["metrics"] = [json.loads(line) for line in (out / "run" / "metrics.jsonl").read_text().splitlines()] \
        if rank == 0 else None
    saved["final_check"] = generator.check_sync(policy)
    if rank == 1:
        generator.syncs += 1  # as if this rank had skipped a sync
    try:
        generator.sync_weights(policy)
        saved["mismatch"] = "no error"
    except CollectiveMismatchError as error:
        saved["mismatch"] = str(error)
    generator.close()
else:
    shard_model(model, build_config({}, ["distributed.strategy=fsdp2"]).distributed)
    started = time.time()
    if rank == 1:
        time.sleep(timeout + 5)  # never joins
        saved["error"] = None
    else:
        try:
            list(hf_weight_items(model, tag="sync 1"))
            saved["error"] = "no error"
        except Exception as error:  # gloo raises a RuntimeError naming the timeout
            saved["error"] = f"{type(error).__name__}: {error}"
    saved["seconds"] = time.time() - started
torch.save(saved, out / f"{mode}.rank{rank}.pt")
print(f"rank {rank}: {mode} done {saved.get('mismatch', saved.get('error'))}", flush=True)
sys.stdout.flush()
# hang: the process group is broken after a timeout; train: the engine's close() already ended it
os._exit(0)
