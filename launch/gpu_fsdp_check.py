"""GPU check of the sharded path: a random-weight Qwen2.5-0.5B-shaped model (config built here, no hub access)
trained for a few GRPO steps with a colocated vLLM engine, bf16, FSDP2 (run under torchrun, 1 process or more),
optionally with LoRA; prints the step time split, the sync time and the peak GPU memory per rank.

    torchrun --nproc-per-node 1 launch/gpu_fsdp_check.py --out runs/gpu-check [--lora] [--steps 4]
(launch/gpu_fsdp_check.sh runs both variants.) `--small` uses a tiny shape: a dry run of this script on CPU.
"""

import argparse
import json
import sys
from pathlib import Path

import torch


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="runs/gpu-check")
    parser.add_argument("--lora", action="store_true")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--small", action="store_true")
    args = parser.parse_args()

    from accelerate import Accelerator
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from zero_rl.config import build_config
    from zero_rl.embedded import build_tiny_random
    from zero_rl.tasks import get_task
    from zero_rl.trainer import train

    _, tokenizer = build_tiny_random(seed=0)  # a local tokenizer (ids < 400 are valid for any larger vocab)
    shape = dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                 num_attention_heads=14, num_key_value_heads=2)  # Qwen2.5-0.5B
    if args.small:
        shape = dict(vocab_size=512, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                     num_attention_heads=2, num_key_value_heads=1)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(**shape, max_position_embeddings=1024, tie_word_embeddings=True,
                                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id))
    gpu = torch.cuda.is_available()
    overrides = [
        f"run.steps={args.steps}", "run.prompts_per_step=32" if gpu else "run.prompts_per_step=4",
        "generation.group_size=8" if gpu else "generation.group_size=2",
        "generation.max_new_tokens=256" if gpu else "generation.max_new_tokens=8",
        "task.eval_size=16" if gpu else "task.eval_size=2", "run.eval_every=0", "run.progress=false",
        f"run.output_dir={args.out}", "optim.lr=1e-6", "optim.warmup_steps=0", "generation.backend=vllm",
        "generation.check_sync_every=1", "distributed.strategy=fsdp2", "algorithm.drop_zero_std_groups=false",
        "optim.micro_batch_size=16",
    ]
    if gpu:
        overrides += ["model.dtype=bfloat16", "distributed.param_dtype=bfloat16", "generation.vllm_dtype=bfloat16",
                      "generation.gpu_memory_utilization=0.3"]
    if args.lora:
        overrides += ["model.lora={rank: 16, alpha: 32, target_modules: all-linear}", "optim.lr=1e-5",
                      "algorithm.beta=0.01"]
    config = build_config({}, overrides)
    accelerator = Accelerator()
    result = train(config, model=model, tokenizer=tokenizer, task=get_task("arithmetic"), accelerator=accelerator)
    if accelerator.is_main_process:
        rows = [json.loads(line) for line in (Path(args.out) / "metrics.jsonl").read_text().splitlines()]
        print(f"\n{'LoRA' if args.lora else 'full'} fine-tuning, fsdp2 x {accelerator.num_processes}, "
              f"{sum(p.numel() for p in result['model'].parameters()):,} parameters")
        print(f"{'step':>4} {'step s':>7} {'generate':>9} {'update':>7} {'sync':>6} {'sync logp max':>13} "
              f"{'peak GPU MB (rank 0)':>20}")
        for row in rows:
            peak = row.get("memory/peak_cuda_mb/rank0", float("nan"))
            print(f"{row['step']:>4} {row['time/step']:>7.2f} {row['time/generate']:>9.2f} {row['time/update']:>7.2f} "
                  f"{row['time/sync']:>6.2f} {row.get('sync/logp_abs_max', float('nan')):>13.2e} {peak:>20.0f}")
    result["generator"].close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
