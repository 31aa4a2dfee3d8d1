"""Wiring check: two GRPO steps on MBPP with a tiny random model, every completion scored in the sandbox."""

import json

from zero_rl.rewards.code_exec import reset_sandbox_stats, sandbox_stats
from zero_rl.tasks import get_task
from zero_rl.config import build_config
from zero_rl.embedded import build_tiny_random
from zero_rl.trainer import train


def test_two_grpo_steps_on_mbpp_score_in_the_sandbox(tmp_path):
    model, tokenizer = build_tiny_random(seed=3)
    # code_source="raw": a random model writes no fenced <answer>, so run the raw text to exercise the sandbox.
    task = get_task("mbpp", code_source="raw", timeout_s=2.0)
    config = build_config({}, [
        "task.name=mbpp", "run.steps=2", "run.prompts_per_step=2", "generation.group_size=4",
        "generation.max_new_tokens=16", "task.eval_size=2", f"run.output_dir={tmp_path}", "run.progress=false",
        "optim.micro_batch_size=4", "optim.warmup_steps=0", "optim.lr=1e-3"])
    reset_sandbox_stats()
    result = train(config, model=model, tokenizer=tokenizer, task=task)

    assert result["steps"] == 2
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [1, 2]
    for m in lines:
        assert m["reward/accuracy/errors"] == 0 and m["reward/accuracy/timeouts"] == 0
        assert 0.0 <= m["reward/accuracy"] <= 1.0 and "reward/format" in m
    stats = sandbox_stats()
    # 2 steps x 2 prompts x 4 samples, plus the held-out evaluations, each ran a real sandboxed program
    assert sum(stats.values()) >= 16 and set(stats) <= {"passed", "failed", "timeout", "crashed", "no_code"}
    assert stats.get("failed", 0) + stats.get("crashed", 0) >= 16
