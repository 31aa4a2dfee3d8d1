"""Process rewards: step scores from rewards, their token positions, DeepSeekMath's process advantage, PPO's token
rewards, the arithmetic step reward, and a GRPO / PPO run with it."""

import json
import random

import pytest
import torch

from zero_rl.process_rewards import process_advantages, step_token_positions, token_rewards_BT
from zero_rl.rewards.arithmetic_steps import step_scores
from zero_rl.scoring import reward_value, score_inline
from zero_rl.tasks.arithmetic import make_problem


class CharTokenizer:
    """Decodes each token id to a fixed string (ids index `pieces`): multi-character tokens on demand."""

    def __init__(self, pieces):
        self.pieces = pieces

    def decode(self, ids, skip_special_tokens=True):
        return "".join(self.pieces[i] for i in ids)


# tokens: "ab" | "c" | " = " | "def" | "g"  -> text "abc = defg", token end offsets 2, 3, 6, 9, 10
PIECES = ["ab", "c", " = ", "def", "g"]


@pytest.mark.parametrize("end,token", [
    (1, 0),   # inside the first (two-character) token
    (2, 0),   # exactly at the boundary after token 0: the step ends at token 0, not token 1
    (3, 1),   # boundary after token 1
    (4, 2),   # inside " = "
    (7, 3), (8, 3), (9, 3),  # anywhere inside "def", and at its end
    (10, 4),  # the end of the text
    (0, 0),   # an empty first step maps to the first token
    (99, 4),  # past the text (e.g. a stop string cut off): the last token
])
def test_step_token_positions(end, token):
    assert step_token_positions([end], [0, 1, 2, 3, 4], CharTokenizer(PIECES)) == [token]


def test_step_token_positions_several_and_empty():
    tokenizer = CharTokenizer(PIECES)
    assert step_token_positions([3, 9, 10], [0, 1, 2, 3, 4], tokenizer) == [1, 3, 4]
    assert step_token_positions([0], [], tokenizer) == []


def test_step_token_positions_real_tokenizer():
    """With the embedded model's tokenizer: each arithmetic step ends on the token holding its last character."""
    from transformers import AutoTokenizer

    from zero_rl.embedded import embedded_base_model

    tokenizer = AutoTokenizer.from_pretrained(embedded_base_model(progress=False))
    text = "<think> 12 + 7 * 3 = 12 + 21 = 33 </think> <answer> 33 </answer>"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    example = make_problem([12, "+", 7, "*", 3])
    ends = [end for end, _ in step_scores(text, example)]
    for end, t in zip(ends, step_token_positions(ends, ids, tokenizer)):
        assert len(tokenizer.decode(ids[: t + 1])) >= end > len(tokenizer.decode(ids[:t]))


def reference_process_advantages(steps_B, group_size, width_T, std_eps=1e-4):
    """A plain loop over DeepSeekMath 4.1.3: normalise within the group, then A_t = sum over steps ending >= t."""
    out = [[0.0] * width_T for _ in steps_B]
    for start in range(0, len(steps_B), group_size):
        values = [r for steps in steps_B[start: start + group_size] for _, r in steps]
        if not values:
            continue
        mean = sum(values) / len(values)
        std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5 if len(values) > 1 else 0.0
        for i in range(start, start + group_size):
            for t in range(width_T):
                out[i][t] = sum((r - mean) / (std + std_eps) for end, r in steps_B[i] if end >= t)
    return torch.tensor(out)


def test_process_advantages_hand_computed():
    # one group of two: steps (token 1: 1.0), (token 3: 0.0) | (token 2: 1.0); mean 2/3, std 0.57735
    steps_B = [[(1, 1.0), (3, 0.0)], [(2, 1.0)]]
    adv = process_advantages(steps_B, 2, 5, std_eps=0.0)
    hi, lo = (1 - 2 / 3) / 0.5773503, (0 - 2 / 3) / 0.5773503
    torch.testing.assert_close(adv, torch.tensor([[hi + lo, hi + lo, lo, lo, 0.0], [hi, hi, hi, 0.0, 0.0]]))


