"""Preference learning on the embedded base model: verifier-ranked pairs of the base model's own samples, then
offline DPO and a Bradley-Terry reward model trained on them.

    OMP_NUM_THREADS=1 python bench/preference_arithmetic.py [--out runs/preference_arithmetic] [--prompts 512]
        [--steps 60] [--loss sigmoid] [--beta 0.1]

1. Samples 8 completions for each of `--prompts` training problems of the arithmetic task (HF generator, T=1),
   scores them with the task's rewards (accuracy + 0.1 format) and keeps best-vs-worst pairs (ties skipped):
   `pairs.jsonl` (prompt, chosen, rejected).
2. Offline DPO (zero_rl.dpo.train_offline_dpo) on 90 % of the pairs; held-out implicit-reward margin and accuracy
   on the other 10 %, and held-out greedy accuracy on 200 test problems before and after.
3. `zero-rl train-rm` equivalent on the same split from the base checkpoint: held-out pairwise accuracy.
Prints one JSON summary line.
"""

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/preference_arithmetic")
    parser.add_argument("--prompts", type=int, default=512)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--loss", default="sigmoid")
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--rm-epochs", type=int, default=2)
    args = parser.parse_args()
    import torch

    from zero_rl.config import build_config
    from zero_rl.dpo import select_pairs, train_offline_dpo
    from zero_rl.embedded import embedded_base_model
    from zero_rl.evaluate import greedy_eval
    from zero_rl.generation import SamplingParams
    from zero_rl.generation.hf import HFGenerator
    from zero_rl.models import load_model_and_tokenizer
    from zero_rl.reward_model import load_reward_model, split_pairs, train_reward_model
    from zero_rl.scoring import score_inline
    from zero_rl.tasks import get_task

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    base = str(embedded_base_model(progress=False))
    task = get_task("arithmetic")
    model, tokenizer = load_model_and_tokenizer(base)
    examples = task.load("train")[: args.prompts]
    started = time.time()
    generator = HFGenerator(model, tokenizer)
    rows = []
    for start in range(0, len(examples), 64):
        chunk = examples[start: start + 64]
        prompts = [task.prompt(e) for e in chunk]
        completions = generator.generate([tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts],
                                         SamplingParams(n=8, max_new_tokens=64, seed=start))
        scores = score_inline(task.rewards, [c.text for c in completions], [chunk[c.prompt_index] for c in completions])
        for chosen, rejected in select_pairs(torch.tensor(scores.total_B), 8, 1):
            rows.append({"prompt": prompts[completions[chosen].prompt_index], "chosen": completions[chosen].text,
                         "rejected": completions[rejected].text})
    with open(out / "pairs.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    sampled_s = time.time() - started
    train, held_out = split_pairs(rows, 0.1, seed=0)
    test = task.load("test")[:200]
    before = greedy_eval(generator, tokenizer, task, test, 64)

    config = build_config({}, ["algorithm.name=online_dpo", f"run.steps={args.steps}", "run.prompts_per_step=16",
                               f"algorithm.dpo_loss={args.loss}", f"algorithm.dpo_beta={args.beta}",
                               f"optim.lr={args.lr}", "optim.micro_batch_size=32", "run.eval_every=0"])
    started = time.time()
    history = train_offline_dpo(model, tokenizer, train, config, eval_rows=held_out, log=lambda line: None)
    dpo_s = time.time() - started
    after = greedy_eval(HFGenerator(model, tokenizer), tokenizer, task, test, 64)

    rm, rm_tokenizer = load_reward_model(base)
    started = time.time()
    rm_history = train_reward_model(rm, rm_tokenizer, train, held_out, epochs=args.rm_epochs, lr=1e-4,
                                    batch_size=16, log=lambda line: None)
    rm_s = time.time() - started
    summary = {"pairs": len(rows), "train_pairs": len(train), "held_out_pairs": len(held_out),
               "sample_s": round(sampled_s, 1),
               "dpo": {"loss": args.loss, "beta": args.beta, "steps": args.steps, "lr": args.lr,
                       "held_out_margin": history[-1]["eval/margin"], "held_out_accuracy": history[-1]["eval/accuracy"],
                       "greedy_before": before["accuracy"], "greedy_after": after["accuracy"],
                       "format_before": before.get("format"), "format_after": after.get("format"),
                       "wall_s": round(dpo_s, 1)},
               "reward_model": {"epochs": args.rm_epochs, "held_out_pairwise_accuracy": rm_history[-1]["eval/accuracy"],
                                "train_loss": rm_history[-1]["train/loss"], "wall_s": round(rm_s, 1)}}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    rm.save_pretrained(out / "reward_model")
    rm_tokenizer.save_pretrained(out / "reward_model")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
