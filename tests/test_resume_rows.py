"""A run killed after its last checkpoint resumes with one row per step; checkpoint retention; honest metrics
when no update happens."""

import json

import pytest

from zero_rl.tasks import get_task
from zero_rl.config import build_config
from zero_rl.embedded import build_tiny_random
from zero_rl.generation.hf import HFGenerator
from zero_rl.trainer import NO_SIGNAL_WARN_STEPS, train
from zero_rl.metrics import truncate_for_resume
from zero_rl.task import Task


def config(tmp_path, *extra):
    return build_config({}, [
        "run.prompts_per_step=2", "generation.group_size=2", "generation.max_new_tokens=6", "task.eval_size=4",
        f"run.output_dir={tmp_path}", "run.progress=false", "optim.warmup_steps=0", *extra])


def small_task():
    return get_task("arithmetic", train_size=100, test_size=8)


class Killed(Exception):
    pass


class DiesAtStep:
    """The transformers generator, killed when asked for the rollouts of training step `step`."""

    name = "hf"

    def __init__(self, model, tokenizer, step):
        self.inner, self.step, self.rollouts = HFGenerator(model, tokenizer), step, 0

    def generate(self, prompt_ids, params):
        if params.n > 1:
            self.rollouts += 1
            if self.rollouts == self.step:
                raise Killed
        return self.inner.generate(prompt_ids, params)

    def sync_weights(self, model):
        self.inner.sync_weights(model)


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_killed_run_resumes_with_one_row_per_step(tmp_path):
    model, tokenizer = build_tiny_random(seed=3)
    with pytest.raises(Killed):  # checkpoints at 2 and 4, eval at 3, killed while generating step 6
        train(config(tmp_path, "run.steps=7", "run.save_every=2", "run.eval_every=3"), model=model,
              tokenizer=tokenizer, task=small_task(), generator=DiesAtStep(model, tokenizer, step=6))
    assert [r["step"] for r in rows(tmp_path / "metrics.jsonl")] == [1, 2, 3, 4, 5]
    model, tokenizer = build_tiny_random(seed=3)
    logs = []
    train(config(tmp_path, "run.steps=7", "run.save_every=2", "run.eval_every=3", "run.resume=true"), model=model,
          tokenizer=tokenizer, task=small_task(), log=logs.append)
    assert any("dropped 1 metric/eval rows written after step 4" in line for line in logs), logs
    assert [r["step"] for r in rows(tmp_path / "metrics.jsonl")] == [1, 2, 3, 4, 5, 6, 7]
    assert [r["step"] for r in rows(tmp_path / "eval.jsonl")] == [0, 3, 6, 7]


@pytest.mark.parametrize("start,total,metrics_kept,evals_kept", [
    (4, 8, [1, 2, 3, 4], [0, 2, 4]),  # the eval at the checkpoint's step is not repeated by the resumed run
    (8, 8, [1, 2, 3, 4, 5, 6, 7, 8], [0, 2, 4, 6]),  # the final eval is: it is written again
    (0, 8, [], []),  # no checkpoint: the resumed run starts over, "before" eval included
])
def test_truncate_for_resume(tmp_path, start, total, metrics_kept, evals_kept):
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps({"step": s}) + "\n" for s in range(1, 9)))
    (tmp_path / "eval.jsonl").write_text("".join(json.dumps({"step": s}) + "\n" for s in (0, 2, 4, 6, 8)))
    truncate_for_resume(tmp_path, start, total)
    assert [r["step"] for r in rows(tmp_path / "metrics.jsonl")] == metrics_kept
    assert [r["step"] for r in rows(tmp_path / "eval.jsonl")] == evals_kept


def test_truncate_drops_a_line_cut_by_the_kill(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n{"step": 2}\n{"step": 3, "rew')
    truncate_for_resume(tmp_path, 2, 8)
    assert [r["step"] for r in rows(tmp_path / "metrics.jsonl")] == [1, 2]


def test_keep_last_prunes_old_checkpoints(tmp_path):
    model, tokenizer = build_tiny_random(seed=2)
    train(config(tmp_path, "run.steps=4", "run.save_every=1", "run.keep_last=2", "run.eval_every=0"), model=model,
          tokenizer=tokenizer, task=small_task())
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-000003", "step-000004"]


def constant(completion: str, example: dict) -> float:
    return 0.5


def test_no_update_logs_null_and_warns(tmp_path):
    """Every group has equal rewards: nothing is learned, so the update's metrics are null, not 0.0."""
    base = small_task()
    task = Task(name="flat", load=base.load, prompt=base.prompt, rewards={"accuracy": (constant, 1.0)},
                accuracy="accuracy")
    model, tokenizer = build_tiny_random(seed=2)
    logs = []
    train(config(tmp_path, f"run.steps={NO_SIGNAL_WARN_STEPS}", "run.eval_every=0"), model=model,
          tokenizer=tokenizer, task=task, log=logs.append)
    for row in rows(tmp_path / "metrics.jsonl"):
        assert row["groups/zero_std_share"] == 1.0 and row["loss/tokens"] == 0
        for key in ("loss/entropy", "loss/grad_norm", "loss/clip_fraction"):
            assert row[key] is None, (key, row[key])
    assert sum("no learning signal" in line for line in logs) == 1, logs
