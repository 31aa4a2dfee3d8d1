"""Overrides anywhere on the line, the dotted task-option form, defaults in --help, --print-config with field
docs, task options in `zero-rl tasks -v`, one OpenMP thread on small machines."""

import pytest
import yaml

from zero_rl.cli import _threads_default, main
from zero_rl.config import ConfigError, build_config


def printed_config(capsys, *args) -> dict:
    assert main(["train", "--print-config", *args]) == 0
    out = capsys.readouterr().out
    return out, yaml.safe_load(out)


def test_overrides_before_between_and_after_flags(capsys):
    out, config = printed_config(capsys, "run.steps=2", "--output-dir", "D", "optim.lr=1e-5", "--task", "gsm8k",
                                 "generation.group_size=4")
    assert config["run"] == {**config["run"], "steps": 2, "output_dir": "D"}
    assert config["optim"]["lr"] == 1e-5 and config["task"]["name"] == "gsm8k"
    assert config["generation"]["group_size"] == 4


def test_task_options_dotted_form(capsys):
    _, config = printed_config(capsys, "--task", "gsm8k", "task.options.data=openai/gsm8k",
                               "task.options.eval_share=0.1")
    assert config["task"]["options"] == {"data": "openai/gsm8k", "eval_share": 0.1}
    recipe = {"task": {"name": "math", "options": {"levels": [3, 4]}}}
    assert build_config(recipe, ["task.options.subjects=[Algebra]"]).task.options == {
        "levels": [3, 4], "subjects": ["Algebra"]}  # one key added, the recipe's others kept
    with pytest.raises(ConfigError, match="run.steps is not a mapping|wrong type"):
        build_config({}, ["run.steps.x=1"])
    with pytest.raises(ConfigError, match="unknown field task.nosuch"):
        build_config({}, ["task.nosuch.data=1"])


def test_print_config_documents_every_field(capsys):
    out, config = printed_config(capsys, "run.keep_last=3")
    assert config["run"]["keep_last"] == 3 and config["run"]["steps"] == 60  # a valid recipe, defaults filled in
    assert "steps: 60  # Training steps (one generated batch each)." in out
    assert "keep_last: 3  # Keep only the newest N checkpoints" in out
    fields = [line for line in out.splitlines() if line.startswith("  ")]
    assert fields and all("  # " in line for line in fields)


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # as read, whatever the terminal width wrapped
    for text in ("(default: 60)", "(default: runs/latest)", "(default: arithmetic)", "--print-config",
                 "--overwrite", "task.options.data="):
        assert text in out, text
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "95% bootstrap" in out and "%%" not in out
    for text in ("(default: 0.6)", "(default: 0.95)", "(default: eval_out)", "(default: 16)"):
        assert text in out, text


def test_tasks_verbose_lists_options(capsys):
    assert main(["tasks", "-v"]) == 0
    out = capsys.readouterr().out
    assert "data=None" in out and "eval_share=0.0" in out and "max_value=12" in out and "levels=None" in out
    assert main(["tasks"]) == 0
    assert "max_value" not in capsys.readouterr().out


@pytest.mark.parametrize("cores,preset,expected", [(2, None, "1"), (4, None, "1"), (2, "3", "3"), (64, None, None)])
def test_one_openmp_thread_on_small_machines(monkeypatch, cores, preset, expected):
    monkeypatch.setattr("os.cpu_count", lambda: cores)
    if preset is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", preset)
    _threads_default()
    import os

    assert os.environ.get("OMP_NUM_THREADS") == expected
