"""The `aha` variant of the embedded base model: a corpus in which careful step-by-step work exists but is rare
where the reward would pay for it, so that RL has a longer strategy to discover.

Problems are longer chains than the quickstart's (2 to 5 operands, up to two multiplications), where answering
at once is mostly wrong for a tiny model and reducing one operation at a time is mostly right. The corpus:
- plain worksheets (no template, most of the corpus): every text worked step by step, "3 + 4 * 2 = 3 + 8 = 11";
  this is where the base model learns to reduce a chain;
- the R1 template with a SHORT `<think>`: the expression restated, then the answer, "<think> 3 + 4 * 2 </think>
  <answer> 11 </answer>" (the habit inside `<think>`: the pre-filled control mostly follows it);
- the R1 template with a worked `<think>` (rare): the same tags around the step-by-step chain;
- the R1 template with a plain answer ("The answer is 11.") or worked prose (rare), which the format reward
  does not pay.
After "<think> 3 + 4 * 2" the short habit continues with " </think>" and the careful one with " =": one
token decides the strategy, and RL can move that choice if working pays. Only train-split expressions appear.
"""

import random
from dataclasses import dataclass

from zero_rl.embedded import BaseModelRecipe, _PLAIN, _steps_text, _train_expression
from zero_rl.tasks.arithmetic import render, steps
from zero_rl.task import r1_zero_prompt

_PLAIN_WORKED = [template for template in _PLAIN if "{s}" in template]  # worksheets always show the work


@dataclass(frozen=True)
class AhaRecipe(BaseModelRecipe):
    """The aha base model: longer chains, worked steps outside `<think>` and a short habit inside it."""

    corpus: str = "aha"
    max_operands: int = 5
    max_multiplications: int = 2
    share_plain: float = 0.55  # worksheets, every text worked
    share_think_short: float = 0.25  # template + <think> expression </think> <answer> n </answer>
    share_think_worked: float = 0.03  # template + <think> steps </think> <answer> n </answer>
    share_worked_prose: float = 0.03  # template + steps. The answer is n.
    # the rest: template + "The answer is n."
    share_tagged: float = 0.0  # the default corpus's shares, unused here (kept 0 so the recipe reads true)
    share_wrong_step: float = 0.0

    def document(self, rng: random.Random) -> str:
        return aha_document(rng, self)


def aha_document(rng: random.Random, recipe: AhaRecipe) -> str:
    tokens = _train_expression(rng, recipe)
    expression = render(tokens)
    chain = steps(tokens)
    answer = chain[-1][0]
    roll = rng.random()
    if roll < recipe.share_plain:
        texts = []
        for index in range(rng.randint(3, max(3, recipe.worksheet_max))):
            other = tokens if index == 0 else _train_expression(rng, recipe)
            other_chain = steps(other)
            texts.append(rng.choice(_PLAIN_WORKED).format(e=render(other), a=other_chain[-1][0],
                                                          s=_steps_text(other_chain)))
        return "\n".join(texts)
    prompt = r1_zero_prompt(f"Compute {expression}")
    roll -= recipe.share_plain
    if roll < recipe.share_think_short:
        return f"{prompt} <think> {expression} </think> <answer> {answer} </answer>"
    roll -= recipe.share_think_short
    if roll < recipe.share_think_worked:
        return f"{prompt} <think> {_steps_text(chain)} </think> <answer> {answer} </answer>"
    roll -= recipe.share_think_worked
    if roll < recipe.share_worked_prose:
        return f"{prompt} {_steps_text(chain)}. The answer is {answer}."
    return f"{prompt} The answer is {answer}."


TASK_OPTIONS = dict(min_operands=3, max_operands=5, max_value=12, max_multiplications=2, paren_prob=0.3)
"""The arithmetic task's knobs for aha training: the corpus's chains without the two-operand ones (where
working pays little)."""

HARD_OPTIONS = dict(TASK_OPTIONS, min_operands=5)
"""Held-out hard problems: five operands (four reductions)."""


def level_options(operands: int) -> dict:
    """Held-out problems of exactly `operands` operands."""
    return dict(TASK_OPTIONS, min_operands=operands, max_operands=operands)
