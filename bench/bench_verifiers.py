"""Answer checkers against the public answer corpus (tests/data/answer_corpus.jsonl): wrong counts of
zero-rl's checkers and of plain math-verify (0.9, default settings: `verify(parse(gold), parse(answer))`), split
into false negatives (a correct answer scored 0) and false positives (a wrong answer scored 1), and the checker's
throughput on the corpus.

    PYTHONPATH=. OMP_NUM_THREADS=1 python bench/bench_verifiers.py [--repeat 3] [--show 20]

Each corpus row is scored as the completion `<think> ... </think> <answer>{answer}</answer>` against
{"answer": gold}: math rows with zero_rl.rewards.math_answer.math_accuracy, numeric rows with
zero_rl.rewards.numeric.numeric_accuracy. An exception counts as a crash (and as wrong). Everything runs on this
process's main thread (math-verify's timeouts need it); the numbers are CPU-bound and single-threaded.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from zero_rl.rewards.math_answer import math_accuracy  # noqa: E402
from zero_rl.rewards.numeric import numeric_accuracy  # noqa: E402

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "answer_corpus.jsonl"
CHECKERS = {"math": math_accuracy, "numeric": numeric_accuracy}


def load_corpus(path: Path = CORPUS) -> list:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def completion_for(answer: str) -> str:
    return f"<think> work </think> <answer>{answer}</answer>"


def ours(row: dict) -> float:
    return CHECKERS[row["checker"]](completion_for(row["pred"]), {"answer": row["gold"]})


def plain_math_verify(row: dict) -> float:
    from math_verify import parse, verify

    return float(verify(parse(row["gold"]), parse(row["pred"])))


def clear_caches() -> None:
    """Cold caches, so every timed pass parses every gold again (a training step sees each gold a few times)."""
    from zero_rl.rewards import answer_compare, answer_symbolic, math_answer

    for cached in (answer_compare.normalise, answer_symbolic.parse_gold_symbolic, math_answer.parse_gold):
        cached.cache_clear()


def score(checker, rows: list) -> dict:
    """{"fn": [...], "fp": [...], "crash": [...]} of row indices, and the seconds it took."""
    clear_caches()
    result = {"fn": [], "fp": [], "crash": []}
    started = time.perf_counter()
    for index, row in enumerate(rows):
        try:
            value = checker(row)
        except BaseException as error:  # noqa: BLE001 - a crash is a result here, counted and shown
            result["crash"].append((index, f"{type(error).__name__}: {error}"[:120]))
            continue
        if value != row["label"]:
            result["fn" if row["label"] == 1 else "fp"].append(index)
    result["seconds"] = time.perf_counter() - started
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--repeat", type=int, default=3, help="timed passes of our checker (best is reported)")
    parser.add_argument("--show", type=int, default=10, help="wrong rows to print per checker")
    args = parser.parse_args()

    rows = load_corpus(args.corpus)
    print(f"corpus: {len(rows)} rows ({sum(r['label'] for r in rows)} correct answers, "
          f"{sum(1 - r['label'] for r in rows)} wrong ones) from {args.corpus.name}")
    plain_math_verify(rows[0]), ours(rows[0])  # imports (sympy, math-verify, the grammar) before any clock
    peer_result = score(plain_math_verify, rows)
    ours_result = min((score(ours, rows) for _ in range(max(1, args.repeat))), key=lambda r: r["seconds"])
    print(f"{'checker':<34}{'rows':>6}{'wrong':>7}{'FN':>6}{'FP':>6}{'crash':>7}")
    for checker_name in ("math", "numeric"):
        subset = {i for i, r in enumerate(rows) if r["checker"] == checker_name}
        for name, result in (("zero-rl " + checker_name, ours_result), ("plain math-verify 0.9", peer_result)):
            fn = [i for i in result["fn"] if i in subset]
            fp = [i for i in result["fp"] if i in subset]
            crash = [i for i, _ in result["crash"] if i in subset]
            print(f"{name + ' (' + checker_name + ' rows)':<34}{len(subset):>6}{len(fn) + len(fp) + len(crash):>7}"
                  f"{len(fn):>6}{len(fp):>6}{len(crash):>7}")
    rounding = [i for i, r in enumerate(rows) if r["label"] == 0 and any(
        word in r["why"] for word in ("round", "ellipsis", "sequence", "6 places"))]
    print(f"rounding/truncation rows (wrong answers): {len(rounding)}; accepted by zero-rl: "
          f"{len([i for i in rounding if i in ours_result['fp']])}, by plain math-verify: "
          f"{len([i for i in rounding if i in peer_result['fp']])}")
    seconds = ours_result["seconds"]
    print(f"zero-rl throughput: {len(rows) / seconds:.0f} rows/s ({1000 * seconds / len(rows):.2f} ms/row, best of "
          f"{args.repeat} passes, caches cleared before each); plain math-verify: "
          f"{1000 * peer_result['seconds'] / len(rows):.2f} ms/row; ratio {peer_result['seconds'] / seconds:.2f}x; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for name, result in (("zero-rl", ours_result), ("plain math-verify", peer_result)):
        wrong = sorted(result["fn"] + result["fp"])
        if wrong and args.show:
            print(f"\n{name}: first {min(args.show, len(wrong))} of {len(wrong)} wrong rows")
            for index in wrong[:args.show]:
                row = rows[index]
                print(f"  #{index} label {row['label']} [{row['checker']}] gold {row['gold'][:60]!r} "
                      f"answer {row['pred'][-70:]!r}")
        for index, message in result["crash"][:args.show]:
            print(f"  #{index} crashed: {message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
