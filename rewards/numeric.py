"""Numeric answer checks."""

import re

from rewards.format import parse_r1

_INTEGER = re.compile(r"[+-]?\d+")


def integer_exact(completion: str, example: dict) -> float:
    """1.0 when the completion is well formed and its <answer> body is exactly the gold integer (strict)."""
    parsed = parse_r1(completion, bool(example.get("think_prefilled")))
    if parsed is None:
        return 0.0
    body = parsed[1].strip()
    if not _INTEGER.fullmatch(body):
        return 0.0
    return 1.0 if int(body) == int(example["answer"]) else 0.0
