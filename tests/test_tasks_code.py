"""MBPP and HumanEval: splits, prompts, and every canonical solution passing through the sandbox (and wrong
ones failing). Reads ../shared/data; runs ~1,600 sandboxed programs, about 30 s on 2 busy cores."""

import functools

import pytest

from zero_rl.rewards.code_exec import SandboxLimits, assemble_program, run_many
from zero_rl.tasks import get_task, humaneval, mbpp
from zero_rl.data import DataError, shared_data_dir

LIMITS = SandboxLimits(timeout_s=30.0)  # MBPP 123 alone takes ~5 s; leave room on a loaded machine
WORKERS = 4


def wrap(code: str) -> str:
    return f"<think>I will write it.</think> <answer>```python\n{code}\n```</answer>"


def run_examples(examples: list, codes: list) -> list:
    jobs = [(assemble_program(code, e), e["tests"], e.get("setup", ""), assemble_program(e["answer"], e))
            for code, e in zip(codes, examples)]
    return run_many(jobs, LIMITS, workers=WORKERS)


def test_mbpp_splits_are_the_standard_ids():
    task = get_task("mbpp")
    test_ids = [e["task_id"] for e in task.load("test")]
    train_ids = [e["task_id"] for e in task.load(task.train_split)]
    assert test_ids == list(range(11, 511))
    assert sorted(train_ids) == list(range(511, 975))
    assert len(task.load("prompt")) == 10
    with pytest.raises(ValueError, match="validation"):
        task.load("dev")


def test_mbpp_prompt_shows_the_problem_and_only_the_chosen_tests():
    example = mbpp.load_split("test")[0]
    text = get_task("mbpp").prompt(example)
    assert example["question"] in text and example["tests"][0] in text and example["tests"][1] not in text
    all_three = get_task("mbpp", shown_tests=3).prompt(example)
    assert all(t in all_three for t in example["tests"]) and "these tests" in all_three
    assert text.startswith("A conversation between User and Assistant")


def test_every_mbpp_reference_solution_passes():
    examples = mbpp.load_split("prompt+test+validation+train")
    assert len(examples) == 974
    results = run_examples(examples, [e["answer"] for e in examples])
    failed = [(e["id"], r.status, r.error) for e, r in zip(examples, results) if r.status != "passed"]
    assert failed == []
    fixtures = {e["task_id"]: e for e in examples}
    assert fixtures[367]["setup"] and fixtures[927]["setup"]  # the two that need the solution before setup


def test_sanitized_mbpp_reference_solutions_pass():
    examples = mbpp.load_split("test", source=str(shared_data_dir() / "mbpp" / "sanitized-mbpp.jsonl"))
    assert len(examples) == 257
    results = run_examples(examples, [e["answer"] for e in examples])
    assert [e["id"] for e, r in zip(examples, results) if r.status != "passed"] == []


def test_every_humaneval_canonical_solution_passes_as_body_or_full_function_and_wrong_ones_fail():
    examples = humaneval.load_split("test")
    assert len(examples) == 164
    results = run_examples(examples, [e["answer"] for e in examples])
    assert [(e["id"], r.error) for e, r in zip(examples, results) if r.status != "passed"] == []
    full_functions = run_examples(examples, [e["question"] + e["answer"] for e in examples])
    assert [e["id"] for e, r in zip(examples, full_functions) if r.status != "passed"] == []
    wrong = run_examples(examples, ["    return None\n"] * len(examples))
    assert [e["id"] for e, r in zip(examples, wrong) if r.status == "passed"] == []


def test_mbpp_wrong_solutions_fail():
    examples = mbpp.load_split("test")[:40]
    # Same name, wrong behaviour: the function returns None.
    codes = [f"def {e['tests'][0].split('assert ')[1].split('(')[0].strip()}(*args, **kwargs):\n    return None\n"
             for e in examples]
    results = run_examples(examples, codes)
    assert [e["id"] for e, r in zip(examples, results) if r.status == "passed"] == []


def test_task_rewards_score_completions_end_to_end():
    task = get_task("humaneval")
    example = task.load("test")[0]
    accuracy, _ = task.rewards["accuracy"]
    full_function = example["question"] + example["answer"]
    assert accuracy(wrap(example["answer"]), example) == 1.0  # the body
    assert accuracy(wrap(full_function), example) == 1.0  # the full function
    assert accuracy(wrap("    return True\n"), example) == 0.0
    assert accuracy(example["answer"], example) == 0.0  # no <answer> fence: a format failure

    mbpp_task = get_task("mbpp", score="fraction")
    mbpp_example = mbpp_task.load("test")[0]
    mbpp_accuracy, _ = mbpp_task.rewards["accuracy"]
    assert mbpp_accuracy(wrap(mbpp_example["answer"]), mbpp_example) == 1.0
    assert isinstance(mbpp_accuracy, functools.partial)  # picklable for the process pool


def test_bad_options_and_sources_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="answer_fence"):
        get_task("mbpp", code_source="markdown")
    with pytest.raises(ValueError, match="fraction"):
        get_task("mbpp", score="half")
    with pytest.raises(ValueError, match="only the held-out split"):
        get_task("humaneval").load("train")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"task_id": 12, "text": "x"}\n')
    with pytest.raises(DataError, match="test_list"):
        mbpp.load_split("test", source=str(broken))
