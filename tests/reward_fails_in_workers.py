"""A reward whose module cannot be imported inside a worker process (for tests/test_scoring.py)."""

import multiprocessing

if multiprocessing.parent_process() is not None:
    raise ImportError("this module refuses to load in a worker process")


def constant(completion: str, example: dict) -> float:
    return 1.0
