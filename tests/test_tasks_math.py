"""GSM8K and MATH tasks on the real data in ../shared/data: every gold verifies against itself in the answer
forms a model writes, a perturbed gold fails, broken rows are named, filters work."""

import json
import re

import pytest

from zero_rl.rewards.math_answer import math_accuracy
from zero_rl.rewards.numeric import numeric_accuracy
from zero_rl.tasks import TASKS, get_task
from zero_rl.data import DataError
from zero_rl.scoring import RewardPool


@pytest.fixture(scope="module")
def pool():
    with RewardPool(workers=2, timeout_s=10.0) as pool:
        yield pool


def perturb(gold: str) -> str:
    """A wrong answer near the gold: its first digit changed (the last one can be a base, `52_8`, or a unit's
    power, `cm}^2`, which math-verify rightly ignores), or for answers without digits a term added."""
    digits = [m.start() for m in re.finditer(r"\d", gold)]
    if not digits:
        return gold + "+1" if "text" not in gold else gold.replace("}", "X}", 1)
    i = digits[0]
    return gold[:i] + ("8" if gold[i] == "9" else str(int(gold[i]) + 1)) + gold[i + 1:]


def test_every_math500_gold_verifies_against_itself_and_not_a_perturbation(pool):
    examples = get_task("math").load("test")
    assert len(examples) == 500
    forms = {
        "boxed": lambda g: f"<think>...</think> <answer>\\boxed{{{g}}}</answer>",
        "dollars": lambda g: f"<think>...</think> <answer>${g}$</answer>",
        "bare": lambda g: f"<think>...</think> <answer>{g}</answer>",
        "perturbed": lambda g: f"<think>...</think> <answer>\\boxed{{{perturb(g)}}}</answer>",
    }
    completions = [form(e["answer"]) for form in forms.values() for e in examples]
    scores = pool.score({"accuracy": (math_accuracy, 1.0)}, completions, examples * len(forms))
    assert scores.errors == {} and scores.timeouts == {}
    values = scores.components["accuracy"]
    for k, name in enumerate(forms):
        part = values[k * 500:(k + 1) * 500]
        wrong = [examples[i]["answer"] for i, v in enumerate(part) if v != (0.0 if name == "perturbed" else 1.0)]
        assert wrong == [], f"{name}: {len(wrong)} golds scored wrongly, e.g. {wrong[:5]}"


def test_every_gsm8k_test_gold_verifies(pool):
    examples = get_task("gsm8k").load("test")
    assert len(examples) == 1319
    completions = [f"<answer>{e['answer']}</answer>" for e in examples]
    completions += [f"<answer>${int(e['answer']):,}</answer>" for e in examples]  # "$1,000" style
    completions += [f"<answer>{int(e['answer']) + 1}</answer>" for e in examples]
    doubled = examples * 3
    scores = pool.score({"numeric": (numeric_accuracy, 1.0), "math": (math_accuracy, 1.0)}, completions, doubled)
    assert scores.errors == {} and scores.timeouts == {}
    for name in ("numeric", "math"):
        values = scores.components[name]
        assert values[:2 * 1319] == [1.0] * (2 * 1319), name
        assert values[2 * 1319:] == [0.0] * 1319, name


def test_gsm8k_task():
    task = get_task("gsm8k")
    train = task.load("train")
    assert len(train) == 7473 and all(e["answer"].lstrip("-").isdigit() for e in train)
    assert task.prompt(train[0]).endswith("Assistant:") and train[0]["question"] in task.prompt(train[0])
    assert set(task.rewards) == {"accuracy", "format"} and task.accuracy == "accuracy"
    assert task.extract_answer("<answer>$1,000.00</answer>") == "1000"
    with pytest.raises(ValueError, match="splits train, test"):
        task.load("validation")
    chinese = get_task("gsm8k", language="zh", language_weight=0.2, format="lenient")
    fn, weight = chinese.rewards["language"]
    assert weight == 0.2 and fn("<think>我们 need 面积</think> <answer>1</answer>", {}) == pytest.approx(0.8)
    assert chinese.rewards["format"][0]("<think>a</think> so <answer>1</answer>", {}) == 1.0


def test_math_task_variants_and_filters():
    assert len(get_task("math").load("train")) == 11998  # 12,000 minus the two rows whose \boxed{} is empty
    full = get_task("math", variant="full", levels=[3, 4, 5])
    train = full.load("train")
    assert train and all(e["level"] in (3, 4, 5) for e in train) and len(train) < 7500
    assert all(e["level"] in (3, 4, 5) for e in full.load("test"))
    geometry = get_task("math", subjects=["Geometry"], levels=[5]).load("test")
    assert geometry and all(e["subject"] == "Geometry" and e["level"] == 5 for e in geometry)
    with pytest.raises(ValueError, match="valid: Algebra"):
        get_task("math", subjects=["Astrology"])
    with pytest.raises(ValueError, match="valid: prm800k, full"):
        get_task("math", variant="nope")
    with pytest.raises(DataError, match="row 10029 has no 'answer'"):
        get_task("math", strict_data=True).load("train")


def test_broken_rows_name_the_file_row_and_field(tmp_path):
    gsm = tmp_path / "gsm.jsonl"
    gsm.write_text(json.dumps({"question": "q", "answer": "so #### 4"}) + "\n"
                   + json.dumps({"question": "q", "answer": "no final line"}) + "\n")
    with pytest.raises(DataError, match=r"gsm\.jsonl.*row 1 field 'answer' has no '####'"):
        get_task("gsm8k", data=str(gsm), eval_data=str(gsm)).load("train")
    math_file = tmp_path / "math.jsonl"
    math_file.write_text(json.dumps({"problem": "p", "answer": "1", "level": "Level 2"}) + "\n"
                         + json.dumps({"solution": "\\boxed{2}"}) + "\n")
    with pytest.raises(DataError, match=r"math\.jsonl.*row 1 has no 'problem' field"):
        get_task("math", data=str(math_file)).load("train")
    math_file.write_text(json.dumps({"problem": "p", "solution": "so \\boxed{\\frac{1}{2}}.", "level": 3}) + "\n")
    (example,) = get_task("math", eval_data=str(math_file)).load("test")
    assert example["answer"] == "\\frac{1}{2}" and example["level"] == 3


def test_missing_local_data_and_unknown_hub_dataset_fail_loudly(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        get_task("gsm8k", data=str(tmp_path / "absent.jsonl")).load("test")
    with pytest.raises(DataError, match="could not load hub dataset"):
        get_task("math", eval_data="no-such-org/no-such-dataset").load("test")


def test_registered():
    assert {"gsm8k", "math"} <= set(TASKS)
    with pytest.raises(KeyError, match="registered tasks: .*gsm8k.*math"):
        get_task("nope")
