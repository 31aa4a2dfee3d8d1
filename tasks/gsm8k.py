"""GSM8K: grade-school word problems with integer answers (gold: the number after the last `####`)."""

import functools
from decimal import Decimal

from rewards.format import FORMATS, answer_body
from rewards.language import language_consistency
from rewards.numeric import numeric_accuracy, numeric_answer, parse_number
from zero_rl.data import DataError, load_rows, require, shared_data_dir
from zero_rl.task import Task, r1_zero_prompt

SPLITS = ("train", "test")


def gold_from_solution(solution: str, where: str, index: int) -> str:
    """"... #### 1,000" -> "1000"; a DataError naming the row when the `####` line is missing or not a number."""
    if "####" not in solution:
        raise DataError(f"{where}: row {index} field 'answer' has no '####' answer line")
    gold = solution.rsplit("####", 1)[1].strip().replace(",", "")
    if parse_number(gold) is None or not gold.lstrip("-").replace(".", "", 1).isdigit():
        raise DataError(f"{where}: row {index} field 'answer': {gold!r} after '####' is not a number")
    return gold


def load_examples(source: str, split: str, config_name: str | None = None) -> list:
    where = f"task 'gsm8k' ({source}, split {split!r})"
    examples = []
    for index, row in enumerate(load_rows(source, split, config_name)):
        question = require(row, "question", where, index)
        solution = require(row, "answer", where, index)
        examples.append({"id": f"gsm8k/{split}/{index}", "question": question,
                         "answer": gold_from_solution(solution, where, index), "solution": solution})
    return examples


def extract_answer(completion: str) -> str | None:
    """The number the last <answer> block answers with (as numeric_accuracy reads it), normalised ("1,000.0" ->
    "1000", "\\frac{1}{4}" -> "0.25", "\\frac{1}{3}" -> "1/3") so equal answers vote together; None when the answer
    is not a number (`3x` is no vote for 3)."""
    body = answer_body(completion)
    number = numeric_answer(body) if body is not None else None
    if number is None:
        return None
    if number.denominator == 1:
        return str(number.numerator)
    denominator, twos, fives = number.denominator, 0, 0
    while denominator % 2 == 0:
        denominator, twos = denominator // 2, twos + 1
    while denominator % 5 == 0:
        denominator, fives = denominator // 5, fives + 1
    if denominator != 1:
        return f"{number.numerator}/{number.denominator}"
    places = max(twos, fives)
    return format(Decimal(number.numerator) / Decimal(number.denominator), f".{places}f")


def prompt(example: dict) -> str:
    return r1_zero_prompt(example["question"])


def build(data: str | None = None, format: str = "strict", accuracy_weight: float = 1.0,
          format_weight: float = 0.1, language: str = "en", language_weight: float = 0.0) -> Task:
    """`data`: a local folder/file or hub name (e.g. `openai/gsm8k`, config "main"); default ../shared/data/gsm8k."""
    if format not in FORMATS:
        raise ValueError(f"task 'gsm8k': unknown format {format!r}; valid: {', '.join(FORMATS)}")
    source = data or str(shared_data_dir() / "gsm8k")
    config_name = "main" if data == "openai/gsm8k" else None

    def load(split: str) -> list:
        if split not in SPLITS:
            raise ValueError(f"task 'gsm8k' has splits {', '.join(SPLITS)}, not {split!r}")
        return load_examples(source, split, config_name)

    rewards = {"accuracy": (numeric_accuracy, accuracy_weight), "format": (FORMATS[format], format_weight)}
    if language_weight:
        rewards["language"] = (functools.partial(language_consistency, language=language), language_weight)
    return Task(name="gsm8k", load=load, prompt=prompt, rewards=rewards, accuracy="accuracy", format="format",
                extract_answer=extract_answer,
                options=dict(data=source, format=format, accuracy_weight=accuracy_weight,
                             format_weight=format_weight, language=language, language_weight=language_weight))
