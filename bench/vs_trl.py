"""zero-rl's GRPO step against TRL's GRPOTrainer: same model, prompts, rewards and batch, alternating runs.

    OMP_NUM_THREADS=1 python bench/vs_trl.py [--rounds 3] [--steps 3] [--prompts 32] [--group-size 8]

Both sides train a random-weight model shaped like the embedded base model (vocab 640, hidden 128, 3 layers,
0.79 M parameters; random weights never stop early, so every completion has --max-new-tokens tokens) on the
arithmetic task's prompts with its two rewards (all 0 for random weights, so zero-rl is told not to drop
zero-variance groups: it then runs the same full update TRL runs instead of skipping it), --prompts x --group-size completions per step, beta = 0, one
optimizer step per generated batch, transformers generation, float32, one thread. Each round starts one fresh
process per framework (zero-rl, then TRL) that runs one warm-up step and --steps timed steps and reports its
step times and peak RSS; the rounds alternate so that load on the machine hits both alike. Prints the median
s/step with its generate/update split, peak RSS, and the ratios. TRL is the optional `bench` extra
(`pip install -e '.[bench]'`).
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build_model_and_task():
    from zero_rl.tasks import get_task
    from zero_rl.embedded import BaseModelRecipe, initial_model_and_tokenizer

    model, tokenizer, _ = initial_model_and_tokenizer(BaseModelRecipe())  # untrained: the recipe's init
    return model, tokenizer, get_task("arithmetic")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_zero_rl(args) -> dict:
    from zero_rl.config import build_config
    from zero_rl.trainer import train

    model, tokenizer, task = build_model_and_task()
    with tempfile.TemporaryDirectory() as out:
        config = build_config(overrides=[
            f"run.steps={args.steps + 1}", f"run.prompts_per_step={args.prompts}", "run.eval_every=0",
            "run.progress=false", f"run.output_dir={out}", "task.eval_size=1",
            f"generation.group_size={args.group_size}", f"generation.max_new_tokens={args.max_new_tokens}",
            "algorithm.beta=0.0", "optim.warmup_steps=0", "optim.lr=1e-5", "algorithm.drop_zero_std_groups=false",
        ] + args.zero_rl_override)
        train(config, model=model, tokenizer=tokenizer, task=task, log=lambda *_: None)
        rows = [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]
    rows = rows[1:]  # the first step warms up
    return {"step": [r["time/step"] for r in rows], "generate": [r["time/generate"] for r in rows],
            "update": [r["time/update"] for r in rows], "peak_rss_mb": peak_rss_mb()}


def run_trl(args) -> dict:
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    model, tokenizer, task = build_model_and_task()
    examples = task.load(task.train_split)[: args.prompts * (args.steps + 1)]
    dataset = Dataset.from_list([{"prompt": task.prompt(e), "answer": e["answer"], "id": e["id"]} for e in examples])

    def reward_fn(name, fn):
        def reward(completions, answer, id, **_):
            return [fn(c, {"answer": a, "id": i}) for c, a, i in zip(completions, answer, id)]

        reward.__name__ = name
        return reward

    funcs = [reward_fn(name, fn) for name, (fn, _) in task.rewards.items()]
    weights = [weight for _, weight in task.rewards.values()]
    generate_s = []
    original_generate = type(model).generate

    def timed_generate(self, *a, **k):
        started = time.perf_counter()
        try:
            return original_generate(self, *a, **k)
        finally:
            generate_s.append(time.perf_counter() - started)

    type(model).generate = timed_generate
    step_s = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, *_, **__):
            self.started = time.perf_counter()

        def on_step_end(self, *_, **__):
            step_s.append(time.perf_counter() - self.started)

    batch = args.prompts * args.group_size
    with tempfile.TemporaryDirectory() as out:
        config = GRPOConfig(
            output_dir=out, use_cpu=True, per_device_train_batch_size=batch, gradient_accumulation_steps=1,
            num_generations=args.group_size, max_completion_length=args.max_new_tokens, temperature=1.0,
            beta=0.0, learning_rate=1e-5, lr_scheduler_type="constant", max_steps=args.steps + 1,
            logging_steps=1, report_to="none", save_strategy="no", seed=0, reward_weights=weights,
            dataloader_num_workers=0, bf16=False, disable_tqdm=True,
        )
        trainer = GRPOTrainer(model=model, reward_funcs=funcs, args=config, train_dataset=dataset,
                              processing_class=tokenizer, callbacks=[StepTimer()])
        torch.manual_seed(0)
        trainer.train()
    step_s, generate_s = step_s[1:], generate_s[1:]
    return {"step": step_s, "generate": generate_s,
            "update": [s - g for s, g in zip(step_s, generate_s)], "peak_rss_mb": peak_rss_mb()}


def child(args) -> None:
    result = (run_zero_rl if args.role == "zero-rl" else run_trl)(args)
    print("RESULT " + json.dumps(result), flush=True)


def launch(role: str, args) -> dict:
    command = [sys.executable, __file__, "--role", role, "--steps", str(args.steps), "--prompts", str(args.prompts),
               "--group-size", str(args.group_size), "--max-new-tokens", str(args.max_new_tokens)]
    for override in args.zero_rl_override:
        command += ["--zero-rl-override", override]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise SystemExit(f"{role} run failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per process (after one warm-up step)")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--zero-rl-override", action="append", default=[],
                        help="extra zero-rl config override for its side, e.g. optim.micro_batch_size=32")
    parser.add_argument("--role", choices=["zero-rl", "trl"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        return child(args)

    import torch

    from zero_rl.precision import cpu_description

    results = {"zero-rl": [], "trl": []}
    for round_number in range(args.rounds):
        for role in results:
            results[role].append(launch(role, args))
            r = results[role][-1]
            print(f"round {round_number + 1} {role:8s} step {statistics.median(r['step']):6.2f} s "
                  f"(generate {statistics.median(r['generate']):.2f}, update {statistics.median(r['update']):.2f}) "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)
    summary = {}
    for role, runs in results.items():
        summary[role] = {key: statistics.median([x for r in runs for x in r[key]])
                         for key in ("step", "generate", "update")}
        summary[role]["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    z, t = summary["zero-rl"], summary["trl"]
    print(f"\nCPU {cpu_description()}, torch {torch.__version__}, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}; "
          f"{args.prompts} prompts x {args.group_size}, {args.max_new_tokens} new tokens, {args.rounds} rounds x "
          f"{args.steps} steps")
    print(f"{'':10s} {'s/step':>8s} {'generate':>9s} {'update':>8s} {'peak RSS':>10s}")
    for role, s in summary.items():
        print(f"{role:10s} {s['step']:8.2f} {s['generate']:9.2f} {s['update']:8.2f} {s['peak_rss_mb']:8.0f} MB")
    print(f"speed-up zero-rl vs TRL: step {t['step'] / z['step']:.2f}x, generate {t['generate'] / z['generate']:.2f}x, "
          f"update {t['update'] / z['update']:.2f}x; peak RSS ratio {z['peak_rss_mb'] / t['peak_rss_mb']:.2f}")


if __name__ == "__main__":
    main()
