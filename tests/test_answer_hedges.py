"""The real MATH-500 golds against reward hacks (hedging between two answers, listing, negating, boxing a wrong answer
next to the right one: every form must score 0 for every gold, since a policy under RL finds any form that pays)
and against the right answer in the wrappings models write (every form must score 1)."""

import re

import pytest

from zero_rl.rewards.math_answer import math_accuracy
from zero_rl.tasks import get_task


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


WRAPPINGS = {
    "phrase": lambda g: f"The answer is ${g}$.",
    "final answer line": lambda g: f"Final Answer: The final answer is ${g}$. I hope it is correct.",
    "markdown": lambda g: f"**Answer:** ${g}$",
    "boxed in prose": lambda g: f"After simplifying, we get \\[ x = 3 \\] and therefore the result is $\\boxed{{{g}}}$.",
    "answer colon": lambda g: f"Answer: {g}",
    "display math": lambda g: f"\\[{g}\\]",
    "dfrac": lambda g: g.replace("\\frac", "\\dfrac"),
    "full stop": lambda g: f"{g}.",
}


@pytest.mark.parametrize("form", WRAPPINGS)
def test_the_right_answer_in_common_wrappings_pays(golds, form):
    unpaid = [gold for gold in golds
              if math_accuracy(f"<think>w</think> <answer>{WRAPPINGS[form](gold)}</answer>", {"answer": gold}) != 1.0]
    assert unpaid == [], f"{form}: {len(unpaid)} golds unpaid, e.g. {unpaid[:5]}"
