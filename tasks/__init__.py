"""Registered tasks: name -> build(**options) returning a zero_rl.task.Task.

Adding a task is one file in this folder plus one line here.
"""

from tasks import arithmetic, humaneval, mbpp

TASKS = {
    "arithmetic": arithmetic.build,
    "humaneval": humaneval.build,
    "mbpp": mbpp.build,
}


def get_task(name: str, **options):
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; registered tasks: {', '.join(sorted(TASKS))}")
    try:
        return TASKS[name](**options)
    except TypeError as error:
        raise ValueError(f"task {name!r}: bad options {options}: {error}") from error
