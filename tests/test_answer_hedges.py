"""Reward hacks on the real MATH-500 golds: hedging between two answers, listing, negating, boxing a wrong answer
next to the right one. Every form must score 0 for every gold (a policy under RL finds any form that pays)."""

import re

import pytest

from rewards.math_answer import math_accuracy
from tasks import get_task


def wrong_variant(gold: str) -> str:
    """A wrong answer near the gold: its first digit changed, or for answers without digits a term added."""
    digits = [m.start() for m in re.finditer(r"\d", gold)]
    if not digits:
        return gold + "+1" if "text" not in gold else gold.replace("}", "X}", 1)
    i = digits[0]
    return gold[:i] + ("8" if gold[i] == "9" else str(int(gold[i]) + 1)) + gold[i + 1:]


HEDGES = {
    "phrase or": lambda g, h: f"The answer is {g} or {h}",
    "boxes or": lambda g, h: f"\\boxed{{{g}}} or \\boxed{{{h}}}",
    "list": lambda g, h: f"{g}, {h}",
    "is ... or": lambda g, h: f"$x$ is {g} or {h}",
    "negated": lambda g, h: f"The answer is not {g}",
    "brackets": lambda g, h: f"[{g}, {h}]",
    "plus minus": lambda g, h: f"{g} \\pm 1",
    "wrong box, right words": lambda g, h: f"\\boxed{{{h}}}. It is not {g}.",
    "two spans": lambda g, h: f"${g}$ or ${h}$",
}


@pytest.fixture(scope="module")
def golds():
    return [example["answer"] for example in get_task("math").load("test")]


@pytest.mark.parametrize("form", HEDGES)
def test_hedging_forms_never_pay(golds, form):
    paid = [gold for gold in golds
            if math_accuracy(f"<think>w</think> <answer>{HEDGES[form](gold, wrong_variant(gold))}</answer>",
                             {"answer": gold}) != 0.0]
    assert paid == [], f"{form}: {len(paid)} golds paid, e.g. {paid[:5]}"
