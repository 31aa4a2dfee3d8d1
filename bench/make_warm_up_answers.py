"""Write rewards/warm_up_answers.txt: the answer shapes math_answer.warm_up() runs in every scoring worker.

    PYTHONPATH=. python bench/make_warm_up_answers.py

math-verify's LaTeX parser (ANTLR) builds its prediction tables lazily, per shape of input, in each process: the
first answer of a new shape costs 10-100 ms, the next of that shape a few ms. Warming each worker on a few hundred
real answer shapes at start moves most of that cost out of the first training steps (and out of the reward time
limits). The shapes are 512 gold answers drawn (seed 0) from the original MATH *train* problems (unique_id
`train/...`; MIT, Hendrycks et al. 2021, via ../shared/data/math_prm800k), keeping only answers with a letter, a
backslash or a caret: plain numbers never reach the parser. bench/bench_scoring.py leaves these problems out.
"""

import json
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from zero_rl.data import shared_data_dir  # noqa: E402

COUNT = 512
OUT = ROOT / "rewards" / "warm_up_answers.txt"


def shapes() -> list:
    """The chosen answers, sorted (the file's lines after its header)."""
    rows = map(json.loads, (shared_data_dir() / "math_prm800k" / "train.jsonl").read_text().splitlines())
    candidates = sorted({r["answer"].strip() for r in rows if r["unique_id"].startswith("train/")
                         and re.search(r"[A-Za-z\\^]", r["answer"]) and "\n" not in r["answer"]})
    return sorted(random.Random(0).sample(candidates, COUNT))


def main() -> int:
    header = ["# Answer shapes for zero_rl.rewards.math_answer.warm_up(), one per line (made by "
              "bench/make_warm_up_answers.py):",
              f"# {COUNT} gold answers of the original MATH train problems (MIT, Hendrycks et al. 2021), seed 0."]
    OUT.write_text("\n".join(header + shapes()) + "\n")
    print(f"wrote {OUT} ({COUNT} shapes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