def test_process_advantages_equal_a_plain_loop():
    rng = random.Random(0)
    group_size, width_T = 4, 12
    steps_B = []
    for _ in range(3 * group_size):
        ends = sorted(rng.sample(range(width_T), rng.randint(0, 4)))
        if ends and rng.random() < 0.3:
            ends.append(ends[-1])  # two steps ending on the same token
        steps_B.append([(t, float(rng.choice([0, 1, 0.5, -1]))) for t in ends])
    steps_B[-group_size:] = [[(2, 1.0)]] * group_size  # a group whose step rewards are all equal: advantage 0
    torch.testing.assert_close(process_advantages(steps_B, group_size, width_T),
                               reference_process_advantages(steps_B, group_size, width_T))
    assert process_advantages(steps_B, group_size, width_T)[-group_size:].abs().max() == 0


def test_token_rewards_for_ppo():
    rewards = token_rewards_BT([[(0, 0.5), (2, 1.0), (2, 0.25)], []], 4)
    assert rewards.tolist() == [[0.5, 0.0, 1.25, 0.0], [0.0, 0.0, 0.0, 0.0]]


@pytest.mark.parametrize("value,expected", [
    (1, 1.0), (0.5, 0.5),
    ([(3, 1), (5, 0.0)], ((3, 1.0), (5, 0.0))),
    ([], ()),
])
def test_reward_value_accepts(value, expected):
    assert reward_value(value, "hello") == expected


@pytest.mark.parametrize("value", [
    float("nan"), [(6, 1.0)],  # past the completion's end
    [(3, 1.0), (2, 1.0)],  # offsets going back
    [(-1, 1.0)], [(1.5, 1.0)], [(True, 1.0)], [(1, float("nan"))], [(1, float("inf"))], [1.0], [(1, 2, 3)],
    "1.0x",
])
def test_reward_value_rejects(value):
    with pytest.raises(ValueError):
        reward_value(value, "hello")


def steps_reward(completion, example):
    return [(1, 1.0), (len(completion), 0.0)] if completion.startswith("a") else 1.0


def bad_steps(completion, example):
    return [(100, 1.0)]


def outcome(completion, example):
    return 2.0


def test_scoring_keeps_steps_out_of_the_total():
    rewards = {"steps": (steps_reward, 0.5), "outcome": (outcome, 1.0), "bad": (bad_steps, 1.0)}
    scores = score_inline(rewards, ["abc", "xyz"], [{"id": 1}, {"id": 2}])
    assert scores.total_B == [2.0, 2.0]
    assert scores.steps["steps"] == [((1, 1.0), (3, 0.0)), ((3, 1.0),)]  # a float is one step at the end
    assert scores.components["steps"] == [0.5, 1.0]  # the mean step score, for logging
    assert scores.errors == {"bad": 2} and scores.components["bad"] == [0.0, 0.0]  # counted, scored 0
    assert "bad" not in scores.steps
    assert scores.metrics()["reward/steps/steps_mean"] == 1.5


def test_scoring_steps_in_the_pool():
    from zero_rl.scoring import RewardPool

    with RewardPool(workers=1, timeout_s=20, preload=()) as pool:
        scores = pool.score({"steps": (step_scores, 1.0)}, ["<think> 1 + 2 = 3 </think>", "no chain"],
                            [make_problem([1, "+", 2])] * 2)
    assert scores.steps["steps"] == [((13, 1.0), (17, 1.0)), ((8, 0.0),)]  # "<think> 1 + 2", "... = 3"


CHAIN = make_problem([12, "+", 7, "*", 3])  # 12 + 7 * 3 = 12 + 21 = 33
PAREN = make_problem(["(", 2, "+", 3, ")", "*", 4])  # (2 + 3) * 4 = 5 * 4 = 20


