"""Shared loader and builder of the held-out math benchmarks (AIME 2024, AMC 2023, Minerva Math, OlympiadBench).

These tasks are for evaluation only: their one split is "test" and asking for any other split raises, so a
recipe cannot train on them by accident. Each reads its JSONL copy in the shared data folder by default;
`source=` takes a hub dataset name or a local file or folder instead (with `question_field=` and
`answer_field=` when that copy names its fields differently).
"""

import functools

from zero_rl.rewards.format import FORMATS
from zero_rl.rewards.math_answer import FALLBACKS, extract_math_answer, math_accuracy
from zero_rl.data import DataError, load_rows, shared_data_dir
from zero_rl.task import Task, r1_zero_prompt


def load_split(task_name: str, folder: str, source: str | None, split: str, to_example) -> list:
    """Rows of `source` (default: the shared data folder) turned into examples by to_example(row, where, index)."""
    if split != "test":
        raise ValueError(f"task {task_name!r} is a held-out benchmark with only a 'test' split, not {split!r}")
    where = f"task {task_name!r} ({source or shared_data_dir() / folder})"
    rows = load_rows(source or str(shared_data_dir() / folder), split)
    if not rows:
        raise DataError(f"{where}: no rows")
    return [to_example(row, where, index) for index, row in enumerate(rows)]


def number_text(value, where: str, index: int) -> str:
    """A gold number as text: 27.0 -> "27", "025" -> "25", 2.5 -> "2.5"; anything else unchanged."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        text = str(value).strip()
        if not text:
            raise DataError(f"{where}: row {index} has an empty answer") from None
        return text
    if number != number or number in (float("inf"), float("-inf")):
        raise DataError(f"{where}: row {index} has a non-finite answer {value!r}")
    return str(int(number)) if number.is_integer() else repr(number)


def parse_fallbacks(task_name: str, fallbacks) -> tuple:
    """("boxed",), ["boxed"] or "boxed,last_number" -> a tuple of fall-back names, checked against FALLBACKS."""
    if isinstance(fallbacks, str):
        fallbacks = [f for f in fallbacks.split(",")]
    fallbacks = tuple(f.strip() for f in fallbacks if f.strip())
    unknown = set(fallbacks) - set(FALLBACKS)
    if unknown:
        raise ValueError(f"task {task_name!r}: unknown fallbacks {sorted(unknown)}; valid: {', '.join(FALLBACKS)}")
    return fallbacks


def prompt(example: dict) -> str:
    return r1_zero_prompt(example["question"])


def math_task(name: str, load, options: dict, fallbacks=(), format: str = "strict", accuracy_weight: float = 1.0,
              format_weight: float = 0.1) -> Task:
    """A held-out math task scored by math-verify against example["answer"], voted on with math equivalence.

    `fallbacks` ("boxed", "last_number") lets answers outside `<answer>` tags count, which is how a base
    model that does not follow the R1-Zero format can still be measured; `format` is "strict" or "lenient".
    """
    fallbacks = parse_fallbacks(name, fallbacks)
    if format not in FORMATS:
        raise ValueError(f"task {name!r}: unknown format {format!r}; valid: {', '.join(FORMATS)}")
    return Task(
        name=name,
        load=load,
        prompt=prompt,
        rewards={"accuracy": (functools.partial(math_accuracy, fallbacks=fallbacks), accuracy_weight),
                 "format": (FORMATS[format], format_weight)},
        accuracy="accuracy",
        format="format",
        eval_split="test",
        extract_answer=functools.partial(extract_math_answer, fallbacks=fallbacks),
        options=dict(options, fallbacks=list(fallbacks), format=format, accuracy_weight=accuracy_weight,
                     format_weight=format_weight),
    )
