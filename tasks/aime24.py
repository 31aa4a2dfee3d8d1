"""AIME 2024: 30 competition problems with integer answers 0-999 (held out; evaluation only)."""

import functools

from zero_rl.tasks.eval_suite import load_split, math_task, number_text
from zero_rl.data import require


def to_example(row: dict, where: str, index: int, question_field: str, answer_field: str) -> dict:
    return {"id": row.get("id", index), "question": require(row, question_field, where, index),
            "answer": number_text(require(row, answer_field, where, index), where, index)}


def build(source: str | None = None, question_field: str = "problem", answer_field: str = "answer",
          fallbacks=(), format: str = "strict", accuracy_weight: float = 1.0, format_weight: float = 0.1):
    convert = functools.partial(to_example, question_field=question_field, answer_field=answer_field)
    return math_task("aime24", lambda split: load_split("aime24", "aime24", source, split, convert),
                     dict(source=source, question_field=question_field, answer_field=answer_field),
                     fallbacks, format, accuracy_weight, format_weight)
