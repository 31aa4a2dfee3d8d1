"""Registered tasks: name -> build(**options) returning a zero_rl.task.Task.

Adding a task is one file in this folder plus one line here.
"""

if __name__ != "zero_rl.tasks":  # e.g. `import tasks.x` run with the repository root on sys.path
    raise ImportError(f"tasks/ is installed as zero_rl.tasks: import zero_rl.tasks.<module>, not "
                      f"{__name__}.<module> (a second copy of each module, with its own registry "
                      "and its own copies of the rewards it imports)")

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
    """The task built with its own options, then the options every task takes (zero_rl/task_options.py)."""
    from zero_rl.task_options import apply_common, split_common

    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; registered tasks: {', '.join(sorted(TASKS))}")
    own, common = split_common(options)
    try:
        task = TASKS[name](**own)
    except TypeError as error:
        raise ValueError(f"task {name!r}: bad options {options}: {error}") from error
    return apply_common(task, **common)
