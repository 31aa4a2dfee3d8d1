"""PPO with a critic on the training loop: the value model, a smoke run, critic warm-up, exact resume with the
critic, and 2-process DDP with identical actor and critic on both ranks."""

import copy
import json

import pytest
import torch
from launching import launch_two_cpu_processes
from test_train_smoke import _train_until, config, dense_task

from tests.test_logprobs import random_batch
from zero_rl.config import ConfigError, build_config
from zero_rl.critic import ValueModel, build_value_model, completion_values, init_value_head
from zero_rl.embedded import build_model, build_tiny_random
from zero_rl.trainer import train

PPO = ("algorithm.name=ppo",)


def test_value_head_init_statistics_and_private_rng():
    head = torch.nn.Linear(4095, 1, bias=False)
    state = torch.get_rng_state()
    init_value_head(head, seed=3)
    assert torch.equal(torch.get_rng_state(), state), "the head's init drew from the run's RNG"
    weights = head.weight.flatten()
    assert abs(weights.mean().item()) < 3 / 4096 / 4095 ** 0.5 * 10
    assert weights.std().item() == pytest.approx(1 / 4096, rel=0.05)  # std 1/(H+1)
    again = torch.nn.Linear(4095, 1, bias=False)
    init_value_head(again, seed=3)
    assert torch.equal(again.weight, head.weight)


def test_value_model_copies_the_policy_backbone_and_starts_near_zero():
    policy, _ = build_tiny_random(seed=1)
    critic = build_value_model(policy, None, seed=0)
    assert isinstance(critic, ValueModel)
    for (name, p), q in zip(policy.get_decoder().named_parameters(), critic.backbone.parameters()):
        assert torch.equal(p, q) and p.data_ptr() != q.data_ptr(), name  # a copy, not shared storage
    batch = random_batch(seed=3, prompt_lengths=(5, 3), group_size=3, vocab=policy.config.vocab_size)
    values = completion_values(critic, batch)
    assert values.shape == batch.completion_mask_BT.shape
    assert values.abs().max().item() < 1.0  # the small head keeps initial values near 0 (verl#498)


def test_values_with_and_without_the_shared_prompt_forward_agree():
    """The critic runs the policy's shared-prompt KV-cache forward; it must equal one plain forward per row,
    values and gradients."""
    backbone = build_model(100, hidden_size=32, intermediate_size=64, num_layers=2, seed=4).get_decoder()
    critic = ValueModel(backbone, 32, seed=0)
    batch = random_batch(seed=11, prompt_lengths=(6, 2, 9, 4), group_size=4)
    grads = []
    for share in (True, False):
        critic.zero_grad()
        values = completion_values(critic, batch, share_prompts=share)
        (values * batch.completion_mask_BT).sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in critic.parameters()]))
        if share:
            shared_values = values.detach()
    assert torch.allclose(shared_values * batch.completion_mask_BT, values.detach() * batch.completion_mask_BT,
                          atol=1e-5)
    assert torch.allclose(grads[0], grads[1], atol=1e-5, rtol=1e-4)


def test_ppo_smoke_run_trains_actor_and_critic(tmp_path):
    model, tokenizer = build_tiny_random(seed=1)
    before = [p.detach().clone() for p in model.parameters()]
    result = train(config(tmp_path, *PPO, "algorithm.lam_actor=0.95", "critic.update_epochs=2",
                          "critic.pretrain_steps=1", "critic.micro_batch_size=5"),
                   model=model, tokenizer=tokenizer, task=dense_task())
    critic = result["critic"]
    initial_critic = build_value_model(build_tiny_random(seed=1)[0], None, seed=0)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters())), "actor did not change"
    assert any(not torch.equal(a, b) for a, b in zip(initial_critic.parameters(), critic.parameters())), \
        "critic did not change"
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [1, 2]
    for m in lines:
        for key in ("critic/value_loss", "critic/value_clip_fraction", "critic/explained_variance",
                    "critic/values_mean", "critic/values_min", "critic/values_max", "critic/returns_mean",
                    "critic/returns_min", "critic/returns_max", "critic/grad_norm", "advantages/mean",
                    "advantages/std", "time/critic", "time/values", "loss/clip_fraction", "loss/grad_norm"):
            assert key in m and m[key] is not None, key
        assert m["critic/value_loss"] > 0 and m["critic/grad_norm"] > 0 and m["loss/grad_norm"] > 0
        assert m["critic/values_min"] <= m["critic/values_mean"] <= m["critic/values_max"]
        # gamma = lam = 1 with no KL: every token's return is its sequence's reward
        assert m["critic/returns_min"] >= 0 and m["critic/returns_max"] <= 2.5
    pretrain = [json.loads(line) for line in (tmp_path / "value_pretrain.jsonl").read_text().splitlines()]
    assert [p["step"] for p in pretrain] == [1] and pretrain[0]["critic/value_loss"] > 0
    checkpoint = tmp_path / "checkpoints" / "step-000002" / "critic"
    assert (checkpoint / "model.safetensors").exists() and (checkpoint / "trainer_state.pt").exists()


