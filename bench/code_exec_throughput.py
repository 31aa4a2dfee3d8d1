"""Throughput of the code sandbox on MBPP reference solutions, against two peers measured in the same run: the
sandbox as it was before the verdict moved out of the child (loaded from git, `--baseline-commit`), and the same
programs run as a plain `python -c` subprocess (no limits, no harness, no namespace), with the same parallelism.

    PYTHONPATH=. python bench/code_exec_throughput.py --workers 1 4 8 [--limit 200]

Prints programs/s for each worker count and the ratios new/before (throughput) and sandbox/plain (time). A GRPO
step that scores 256 completions with W workers takes about 256 / (programs/s) seconds when nothing times out;
each timeout adds at most timeout_s to one worker's queue.
"""

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rewards.code_exec import SandboxLimits, assemble_program, run_many
from tasks import mbpp

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
    spec.loader.exec_module(module)
    return module


def plain_run(job) -> bool:
    program, tests, setup = job[:3]
    source = "\n".join([program, setup, *tests])
    # No timeout and no pipes: Popen.wait(timeout) polls with growing sleeps, which would handicap the peer.
    done = subprocess.run([sys.executable, "-I", "-S", "-c", source], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    return done.returncode == 0


def timed(function):
    started = time.monotonic()
    value = function()
    return value, time.monotonic() - started


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
        new_s = old_s = plain_s = 0.0
        passed = old_passed = plain_passed = 0
        for start in range(0, len(jobs), size):
            chunk = jobs[start:start + size]
            results, seconds = timed(lambda: run_many(chunk, limits, workers=workers))
            new_s, passed = new_s + seconds, passed + sum(r.status == "passed" for r in results)
            results, seconds = timed(lambda: before.run_many([job[:3] for job in chunk], before_limits,
                                                             workers=workers))
            old_s, old_passed = old_s + seconds, old_passed + sum(r.status == "passed" for r in results)
            with ThreadPoolExecutor(max_workers=workers) as pool:
                count, seconds = timed(lambda: sum(pool.map(plain_run, chunk)))
            plain_s, plain_passed = plain_s + seconds, plain_passed + count
        print(f"workers={workers:2d}  new {len(jobs) / new_s:6.1f}/s ({new_s:5.1f} s, {passed} passed)  "
              f"before {len(jobs) / old_s:6.1f}/s ({old_s:5.1f} s, {old_passed} passed)  "
              f"plain {len(jobs) / plain_s:6.1f}/s ({plain_passed} passed)  "
              f"new/before throughput {old_s / new_s:4.2f}x  new/plain time {new_s / plain_s:4.2f}x")

if __name__ == "__main__":
    main()
