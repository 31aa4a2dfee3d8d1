"""The algorithm comparison table: GRPO, Dr.GRPO, DAPO (clip-higher + dynamic sampling + token-level loss + overlong
shaping), GSPO, CISPO and SAPO on the quickstart (embedded base model, arithmetic task), each from its CPU recipe in
launch/recipes/, over several seeds.

    OMP_NUM_THREADS=1 python bench/algorithms.py [--out runs/algorithms] [--seeds 0 1] [--steps 20]
                                                  [--variants grpo dapo ...] [--table-only] [override ...]

Runs one at a time, each in a fresh process running what `zero-rl train --config <recipe>` runs (`run_training`:
before/after held-out report, training with a greedy held-out eval every --eval-every steps). Every variant gets the
same grid-wide overrides: --steps, --eval-every, task.eval_size, and algorithm.update_epochs (default 2: the
policy-loss variants differ from GRPO's only when the ratio departs from 1, i.e. off-policy; with one epoch
GSPO, SAPO and CISPO give GRPO's gradient). A finished run (its result.json exists) is not run again, so an
interrupted grid continues where it stopped. Prints, per variant (mean over seeds, each seed in brackets):
held-out greedy accuracy after training, sampled pass@1 (the report's), steps to 90 % of the final greedy
accuracy (the first periodic eval at or above 0.9 x the last one), wall time per run.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VARIANTS = {
    "grpo": "arithmetic_tiny.yaml",
    "dr_grpo": "arithmetic_tiny_drgrpo.yaml",
    "dapo": "arithmetic_tiny_dapo.yaml",
    "gspo": "arithmetic_tiny_gspo.yaml",
    "cispo": "arithmetic_tiny_cispo.yaml",
    "sapo": "arithmetic_tiny_sapo.yaml",
}


def run_one(variant: str, out: Path, overrides: list) -> None:
    """In this process: `zero-rl train --config <the variant's recipe> <overrides>`, then result.json."""
    from zero_rl.commands.train import run_training
    from zero_rl.config import load_config

    config = load_config(str(ROOT / "launch" / "recipes" / VARIANTS[variant]),
                         [f"run.output_dir={out}", "run.progress=false", *overrides])
    started = time.time()
    result = run_training(config, overwrite=True)
    (out / "result.json").write_text(json.dumps({
        "variant": variant, "wall_s": time.time() - started, "overrides": overrides,
        "after": result["report_after"], "before": result["report_before"]}, indent=2))


def steps_to_fraction(evals: list, fraction: float = 0.9):
    """First eval step whose greedy accuracy reaches `fraction` x the last eval's (None without evals)."""
    evals = sorted(evals, key=lambda e: e["step"])
    if not evals:
        return None
    final = evals[-1]["accuracy"]
    return next(e["step"] for e in evals if e["accuracy"] >= fraction * final)


def summary(out: Path) -> dict:
    result = json.loads((out / "result.json").read_text())
    evals = [json.loads(line) for line in (out / "eval.jsonl").read_text().splitlines()]
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    row = {"greedy": result["after"]["greedy"]["accuracy"], "pass@1": result["after"]["sampled"]["pass@1"],
           "steps to 90%": steps_to_fraction(evals), "wall s": result["wall_s"],
           "before": result["before"]["greedy"]["accuracy"]}
    rounds = [m["dynamic_sampling/rounds"] for m in metrics if "dynamic_sampling/rounds" in m]
    if rounds:
        row["rounds/step"] = sum(rounds) / len(rounds)
    return row


def _cell(values: list, fmt: str) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    mean = sum(values) / len(values)
    return f"{mean:{fmt}} ({', '.join(f'{v:{fmt}}' for v in values)})"


def table(out: Path, variants: list, seeds: list) -> str:
    lines = ["| variant | held-out greedy | sampled pass@1 | steps to 90 % of final | wall s / run | notes |",
             "|---|---|---|---|---|---|"]
    for variant in variants:
        rows = [summary(out / f"{variant}-seed{seed}") for seed in seeds
                if (out / f"{variant}-seed{seed}" / "result.json").exists()]
        if not rows:
            continue
        notes = f"{len(rows)} seed(s); before RL {_cell([r['before'] for r in rows], '.3f')}"
        if any("rounds/step" in r for r in rows):
            notes += f"; generation rounds/step {_cell([r.get('rounds/step') for r in rows], '.2f')}"
        lines.append(f"| {variant} | {_cell([r['greedy'] for r in rows], '.3f')} | "
                     f"{_cell([r['pass@1'] for r in rows], '.3f')} | {_cell([r['steps to 90%'] for r in rows], '.0f')} "
                     f"| {_cell([r['wall s'] for r in rows], '.0f')} | {notes} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/algorithms")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--eval-every", type=int, default=2)
    parser.add_argument("--eval-size", type=int, default=100)
    parser.add_argument("--update-epochs", type=int, default=2)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--table-only", action="store_true", help="print the table of the finished runs")
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    out = Path(args.out)
    if args.one:
        variant, seed = args.one
        run_one(variant, out / f"{variant}-seed{seed}", args.overrides)
        return
    if not args.table_only:
        from zero_rl.embedded import embedded_base_model

        embedded_base_model(progress=False)  # build (once) outside the timed runs
        grid = [f"run.steps={args.steps}", f"run.eval_every={args.eval_every}", f"task.eval_size={args.eval_size}",
                f"algorithm.update_epochs={args.update_epochs}"]
        for seed in args.seeds:
            for variant in args.variants:
                run_dir = out / f"{variant}-seed{seed}"
                if (run_dir / "result.json").exists():
                    continue
                print(f"== {variant} seed {seed} ({time.strftime('%H:%M:%S')})", flush=True)
                subprocess.run([sys.executable, __file__, "--out", str(out), "--one", variant, str(seed),
                                *grid, f"run.seed={seed}", *args.overrides], check=True,
                               stdout=(out.mkdir(parents=True, exist_ok=True) or open(out / f"{variant}-seed{seed}.log", "w")),
                               stderr=subprocess.STDOUT)
                print(table(out, args.variants, args.seeds), flush=True)
    print(f"\n{args.steps} steps x 32 prompts x 8 completions, update_epochs {args.update_epochs}, held-out eval "
          f"every {args.eval_every} steps on {args.eval_size} problems; CPU {os.cpu_count()} cores, shared\n")
    print(table(out, args.variants, args.seeds))


if __name__ == "__main__":
    main()
