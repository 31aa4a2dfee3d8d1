"""DAPO dynamic sampling: groups with equal rewards are replaced by groups from further prompts, rounds are agreed
across ranks, too few informative groups after the round limit stop with a clear error, and a resumed run takes
the same prompts as an uninterrupted one (the data position depends on the rounds used)."""

import hashlib
import json

import pytest
import torch

from tests.test_train_smoke import _Stop, config
from zero_rl.dynamic_sampling import (DynamicSamplingError, Rollout, concat_rollouts, sample_informative_groups,
                                      select_groups)
from zero_rl.embedded import build_tiny_random
from zero_rl.generation import Completion
from zero_rl.scoring import Scores
from zero_rl.tasks import get_task
from zero_rl.task import Task
from zero_rl.trainer import step_examples, train

# ---------------------------------------------------------------- the sampling loop on scripted rollouts


def _rollout(block: int, rewards_PG: list) -> Rollout:
    """Prompts named 'b<block>p<i>', G completions each with the given rewards."""
    completions, total = [], []
    for i, rewards in enumerate(rewards_PG):
        for j, reward in enumerate(rewards):
            completions.append(Completion(prompt_index=i, token_ids=[j], text=f"b{block}p{i}c{j}", logprobs=None,
                                          finish_reason="stop"))
            total.append(reward)
    return Rollout(examples_P=[{"id": f"b{block}p{i}"} for i in range(len(rewards_PG))],
                   prompt_ids=[[block, i] for i in range(len(rewards_PG))], completions=completions,
                   scores=Scores(total_B=total, components={"accuracy": list(total)}, errors={"accuracy": 1}))


SCRIPT = {
    1: [[1.0, 1.0], [0.0, 1.0], [0.0, 0.0]],  # one informative group of three
    2: [[0.0, 0.0], [1.0, 0.0], [0.5, 0.2]],  # two more
    3: [[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]],
}


def test_constant_groups_are_replaced_by_the_next_prompts_in_order():
    calls = []

    def generate_round(block):
        calls.append(block)
        return _rollout(block, SCRIPT[block])

    rollout, rounds, metrics = sample_informative_groups(generate_round, 1, per_rank=3, group_size=2, max_rounds=5)
    assert calls == [1, 2] and rounds == 2
    assert [e["id"] for e in rollout.examples_P] == ["b1p1", "b2p1", "b2p2"]
    assert rollout.prompt_ids == [[1, 1], [2, 1], [2, 2]]
    assert [c.prompt_index for c in rollout.completions] == [0, 0, 1, 1, 2, 2]
    assert [c.text for c in rollout.completions] == ["b1p1c0", "b1p1c1", "b2p1c0", "b2p1c1", "b2p2c0", "b2p2c1"]
    assert rollout.scores.total_B == [0.0, 1.0, 1.0, 0.0, 0.5, 0.2]
    assert rollout.scores.components["accuracy"] == rollout.scores.total_B
    assert rollout.scores.errors == {"accuracy": 2}  # every round was scored: its errors count
    assert metrics == {"dynamic_sampling/rounds": 2, "dynamic_sampling/generated_groups": 6,
                       "dynamic_sampling/kept_groups": 3, "dynamic_sampling/discarded_groups": 3,
                       "dynamic_sampling/surplus_groups": 0}


def test_the_surplus_of_the_last_round_is_cut():
    rollout, rounds, metrics = sample_informative_groups(lambda b: _rollout(b, SCRIPT[b]), 2, per_rank=1,
                                                         group_size=2, max_rounds=5)
    assert rounds == 1 and [e["id"] for e in rollout.examples_P] == ["b2p1"]
    assert metrics["dynamic_sampling/surplus_groups"] == 1 and metrics["dynamic_sampling/discarded_groups"] == 1


def test_all_constant_groups_stop_with_check_your_data_after_the_round_limit():
    calls = []

    def generate_round(block):
        calls.append(block)
        return _rollout(block, [[1.0, 1.0], [0.0, 0.0]])

    with pytest.raises(DynamicSamplingError, match="after algorithm.max_generation_rounds=3 generation rounds "
                                                   r"\(6 prompts\) only 0 of the 2 .*Check your data"):
        sample_informative_groups(generate_round, 7, per_rank=2, group_size=2, max_rounds=3)
    assert calls == [7, 8, 9]


