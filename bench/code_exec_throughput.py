"""Throughput of the code sandbox on MBPP reference solutions, against two peers measured in the same run: the
sandbox as it was before the verdict moved out of the child (loaded from git, `--baseline-commit`), and the same
programs run as a plain `python -c` subprocess (no limits, no harness, no namespace), with the same parallelism.

    PYTHONPATH=. python bench/code_exec_throughput.py --workers 1 4 8 [--limit 200]

Prints programs/s and the CPU time of the child processes per program for each worker count, and the ratios
new/before of throughput and CPU (CPU time is the steadier figure on a shared machine). A GRPO
step that scores 256 completions with W workers takes about 256 / (programs/s) seconds when nothing times out;
each timeout adds at most timeout_s to one worker's queue.
"""

import argparse
import importlib.util
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from zero_rl.rewards.code_exec import SandboxLimits, assemble_program, run_many
from zero_rl.tasks import mbpp

BASELINE_COMMIT = "8b67a30"
"""The last commit with the verdict inside the child (nonce report, audit hooks)."""


def load_baseline(commit: str):
    """rewards/code_exec.py and sandbox_harness.py as of `commit`, imported as a separate module."""
    root = Path(__file__).resolve().parent.parent
    folder = Path(tempfile.mkdtemp(prefix="zero_rl_bench_"))
    for name in ("code_exec.py", "sandbox_harness.py"):
        text = subprocess.run(["git", "show", f"{commit}:rewards/{name}"], cwd=root, capture_output=True, text=True,
                              check=True).stdout
        (folder / name).write_text(text)
    spec = importlib.util.spec_from_file_location("code_exec_before", folder / "code_exec.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # reads its harness's text at import: the files are not needed after
    shutil.rmtree(folder)
    return module


def plain_run(job) -> bool:
    program, tests, setup = job[:3]
    source = "\n".join([program, setup, *tests])
    # No timeout and no pipes: Popen.wait(timeout) polls with growing sleeps, which would handicap the peer.
    done = subprocess.run([sys.executable, "-I", "-S", "-c", source], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    return done.returncode == 0


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(function):
    """(value, wall seconds, CPU seconds of the child processes it waited for)."""
    started, cpu = time.monotonic(), children_cpu()
    value = function()
    return value, time.monotonic() - started, children_cpu() - cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--limit", type=int, default=0, help="first N problems only (0: all 974)")
    parser.add_argument("--baseline-commit", default=BASELINE_COMMIT)
    parser.add_argument("--chunk", type=int, default=50, help="jobs per interleaved chunk (at least 8 x workers)")
    args = parser.parse_args()
    examples = mbpp.load_split("prompt+test+validation+train")
    examples = examples[: args.limit] if args.limit else examples
    jobs = [(assemble_program(e["answer"], e), e["tests"], e["setup"], assemble_program(e["answer"], e))
            for e in examples]
    limits = SandboxLimits(timeout_s=30.0)
    before = load_baseline(args.baseline_commit)
    before_limits = before.SandboxLimits(timeout_s=30.0)
    print(f"{len(jobs)} MBPP reference solutions; before = {args.baseline_commit}; the three are interleaved in "
          f"chunks so that load from other processes falls on all of them alike")
    for workers in args.workers:
        size = max(args.chunk, 8 * workers)
        totals = {"new": [0.0, 0.0, 0], "before": [0.0, 0.0, 0], "plain": [0.0, 0.0, 0]}  # wall, cpu, passed

        def add(name, result):
            count, seconds, cpu = result
            totals[name][0] += seconds
            totals[name][1] += cpu
            totals[name][2] += count

        for start in range(0, len(jobs), size):
            chunk = jobs[start:start + size]
            add("new", timed(lambda: sum(r.status == "passed" for r in run_many(chunk, limits, workers=workers))))
            add("before", timed(lambda: sum(r.status == "passed" for r in before.run_many(
                [job[:3] for job in chunk], before_limits, workers=workers))))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                add("plain", timed(lambda: sum(pool.map(plain_run, chunk))))
        (new_s, new_cpu, passed), (old_s, old_cpu, old_passed), (plain_s, plain_cpu, plain_passed) = totals.values()
        per = 1000 / len(jobs)
        print(f"workers={workers:2d}  "
              f"new {len(jobs) / new_s:6.1f}/s ({passed} passed, {new_cpu * per:4.1f} ms CPU each)  "
              f"before {len(jobs) / old_s:6.1f}/s ({old_passed} passed, {old_cpu * per:4.1f} ms CPU each)  "
              f"plain {len(jobs) / plain_s:6.1f}/s ({plain_passed} passed, {plain_cpu * per:4.1f} ms CPU each)  "
              f"new/before throughput {old_s / new_s:4.2f}x, CPU {new_cpu / old_cpu:4.2f}x")

if __name__ == "__main__":
    main()
