"""The learned reward model: Bradley-Terry loss, training on planted preferences (held-out pairwise accuracy), the
reward term in the total reward, and `zero-rl train-rm`."""

import json
import math

import pytest
import torch

from zero_rl.embedded import build_tiny_random
from zero_rl.reward_model import (COMPONENT, RewardModelTerm, bradley_terry_loss, load_reward_model,
                                  pairwise_accuracy, sequence_scores, split_pairs, train_reward_model)
from zero_rl.scoring import Scores


def softplus(x):
    return math.log1p(math.exp(x))


@pytest.mark.parametrize("chosen,rejected,expected", [
    ([0.0], [0.0], math.log(2)),  # no preference yet
    ([2.0], [0.0], softplus(-2.0)),
    ([0.0], [2.0], softplus(2.0)),  # wrong way round: a large loss
    ([1.0, 3.0], [0.0, 3.0], (softplus(-1.0) + math.log(2)) / 2),  # mean over pairs
    ([10.0], [0.0], softplus(-10.0)),
])
def test_bradley_terry_loss(chosen, rejected, expected):
    assert bradley_terry_loss(torch.tensor(chosen), torch.tensor(rejected)).item() == pytest.approx(expected, rel=1e-6)


def planted_pairs():
    """Chosen answers in tags, rejected in prose, same number; prompts vary."""
    return [{"prompt": f"Compute {a} * {b}.", "chosen": f" <answer> {a * b} </answer>",
             "rejected": f" The answer is {a * b}."} for a in range(1, 13) for b in range(1, 9)]


@pytest.fixture(scope="module")
def causal_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tiny-causal")
    build_tiny_random(directory, seed=3)
    return directory


def test_reward_model_learns_a_planted_preference(causal_dir):
    model, tokenizer = load_reward_model(str(causal_dir))
    train, held_out = split_pairs(planted_pairs(), 0.25, seed=0)
    assert len(held_out) == 24 and not {p["prompt"] for p in train} & {p["prompt"] for p in held_out}
    before = pairwise_accuracy(model, tokenizer, held_out)
    history = train_reward_model(model, tokenizer, train, held_out, epochs=3, lr=1e-3, batch_size=8,
                                 log=lambda line: None)
    assert history[-1]["eval/accuracy"] >= 0.95, (before, history)
    assert history[-1]["train/loss"] < history[0]["train/loss"]


def test_split_pairs_errors():
    with pytest.raises(ValueError, match="leave none for training"):
        split_pairs(planted_pairs()[:2], 0.9, seed=0)


def test_sequence_scores_batching_and_padding(causal_dir):
    """Scores do not depend on the batch a text is padded in (the classifier reads the last real token)."""
    model, tokenizer = load_reward_model(str(causal_dir))
    texts = ["Compute 1 + 2. <answer> 3 </answer>", "x", "The answer is 12345 and more text here"]
    together = sequence_scores(model, tokenizer, texts, batch_size=3)
    alone = torch.cat([sequence_scores(model, tokenizer, [t], batch_size=1) for t in texts])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


def test_term_changes_the_total_as_weighted(causal_dir):
    model, tokenizer = load_reward_model(str(causal_dir))
    term = RewardModelTerm(model, tokenizer, weight=0.5, batch_size=2)
    prompts, completions = ["Compute 1 + 2.", "Compute 3 * 4."] * 2, [" <answer> 3 </answer>", " 12", " x", ""]
    raw = term.scores(prompts, completions)
    scores = Scores(total_B=[1.0, 0.0, 0.5, 0.25], components={"accuracy": [1.0, 0.0, 0.5, 0.25]})
    term.add_to(scores, prompts, completions)
    assert scores.components[COMPONENT] == raw
    assert scores.total_B == pytest.approx([t + 0.5 * r for t, r in zip([1.0, 0.0, 0.5, 0.25], raw)])
    assert scores.metrics()[f"reward/{COMPONENT}"] == pytest.approx(sum(raw) / 4)
    normalised = RewardModelTerm(model, tokenizer, weight=2.0, batch_size=3, normalize=True).scores(prompts,
                                                                                                     completions)
    assert sum(normalised) == pytest.approx(0.0, abs=1e-5) and torch.tensor(normalised).std() == pytest.approx(1.0, 1e-4)
    with pytest.raises(ValueError, match="already has a reward named"):
        term.add_to(scores, prompts, completions)


