"""Throughput of the code sandbox on MBPP reference solutions, against a peer measured in the same run: the same
programs run as a plain `python -c` subprocess (no limits, no harness, no namespace) with the same parallelism.

    PYTHONPATH=. python bench/code_exec_throughput.py --workers 1 4 8 [--limit 200]

Prints programs/s for each worker count, the sandbox/peer ratio, and the speed-up over one worker. A GRPO step
that scores 256 completions with W workers takes about 256 / (programs/s) seconds when nothing times out; each
timeout adds at most timeout_s to one worker's queue.
"""

import argparse
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from rewards.code_exec import SandboxLimits, assemble_program, run_many
from tasks import mbpp


def plain_run(job) -> bool:
    program, tests, setup = job
    source = "\n".join([program, setup, *tests])
    # No timeout and no pipes: Popen.wait(timeout) polls with growing sleeps, which would handicap the peer.
    done = subprocess.run([sys.executable, "-I", "-S", "-c", source], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    return done.returncode == 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--limit", type=int, default=0, help="first N problems only (0: all 974)")
    args = parser.parse_args()
    examples = mbpp.load_split("prompt+test+validation+train")
    examples = examples[: args.limit] if args.limit else examples
    jobs = [(assemble_program(e["answer"], e), e["tests"], e["setup"]) for e in examples]
    limits = SandboxLimits(timeout_s=30.0)
    print(f"{len(jobs)} MBPP reference solutions")
    baseline = None
    for workers in args.workers:
        started = time.monotonic()
        results = run_many(jobs, limits, workers=workers)
        sandbox_s = time.monotonic() - started
        passed = sum(r.status == "passed" for r in results)
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            plain_passed = sum(pool.map(plain_run, jobs))
        plain_s = time.monotonic() - started
        baseline = baseline or sandbox_s
        print(f"workers={workers:2d}  sandbox {len(jobs) / sandbox_s:6.1f}/s ({sandbox_s:5.1f} s, {passed} passed)  "
              f"plain subprocess {len(jobs) / plain_s:6.1f}/s ({plain_s:5.1f} s, {plain_passed} passed)  "
              f"sandbox/plain time {sandbox_s / plain_s:4.2f}x  speed-up vs first {baseline / sandbox_s:4.2f}x")


if __name__ == "__main__":
    main()
