"""The public answer corpus (tests/data/answer_corpus.jsonl): every row scored by the checker it names.

Each row has its source (`owner/repo@commit:path#Lline` or an issue URL), its label (what is mathematically
right; `peer_label` where the peer's own table says otherwise) and why. Rows the checker still gets wrong are
listed in KNOWN_MISSES with the reason; they are strict xfails, so fixing one fails the test until the list is
updated. bench/bench_verifiers.py prints the same corpus against plain math-verify.
"""

import json
from pathlib import Path

import pytest

from zero_rl.rewards.math_answer import math_accuracy
from zero_rl.rewards.numeric import numeric_accuracy

CORPUS = Path(__file__).parent / "data" / "answer_corpus.jsonl"
ROWS = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
CHECKERS = {"math": math_accuracy, "numeric": numeric_accuracy}
KNOWN_MISSES = {
    ("\\boxed{W(n) = 1 \\text{ and } W(n) = -1", "math"): "the answer names the function W(x), the gold W(n)",
}


def test_corpus_rows_are_sourced_and_labelled():
    assert len(ROWS) >= 400
    for row in ROWS:
        assert set(row) >= {"gold", "pred", "label", "checker", "source", "why"}, row
        assert row["label"] in (0, 1) and row["checker"] in CHECKERS and row["why"].strip(), row
        assert row["source"].startswith("https://github.com/") or "@" in row["source"] and "#L" in row["source"], row
    assert len({(r["gold"], r["pred"], r["checker"]) for r in ROWS}) == len(ROWS), "duplicate rows"
    assert sum(1 - r["label"] for r in ROWS) >= 60, "the corpus needs wrong answers too"


def _param(index, row):
    miss = KNOWN_MISSES.get((row["gold"], row["checker"]))
    marks = [pytest.mark.xfail(strict=True, reason=miss)] if miss else []
    return pytest.param(row, id=f"{index}-{row['checker']}-label{row['label']}", marks=marks)


@pytest.mark.parametrize("row", [_param(i, r) for i, r in enumerate(ROWS)])
def test_corpus_row(row):
    completion = f"<think> work </think> <answer>{row['pred']}</answer>"
    score = CHECKERS[row["checker"]](completion, {"answer": row["gold"]})
    assert score == row["label"], f"{row['why']} ({row['source']})"
