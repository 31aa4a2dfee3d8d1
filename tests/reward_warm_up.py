"""Reward modules with a `warm_up()` (for tests/test_scoring.py): one that records it ran, one that fails."""

WARMED = []


def warm_up() -> None:
    WARMED.append("warm")


def warmed_count(completion: str, example: dict) -> float:
    """How many times this process warmed the module up: 1.0 in a pool worker, whatever the chunk."""
    return float(len(WARMED))
