"""Reward scoring throughput: the RewardPool against plain serial math-verify calls, in the same run.

    OMP_NUM_THREADS=1 PYTHONPATH=. python bench/bench_scoring.py [--completions 8192] [--batch 256] [--group-size 8]

The defaults are 32 GRPO steps of 32 prompts x 8 completions per phase (the setting of bench/vs_trl.py).

Completions are built from real MATH problems (../shared/data/math_prm800k, leaving out the problems whose answers
the workers warm up on), each problem used once in the run, as in a training epoch: the gold boxed, in `$...$`, bare, a wrong (altered) answer, no tags, and a long chain of
thought before the answer, so the mix is what a MATH step scores; `--group-size G` puts G completions of each
problem side by side, as a GRPO batch does. Prints both times, the ratio, and the agreement of the two (every
difference, error or timeout is listed: an unexplained failure is a bug).

Two pool figures, each against serial scoring of the same completions:
- per call: `pool.score(batch)` one batch at a time, interleaved with the serial scoring of the same batch (a
  training step that waits for its rewards). A batch takes at least as long as its slowest completion, so with
  heavy-tailed costs (a few wrong symbolic answers take 100x the median) one worker often idles at the end.
- queued: every batch `submit`ted ahead and `collect`ed in order, as `zero-rl eval` does while it generates
  the next chunk: the workers never wait at a batch boundary.
Each comes with its bound: the serial seconds of each completion scheduled on the workers one at a time, with no
overhead at all (in the pool's order, and longest first), so a figure under its bound is the work's own shape, not
the pool's. Then the workers' share of the time spent inside rewards and their seconds against serial ones (two
processes on two cores share caches and memory, and the serial process has seen every earlier completion where
each worker saw about half, so its parser caches are a little warmer: a few percent slower each). A round is about
half a second of work per worker, so one full garbage collection in the serial process (50-80 ms) or a burst of
noise from the VM moves a single round by 10 % either way, so there are 5 rounds. The queued figure is the
throughput of all of them (their serial seconds over their pool seconds), as a run sees it: serial scoring runs a full
garbage collection of its process's heap about every 16,000-20,000 MATH completions (60-75 ms here, more in a
trainer's larger heap), in the middle of a batch, while the pool's workers run theirs when idle. The bench counts and
times every full collection inside a timed phase (gc.callbacks) and prints, beside the throughput, the median round
and the ratio with serial's collections taken out: the pool's parallel speed-up alone.
Both sides are warmed first (`math_answer.warm_up()`: the pool's workers run it at start, the serial side
before its clock starts), so neither pays sympy's first-use costs inside the timed region.
"""

import argparse
import gc
import itertools
import json
import os
import random
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from zero_rl.rewards.math_answer import _altered, math_accuracy, warm_up, warm_up_answers  # noqa: E402
from zero_rl.data import shared_data_dir  # noqa: E402
import zero_rl.scoring  # noqa: E402
from zero_rl.scoring import score_inline  # noqa: E402

FILLER = ("Let me think about this step by step. First we set up the equation and simplify both sides; "
          "then we check the edge cases. ")


def completions_for(rows, count: int, seed: int, group_size: int = 1) -> tuple:
    """`count` completions: the next problems of `rows` (an iterator: each phase of the run gets problems no
    side has seen, as a training epoch does), `group_size` completions each (side by side, as a GRPO batch
    holds a prompt's group), each completion of a form drawn at random."""
    rng = random.Random(seed)
    forms = [
        lambda g: f"<think>{FILLER}</think> <answer>\\boxed{{{g}}}</answer>",
        lambda g: f"<think>{FILLER}</think> <answer>${g}$</answer>",
        lambda g: f"<think>{FILLER}</think> <answer>{g}</answer>",
        lambda g: f"<think>{FILLER}</think> <answer>\\boxed{{{_altered(g)}}}</answer>",
        lambda g: f"{FILLER} so the answer is \\boxed{{{g}}}",                       # no tags: 0 without fall-back
        lambda g: f"<think>{FILLER * 20}</think> <answer>The answer is \\boxed{{{g}}}.</answer>",
    ]
    examples, completions = [], []
    while len(completions) < count:
        row = next(rows)
        for _ in range(min(group_size, count - len(completions))):
            examples.append({"id": row["unique_id"], "answer": row["answer"]})
            completions.append(rng.choice(forms)(row["answer"]))
    return completions, examples


