import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(args, tmp_path, timeout=600):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", ZERO_RL_CACHE=str(tmp_path / "cache"))
    return subprocess.run([sys.executable, "-m", "zero_rl.cli", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=tmp_path)


def test_train_command_reports_before_and_after(tmp_path, tiny_model_dir):
    result = _run(["train", "--model", str(tiny_model_dir), "--steps", "2", "--output-dir", str(tmp_path / "run"),
                   "run.prompts_per_step=2", "generation.group_size=2", "generation.max_new_tokens=8",
                   "task.eval_size=4", "run.progress=false"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "held-out, 4 problems" in result.stdout
    assert "control: base, <think> pre-filled, greedy" in result.stdout
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    for side in ("before", "after"):
        assert report[side]["greedy"]["n"] == 4 and 0 <= report[side]["sampled"]["pass@1"] <= 1
    assert "control_think_prefilled" in report["before"]
    assert (tmp_path / "run" / "checkpoints" / "step-000002" / "model.safetensors").exists()
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 2


def test_tasks_command_lists_registry(tmp_path):
    from zero_rl.tasks import TASKS

    result = _run(["tasks"], tmp_path)
    assert result.returncode == 0
    listed = [line.split()[0] for line in result.stdout.splitlines()]
    assert listed == sorted(TASKS)


def test_unknown_command(tmp_path):
    result = _run(["trian"], tmp_path)
    assert result.returncode == 2 and "unknown command 'trian'" in result.stderr
