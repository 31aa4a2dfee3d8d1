import random

import pytest

from zero_rl.rewards.format import format_reward
from zero_rl.rewards.numeric import integer_exact
from zero_rl.tasks import TASKS, get_task
from zero_rl.tasks.arithmetic import evaluate, random_expression, render, split_of, steps


def test_steps_evaluate_like_python():
    rng = random.Random(0)
    for _ in range(500):
        tokens = random_expression(rng, max_operands=4, max_value=30, paren_prob=0.5)
        chain = steps(tokens)
        assert evaluate(tokens) == eval(render(tokens))
        for expression in chain:  # every intermediate expression has the same value
            assert eval(render(expression)) == evaluate(tokens)
        assert len(chain[-1]) == 1


def test_held_out_disjoint_from_train_and_reproducible():
    task = get_task("arithmetic", train_size=3000, test_size=300)
    train, test = task.load("train"), task.load("test")
    assert len(test) == 300 and len({e["id"] for e in test}) == 300
    assert not {e["id"] for e in train} & {e["id"] for e in test}
    assert all(split_of(e["id"]) == "test" for e in test)
    assert task.load("test") == test
    assert get_task("arithmetic", seed=1, test_size=300).load("test") != test


def test_prompt_is_r1_zero_template():
    task = get_task("arithmetic")
    example = task.load("test")[0]
    text = task.prompt(example)
    assert "<think> </think> and <answer> </answer>" in text
    assert text.endswith(f"User: Compute {example['expression']}. Assistant:")


@pytest.mark.parametrize("completion,answer,accuracy,fmt", [
    (" <think> 3 + 4 = 7 </think> <answer> 7 </answer>", "7", 1.0, 1.0),
    ("<think>x</think><answer>7</answer>", "7", 1.0, 1.0),
    ("<think> 3 + 4 = 8 </think> <answer> 8 </answer>", "7", 0.0, 1.0),
    ("<think> a </think> <answer> -12 </answer>\n", "-12", 1.0, 1.0),
    ("The answer is 7.", "7", 0.0, 0.0),  # right number, no tags: strict accuracy is 0
    ("<answer> 7 </answer>", "7", 0.0, 0.0),  # no think block
    ("<think> a </think> <answer> 7 </answer> more text", "7", 0.0, 0.0),  # text after </answer>
    ("<think> a </think> <answer> 7 </answer><answer> 7 </answer>", "7", 0.0, 0.0),  # two answers
    ("<think> <think> a </think> </think> <answer> 7 </answer>", "7", 0.0, 0.0),  # nested
    ("<think> a </think> <answer> 7", "7", 0.0, 0.0),  # truncated
    ("<think> a </think> <answer> </answer>", "7", 0.0, 0.0),  # a blank answer is not well formed
    ("<think> a </think> <answer> 7.0 </answer>", "7", 0.0, 1.0),  # not an integer literal
    ("<think> a </think> <answer> 99999999999999999999999 </answer>", "7", 0.0, 1.0),
])
def test_arithmetic_rewards_table(completion, answer, accuracy, fmt):
    example = {"answer": answer}
    assert integer_exact(completion, example) == accuracy
    assert format_reward(completion, example) == fmt


def test_think_prefilled_prompt():
    example = {"answer": "7", "think_prefilled": True}
    assert integer_exact(" 3 + 4 = 7 </think> <answer> 7 </answer>", example) == 1.0
    assert format_reward(" <think> 3 + 4 = 7 </think> <answer> 7 </answer>", example) == 0.0


def test_registry_errors():
    assert "arithmetic" in TASKS
    with pytest.raises(KeyError, match="registered tasks: "):
        get_task("arithmatic")
    with pytest.raises(ValueError, match="bad options"):
        get_task("arithmetic", digits=3)
    with pytest.raises(ValueError, match="min_operands"):
        get_task("arithmetic", min_operands=4, max_operands=2)


def test_knobs_bound_the_problems():
    task = get_task("arithmetic", max_value=9, max_operands=4, max_multiplications=1, test_size=300)
    for example in task.load("test"):
        numbers = [t for t in example["tokens"] if isinstance(t, int)]
        assert 2 <= len(numbers) <= 4 and max(numbers) <= 9
        assert example["tokens"].count("*") <= 1
    additive = get_task("arithmetic", operators="+-", test_size=100).load("test")
    assert all("*" not in e["expression"] for e in additive)
