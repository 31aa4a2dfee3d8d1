"""What an install provides: rewards/ and tasks/ under the zero_rl namespace (no top-level `rewards` or `tasks`
to collide with other distributions), and the shipped base model inside the package."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_installed_import_names_are_under_zero_rl(tmp_path):
    code = ("import importlib.util as u, zero_rl.rewards.math_answer, zero_rl.tasks; "
            "print(sorted(zero_rl.tasks.TASKS)[0], u.find_spec('rewards'), u.find_spec('tasks'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["aime24", "None", "None"]


def test_wheel_holds_the_namespaced_packages_and_the_base_model(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("zero_rl-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in ("zero_rl/rewards/math_answer.py", "zero_rl/rewards/sandbox_harness.py",
                     "zero_rl/tasks/arithmetic.py", "zero_rl/base_model/model.safetensors",
                     "zero_rl/base_model/build.json", "zero_rl/base_model_aha/model.safetensors",
                     "zero_rl/generation/hf.py"):
        assert expected in names, expected
    assert not any(name.startswith(("rewards/", "tasks/")) for name in names)


def test_the_folders_refuse_a_second_top_level_import():
    """From the repository root `rewards` and `tasks` are importable as folders: that would make a second copy of
    each module (its own caches and registry; reward workers import and warm it again), so it fails clearly."""
    for folder, module in (("rewards", "rewards.math_answer"), ("tasks", "tasks")):
        out = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True, text=True)
        assert out.returncode != 0
        assert f"{folder}/ is installed as zero_rl.{folder}: import zero_rl.{folder}.<module>" in out.stderr
    ok = subprocess.run([sys.executable, "-c", "import zero_rl.rewards.math_answer, zero_rl.tasks"], cwd=ROOT,
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
