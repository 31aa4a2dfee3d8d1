"""The aha experiment in one command: build the aha base model, run GRPO over several seeds, and measure whether
RL found a longer, careful strategy that beats the base model prompted to think.

    python -m zero_rl.aha_experiment --seeds 0 1 2 --out runs/aha

Per seed it trains with launch/recipes/aha.yaml, then evaluates on held-out problems the seed never saw:
- completion length during RL (metrics.jsonl) and greedy length before/after;
- greedy strict accuracy on hard problems (5 operands) and per level, paired per problem against the base
  model with `<think>` pre-filled (the control), with a 95 % bootstrap interval of the difference;
- sampled pass@k for k up to 64, RL model vs the pre-filled base (does RL expand what is solvable at large k,
  or only sharpen?);
- example completions from early and late training.
Everything lands in OUT/summary.json and is printed; OUT/length.png plots the length curves.
"""

import argparse
import json
import math
import time
from pathlib import Path

CONTROL_SUFFIX = " <think>"
REPO = Path(__file__).resolve().parent.parent
DEFAULT_RECIPE = REPO / "launch" / "recipes" / "aha.yaml"
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


# ---------------------------------------------------------------- statistics (pure)


def paired_bootstrap(treated: list, control: list, resamples: int = 10000, seed: int = 0) -> dict:
    """Mean of treated - control over paired problems (per-problem values, e.g. 0/1 correctness or a mean
    over seeds) with a 95 % percentile bootstrap interval, problems resampled with replacement."""
    import numpy as np

    if len(treated) != len(control) or not treated:
        raise ValueError(f"paired_bootstrap needs two equal, non-empty lists; got {len(treated)} and {len(control)}")
    diff_P = np.asarray(treated, dtype=float) - np.asarray(control, dtype=float)
    rng = np.random.default_rng(seed)
    means_R = diff_P[rng.integers(0, diff_P.size, size=(resamples, diff_P.size))].mean(axis=1)
    return {"mean": float(diff_P.mean()), "low": float(np.quantile(means_R, 0.025)),
            "high": float(np.quantile(means_R, 0.975)), "problems": int(diff_P.size)}


def t_interval(values: list) -> dict:
    """Mean and 95 % Student-t interval over a few values (e.g. one difference per seed)."""
    n = len(values)
    if n == 0:
        raise ValueError("t_interval needs at least one value")
    mean = sum(values) / n
    if n == 1:
        return {"mean": mean, "low": float("nan"), "high": float("nan"), "n": 1}
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = T975.get(n - 1, 1.96) * sd / math.sqrt(n)
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": n}


def length_ratio(lengths: list, head: int = 3, tail_share: float = 0.1) -> dict:
    """Rollout length growth: mean of the last `tail_share` of steps over the mean of the first `head` steps."""
    if len(lengths) < head + 1:
        raise ValueError(f"need more than {head} steps of lengths, got {len(lengths)}")
    tail = max(1, round(tail_share * len(lengths)))
    start, end = sum(lengths[:head]) / head, sum(lengths[-tail:]) / tail
    return {"start": start, "end": end, "ratio": end / start if start else float("nan")}


# ---------------------------------------------------------------- generation helpers


class RecordingGenerator:
    """Wraps the run's generator and keeps the first few rollouts of every training step (sampled calls with
    n > 1), so the report can show completions from early and late training."""

    def __init__(self, inner, tokenizer, keep: int = 2):
        self.inner, self.tokenizer, self.keep = inner, tokenizer, keep
        self.rollouts: list = []  # (call number, prompt tail, completion) per kept rollout

    def generate(self, prompt_ids, params):
        completions = self.inner.generate(prompt_ids, params)
        if params.n > 1 and params.temperature > 0:
            call = 1 + len({r["call"] for r in self.rollouts})
            for completion in completions[: self.keep]:
                prompt = self.tokenizer.decode(prompt_ids[completion.prompt_index])
                self.rollouts.append({"call": call, "question": prompt.rsplit("User: ", 1)[-1],
                                      "completion": completion.text})
        return completions

    def __getattr__(self, name):
        return getattr(self.inner, name)


def greedy_records(generator, tokenizer, task, examples, max_new_tokens, suffix="") -> list:
    from zero_rl.evaluate import sample_records
    from zero_rl.generation import SamplingParams

    return sample_records(generator, tokenizer, task, examples,
                          SamplingParams(n=1, temperature=0.0, max_new_tokens=max_new_tokens), suffix)


