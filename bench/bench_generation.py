"""Generation throughput: the vLLM backend against the transformers backend, same model, same prompts, one run.

    OMP_NUM_THREADS=1 python bench/bench_generation.py [--model PATH] [--prompts 16] [--group-size 8]

Prints tokens/s of each backend (completion tokens only, best of --repeats after a warm-up call), their ratio,
and the cost of one in-place weight sync. The model defaults to the embedded base model when it is already
cached (it is what `zero-rl train` uses), else a tiny random model (head size 32, which vLLM's CPU attention
supports). Sampling is at temperature 1 so the random model does not stop early; both backends get the same
prompts and max_new_tokens, and the printed token counts show how much each generated.
"""

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def pick_model(path: str | None):
    from zero_rl.embedded import BaseModelRecipe, build_tiny_random, cache_root
    from zero_rl.models import load_model_and_tokenizer

    if path is None:
        cached = cache_root() / f"base-{BaseModelRecipe().key()}"
        if (cached / "config.json").exists():
            path = str(cached)
    if path is None:
        model, tokenizer = build_tiny_random(hidden_size=128, seed=0)
        return model, tokenizer, "tiny random (hidden 128, 2 layers)"
    model, tokenizer = load_model_and_tokenizer(path, log=lambda *_: None)
    return model, tokenizer, path


def timed(generator, prompt_ids, params, repeats: int) -> tuple[float, int]:
    """(best seconds, completion tokens) over `repeats` calls after one warm-up call."""
    generator.generate(prompt_ids, params)
    best, tokens = float("inf"), 0
    for _ in range(repeats):
        started = time.perf_counter()
        completions = generator.generate(prompt_ids, params)
        elapsed = time.perf_counter() - started
        if elapsed < best:
            best, tokens = elapsed, sum(len(c.token_ids) for c in completions)
    return best, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="local model folder (default: embedded base or tiny random)")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch

    from zero_rl.tasks import get_task
    from zero_rl.config import GenerationConfig
    from zero_rl.generation import SamplingParams
    from zero_rl.generation.hf import HFGenerator
    from zero_rl.generation.vllm import VLLMGenerator

    model, tokenizer, name = pick_model(args.model)
    model.eval()
    task = get_task("arithmetic", train_size=args.prompts, test_size=1)
    examples = task.load(task.train_split)[: args.prompts]
    prompt_ids = [tokenizer(task.prompt(e), add_special_tokens=False)["input_ids"] for e in examples]
    params = SamplingParams(n=args.group_size, temperature=1.0, max_new_tokens=args.max_new_tokens, seed=0)
    print(f"model: {name}, {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M params; {len(prompt_ids)} "
          f"prompts x group {args.group_size} x up to {args.max_new_tokens} tokens; torch threads "
          f"{torch.get_num_threads()}")

    # transformers first: vLLM's CPU worker pins threads in this process when it starts
    hf_s, hf_tokens = timed(HFGenerator(model, tokenizer), prompt_ids, params, args.repeats)
    started = time.perf_counter()
    vllm_generator = VLLMGenerator(model, tokenizer, GenerationConfig(), log=lambda *_: None)
    start_s = time.perf_counter() - started
    vllm_s, vllm_tokens = timed(vllm_generator, prompt_ids, params, args.repeats)
    started = time.perf_counter()
    for _ in range(args.repeats):
        vllm_generator.sync_weights(model)
    sync_ms = 1000 * (time.perf_counter() - started) / args.repeats

    hf_rate, vllm_rate = hf_tokens / hf_s, vllm_tokens / vllm_s
    print(f"{'backend':14s} {'tokens':>8s} {'seconds':>8s} {'tokens/s':>10s}")
    print(f"{'transformers':14s} {hf_tokens:8d} {hf_s:8.2f} {hf_rate:10.0f}")
    print(f"{'vllm':14s} {vllm_tokens:8d} {vllm_s:8.2f} {vllm_rate:10.0f}")
    print(f"ratio vllm / transformers: {vllm_rate / hf_rate:.2f}x tokens/s")
    print(f"vllm engine start {start_s:.1f} s; in-place weight sync {sync_ms:.1f} ms")
    vllm_generator.close()


if __name__ == "__main__":
    main()
