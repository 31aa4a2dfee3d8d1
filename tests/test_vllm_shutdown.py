"""A successful `zero-rl train` with the vLLM generator exits without vLLM's teardown traceback ("Invalid
process group specified", printed by its exit-time finalizer after the trainer had ended the process group)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_vllm_run_ends_without_a_traceback(tmp_path):
    import vllm  # noqa: F401  (missing vLLM fails this test, it does not skip)

    from zero_rl.embedded import build_tiny_random

    build_tiny_random(tmp_path / "model", hidden_size=128, seed=7)  # head size 32: vLLM's CPU attention needs it
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", VLLM_ENABLE_V1_MULTIPROCESSING="0",
               VLLM_CPU_KVCACHE_SPACE="1", HF_HUB_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, "-m", "zero_rl.cli", "train", "--no-report", "--model", str(tmp_path / "model"),
         "--output-dir", str(tmp_path / "run"), "--steps", "1", "generation.backend=vllm", "run.prompts_per_step=2",
         "generation.group_size=2", "generation.max_new_tokens=4", "task.eval_size=2", "run.progress=false"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "Invalid process group" not in result.stderr, result.stderr[-3000:]
    assert (tmp_path / "run" / "checkpoints" / "step-000001" / "COMPLETE").exists()