def pass_at_ks(generator, tokenizer, task, examples, n, ks, max_new_tokens, seed, suffix="") -> dict:
    from zero_rl.evaluate import sample_records, summarize
    from zero_rl.generation import SamplingParams

    records = sample_records(generator, tokenizer, task, examples,
                             SamplingParams(n=n, temperature=1.0, max_new_tokens=max_new_tokens, seed=seed),
                             suffix, batch_prompts=8)
    summary = summarize(records, ks, bootstrap_resamples=200)
    return {"pass@k": {k: summary[f"pass@{k}"] for k in ks}, "mean_length": summary["mean_length"],
            "format": summary.get("format")}


# ---------------------------------------------------------------- the experiment


def held_out_sets(hard_size: int, level_size: int) -> dict:
    from zero_rl.aha import level_options
    from zero_rl.tasks import get_task

    sets = {}
    for operands, size in ((5, hard_size), (4, level_size), (3, level_size)):
        task = get_task("arithmetic", **level_options(operands), test_size=size, train_size=1)
        sets[f"{operands} operands"] = (task, task.load("test"))
    return sets


def evaluate_model(generator, tokenizer, sets, max_new_tokens, suffix, passk_size, passk_n, ks, seed) -> dict:
    out = {}
    for name, (task, examples) in sets.items():
        records = greedy_records(generator, tokenizer, task, examples, max_new_tokens, suffix)
        out[name] = {"correct": [bool(r["correct"]) for r in records],
                     "length": sum(r["length"] for r in records) / len(records),
                     "example": records[0]["completion"]}
    task, examples = sets["5 operands"]
    out["sampled"] = pass_at_ks(generator, tokenizer, task, examples[:passk_size], passk_n, ks, max_new_tokens,
                                seed, suffix)
    return out