def test_ranks_agree_on_rounds_from_the_gathered_counts():
    """This rank has its 2 groups after round 1, the other rank has none until round 2: both run 2 rounds (their
    collectives stay matched), and this rank still trains on its first 2 groups only."""
    other = iter([0, 3])

    def gather_counts(count):
        return [count, next(other)]

    script = {1: [[0.0, 1.0], [1.0, 0.0]], 2: [[0.0, 1.0], [1.0, 0.0]]}
    rollout, rounds, metrics = sample_informative_groups(lambda b: _rollout(b, script[b]), 1, per_rank=2,
                                                         group_size=2, max_rounds=4, gather_counts=gather_counts)
    assert rounds == 2 and [e["id"] for e in rollout.examples_P] == ["b1p0", "b1p1"]
    assert metrics["dynamic_sampling/kept_groups"] == 4 and metrics["dynamic_sampling/generated_groups"] == 8


def test_select_and_concat_keep_rows_with_their_prompts():
    a, b = _rollout(1, [[0.0, 1.0], [2.0, 3.0]]), _rollout(2, [[4.0, 5.0]])
    merged = concat_rollouts([select_groups(a, [False, True]), b])
    assert [(c.prompt_index, c.text) for c in merged.completions] == [(0, "b1p1c0"), (0, "b1p1c1"), (1, "b2p0c0"),
                                                                      (1, "b2p0c1")]
    assert merged.scores.total_B == [2.0, 3.0, 4.0, 5.0]


# ---------------------------------------------------------------- in the training loop

CONSTANT_IDS = set()
"""Example ids whose completions all get reward 0.5 (groups without signal)."""


def constant_for_known_prompts(completion: str, example: dict) -> float:
    if example["id"] in CONSTANT_IDS:
        return 0.5
    return int(hashlib.sha1(completion.encode()).hexdigest()[:8], 16) / 2 ** 32


def known_constant_task() -> Task:
    base = get_task("arithmetic", train_size=200, test_size=16)
    return Task(name="known_constant", load=base.load, prompt=base.prompt,
                rewards={"signal": (constant_for_known_prompts, 1.0), "accuracy": (base.rewards["accuracy"][0], 0.0)},
                accuracy="accuracy")


DYNAMIC = ("algorithm.dynamic_sampling=true", "algorithm.max_generation_rounds=4")


@pytest.fixture
def constant_blocks(monkeypatch):
    """Make prompts 0-1 of block 1 and prompt 0 of block 3 constant (4 prompts per block, seed 0)."""
    task = known_constant_task()
    train_examples = task.load("train")
    block = {b: step_examples(train_examples, b, 4, 0, 0, 1) for b in range(1, 8)}
    monkeypatch.setitem(constant_for_known_prompts.__globals__, "CONSTANT_IDS",
                        {block[1][0]["id"], block[1][1]["id"], block[3][0]["id"]})
    return task, block


def test_training_replaces_exactly_the_constant_groups(tmp_path, monkeypatch, constant_blocks):
    import zero_rl.trainer as trainer

    task, block = constant_blocks
    built = []
    original = trainer.build_batch
    monkeypatch.setattr(trainer, "build_batch", lambda prompt_ids, *a, **k: built.append(prompt_ids)
                        or original(prompt_ids, *a, **k))
    model, tokenizer = build_tiny_random(seed=2)
    train(config(tmp_path, *DYNAMIC), model=model, tokenizer=tokenizer, task=task)

    def ids(examples):
        return [tokenizer(task.prompt(e), add_special_tokens=False)["input_ids"] for e in examples]

    # step 1: block 1 loses its prompts 0 and 1, block 2's first two replace them; step 2 starts at block 3,
    # which loses its prompt 0 to block 4's first
    assert built == [ids(block[1][2:] + block[2][:2]), ids(block[3][1:] + block[4][:1])]
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [m["dynamic_sampling/rounds"] for m in lines] == [2, 2]
    assert [m["dynamic_sampling/discarded_groups"] for m in lines] == [2, 1]
    assert [m["dynamic_sampling/kept_groups"] for m in lines] == [4, 4]
    assert all(m["groups/zero_std_share"] == 0 for m in lines)
    state = torch.load(tmp_path / "checkpoints" / "step-000002" / "trainer_state.pt", weights_only=False)
    assert state["data_position"] == 4 * 4  # four blocks of 4 prompts consumed in 2 steps


