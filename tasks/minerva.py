"""Minerva Math (MIT OCW): 272 science and engineering problems, gold = the last \\boxed{} of the solution
(held out; evaluation only)."""

import functools

from zero_rl.rewards.math_answer import last_boxed
from zero_rl.tasks.eval_suite import load_split, math_task
from zero_rl.data import DataError, require


def to_example(row: dict, where: str, index: int, question_field: str, answer_field: str) -> dict:
    gold = row.get(answer_field)
    if isinstance(gold, list):  # copies that store a list of accepted forms: the first one
        gold = gold[0] if gold else None
    if gold is None:
        solution = require(row, "solution", where, index)
        gold = last_boxed(solution)
        if gold is None or not gold.strip():
            raise DataError(f"{where}: row {index} has no {answer_field!r} field and no \\boxed{{}} in its solution")
    return {"id": row.get("idx", row.get("id", index)), "question": require(row, question_field, where, index),
            "answer": str(gold).strip()}


def build(source: str | None = None, question_field: str = "problem", answer_field: str = "answer",
          fallbacks=(), format: str = "strict", accuracy_weight: float = 1.0, format_weight: float = 0.1):
    convert = functools.partial(to_example, question_field=question_field, answer_field=answer_field)
    return math_task("minerva", lambda split: load_split("minerva", "minerva_math", source, split, convert),
                     dict(source=source, question_field=question_field, answer_field=answer_field),
                     fallbacks, format, accuracy_weight, format_weight)