class FullCollections:
    """Full (generation 2) garbage collections of this process, counted and timed while `on` is set."""

    def __init__(self):
        self.on, self.count, self.seconds, self._started = False, 0, 0.0, None
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        if info["generation"] != 2 or not self.on:
            return
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            self.count += 1
            self.seconds += time.perf_counter() - self._started
            self._started = None

    def measure(self, fn):
        """fn()'s result, with (count, seconds) of the full collections during it."""
        count, seconds = self.count, self.seconds
        self.on = True
        try:
            result = fn()
        finally:
            self.on = False
        return result, (self.count - count, self.seconds - seconds)


def paused_text(paused: tuple, side: str) -> str:
    count, seconds = paused
    return f"{side} paused for {count} full garbage collection{'s' if count != 1 else ''} ({seconds:.2f} s)"


def makespan(costs: list, order: list, workers: int) -> float:
    """The time `workers` workers take for items of these costs handed out one at a time in `order` to whichever
    worker is free first: the pool's own schedule at its finest grain, with no overhead at all."""
    loads = [0.0] * workers
    for index in order:
        loads[loads.index(min(loads))] += costs[index]
    return max(loads)


def bounds(costs: list, batch: int, workers: int) -> tuple:
    """Upper bounds on the speed-up of `workers` processes over serial for these per-item costs, batch by batch:
    in the pool's queue order (batch order), and in the best order known (longest first)."""
    serial = in_order = longest = 0.0
    for begin in range(0, len(costs), batch):
        part = costs[begin:begin + batch]
        serial += sum(part)
        in_order += makespan(part, range(len(part)), workers)
        longest += makespan(part, sorted(range(len(part)), key=lambda i: -part[i]), workers)
    return serial / in_order, serial / longest


def timed_serial(rewards: dict, completions: list, examples: list, costs: list):
    """score_inline on the whole batch (as a training step calls it), each reward call's seconds recorded in
    `costs` by a thin wrapper (two clock reads)."""
    def timed(fn):
        def call(completion, example):
            started = time.perf_counter()
            try:
                return fn(completion, example)
            finally:
                costs.append(time.perf_counter() - started)
        return call

    return score_inline({name: (timed(fn), weight) for name, (fn, weight) in rewards.items()}, completions, examples)


