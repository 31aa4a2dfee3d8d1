"""Numeric answer checks (GSM8K-style integer and decimal answers), exact and without sympy."""

import re
from decimal import Decimal, InvalidOperation

from rewards.format import answer_body, parse_r1

_INTEGER = re.compile(r"[+-]?\d+")
# a number, optionally with thousands commas ("1,000") and decimals; a sign right before it
_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[+-]?\.\d+")
_BOXED = re.compile(r"\\boxed\s*\{([^{}]*)\}")


def integer_exact(completion: str, example: dict) -> float:
    """1.0 when the completion is well formed and its <answer> body is exactly the gold integer (strict)."""
    parsed = parse_r1(completion, bool(example.get("think_prefilled")))
    if parsed is None:
        return 0.0
    body = parsed[1].strip()
    if not _INTEGER.fullmatch(body):
        return 0.0
    return 1.0 if int(body) == int(example["answer"]) else 0.0


def parse_number(text: str) -> Decimal | None:
    """The last number in `text` as an exact Decimal: "$1,000.00" -> 1000.00, "18 dollars" -> 18, "-5" -> -5,
    "\\boxed{42}" -> 42, "50%" -> 50; None when there is no number."""
    boxed = _BOXED.findall(text)
    if boxed:
        text = boxed[-1]
    numbers = _NUMBER.findall(text.replace("\\!", "").replace("{,}", ","))
    if not numbers:
        return None
    try:
        return Decimal(numbers[-1].replace(",", ""))
    except InvalidOperation:
        return None


def numeric_accuracy(completion: str, example: dict) -> float:
    """1.0 when the last number in the last <answer> body equals example["answer"] numerically
    (`1,000` = `1000`, `$18` = `18`, `18.00` = `18`), else 0.0. A gold that is not a number raises."""
    gold = parse_number(str(example["answer"]))
    if gold is None:
        raise ValueError(f"gold answer {example['answer']!r} is not a number")
    body = answer_body(completion)
    if body is None:
        return 0.0
    predicted = parse_number(body)
    return 1.0 if predicted is not None and predicted == gold else 0.0
