"""Process reward vs outcome reward on the quickstart: GRPO on the embedded base model and the arithmetic task,
once with the outcome rewards only (accuracy + format) and once with the arithmetic step reward added
(task.options.step_weight, zero_rl/rewards/arithmetic_steps.py), for each seed; held-out greedy accuracy every
`--eval-every` steps (`--variants online_dpo`: the same with online DPO instead of GRPO). Prints, per run, the first step at which held-out greedy accuracy reached `--target`
(steps to 90 %), and the final accuracy.

    OMP_NUM_THREADS=1 python bench/process_vs_outcome.py [--out runs/process_vs_outcome] [--seeds 0 1]
        [--parallel 2] [override ...]

Each run is a fresh process (`--one`); `--parallel N` runs N at a time (on a shared machine, runs that share
the load compare more fairly; the step counts do not depend on speed).
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

VARIANTS = {"outcome": [], "process": ["task.options.step_weight=0.5"],
            "online_dpo": ["algorithm.name=online_dpo"], "online_dpo_pairs2": ["algorithm.name=online_dpo",
                                                                               "algorithm.dpo_pairs_per_group=2"]}
"""What each run adds to the quickstart's config; --variants picks (default: outcome and process)."""


def run_one(variant: str, seed: int, out: Path, eval_every: int, overrides: list) -> None:
    from zero_rl.config import build_config
    from zero_rl.trainer import train

    config = build_config({}, [f"run.seed={seed}", f"run.output_dir={out}", "run.progress=false",
                               f"run.eval_every={eval_every}", *VARIANTS[variant], *overrides])
    started = time.time()
    train(config, log=lambda line: None)
    (out / "wall_s").write_text(f"{time.time() - started:.1f}")


def summary(out: Path, target: float) -> dict:
    evals = [json.loads(line) for line in (out / "eval.jsonl").read_text().splitlines()]
    reached = next((e["step"] for e in evals if e["accuracy"] >= target), None)
    return {"steps_to_target": reached, "final": evals[-1]["accuracy"],
            "curve": [(e["step"], round(e["accuracy"], 3)) for e in evals],
            "wall_s": float((out / "wall_s").read_text()) if (out / "wall_s").exists() else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/process_vs_outcome")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--target", type=float, default=0.9)
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--variants", nargs="+", default=["outcome", "process"], choices=list(VARIANTS))
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--summary", action="store_true", help="only print the summary of finished runs")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    out = Path(args.out)
    if args.one:
        variant, seed = args.one
        run_one(variant, int(seed), out / f"{variant}-seed{seed}", args.eval_every, args.overrides)
        return
    jobs = [(variant, seed) for seed in args.seeds for variant in args.variants]
    if not args.summary:
        running = []
        for variant, seed in jobs:
            while len(running) >= args.parallel:
                running = [p for p in running if p.poll() is None]
                time.sleep(2)
            command = [sys.executable, __file__, "--out", str(out), "--eval-every", str(args.eval_every),
                       "--one", variant, str(seed), *args.overrides]
            running.append(subprocess.Popen(command))
        for process in running:
            process.wait()
    print(f"steps to held-out greedy accuracy >= {args.target:.0%} (eval every {args.eval_every} steps)")
    for variant, seed in jobs:
        directory = out / f"{variant}-seed{seed}"
        if (directory / "eval.jsonl").exists():
            print(f"  {variant:8s} seed {seed}: {json.dumps(summary(directory, args.target))}")


if __name__ == "__main__":
    main()
