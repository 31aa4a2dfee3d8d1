"""End-to-end: a tiny random model trains a few GRPO steps on CPU; checkpoints reload; resume is exact."""

import json

import pytest
import torch

from zero_rl.tasks import get_task
from zero_rl.config import build_config
from zero_rl.embedded import build_tiny_random
from zero_rl.trainer import train
from zero_rl.task import Task


def digit_share(completion: str, example: dict) -> float:
    """A dense reward a random model can move: the share of digits in the completion."""
    return sum(ch.isdigit() for ch in completion) / max(len(completion), 1)


def text_hash(completion: str, example: dict) -> float:
    """A reward that differs whenever two completions differ, so a group of distinct samples always has signal."""
    import hashlib

    return int(hashlib.sha1(completion.encode()).hexdigest()[:8], 16) / 2 ** 32


def dense_task() -> Task:
    base = get_task("arithmetic", train_size=200, test_size=16)
    return Task(name="dense", load=base.load, prompt=base.prompt,
                rewards={"digits": (digit_share, 1.0), "hash": (text_hash, 0.5), **base.rewards},
                accuracy="accuracy", format="format")


def config(tmp_path, *extra):
    return build_config({}, [
        "run.steps=2", "run.prompts_per_step=4", "generation.group_size=4", "generation.max_new_tokens=12",
        "task.eval_size=8", f"run.output_dir={tmp_path}", "run.progress=false", "optim.micro_batch_size=6",
        "optim.warmup_steps=0", "optim.lr=1e-3", *extra])


def test_two_steps_train_log_and_checkpoint(tmp_path):
    model, tokenizer = build_tiny_random(seed=1)
    before = [p.detach().clone() for p in model.parameters()]
    result = train(config(tmp_path, "algorithm.beta=0.01", "task.eval_samples=4", "task.eval_ks=[1, 4]"),
                   model=model, tokenizer=tokenizer, task=dense_task())

    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters())), "parameters did not change"
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [1, 2]
    for m in lines:
        for key in ("reward/total", "reward/digits", "reward/accuracy", "reward/format", "accuracy", "format_rate",
                    "completion/length_mean", "completion/length_max", "completion/clipped_share",
                    "groups/zero_std_share", "loss/clip_fraction", "loss/kl", "loss/entropy", "loss/grad_norm", "lr",
                    "time/generate", "time/score", "time/update", "time/sync", "tokens_per_s",
                    "reward/accuracy/errors", "reward/accuracy/timeouts"):
            assert key in m, key
        assert m["loss/grad_norm"] > 0 and m["loss/entropy"] > 0
        assert m["mismatch/logp_abs_max"] < 1e-4  # the HF generator's log-probs are the trainer's
    evals = [json.loads(line) for line in (tmp_path / "eval.jsonl").read_text().splitlines()]
    assert [e["step"] for e in evals] == [0, 2] and result["after"]["n"] == 8
    for e in evals:  # the periodic eval's pass@k curve: pass@k grows with k
        assert 0 <= e["sampled/pass@1"] <= e["sampled/pass@4"] <= 1 and "sampled/maj@4" in e
    saved = yaml_load(tmp_path / "config.yaml")
    assert saved["run"]["steps"] == 2 and saved["algorithm"]["beta"] == 0.01

    from transformers import AutoModelForCausalLM, AutoTokenizer

    checkpoint = tmp_path / "checkpoints" / "step-000002"
    reloaded = AutoModelForCausalLM.from_pretrained(checkpoint)
    AutoTokenizer.from_pretrained(checkpoint)
    for (name, p), q in zip(model.named_parameters(), reloaded.parameters()):
        assert torch.equal(p, q), name


def yaml_load(path):
    import yaml

    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("extra", [
    (),
    ("algorithm.update_epochs=2", "algorithm.advantage=rloo", "algorithm.loss_aggregation=token_mean"),
])
def test_resume_equals_uninterrupted(tmp_path, extra):
    settings = ("run.steps=4", "run.save_every=2", "optim.schedule=cosine", "optim.warmup_steps=1", *extra)
    model_a, tokenizer = build_tiny_random(seed=2)
    train(config(tmp_path / "a", *settings), model=model_a, tokenizer=tokenizer, task=dense_task())

    model_b, _ = build_tiny_random(seed=2)
    half = config(tmp_path / "b", *settings, "run.steps=2")
    # the interrupted run must use the 4-step schedule: stop it after 2 of 4 steps
    half.run.steps = 4
    _train_until(half, model_b, tokenizer, stop_after=2)
    model_c, _ = build_tiny_random(seed=99)  # different weights: resume must overwrite everything
    train(config(tmp_path / "b", *settings, "run.resume=true"), model=model_c, tokenizer=tokenizer,
          task=dense_task())
    for (name, p), q in zip(model_a.named_parameters(), model_c.parameters()):
        assert torch.equal(p, q), f"{name} differs after resume"
    steps = [json.loads(line)["step"] for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


class _Stop(Exception):
    pass


def _train_until(cfg, model, tokenizer, stop_after: int):
    """Run `train` and kill it (an exception) right after the checkpoint of step `stop_after` is written."""
    import zero_rl.trainer as trainer

    original = trainer.save_checkpoint

    def save_then_stop(directory, step, *args, **kwargs):
        path = original(directory, step, *args, **kwargs)
        if step == stop_after:
            raise _Stop
        return path

    trainer.save_checkpoint = save_then_stop
    try:
        with pytest.raises(_Stop):
            train(cfg, model=model, tokenizer=tokenizer, task=dense_task())
    finally:
        trainer.save_checkpoint = original
