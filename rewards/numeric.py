"""Numeric answer checks (GSM8K-style integer and decimal answers), exact and without sympy.

`numeric_accuracy` reads the final answer of the last `<answer>` block the way the math checker does (the last
`\\boxed{}`, an "answer is" phrase, the last `$...$`, the number closing a sentence of prose), strips currency,
unit words, `%`, and a naming `x =`, and then requires the rest to be a number or plain arithmetic on numbers
(zero_rl.rewards.exact_numbers): `1,000`, `1 000`, `18.00`, `\\frac{36}{2}`, `2^{10}`. It never pulls a number out of an
expression: `\\frac{1+\\sqrt{5}}{2}` is not 2 and `3x` is not 3. Values compare exactly (a decimal gold that was
rounded may match at its own precision, a different exact value never).
"""

import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from zero_rl.rewards.answer_compare import assigned_value, normalise, numbers_agree
from zero_rl.rewards.answer_extract import final_answer
from zero_rl.rewards.exact_numbers import evaluate
from zero_rl.rewards.format import answer_body, parse_r1

_INTEGER = re.compile(r"[+-]?\d+")
# a number, optionally with thousands commas ("1,000") and decimals; a sign right before it
_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[+-]?\.\d+")
_BOXED = re.compile(r"\\boxed\s*\{([^{}]*)\}")
_WIDE_DIGITS = str.maketrans("０１２３４５６７８９．－", "0123456789.-")  # full-width digits are digits
_APPROXIMATELY = re.compile(r"\\approx|≈|\\sim(?![a-z])")


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
    "\\boxed{42}" -> 42, "50%" -> 50; None when there is no number. Lenient (used to read data files); answers
    are read strictly by `numeric_answer`."""
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


def numeric_text(text: str) -> str | None:
    """The final answer of `text` reduced to its number's spelling (`$1,000.00` -> `1,000.00`, `x = 3` -> `3`,
    `\\frac{36}{2}` kept), or None when there is no answer."""
    answer = final_answer(text.translate(_WIDE_DIGITS))
    if answer is None:
        return None
    answer = normalise(answer)
    percent = "%" if answer.endswith("%") else ""
    answer = answer.rstrip("%").strip()
    approximately = _APPROXIMATELY.split(answer)
    if len(approximately) > 1:  # `x \approx 11`: the value after the last approximation sign
        answer = approximately[-1].strip()
    value = assigned_value(answer)
    if value is None:
        sides = answer.split("=")
        if len(sides) > 1 and evaluate(sides[-1].strip()) is not None:  # `\\sqrt{4} = 2`: the value it arrives at
            value = sides[-1].strip()
    if value is None:
        bracketed = re.fullmatch(r"\[\s*([^\[\],;]+?)\s*\]", answer)  # `[-3]`: one value in brackets
        value = bracketed.group(1) if bracketed else answer
    return value + percent


def numeric_answer(text: str) -> Fraction | None:
    """The exact number a piece of text answers with, or None when its answer is not a number."""
    spelled = numeric_text(text)
    return evaluate(spelled.rstrip("%")) if spelled else None


def numeric_accuracy(completion: str, example: dict) -> float:
    """1.0 when the final answer of the last <answer> body is the number example["answer"] (see the module
    docstring), else 0.0. A gold that is not a number raises ValueError (counted by the scorer)."""
    gold = str(example["answer"]).translate(_WIDE_DIGITS).strip()
    if evaluate(normalise(gold).rstrip("%")) is None:
        raise ValueError(f"gold answer {example['answer']!r} is not a number")
    body = answer_body(completion)
    if body is None:
        return 0.0
    spelled = numeric_text(body)
    if not spelled:
        return 0.0
    return 1.0 if numbers_agree(normalise(gold), spelled) else 0.0  # `50%` = `50` = `0.5`
