"""MBPP: write a Python function from a one-line description; graded by running its asserts in the sandbox.

Austin et al. 2021, "Program Synthesis with Large Language Models". Execution is rewards/code_exec.py: each
completion runs in its own child process, so score with `task.reward_workers` > 0 (e.g. 8; the workers mostly
wait on their children) and `task.reward_timeout_s` >= the task's `timeout_s` + 2.

Standard splits by task_id: prompt 1-10, test 11-510 (held out), validation 511-600, train 601-974. Training
uses train+validation by default. The prompt shows the description and the first `shown_tests` asserts (so the
model learns the function name); the reward runs all of them, after `test_setup_code` (which must come after
the solution: tasks 367 and 927 build fixtures from classes the solution defines). The shown tests carry no
secret (a program can special-case them); the unseen ones keep the reward honest, and their expected values
never enter the sandbox (rewards/test_split.py). Reads the full file
(`mbpp.jsonl`: text, code, test_list, test_setup_code) or the sanitized one (`prompt`, `test_imports`).
"""

import functools

from zero_rl.rewards.code_exec import code_reward, extract_code
from zero_rl.rewards.format import format_reward
from zero_rl.data import DataError, load_rows, require, shared_data_dir
from zero_rl.task import Task, r1_zero_prompt

SPLITS = {"prompt": (1, 10), "test": (11, 510), "validation": (511, 600), "train": (601, 974)}
INSTRUCTION = ("{text}\nWrite the Python code inside a ```python code block in your answer. "
               "Your code should pass {which}:\n{tests}")


def default_source() -> str:
    return str(shared_data_dir() / "mbpp" / "mbpp.jsonl")


def to_example(row: dict, where: str, index: int) -> dict:
    task_id = int(require(row, "task_id", where, index))
    text = row.get("text") or require(row, "prompt", where, index)
    tests = list(require(row, "test_list", where, index))
    if not all(isinstance(t, str) for t in tests):
        raise DataError(f"{where}: row {index} (task {task_id}) has a non-string entry in test_list")
    imports = "\n".join(row.get("test_imports") or [])
    return {"id": f"mbpp/{task_id}", "task_id": task_id, "question": text.strip(), "answer": row.get("code", ""),
            "tests": tests, "setup": row.get("test_setup_code") or "", "code_prefix": imports}


def load_split(split: str, source: str | None = None, config_name: str | None = "full") -> list:
    """Examples of `split` ("train", "validation", "test", "prompt", or several joined by "+")."""
    examples = []
    for part in split.split("+"):
        if part not in SPLITS:
            raise ValueError(f"task 'mbpp' has splits {', '.join(SPLITS)} (joinable with '+'), not {part!r}")
        low, high = SPLITS[part]
        source_name = source or default_source()
        local = source_name.endswith((".jsonl", ".json", ".parquet"))
        rows = load_rows(source_name) if local else load_rows(source_name, part, config_name)
        where = f"task 'mbpp' ({source_name})"
        chosen = [to_example(row, where, i) for i, row in enumerate(rows)]
        examples += [e for e in chosen if low <= e["task_id"] <= high] if local else chosen
    if not examples:
        raise DataError(f"task 'mbpp': split {split!r} of {source or default_source()} is empty")
    return examples


def prompt(example: dict, shown_tests: int = 1) -> str:
    tests = example["tests"][:shown_tests]
    which = "this test" if len(tests) == 1 else "these tests"
    return r1_zero_prompt(INSTRUCTION.format(text=example["question"], which=which, tests="\n".join(tests)))


def build(source: str | None = None, config_name: str | None = "full", shown_tests: int = 1,
          score: str = "all", code_source: str = "answer_fence", timeout_s: float = 10.0,
          train_split: str = "train+validation", accuracy_weight: float = 1.0, format_weight: float = 0.1) -> Task:
    if shown_tests < 0:
        raise ValueError(f"shown_tests must be >= 0, got {shown_tests}")
    extract_code("", code_source)  # unknown code_source -> error listing the valid ones
    if score not in ("all", "fraction"):
        raise ValueError(f"score must be 'all' or 'fraction', got {score!r}")
    return Task(
        name="mbpp",
        load=functools.partial(load_split, source=source, config_name=config_name),
        prompt=functools.partial(prompt, shown_tests=shown_tests),
        rewards={"accuracy": (functools.partial(code_reward, score=score, source=code_source, timeout_s=timeout_s),
                              accuracy_weight),
                 "format": (format_reward, format_weight)},
        accuracy="accuracy",
        format="format",
        train_split=train_split,
        eval_split="test",
        extract_answer=functools.partial(extract_code, source=code_source),
        options=dict(source=source or default_source(), config_name=config_name, shown_tests=shown_tests,
                     score=score, code_source=code_source, timeout_s=timeout_s, train_split=train_split),
    )
