"""Verifiers: each reward scores one completion, `(completion: str, example: dict) -> float`, pure, no I/O."""
