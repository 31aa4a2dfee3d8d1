"""GRPO and PPO side by side: the `zero-rl train` quickstart (embedded base model, arithmetic task) run once with
algorithm.name=grpo and once with algorithm.name=ppo, same seed, batch and steps, everything else default.

    OMP_NUM_THREADS=1 python bench/ppo_vs_grpo.py [--out runs/ppo_vs_grpo] [--parallel] [override ...]

Each algorithm runs in a fresh process (so its peak RSS is its own), one after the other (GRPO first), or with
--parallel both at once, so that on a shared machine whose load changes both see the same load (each then takes
longer than alone; the ratio is what compares; on a machine with fewer than 2 free cores they slow each other). Each
process runs what `zero-rl train` runs (`run_training`: before/after held-out report, training, checkpoint);
the embedded base model must already be built (the first `zero-rl train` builds and caches it), so that its
build is in neither time. Prints held-out greedy strict accuracy, greedy format rate, sampled pass@1, wall time,
peak RSS, the PPO/GRPO ratios, and PPO's critic explained variance (max over steps and mean of the last 10).
Extra arguments are config overrides applied to both runs, e.g. run.steps=30.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def run_one(algorithm: str, out: Path, overrides: list) -> None:
    """In this process: `zero-rl train algorithm.name=<algorithm>` and a result.json with time and peak RSS."""
    from zero_rl.config import build_config
    from zero_rl.commands.train import run_training

    config = build_config({}, [f"algorithm.name={algorithm}", f"run.output_dir={out}", "run.progress=false",
                               *overrides])
    started = time.time()
    result = run_training(config)
    wall = time.time() - started
    (out / "result.json").write_text(json.dumps({
        "algorithm": algorithm, "wall_s": wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "after": result["report_after"], "before": result["report_before"]}, indent=2))


def summary(out: Path) -> dict:
    result = json.loads((out / "result.json").read_text())
    after = result["after"]
    row = {"greedy strict": after["greedy"]["accuracy"], "greedy format": after["greedy"].get("format"),
           "sampled pass@1": after["sampled"]["pass@1"], "wall s": result["wall_s"],
           "peak RSS MB": result["peak_rss_mb"]}
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    row["s/step"] = sum(m["time/step"] for m in metrics) / len(metrics)
    row["generate s/step"] = sum(m["time/generate"] for m in metrics) / len(metrics)  # the same work in both: load
    variance = [m["critic/explained_variance"] for m in metrics if m.get("critic/explained_variance") is not None]
    if variance:
        row["critic EV max"] = max(variance)
        row["critic EV last 10"] = sum(variance[-10:]) / len(variance[-10:])
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/ppo_vs_grpo")
    parser.add_argument("--one", choices=["grpo", "ppo"], help=argparse.SUPPRESS)
    parser.add_argument("--parallel", action="store_true", help="run GRPO and PPO at the same time")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    out = Path(args.out)
    if args.one:
        run_one(args.one, out / args.one, args.overrides)
        return
    from zero_rl.embedded import embedded_base_model

    embedded_base_model(progress=False)  # build (once) outside the timed runs
    commands = [[sys.executable, __file__, "--out", str(out), "--one", algorithm, *args.overrides]
                for algorithm in ("grpo", "ppo")]
    if args.parallel:
        processes = [subprocess.Popen(command) for command in commands]
        if any(p.wait() for p in processes):
            raise SystemExit("a run failed")
    else:
        for command in commands:
            subprocess.run(command, check=True)
    rows = {algorithm: summary(out / algorithm) for algorithm in ("grpo", "ppo")}
    from zero_rl.precision import cpu_description

    mode = "at the same time" if args.parallel else "one after the other"
    print(f"\nGRPO vs PPO, {mode}, `zero-rl train` defaults {' '.join(args.overrides)} (CPU {cpu_description()}, "
          f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, load average {os.getloadavg()[0]:.1f} at the end)")
    print(f"  {'':22s} {'GRPO':>10s} {'PPO':>10s} {'PPO/GRPO':>10s}")
    keys = list(rows["grpo"]) + [k for k in rows["ppo"] if k not in rows["grpo"]]
    for key in keys:
        grpo, ppo = rows["grpo"].get(key), rows["ppo"].get(key)
        percent = key.startswith(("greedy", "sampled"))

        def cell(value):
            if value is None:
                return f"{'-':>10s}"
            return f"{100 * value:9.1f}%" if percent else f"{value:10.3f}" if abs(value) < 10 else f"{value:10.0f}"

        ratio = f"{ppo / grpo:10.2f}" if grpo and ppo is not None and not percent else f"{'':>10s}"
        print(f"  {key:22s} {cell(grpo)} {cell(ppo)} {ratio}")
    (out / "summary.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
