"""The task contract: what a file in tasks/ builds.

A task pairs examples (plain dicts with at least "id" and "answer") with a prompt function and weighted
rewards. A reward scores one completion: `(completion: str, example: dict) -> float`, pure and picklable
(a module-level function or a functools.partial of one), so the engine can run it in a process pool.
"""

from dataclasses import dataclass, field
from typing import Callable

R1_ZERO_TEMPLATE = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user with the "
    "answer. The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> "
    "tags, respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>. "
    "User: {question}. Assistant:"
)
"""The R1-Zero prompt (DeepSeek-R1 paper, Table 1), with the question substituted for {question}."""


def r1_zero_prompt(question: str) -> str:
    return R1_ZERO_TEMPLATE.format(question=question.strip())


@dataclass(frozen=True)
class Task:
    name: str
    load: Callable[[str], list]
    """split name -> list of example dicts (each with "id" and "answer")."""
    prompt: Callable[[dict], str]
    """example -> prompt text given to the model."""
    rewards: dict
    """reward name -> (reward_fn, weight); the training reward is the weighted sum."""
    accuracy: str
    """Name of the reward in `rewards` that means "correct" (used for accuracy, pass@k, maj@k)."""
    format: str | None = None
    """Name of the reward that means "well formed", if the task has one."""
    train_split: str = "train"
    eval_split: str = "test"
    extract_answer: Callable[[str], str | None] | None = None
    """completion -> final answer string (for maj@k voting), if the task defines one."""
    options: dict = field(default_factory=dict)
    """The options the task was built with (for logs and reproducibility)."""