def test_reward_model_term_in_training(tmp_path, causal_dir):
    """reward_model.name_or_path on the loop: reward/reward_model is logged and the total is the weighted sum."""
    from zero_rl.config import build_config
    from zero_rl.trainer import train

    rm_dir = tmp_path / "rm"
    model, tokenizer = load_reward_model(str(causal_dir))
    model.save_pretrained(rm_dir)
    tokenizer.save_pretrained(rm_dir)
    policy, policy_tokenizer = build_tiny_random(seed=1)
    config = build_config({}, ["run.steps=2", "run.prompts_per_step=2", "generation.group_size=4",
                               "generation.max_new_tokens=8", "task.eval_size=2", f"run.output_dir={tmp_path / 'run'}",
                               "run.progress=false", f"reward_model.name_or_path={rm_dir}", "reward_model.weight=0.5",
                               "task.options.train_size=32", "task.options.test_size=4"])
    train(config, model=policy, tokenizer=policy_tokenizer)
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    for m in metrics:
        expected = m["reward/accuracy"] + 0.1 * m["reward/format"] + 0.5 * m[f"reward/{COMPONENT}"]
        assert m["reward/total"] == pytest.approx(expected, abs=1e-5) and m[f"reward/{COMPONENT}"] != 0


def test_train_rm_command(tmp_path, causal_dir):
    from zero_rl.cli import main

    data = tmp_path / "prefs.jsonl"
    data.write_text("\n".join(json.dumps(p) for p in planted_pairs()))
    out = tmp_path / "rm"
    assert main(["train-rm", "--data", str(data), "--model", str(causal_dir), "--output-dir", str(out),
                 "--epochs", "3", "--lr", "1e-3", "--batch-size", "8"]) == 0
    result = json.loads((out / "train_rm.json").read_text())
    assert result["history"][-1]["eval/accuracy"] >= 0.95
    model, tokenizer = load_reward_model(str(out))  # a saved sequence classifier with one label
    assert model.config.num_labels == 1
    assert main(["train-rm", "--data", str(tmp_path / "missing.jsonl"), "--model", str(causal_dir),
                 "--output-dir", str(out)]) == 2


@pytest.mark.parametrize("completion,separator,ends", [
    ("a = b = c", " = ", [1, 5, 9]),
    ("abc", " = ", [3]),  # no separator: one step, the whole completion
    ("a = b = ", " = ", [1, 5, 8]),  # ends on a separator: the end is still a step
    (" = a", " = ", [4]),  # an empty first step is skipped
    ("", "\n\n", [0]),
    ("step one\n\nstep two", "\n\n", [8, 18]),
])
def test_step_ends(completion, separator, ends):
    from zero_rl.reward_model import step_ends

    assert step_ends(completion, separator) == ends


def test_learned_prm_hook_gives_step_scores(causal_dir):
    """Process mode: each prefix ending at a step is scored by the model; the steps go to scores.steps (weighted)
    and leave the outcome total alone."""
    model, tokenizer = load_reward_model(str(causal_dir))
    term = RewardModelTerm(model, tokenizer, weight=0.5, batch_size=4, process_separator=" = ")
    prompts, completions = ["Compute 1 + 2."] * 2, [" 1 + 2 = 3", " 3"]
    scores = Scores(total_B=[1.0, 0.0], components={"accuracy": [1.0, 0.0]})
    term.add_to(scores, prompts, completions)
    assert scores.total_B == [1.0, 0.0]
    prefixes = ["Compute 1 + 2. 1 + 2", "Compute 1 + 2. 1 + 2 = 3", "Compute 1 + 2. 3"]
    expected = sequence_scores(model, tokenizer, prefixes, batch_size=1).tolist()
    steps = scores.steps[COMPONENT]
    assert [end for end, _ in steps[0]] == [6, 10] and [end for end, _ in steps[1]] == [2]
    assert [v for s in steps for _, v in s] == pytest.approx([0.5 * e for e in expected], abs=1e-5)
    assert scores.components[COMPONENT] == pytest.approx([(expected[0] + expected[1]) / 2, expected[2]], abs=1e-5)


def test_preflight_checks_the_reward_model_path(tmp_path, no_model):
    from zero_rl.config import ConfigError, build_config
    from zero_rl.preflight import preflight

    config = build_config({}, [f"run.output_dir={tmp_path / 'run'}", f"reward_model.name_or_path={tmp_path / 'nope'}"])
    with pytest.raises(ConfigError, match="reward_model.name_or_path=.*no such local folder"):
        preflight(config)