def test_critic_warmup_steps_train_only_the_critic(tmp_path):
    model, tokenizer = build_tiny_random(seed=1)
    before = copy.deepcopy(model.state_dict())
    result = train(config(tmp_path, *PPO, "run.steps=1", "critic.warmup_steps=1"), model=model,
                   tokenizer=tokenizer, task=dense_task())
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), f"{name} changed during the critic's warm-up"
    initial_critic = build_value_model(build_tiny_random(seed=1)[0], None, seed=0)
    assert any(not torch.equal(a, b) for a, b in zip(initial_critic.parameters(), result["critic"].parameters()))
    line = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
    assert "critic/value_loss" in line and "loss/clip_fraction" not in line


def test_kl_in_the_reward_with_an_adaptive_coefficient(tmp_path):
    model, tokenizer = build_tiny_random(seed=1)
    train(config(tmp_path, *PPO, "run.steps=3", "algorithm.kl_reward_coef=0.05", "algorithm.kl_target=1.0",
                 "algorithm.kl_horizon=10"), model=model, tokenizer=tokenizer, task=dense_task())
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert lines[0]["kl/reward_k1"] == pytest.approx(0.0, abs=1e-6)  # the policy starts at the reference
    assert lines[1]["kl/reward_k1"] != 0.0 and "loss/kl" not in lines[1]  # in the reward, not in the loss
    for previous, current in zip(lines, lines[1:]):  # KL far below the target: the coefficient falls by 16 / 10 * 0.2
        assert current["kl/coef"] == pytest.approx(previous["kl/coef"] * (1 - 0.2 * 16 / 10))


@pytest.mark.parametrize("extra", [
    ("critic.update_epochs=2", "critic.schedule=cosine", "critic.lr_warmup_steps=1"),
    ("algorithm.kl_reward_coef=0.01", "algorithm.kl_target=0.001", "algorithm.lam_actor_alpha=0.5",
     "critic.micro_batch_tokens=40", "critic.warmup_steps=1"),
])
def test_ppo_resume_equals_uninterrupted_for_actor_and_critic(tmp_path, extra):
    settings = (*PPO, "run.steps=4", "run.save_every=2", "optim.schedule=cosine", "optim.warmup_steps=1", *extra)
    model_a, tokenizer = build_tiny_random(seed=2)
    result_a = train(config(tmp_path / "a", *settings), model=model_a, tokenizer=tokenizer, task=dense_task())

    model_b, _ = build_tiny_random(seed=2)
    half = config(tmp_path / "b", *settings)
    _train_until(half, model_b, tokenizer, stop_after=2)
    # different weights: resume must overwrite actor and critic. With a KL penalty the model handed in is the
    # base model, as `zero-rl train --resume` loads it: the frozen reference is a copy of it, not checkpointed
    model_c, _ = build_tiny_random(seed=2 if any("kl_reward_coef" in e for e in extra) else 99)
    result_c = train(config(tmp_path / "b", *settings, "run.resume=true"), model=model_c, tokenizer=tokenizer,
                     task=dense_task())
    for (name, p), q in zip(model_a.named_parameters(), model_c.parameters()):
        assert torch.equal(p, q), f"actor {name} differs after resume"
    for (name, p), q in zip(result_a["critic"].named_parameters(), result_c["critic"].parameters()):
        assert torch.equal(p, q), f"critic {name} differs after resume"
    a = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    b = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in b] == [1, 2, 3, 4]
    for key in ("critic/value_loss", "critic/values_mean", "critic/lr", "kl/coef"):
        if key in a[-1]:
            assert a[-1][key] == b[-1][key], key


