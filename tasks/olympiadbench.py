"""OlympiadBench (OE_TO_maths_en_COMP): 675 open-ended olympiad problems, gold = final_answer[0] with its `$`
removed (held out; evaluation only)."""

import functools

from zero_rl.tasks.eval_suite import load_split, math_task
from zero_rl.data import DataError, require


def to_example(row: dict, where: str, index: int, question_field: str, answer_field: str) -> dict:
    gold = require(row, answer_field, where, index)
    if isinstance(gold, list):
        gold = gold[0] if gold else ""
    # multi-part golds are written "$69$,$84$": per-part math delimiters that would not parse as one answer
    gold = str(gold).replace("$", "").strip()
    if not gold:
        raise DataError(f"{where}: row {index} has an empty {answer_field!r}")
    return {"id": row.get("id", index), "question": require(row, question_field, where, index), "answer": gold,
            "unit": row.get("unit"), "multiple_answers": bool(row.get("is_multiple_answer"))}


def build(source: str | None = None, question_field: str = "question", answer_field: str = "final_answer",
          fallbacks=(), format: str = "strict", accuracy_weight: float = 1.0, format_weight: float = 0.1):
    convert = functools.partial(to_example, question_field=question_field, answer_field=answer_field)
    return math_task("olympiadbench",
                     lambda split: load_split("olympiadbench", "olympiadbench", source, split, convert),
                     dict(source=source, question_field=question_field, answer_field=answer_field),
                     fallbacks, format, accuracy_weight, format_weight)
