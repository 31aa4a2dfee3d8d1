"""`zero-rl train` reports user errors the way `zero-rl eval` does: one line on stderr, exit code 2, before any
model loads (or the embedded base model starts building), and without creating the run folder."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zero_rl.cli import main

ROOT = Path(__file__).resolve().parent.parent


def gsm8k_rows(*answers):
    return "".join(json.dumps({"question": f"How many apples, case {i}?", "answer": a}) + "\n"
                   for i, a in enumerate(answers))


@pytest.fixture
def files(tmp_path):
    broken = tmp_path / "gsm_broken"
    broken.mkdir()
    (broken / "train.jsonl").write_text(gsm8k_rows("3 + 4 = 7 #### 7", "no final answer line"))
    (broken / "test.jsonl").write_text(gsm8k_rows("#### 2"))
    (tmp_path / "one_file.jsonl").write_text(gsm8k_rows(*[f"#### {i}" for i in range(20)]))
    (tmp_path / "run_is_int.yaml").write_text("run: 5\n")
    (tmp_path / "malformed.yaml").write_text("run:\n  steps: [1, 2\n")
    return tmp_path


# (arguments, extra environment, a piece of the one-line message)
CASES = [
    (["--task", "nosuch"], {}, "task.name='nosuch' is not a registered task; choose one of: "),
    (["--task", "gsm8k", "task.options.data={tmp}/gsm_broken"], {}, "row 1 field 'answer' has no '####'"),
    (["task.options={nosuch: 1}"], {}, "task 'arithmetic' has no option(s) nosuch; its options: min_operands"),
    (["task.options.max_value=0"], {}, "max_value must be >= 1"),
    (["--config", "{tmp}/run_is_int.yaml"], {}, "section 'run' must be a mapping of fields"),
    (["--config", "{tmp}/malformed.yaml"], {}, "malformed.yaml: not valid YAML: "),
    (["--config", "{tmp}/absent.yaml"], {}, "No such file or directory"),
    (["--model", "{tmp}/no-such-model"], {}, "no such local folder"),
    (["--model", "{tmp}"], {}, "this folder has no config.json"),
    (["--model", "no-such-org/no-such-model"], {"HF_HUB_OFFLINE": "1"},
     "is not in the local Hugging Face cache and HF_HUB_OFFLINE is set"),
    (["--model", "no-such-org/no-such-model"], {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"},
     "127.0.0.1 cannot be reached"),  # no network: at once, not after a minute of retries
    ([], {"WORLD_SIZE": "3"}, "run.prompts_per_step=32 must divide evenly across the 3 processes"),
    (["--task", "gsm8k", "task.options.data={tmp}/one_file.jsonl"], {},
     "is one file with no splits, so it would be both the training and the held-out split"),
    (["--task", "gsm8k"], {"ZERO_RL_DATA": "{tmp}/no-data-here"}, "task.options.data=openai/gsm8k"),
    (["run.steps=0"], {}, "run.steps must be >= 1, got 0"),
    (["run.stpes=3"], {}, "unknown field(s) run.stpes"),
]


@pytest.mark.parametrize("args,env,message", CASES, ids=[" ".join(c[0]) or str(c[1]) for c in CASES])
def test_user_errors_are_one_line_before_any_model(args, env, message, files, no_model, monkeypatch, capsys):
    for key, value in env.items():
        monkeypatch.setenv(key, value.replace("{tmp}", str(files)))
    run = files / "run"
    code = main(["train", "--output-dir", str(run), *[a.replace("{tmp}", str(files)) for a in args]])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("zero-rl train: "), err
    assert message in lines[0]
    assert not run.exists(), "the run folder was created before the checks passed"


def test_error_in_a_fresh_process_builds_nothing(tmp_path):
    """Without --model a wrong task name used to start the embedded base-model build first."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", ZERO_RL_CACHE=str(tmp_path / "cache"))
    result = subprocess.run([sys.executable, "-m", "zero_rl.cli", "train", "--task", "nosuch"], capture_output=True,
                            text=True, env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("zero-rl train: task.name='nosuch'") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "cache").exists() and not (tmp_path / "runs").exists()


def test_held_out_overlap_is_refused(tmp_path, no_model, capsys):
    """A held-out file that repeats the training questions (same text, other ids) is refused."""
    (tmp_path / "train.jsonl").write_text(gsm8k_rows(*[f"#### {i}" for i in range(10)]))
    code = main(["train", "--task", "gsm8k", "--output-dir", str(tmp_path / "run"),
                 f"task.options.data={tmp_path}/train.jsonl", f"task.options.eval_data={tmp_path}/train.jsonl"])
    err = capsys.readouterr().err
    assert code == 2 and "10 of 10 held-out problems also appear in the training split" in err


def test_gsm8k_one_file_needs_a_split_rule(tmp_path):
    from zero_rl.tasks import get_task

    data = tmp_path / "all.jsonl"
    data.write_text(gsm8k_rows(*[f"#### {i}" for i in range(200)]))
    task = get_task("gsm8k", data=str(data), eval_share=0.2)
    train, test = task.load("train"), task.load("test")
    assert len(train) + len(test) == 200 and 20 <= len(test) <= 60
    assert not {e["question"] for e in train} & {e["question"] for e in test}
    assert [e["question"] for e in get_task("gsm8k", data=str(data), eval_share=0.2).load("test")] == \
        [e["question"] for e in test]  # the same rule every time
    # alone, the file is a held-out set (as `zero-rl eval` uses it), never a training split too
    assert len(get_task("gsm8k", data=str(data)).load("test")) == 200
    held_out = tmp_path / "held_out.jsonl"
    held_out.write_text(gsm8k_rows("#### 5"))
    task = get_task("gsm8k", data=str(data), eval_data=str(held_out))
    assert len(task.load("train")) == 200 and len(task.load("test")) == 1


def test_check_only_runs_the_checks(tmp_path, no_model, capsys):
    run = tmp_path / "run"
    assert main(["train", "--check", "--output-dir", str(run), "task.options={train_size: 50, test_size: 10}"]) == 0
    out = capsys.readouterr().out
    assert "checks passed: task 'arithmetic' (50 training, 10 held-out examples)" in out and not run.exists()