def run_seed(seed: int, base_path: Path, recipe: Path, out: Path, sets, args, log=print) -> dict:
    from zero_rl.config import load_config
    from zero_rl.generation.hf import HFGenerator
    from zero_rl.models import load_model_and_tokenizer
    from zero_rl.trainer import train

    run_dir = out / f"seed{seed}"
    overrides = [f"model.name_or_path={base_path}", f"run.seed={seed}", f"run.output_dir={run_dir}",
                 "run.progress=false"] + (([f"run.steps={args.steps}"]) if args.steps else []) + list(args.set)
    config = load_config(str(recipe), overrides)
    model, tokenizer = load_model_and_tokenizer(str(base_path))
    generator = RecordingGenerator(HFGenerator(model, tokenizer), tokenizer)
    started = time.time()
    if run_dir.exists():
        for name in ("metrics.jsonl", "eval.jsonl"):
            (run_dir / name).unlink(missing_ok=True)
    train(config, model=model, tokenizer=tokenizer, generator=generator)
    train_s = time.time() - started
    lengths = [json.loads(line)["completion/length_mean"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    accuracy = [json.loads(line)["accuracy"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    model.eval()
    evaluation = evaluate_model(generator.inner, tokenizer, sets, config.generation.max_new_tokens, "",
                                args.passk_size, args.passk_n, args.ks, seed + 1000)
    calls = sorted({r["call"] for r in generator.rollouts})
    examples = {"early": [r for r in generator.rollouts if r["call"] == calls[0]],
                "late": [r for r in generator.rollouts if r["call"] == calls[-1]]}
    result = {"seed": seed, "train_s": train_s, "eval_s": time.time() - started - train_s, "lengths": lengths,
              "train_accuracy": accuracy, "length": length_ratio(lengths), "eval": evaluation, "examples": examples}
    (run_dir / "result.json").write_text(json.dumps(result, indent=2))
    log(f"seed {seed}: trained in {train_s:.0f} s; rollout length {result['length']['start']:.1f} -> "
        f"{result['length']['end']:.1f}; hard greedy {_share(evaluation['5 operands']['correct']):.1%}")
    return result


def load_result(out: Path, seed: int) -> dict:
    """A seed's saved result (OUT/seedN/result.json), pass@k keys back to integers."""
    result = json.loads((out / f"seed{seed}" / "result.json").read_text())
    sampled = result["eval"]["sampled"]
    sampled["pass@k"] = {int(k): v for k, v in sampled["pass@k"].items()}
    print(f"seed {seed}: reusing {out / f'seed{seed}' / 'result.json'}", flush=True)
    return result


def _share(values) -> float:
    return sum(values) / len(values)


def summarize_runs(base: dict, runs: list, ks: list) -> dict:
    """The numbers the issue asks for, from the base model's evaluation (with and without the pre-filled
    `<think>`) and each seed's."""
    summary = {"seeds": [r["seed"] for r in runs], "levels": {}}
    for level in base["control"]:
        if level == "sampled":
            continue
        control = [float(c) for c in base["control"][level]["correct"]]
        per_seed = [[float(c) for c in r["eval"][level]["correct"]] for r in runs]
        pooled = [sum(values) / len(values) for values in zip(*per_seed)]  # each problem's mean over seeds
        summary["levels"][level] = {
            "control_greedy": _share(control),
            "base_unprompted_greedy": _share(base["plain"][level]["correct"]),
            "rl_greedy_per_seed": [_share(s) for s in per_seed],
            "difference_per_seed": [paired_bootstrap(s, control, seed=i) for i, s in enumerate(per_seed)],
            "difference_pooled": paired_bootstrap(pooled, control),
            "difference_over_seeds_t": t_interval([_share(s) - _share(control) for s in per_seed]),
            "greedy_length": {"control": base["control"][level]["length"],
                              "rl": [r["eval"][level]["length"] for r in runs]},
        }
    summary["length"] = [r["length"] for r in runs]
    summary["pass@k"] = {"control": base["control"]["sampled"]["pass@k"],
                         "rl": [r["eval"]["sampled"]["pass@k"] for r in runs], "ks": ks}
    summary["sampled_length"] = {"control": base["control"]["sampled"]["mean_length"],
                                 "rl": [r["eval"]["sampled"]["mean_length"] for r in runs]}
    return summary


def print_summary(summary: dict, print_fn=print) -> None:
    seeds = summary["seeds"]
    print_fn(f"\n=== aha experiment, seeds {seeds} ===")
    for i, growth in enumerate(summary["length"]):
        print_fn(f"rollout length, seed {seeds[i]}: {growth['start']:.1f} -> {growth['end']:.1f} tokens "
                 f"({growth['ratio']:.2f}x)")
    for level, row in summary["levels"].items():
        pooled, t = row["difference_pooled"], row["difference_over_seeds_t"]
        print_fn(f"\n{level} ({pooled['problems']} held-out problems), greedy strict accuracy")
        print_fn(f"  base, no prefill          {row['base_unprompted_greedy']:7.1%}")
        print_fn(f"  control, <think> prefilled {row['control_greedy']:6.1%}   (greedy length "
                 f"{row['greedy_length']['control']:.1f})")
        for seed, accuracy, diff, length in zip(seeds, row["rl_greedy_per_seed"], row["difference_per_seed"],
                                                row["greedy_length"]["rl"]):
            print_fn(f"  RL seed {seed}                 {accuracy:6.1%}   diff {100 * diff['mean']:+.1f} pts "
                     f"[{100 * diff['low']:+.1f}, {100 * diff['high']:+.1f}]   (greedy length {length:.1f})")
        print_fn(f"  pooled over seeds: diff {100 * pooled['mean']:+.1f} pts, 95% bootstrap "
                 f"[{100 * pooled['low']:+.1f}, {100 * pooled['high']:+.1f}]; t over seeds "
                 f"[{100 * t['low']:+.1f}, {100 * t['high']:+.1f}]")
    passk = summary["pass@k"]
    print_fn("\npass@k on hard problems (sampled, T=1):  k  " + "  ".join(f"{k:>6d}" for k in passk["ks"]))
    print_fn("  control (<think> prefilled)            " + "  ".join(f"{passk['control'][k]:6.1%}" for k in passk["ks"]))
    for seed, row in zip(seeds, passk["rl"]):
        print_fn(f"  RL seed {seed}                              " + "  ".join(f"{row[k]:6.1%}" for k in passk["ks"]))


def plot_lengths(runs: list, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for r in runs:
        axes[0].plot(range(1, len(r["lengths"]) + 1), r["lengths"], label=f"seed {r['seed']}")
        axes[1].plot(range(1, len(r["train_accuracy"]) + 1), r["train_accuracy"], label=f"seed {r['seed']}")
    axes[0].set(xlabel="GRPO step", ylabel="mean completion length (tokens)", title="rollout length")
    axes[1].set(xlabel="GRPO step", ylabel="rollout accuracy", title="rollout accuracy")
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return True


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m zero_rl.aha_experiment", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default="runs/aha")
    parser.add_argument("--recipe", default=str(DEFAULT_RECIPE), help="the GRPO recipe (YAML)")
    parser.add_argument("--base", default=None, help="a built aha base model folder (default: build or reuse "
                                                     "the cached one)")
    parser.add_argument("--steps", type=int, default=0, help="override run.steps")
    parser.add_argument("--reuse", action="store_true", help="reuse a seed's OUT/seedN/result.json when present "
                                                               "(summarise finished runs without training again)")
    parser.add_argument("--set", nargs="*", default=[], metavar="SECTION.FIELD=VALUE",
                        help="more config overrides for every seed, e.g. optim.lr=1e-4")
    parser.add_argument("--hard-size", type=int, default=300, help="held-out 5-operand problems (greedy)")
    parser.add_argument("--level-size", type=int, default=200, help="held-out 3- and 4-operand problems")
    parser.add_argument("--passk-size", type=int, default=100, help="hard problems sampled for pass@k")
    parser.add_argument("--passk-n", type=int, default=64, help="samples per problem for pass@k")
    args = parser.parse_args(argv)
    args.ks = [k for k in (1, 2, 4, 8, 16, 32, 64, 128, 256) if k <= args.passk_n]
    import torch

    from zero_rl.aha import AhaRecipe
    from zero_rl.embedded import embedded_base_model
    from zero_rl.generation.hf import HFGenerator
    from zero_rl.models import load_model_and_tokenizer
    from zero_rl.precision import cpu_description

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    base_path = Path(args.base) if args.base else embedded_base_model(AhaRecipe())
    build_s = time.time() - started
    sets = held_out_sets(args.hard_size, args.level_size)
    base_file = out / "base_eval.json"
    from zero_rl.config import load_config

    max_new = load_config(args.recipe).generation.max_new_tokens
    base_key = {"base": str(base_path), "max_new_tokens": max_new, "hard_size": args.hard_size,
                "level_size": args.level_size, "passk_size": args.passk_size, "passk_n": args.passk_n}
    saved = json.loads(base_file.read_text()) if base_file.exists() else {}
    if all(saved.get(key) == value for key, value in base_key.items()):  # the same base, sets and sampling
        base = saved
    else:
        model, tokenizer = load_model_and_tokenizer(str(base_path))
        model.eval()
        generator = HFGenerator(model, tokenizer)
        base = {**base_key,
                "control": evaluate_model(generator, tokenizer, sets, max_new, CONTROL_SUFFIX, args.passk_size,
                                          args.passk_n, args.ks, 999),
                "plain": {name: {"correct": [bool(r["correct"]) for r in
                                             greedy_records(generator, tokenizer, task, examples, max_new)]}
                          for name, (task, examples) in sets.items()}}
        base["control"]["sampled"]["pass@k"] = {str(k): v for k, v in base["control"]["sampled"]["pass@k"].items()}
        base_file.write_text(json.dumps(base, indent=2))
    base["control"]["sampled"]["pass@k"] = {int(k): v for k, v in base["control"]["sampled"]["pass@k"].items()}
    base_s = time.time() - started - build_s
    print(f"base: built/found in {build_s:.0f} s, evaluated in {base_s:.0f} s; hard control greedy "
          f"{_share(base['control']['5 operands']['correct']):.1%}", flush=True)
    runs = [load_result(out, seed) if args.reuse and (out / f"seed{seed}" / "result.json").exists()
            else run_seed(seed, base_path, Path(args.recipe), out, sets, args) for seed in args.seeds]
    summary = summarize_runs(base, runs, args.ks)
    summary.update(base_build_s=build_s, base_eval_s=base_s, total_s=time.time() - started,
                   cpu=cpu_description(), threads=torch.get_num_threads(),
                   examples={r["seed"]: r["examples"] for r in runs})
    print_summary(summary)
    for r in runs[:1]:
        for when in ("early", "late"):
            for example in r["examples"][when]:
                print(f"  [{when}, seed {r['seed']}] {example['question']}{example['completion']}")
    if plot_lengths(runs, out / "length.png"):
        print(f"\nlength curve: {out / 'length.png'}")
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print(f"summary: {out / 'summary.json'}; total {time.time() - started:.0f} s on {cpu_description()}, "
          f"{torch.get_num_threads()} threads")


if __name__ == "__main__":
    main()
