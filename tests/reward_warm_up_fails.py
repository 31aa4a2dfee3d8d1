"""A reward module whose `warm_up()` raises (for tests/test_scoring.py): scoring must go on."""


def warm_up() -> None:
    raise RuntimeError("warm-up exploded")


def one(completion: str, example: dict) -> float:
    return 1.0
