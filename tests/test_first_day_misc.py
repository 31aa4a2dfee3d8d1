"""Two processes building the embedded base model at once, the launch scripts without an activated
environment, mean@k against pass@1, and the packaging metadata."""

import multiprocessing
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _build(cache: str, queue) -> None:
    os.environ["ZERO_RL_CACHE"] = cache
    from zero_rl.embedded import BaseModelRecipe
    from zero_rl.models import embedded_base_model_once

    logs = []
    recipe = BaseModelRecipe(vocab_size=400, hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2,
                             num_kv_heads=1, seq_len=32, batch_size=2, steps=2, warmup_steps=1, precision="float32")
    try:
        path = embedded_base_model_once(recipe, progress=False, log=logs.append)
        queue.put((str(path), logs, None))
    except BaseException as error:  # the test reads it from the queue
        queue.put((None, logs, f"{type(error).__name__}: {error}"))


def test_two_processes_build_the_base_model_once(tmp_path):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    processes = [context.Process(target=_build, args=(str(tmp_path), queue)) for _ in range(2)]
    for process in processes:
        process.start()
    results = [queue.get(timeout=300) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    assert [error for _, _, error in results] == [None, None]
    assert results[0][0] == results[1][0] and (Path(results[0][0]) / "config.json").exists()
    builds = [line for _, logs, _ in results for line in logs if line.startswith("embedded base model: building")]
    assert len(builds) == 1, builds  # one built it, the other waited and reused it
    assert not list(tmp_path.glob("*.partial"))


def test_cpu_ddp_launch_finds_the_environment_without_activation(tmp_path):
    """`launch/cpu_ddp.sh` with the environment not on PATH (it used to fail with `accelerate: not found`)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "VIRTUAL_ENV": sys.prefix, "NUM_PROCESSES": "2",
           "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(["bash", str(ROOT / "launch" / "cpu_ddp.sh"), "--print-config", "run.steps=3"],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("steps: 3  # Training steps") == 2  # both processes ran zero-rl


def test_cpu_ddp_launch_reports_a_user_error_once(tmp_path):
    """One line and exit code 2, not one line per process followed by the launcher's traceback."""
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.jsonl").write_text('{"step": 1}\n')
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "VIRTUAL_ENV": sys.prefix, "OMP_NUM_THREADS": "1",
           "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(["bash", str(ROOT / "launch" / "cpu_ddp.sh"), "--output-dir", str(tmp_path / "run")],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "is not empty (metrics for steps 1..1)" in result.stderr


def test_launch_script_says_what_to_do_without_an_environment(tmp_path):
    launch = tmp_path / "checkout" / "launch"
    launch.mkdir(parents=True)
    for name in ("cpu_ddp.sh", "find_python.sh"):
        (launch / name).write_text((ROOT / "launch" / name).read_text())
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ZERO_RL_PYTHON": str(tmp_path / "no-python")}
    result = subprocess.run(["bash", str(launch / "cpu_ddp.sh")], capture_output=True, text=True, env=env,
                            timeout=60)
    assert result.returncode == 2 and "no Python with zero-rl and accelerate found" in result.stderr
    assert "make setup" in result.stderr


def test_mean_at_k_uses_every_sample():
    """The first sample wrong, the other seven right: mean@1 used to report 0 next to pass@1 = 7/8."""
    from zero_rl.evaluate import mean_at_k, summarize

    correct = [0, 1, 1, 1, 1, 1, 1, 1]
    records = [{"problem_index": 0, "sample_index": i, "correct": float(c), "formatted": 1.0, "answer": str(c),
                "length": 5, "truncated": False} for i, c in enumerate(correct)]
    summary = summarize(records, [1, 2, 3, 8], bootstrap_resamples=10)
    assert summary["mean@1"] == pytest.approx(summary["pass@1"]) == pytest.approx(7 / 8)
    assert summary["mean@2"] == pytest.approx(7 / 8) and summary["mean@8"] == pytest.approx(7 / 8)
    assert summary["mean@3"] == pytest.approx(5 / 6)  # two blocks of 3; the last 2 samples are left over
    assert mean_at_k([True, False, True], 2) == 0.5
    with pytest.raises(ValueError):
        mean_at_k([True], 2)


def test_license_is_an_spdx_expression():
    """A `license = {text = ...}` table made setuptools print deprecation warnings on every install."""
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            distribution = apply_configuration(Distribution(), "pyproject.toml")
    finally:
        os.chdir(cwd)
    assert [str(w.message) for w in caught if "license" in str(w.message).lower()] == []
    assert distribution.metadata.license_expression == "Apache-2.0"
