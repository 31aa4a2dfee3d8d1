"""Registered tasks: name -> build(**options) returning a zero_rl.task.Task.

Adding a task is one file in this folder plus one line here.
"""

from zero_rl.tasks import aime24, amc23, minerva, olympiadbench  # held-out math benchmarks
from zero_rl.tasks import arithmetic, gsm8k, hendrycks_math, humaneval, mbpp

TASKS = {
    "arithmetic": arithmetic.build,
    "gsm8k": gsm8k.build,
    "math": hendrycks_math.build,
    "mbpp": mbpp.build,
    "humaneval": humaneval.build,
    "aime24": aime24.build,
    "amc23": amc23.build,
    "minerva": minerva.build,
    "olympiadbench": olympiadbench.build,
}


def get_task(name: str, **options):
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; registered tasks: {', '.join(sorted(TASKS))}")
    try:
        return TASKS[name](**options)
    except TypeError as error:
        raise ValueError(f"task {name!r}: bad options {options}: {error}") from error