def _side_scorer(completions, examples, barrier, out) -> None:
    """One serial scorer in its own process: warm up, wait for the others, score, report the seconds."""
    warm_up()
    rewards = {"accuracy": (math_accuracy, 1.0)}
    score_inline(rewards, completions[: len(completions) // 4], examples[: len(completions) // 4])  # caches
    barrier.wait()
    started = time.perf_counter()
    score_inline(rewards, completions, examples)
    out.put(time.perf_counter() - started)


def two_process_ceiling(completions: list, examples: list, workers: int) -> tuple:
    """The speed-up `workers` serial scorers side by side get over one alone on this machine, each scoring the same
    completions in its own process: what the cores deliver together for this work (shared caches and memory, and
    on a VM whatever the host does), the ceiling for any pool. Returns (ceiling, seconds alone, seconds side by
    side: the slowest)."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    times = {}
    for count in (1, workers):
        barrier, out = context.Barrier(count), context.Queue()
        processes = [context.Process(target=_side_scorer, args=(completions, examples, barrier, out))
                     for _ in range(count)]
        for process in processes:
            process.start()
        times[count] = max(out.get(timeout=600) for _ in processes)
        for process in processes:
            process.join()
    return workers * times[1] / times[workers], times[1], times[workers]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--completions", type=int, default=8192, help="per phase (per call, and each queued round)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout-s", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=256, help="completions per pool.score call (a training step)")
    parser.add_argument("--group-size", type=int, default=8, help="completions per problem, side by side (GRPO's G)")
    parser.add_argument("--rounds", type=int, default=5, help="queued rounds, alternating pool and serial")
    parser.add_argument("--ceiling", type=int, default=4000,
                        help="completions each side-by-side serial scorer checks for the machine's ceiling (0: skip)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    path = shared_data_dir() / "math_prm800k" / "train.jsonl"
    warmed = set(warm_up_answers())  # the workers' warm-up shapes: their problems stay out of the measurement
    rows = [r for r in map(json.loads, path.read_text().splitlines())
            if r["answer"].strip() and r["answer"].strip() not in warmed]
    random.Random(args.seed).shuffle(rows)
    needed = (args.completions * (1 + args.rounds) + args.ceiling) // args.group_size
    if needed > len(rows):
        print(f"note: {needed} problems needed, {len(rows)} available: later phases see some problems again")
    rows = itertools.cycle(rows)
    completions, examples = completions_for(rows, args.completions, args.seed, args.group_size)
    rewards = {"accuracy": (math_accuracy, 1.0)}

    started = time.monotonic()
    pool = zero_rl.scoring.RewardPool(workers=args.workers, timeout_s=args.timeout_s)
    pool.wait_ready()
    startup_s = time.monotonic() - started
    started = time.monotonic()
    warm_up()  # the serial side's warm-up (the workers ran theirs inside start-up)
    serial_warm_s = time.monotonic() - started

    collections = FullCollections()
    # interleaved batch by batch, so both see the same load on a shared machine
    pool_s = serial_s = parent_cpu_s = serial_cpu_s = 0.0
    per_call_paused = [[0, 0.0], [0, 0.0]]  # full collections (count, seconds): the pool's parent, serial
    busy_before = pool.busy_s
    costs = []  # the serial side's seconds per completion
    pooled, serial, errors, timeouts, serial_errors, serial_timeouts = [], [], {}, {}, {}, {}
    for begin in range(0, len(completions), args.batch):
        batch = slice(begin, begin + args.batch)
        started, cpu = time.monotonic(), time.process_time()
        scores, paused = collections.measure(lambda: pool.score(rewards, completions[batch], examples[batch]))
        pool_s += time.monotonic() - started
        parent_cpu_s += time.process_time() - cpu
        per_call_paused[0] = [a + b for a, b in zip(per_call_paused[0], paused)]
        started, cpu = time.monotonic(), time.process_time()
        inline, paused = collections.measure(lambda: timed_serial(rewards, completions[batch], examples[batch], costs))
        per_call_paused[1] = [a + b for a, b in zip(per_call_paused[1], paused)]
        serial_s += time.monotonic() - started
        serial_cpu_s += time.process_time() - cpu
        pooled += scores.components["accuracy"]
        serial += inline.components["accuracy"]
        for total, part in ((errors, scores.errors), (timeouts, scores.timeouts), (serial_errors, inline.errors),
                            (serial_timeouts, inline.timeouts)):
            for name, count in part.items():
                total[name] = total.get(name, 0) + count
    per_call_busy_s = pool.busy_s - busy_before
    # queued, in rounds: fresh completions each round (no side has seen them: caches stay fair), every batch
    # submitted ahead and collected in order, then the same batches serially; rounds alternate the two, so a
    # burst of load from elsewhere falls on one round; the figure is all rounds' throughput
    rounds, queued_differences = [], []
    for round_index in range(args.rounds):
        fresh, fresh_examples = completions_for(rows, args.completions, args.seed + 1 + round_index, args.group_size)
        batches = [slice(begin, begin + args.batch) for begin in range(0, len(fresh), args.batch)]
        busy_before = pool.busy_s
        started = time.monotonic()
        queued, pool_paused = collections.measure(lambda: [
            value for ticket in [pool.submit(rewards, fresh[b], fresh_examples[b]) for b in batches]
            for value in pool.collect(ticket).components["accuracy"]])
        queued_s = time.monotonic() - started
        queued_busy_s = pool.busy_s - busy_before
        started = time.monotonic()
        fresh_costs = []
        queued_serial, serial_paused = collections.measure(
            lambda: [value for b in batches for value in
                     timed_serial(rewards, fresh[b], fresh_examples[b], fresh_costs).components["accuracy"]])
        serial_alone_s = time.monotonic() - started
        queued_differences += [i for i, (a, b) in enumerate(zip(queued, queued_serial)) if a != b]
        rounds.append({"ratio": serial_alone_s / queued_s, "pool_s": queued_s, "serial_s": serial_alone_s,
                       "bound": bounds(fresh_costs, len(fresh_costs), args.workers)[0],
                       "busy": queued_busy_s / (args.workers * queued_s), "inflation": queued_busy_s / sum(fresh_costs),
                       "pool_paused": pool_paused, "serial_paused": serial_paused})
    stolen, sent_ahead = pool.stolen, pool.sent_ahead
    pool.close()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    if args.ceiling:
        side, side_examples = completions_for(rows, args.ceiling, args.seed + 100, args.group_size)
        ceiling = two_process_ceiling(side, side_examples, args.workers)
    workers_cpu_s = children.ru_utime + children.ru_stime  # the workers' whole lives, start-up imports included

    differences = [i for i, (a, b) in enumerate(zip(pooled, serial)) if a != b]
    n = len(completions)
    ordered = sorted(costs, reverse=True)
    order_bound, longest_bound = bounds(costs, args.batch, args.workers)
    print(f"completions: {n} MATH-style, {args.group_size} per problem, {args.workers} workers, batches of "
          f"{args.batch}, timeout {args.timeout_s:g} s")
    print(f"pool start-up (spawn + import + warm-up, once per run): {startup_s:.2f} s; serial warm-up {serial_warm_s:.2f} s")
    print(f"serial math_accuracy (inline, main thread): {serial_s:.2f} s  ({1000 * serial_s / n:.2f} ms/completion; "
          f"median {1000 * ordered[n // 2]:.3f} ms, slowest 1% {100 * sum(ordered[:max(1, n // 100)]) / sum(costs):.0f}% "
          f"of the time, slowest {1000 * ordered[0]:.0f} ms)")
    print(f"RewardPool ({args.workers} workers), per call:       {pool_s:.2f} s  ({1000 * pool_s / n:.2f} ms/completion)")
    print(f"speed-up per call: {serial_s / pool_s:.2f}x serial  (bound from the serial per-completion times: "
          f"{order_bound:.2f}x in the pool's order, {longest_bound:.2f}x longest first)")
    print(f"  the workers were inside rewards {100 * per_call_busy_s / (args.workers * pool_s):.0f}% of the time, and "
          f"took {per_call_busy_s / sum(costs):.2f}x the serial seconds for the same completions; "
          f"{paused_text(per_call_paused[1], 'serial')}, {paused_text(per_call_paused[0], 'the pool')}")
    for index, r in enumerate(rounds):
        print(f"RewardPool, batches queued ahead, round {index + 1}: {r['pool_s']:.2f} s against serial "
              f"{r['serial_s']:.2f} s = {r['ratio']:.2f}x (bound {r['bound']:.2f}x); workers inside rewards "
              f"{100 * r['busy']:.0f}% of the time, at {r['inflation']:.2f}x the serial seconds; "
              f"{paused_text(r['serial_paused'], 'serial')}, {paused_text(r['pool_paused'], 'the pool')}")
    print(f"  over the run: {stolen} units taken back for an idle worker, {sent_ahead} chunks sent ahead to a busy one")
    median = statistics.median(r["ratio"] for r in rounds)
    total_serial_s, total_pool_s = sum(r["serial_s"] for r in rounds), sum(r["pool_s"] for r in rounds)
    serial_paused = [sum(r["serial_paused"][k] for r in rounds) for k in (0, 1)]
    pool_paused = [sum(r["pool_paused"][k] for r in rounds) for k in (0, 1)]
    print(f"speed-up queued: {total_serial_s / total_pool_s:.2f}x serial over all {len(rounds)} rounds "
          f"({len(rounds) * args.completions} fresh completions: serial {total_serial_s:.2f} s, pool "
          f"{total_pool_s:.2f} s); median round {median:.2f}x")
    print(f"  in those rounds {paused_text(serial_paused, 'serial')} and {paused_text(pool_paused, 'the pool')} "
          f"(its workers run theirs when idle); with serial's taken out: "
          f"{(total_serial_s - serial_paused[1]) / total_pool_s:.2f}x, the parallel speed-up alone")
    if args.ceiling:
        print(f"this machine's ceiling: {args.workers} serial scorers side by side, each in its own process on the "
              f"same {args.ceiling} completions, took {ceiling[2]:.2f} s against {ceiling[1]:.2f} s for one alone: "
              f"{ceiling[0]:.2f}x (no pool's parallel speed-up can beat it)")
    print(f"CPU: serial {serial_cpu_s:.2f} s; pool workers {workers_cpu_s:.2f} s (incl. start-up) + parent "
          f"{parent_cpu_s:.2f} s; load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
          "(a wall-clock ratio needs free cores)")
    print(f"accuracy: pool {sum(pooled) / n:.3f}, serial {sum(serial) / n:.3f}; pool errors {errors}, "
          f"timeouts {timeouts}; serial errors {serial_errors}, timeouts {serial_timeouts}")
    print(f"completions scored differently by pool and serial: {len(differences)} per call, "
          f"{len(queued_differences)} queued")
    for i in differences[:10]:
        print(f"  #{i}: pool {pooled[i]}, serial {serial[i]}, gold {examples[i]['answer']!r}")
    return 0 if not (differences or queued_differences or errors or timeouts or serial_errors or serial_timeouts) else 1


if __name__ == "__main__":
    sys.exit(main())