def test_resuming_a_grpo_checkpoint_as_ppo_is_a_clear_error(tmp_path):
    model, tokenizer = build_tiny_random(seed=2)
    train(config(tmp_path, "run.steps=1"), model=model, tokenizer=tokenizer, task=dense_task())
    with pytest.raises(FileNotFoundError, match="has no critic"):
        train(config(tmp_path, *PPO, "run.steps=2", "run.resume=true"), model=model, tokenizer=tokenizer,
              task=dense_task())


@pytest.mark.parametrize("overrides,message", [
    (["algorithm.name=ppo2"], "algorithm.name='ppo2' is not valid"),
    (["algorithm.kl_reward_coef=0.1"], "with algorithm.name=grpo use algorithm.beta"),
    (["algorithm.name=ppo", "algorithm.kl_target=0.1"], "set an initial kl_reward_coef"),
    (["algorithm.lam=1.5"], "algorithm.lam must be in"),
    (["critic.value_clip=-1"], "critic.value_clip must be >= 0"),
    (["critic.update_epochs=0"], "critic.update_epochs must be >= 1"),
    (["critic.typo=1"], "unknown field"),
])
def test_ppo_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        build_config({}, overrides)


def test_two_process_ddp_identical_actor_and_critic(tmp_path):
    result = launch_two_cpu_processes("ddp_train_ppo.py", tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    assert ranks[0]["world"] == ranks[1]["world"] == 2 and "MULTI_CPU" in ranks[0]["distributed_type"]
    initial, _ = build_tiny_random(seed=3)
    initial_critic = build_value_model(initial, None, seed=0).state_dict()
    for part, start in (("actor", initial.state_dict()), ("critic", initial_critic)):
        changed = False
        for name, tensor in ranks[0][part].items():
            assert torch.equal(tensor, ranks[1][part][name]), f"{part} {name} differs between ranks"
            changed |= not torch.equal(tensor, start[name])
        assert changed, f"training did not change the {part}"
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [1, 2] and all("critic/value_loss" in m for m in lines)


def test_ppo_recipes_load_and_the_embedded_one_is_the_quickstart():
    from pathlib import Path

    from zero_rl.config import load_config

    recipes = Path(__file__).resolve().parent.parent / "launch" / "recipes"
    embedded = load_config(str(recipes / "arithmetic_tiny_ppo.yaml"))
    assert embedded.to_dict() == build_config({}, ["algorithm.name=ppo"]).to_dict()
    orz = load_config(str(recipes / "qwen2.5_7b_orz_ppo.yaml"))
    assert (orz.algorithm.name, orz.algorithm.gamma, orz.algorithm.lam, orz.critic.value_clip) == ("ppo", 1.0, 1.0, 0.2)
    assert orz.critic.lr == pytest.approx(5 * orz.optim.lr)
    assert orz.algorithm.beta == orz.algorithm.kl_reward_coef == 0.0


def test_ppo_with_one_completion_per_prompt(tmp_path):
    """Classic PPO: no groups. The critic is the only baseline, so group_size 1 is allowed (GRPO refuses it)."""
    with pytest.raises(ConfigError, match="group_size must be >= 2"):
        build_config({}, ["generation.group_size=1"])
    model, tokenizer = build_tiny_random(seed=1)
    before = [p.detach().clone() for p in model.parameters()]
    train(config(tmp_path, *PPO, "generation.group_size=1", "run.steps=1"), model=model, tokenizer=tokenizer,
          task=dense_task())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters())), "actor did not change"


def test_ppo_scores_in_the_process_pool(tmp_path):
    """The scorer's process pool (task.reward_workers > 0) feeds PPO's per-token rewards as it feeds GRPO."""
    from zero_rl.tasks import get_task

    model, tokenizer = build_tiny_random(seed=1)
    task = get_task("arithmetic", train_size=200, test_size=16)
    train(config(tmp_path, *PPO, "run.steps=1", "task.reward_workers=1"), model=model, tokenizer=tokenizer,
          task=task)
    line = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
    assert line["reward/accuracy/errors"] == 0 and line["reward/accuracy/timeouts"] == 0
    assert -1e-6 <= line["critic/returns_min"] <= line["critic/returns_max"] <= 1.1 + 1e-6  # accuracy 1 + format 0.1
    assert line["critic/value_loss"] > 0
