"""Runs never mix: a second run into a used folder is refused unless --resume or --overwrite; --resume refuses a
checkpoint beyond run.steps and a config that changed what may not change; a resumed run writes one row per step
and its report."""

import json

import pytest
import yaml

from zero_rl.cli import main
from zero_rl.config import build_config

TINY = ["run.prompts_per_step=2", "generation.group_size=2", "generation.max_new_tokens=6", "task.eval_size=4",
        "run.progress=false", "task.options={train_size: 200, test_size: 8}"]


@pytest.fixture
def finished_run(tmp_path):
    """A run folder as an 8-step run with lr 3e-4 leaves it (only what the checks read)."""
    run = tmp_path / "run"
    config = build_config({}, [f"run.output_dir={run}", "run.steps=8", *TINY])
    (run / "checkpoints" / "step-000008").mkdir(parents=True)
    (run / "checkpoints" / "step-000008" / "COMPLETE").write_text("8")
    (run / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    (run / "metrics.jsonl").write_text("".join(json.dumps({"step": s}) + "\n" for s in range(1, 9)))
    return run


def _refused(capsys, *args):
    code = main(["train", *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    return err


def test_second_run_into_a_used_folder_is_refused(finished_run, capsys, no_model):
    before = sorted(p.name for p in finished_run.rglob("*"))
    err = _refused(capsys, "--output-dir", str(finished_run), "run.steps=2", *TINY)
    assert "is not empty (metrics for steps 1..8)" in err and "--resume" in err and "--overwrite" in err
    assert sorted(p.name for p in finished_run.rglob("*")) == before
    assert len((finished_run / "metrics.jsonl").read_text().splitlines()) == 8


def test_resume_refuses_a_checkpoint_beyond_steps(finished_run, capsys, no_model):
    err = _refused(capsys, "--output-dir", str(finished_run), "--resume", "run.steps=4", *TINY)
    assert "step-000008 is at step 8, beyond run.steps=4" in err


@pytest.mark.parametrize("change,shown", [
    ("optim.lr=1e-5", "optim.lr: 0.0003 -> 1e-05"),
    ("generation.group_size=4", "generation.group_size: 2 -> 4"),
    ("--task=gsm8k", "task.name: 'arithmetic' -> 'gsm8k'"),
    ("algorithm.advantage=rloo", "algorithm.advantage: 'grpo' -> 'rloo'"),
])
def test_resume_refuses_a_different_run(finished_run, capsys, no_model, change, shown):
    err = _refused(capsys, "--output-dir", str(finished_run), "--resume", "run.steps=10", *TINY, change)
    assert "was started with a different config" in err and shown in err


def test_resume_and_overwrite_exclude_each_other(finished_run, capsys, no_model):
    assert "exclude each other" in _refused(capsys, "--output-dir", str(finished_run), "--resume", "--overwrite",
                                            "run.steps=8", *TINY)


def test_overwrite_replaces_and_resume_continues_with_one_row_per_step_and_a_report(finished_run, tiny_model_dir,
                                                                                   capsys):
    (finished_run / "notes.txt").write_text("mine")
    common = ["--model", str(tiny_model_dir), "--output-dir", str(finished_run), *TINY, "run.save_every=1"]
    assert main(["train", "--overwrite", "run.steps=2", *common]) == 0
    assert (finished_run / "notes.txt").read_text() == "mine"  # only what a run writes is deleted
    assert sorted(p.name for p in (finished_run / "checkpoints").iterdir()) == ["step-000001", "step-000002"]
    rows = [json.loads(line)["step"] for line in (finished_run / "metrics.jsonl").read_text().splitlines()]
    assert rows == [1, 2]
    (finished_run / "report.json").unlink()
    # changing the length, evaluation cadence and logging is allowed on resume
    assert main(["train", "--resume", "run.steps=3", "run.eval_every=5", *common]) == 0
    out = capsys.readouterr().out
    assert "resumed from" in out and "step-000002 at step 2" in out
    rows = [json.loads(line)["step"] for line in (finished_run / "metrics.jsonl").read_text().splitlines()]
    assert rows == [1, 2, 3]
    evals = [json.loads(line)["step"] for line in (finished_run / "eval.jsonl").read_text().splitlines()]
    assert evals == [0, 2, 3]
    report = json.loads((finished_run / "report.json").read_text())
    assert report["before"] == json.loads((finished_run / "report_before.json").read_text())
    assert report["after"]["greedy"]["n"] == 4
