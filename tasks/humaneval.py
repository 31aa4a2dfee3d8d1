"""HumanEval (held-out only): complete a Python function from its signature and docstring; graded by check().

Chen et al. 2021. The reward runs `prompt + completion`, then the dataset's `test` code and
`check(entry_point)`, in the sandbox (rewards/code_exec.py). The completion may be the body alone or the full
function (a full definition replaces the prompt's stub; the prompt's imports and helpers stay).
"""

import functools

from zero_rl.rewards.code_exec import code_reward, extract_code
from zero_rl.rewards.format import format_reward
from zero_rl.data import DataError, load_rows, require, shared_data_dir
from zero_rl.task import Task, r1_zero_prompt

INSTRUCTION = ("Complete the following Python function. Write the complete function inside a ```python code "
               "block in your answer.\n```python\n{code}```")


def default_source() -> str:
    return str(shared_data_dir() / "humaneval" / "test.jsonl")


def to_example(row: dict, where: str, index: int) -> dict:
    entry_point = require(row, "entry_point", where, index)
    return {"id": require(row, "task_id", where, index), "question": require(row, "prompt", where, index),
            "answer": row.get("canonical_solution", ""), "entry_point": entry_point,
            "code_prefix": row["prompt"], "tests": [require(row, "test", where, index) + f"\ncheck({entry_point})\n"]}


def load_split(split: str, source: str | None = None) -> list:
    if split != "test":
        raise ValueError(f"task 'humaneval' has only the held-out split 'test', not {split!r}: it is for "
                         "evaluation (train on e.g. mbpp)")
    source_name = source or default_source()
    local = source_name.endswith((".jsonl", ".json", ".parquet"))
    rows = load_rows(source_name) if local else load_rows(source_name, split)
    examples = [to_example(row, f"task 'humaneval' ({source_name})", i) for i, row in enumerate(rows)]
    if not examples:
        raise DataError(f"task 'humaneval': {source_name} has no rows")
    return examples


def prompt(example: dict) -> str:
    return r1_zero_prompt(INSTRUCTION.format(code=example["question"]))


def build(source: str | None = None, code_source: str = "answer_fence", timeout_s: float = 10.0,
          accuracy_weight: float = 1.0, format_weight: float = 0.1) -> Task:
    extract_code("", code_source)  # unknown code_source -> error listing the valid ones
    return Task(
        name="humaneval",
        load=functools.partial(load_split, source=source),
        prompt=prompt,
        rewards={"accuracy": (functools.partial(code_reward, source=code_source, timeout_s=timeout_s),
                              accuracy_weight),
                 "format": (format_reward, format_weight)},
        accuracy="accuracy",
        format="format",
        train_split="train",  # loading it raises: HumanEval is never trained on
        eval_split="test",
        extract_answer=functools.partial(extract_code, source=code_source),
        options=dict(source=source or default_source(), code_source=code_source, timeout_s=timeout_s),
    )