def test_training_on_constant_rewards_stops_with_check_your_data(tmp_path, monkeypatch):
    monkeypatch.setitem(constant_for_known_prompts.__globals__, "CONSTANT_IDS", _AllIds())
    model, tokenizer = build_tiny_random(seed=2)
    with pytest.raises(DynamicSamplingError, match="max_generation_rounds=2 generation rounds .*Check your data"):
        train(config(tmp_path, "algorithm.dynamic_sampling=true", "algorithm.max_generation_rounds=2"),
              model=model, tokenizer=tokenizer, task=known_constant_task())


class _AllIds:
    def __contains__(self, item):
        return True


def test_resume_with_dynamic_sampling_equals_uninterrupted(tmp_path, monkeypatch, constant_blocks):
    import zero_rl.trainer as trainer

    task, _ = constant_blocks
    settings = ("run.steps=3", "run.save_every=1", *DYNAMIC)
    model_a, tokenizer = build_tiny_random(seed=2)
    train(config(tmp_path / "a", *settings), model=model_a, tokenizer=tokenizer, task=task)

    model_b, _ = build_tiny_random(seed=2)
    original = trainer.save_checkpoint

    def save_then_stop(directory, step, *args, **kwargs):
        path = original(directory, step, *args, **kwargs)
        if step == 2:
            raise _Stop
        return path

    monkeypatch.setattr(trainer, "save_checkpoint", save_then_stop)
    with pytest.raises(_Stop):
        train(config(tmp_path / "b", *settings), model=model_b, tokenizer=tokenizer, task=task)
    monkeypatch.setattr(trainer, "save_checkpoint", original)
    model_c, _ = build_tiny_random(seed=99)
    train(config(tmp_path / "b", *settings, "run.resume=true"), model=model_c, tokenizer=tokenizer, task=task)
    for (name, p), q in zip(model_a.named_parameters(), model_c.parameters()):
        assert torch.equal(p, q), f"{name} differs after resume"
    a = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    b = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in b] == [1, 2, 3]
    assert [m["dynamic_sampling/rounds"] for m in b] == [m["dynamic_sampling/rounds"] for m in a] == [2, 2, 1]
    assert [m["reward/total"] for m in b] == [m["reward/total"] for m in a]


def test_two_processes_agree_on_rounds_under_ddp_and_fsdp2(tmp_path):
    from launching import launch_two_cpu_processes

    result = launch_two_cpu_processes("ddp_dynamic_sampling.py", tmp_path, "ddp", "fsdp2")
    assert result.returncode == 0, result.stderr[-4000:]
    runs = {(s, r): torch.load(tmp_path / f"{s}.rank{r}.pt", weights_only=False) for s in ("ddp", "fsdp2")
            for r in (0, 1)}
    for (strategy, rank), run in runs.items():
        assert run["world"] == 2
        # training blocks (the held-out evals draw no training prompts): step 1 takes blocks 1 and 2 on both
        # ranks although rank 1 had its 2 informative groups after block 1; step 2 takes block 3
        assert run["blocks"] == [1, 2, 3], (strategy, rank)
        # batch-std advantages see both ranks' rewards: 2 ranks x 2 prompts x 4 completions per step
        assert run["seen_rows"] == [16, 16], (strategy, rank)
    for strategy in ("ddp", "fsdp2"):
        rank0, rank1 = runs[strategy, 0]["policy"], runs[strategy, 1]["policy"]
        assert all(torch.equal(rank0[k], rank1[k]) for k in rank0), f"{strategy}: ranks differ"
        lines = runs[strategy, 0]["metrics"]
        assert [m["dynamic_sampling/rounds"] for m in lines] == [2, 1]
        assert lines[0]["dynamic_sampling/discarded_groups"] == 2 and lines[0]["dynamic_sampling/kept_groups"] == 4
    ddp, fsdp2 = runs["ddp", 0]["policy"], runs["fsdp2", 0]["policy"]
    assert max(float((ddp[k] - fsdp2[k]).abs().max()) for k in ddp) < 1e-5  # FSDP2 trains like DDP here too