@pytest.mark.parametrize("completion,example,scores", [
    ("<think> 12 + 7 * 3 = 12 + 21 = 33 </think> <answer> 33 </answer>", CHAIN, [1, 1, 1]),
    ("<think>12+7*3=12+21=33.</think>", CHAIN, [1, 1, 1]),  # whitespace and a closing period do not matter
    ("<think> 12 + 7 * 3 = 33 </think>", CHAIN, [1, 1]),  # skipping a reduction is still exact
    ("<think> 12 + 7 * 3 = 19 * 3 = 57 </think>", CHAIN, [1, 0, 0]),  # wrong precedence, error carries
    ("<think> 12 + 7 * 3 = 12 + 21 = 34 </think>", CHAIN, [1, 1, 0]),  # wrong last value
    ("<think> 12 + 7 * 3 = 12 + 22 = 33 </think>", CHAIN, [1, 0, 0]),  # right end after a wrong step: 0
    ("<think> 7 * 3 + 12 = 21 + 12 = 33 </think>", CHAIN, [0, 0, 0]),  # must restate the problem
    ("<think> 12 + 7 * 3 = = 33 </think>", CHAIN, [1, 0]),  # an empty step ends the credit
    ("<think> (2 + 3) * 4 = 5 * 4 = 20 </think>", PAREN, [1, 1, 1]),
    ("<think> (2 + 3) * 4 = 2 + 12 = 14 </think>", PAREN, [1, 0, 0]),
    (" 12 + 7 * 3 = 12 + 21 = 33 </think>", dict(CHAIN, think_prefilled=True), [1, 1, 1]),
])
def test_arithmetic_step_scores(completion, example, scores):
    result = step_scores(completion, example)
    assert [s for _, s in result] == scores
    offsets = [end for end, _ in result]
    assert offsets == sorted(offsets) and all(0 <= end <= len(completion) for end in offsets)
    assert all(completion[end - 1] != " " for end in offsets)  # each step ends on its last character


@pytest.mark.parametrize("completion", ["The answer is 33.", "<think> no equals here </think> <answer> 33 </answer>",
                                        "<think> 12 + 7 * 3 = 12 + 21", ""])
def test_arithmetic_step_scores_without_a_chain(completion):
    assert step_scores(completion, CHAIN) == [(len(completion), 0.0)]


def test_arithmetic_step_scores_need_tokens():
    with pytest.raises(ValueError, match="tokens"):
        step_scores("<think> 1 = 1 </think>", {"id": "x", "answer": "1"})


@pytest.mark.parametrize("algorithm", ["grpo", "ppo"])
def test_training_with_the_step_reward(tmp_path, algorithm):
    """A few steps on the embedded model with the arithmetic step reward: process metrics logged, the update
    ran on per-token advantages, and the outcome total excludes the step reward."""
    from zero_rl.config import build_config
    from zero_rl.models import load_model_and_tokenizer
    from zero_rl.embedded import embedded_base_model
    from zero_rl.trainer import train

    model, tokenizer = load_model_and_tokenizer(str(embedded_base_model(progress=False)))
    config = build_config({}, [
        f"algorithm.name={algorithm}", "run.steps=2", "run.prompts_per_step=4", "generation.group_size=4",
        "generation.max_new_tokens=48", "task.eval_size=4", f"run.output_dir={tmp_path}", "run.progress=false",
        "task.options.step_weight=0.5", "task.options.train_size=64", "task.options.test_size=8"])
    train(config, model=model, tokenizer=tokenizer)
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    for m in metrics:
        assert "reward/steps" in m and m["reward/steps/steps_mean"] >= 1
        assert m["loss/tokens"] > 0
        assert abs(m["reward/total"] - (m["reward/accuracy"] + 0.1 * m["reward/format"])) < 1e-6
        if algorithm == "grpo":
            assert m["process/steps_mean"] >= 1 and m["advantages/process_abs_mean"] > 0


class ConstantBatch:
    """A batched reward (scored once per batch in the caller's process)."""

    batched = True

    def score_batch(self, completions, examples):
        return [0.25] * len(completions)


def test_batched_rewards_and_step_rewards_together():
    rewards = {"steps": (steps_reward, 0.5), "outcome": (outcome, 1.0), "batch": (ConstantBatch(), 2.0)}
    scores = score_inline(rewards, ["abc", "xyz"], [{"id": 1}, {"id": 2}])
    assert scores.total_B == [2.5, 2.5]  # outcome 2 + 2 x 0.25; the step reward stays out of the total
    assert list(scores.components) == ["steps", "outcome", "batch"] and "steps" in scores.steps


def test_overlong_term_keeps_step_scores():
    from zero_rl.rewards.length import add_overlong_term

    scores = score_inline({"steps": (steps_reward, 0.5), "outcome": (outcome, 1.0)}, ["abc", "xyz"], [{}, {}])
    shaped = add_overlong_term(scores, [10, 30], max_length=32, buffer=8)
    assert shaped.steps == scores.steps and shaped.components["overlong"][0] == 0.0
    assert shaped.total_B[0] == 2.0 and shaped.total_B[1] < 2.0  # the step reward is still out of the total
