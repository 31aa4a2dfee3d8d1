import subprocess
import sys

import pytest

from zero_rl.config import ConfigError, build_config, load_config


@pytest.mark.parametrize("override,message", [
    ("algorithm.clip_low=1.5", "algorithm.clip_low must be in (0, 1), got 1.5"),
    ("algorithm.advantage=gae", "algorithm.advantage='gae' is not valid; choose one of: dr_grpo, grpo, grpo_batch_std, reinforce_pp_baseline, rloo"),
    ("algorithm.loss_aggregation=sum", "choose one of: seq_mean_token_mean, seq_mean_token_sum_norm, token_mean"),
    ("algorithm.kl_estimator=k4", "choose one of: k1, k2, k3"),
    ("generation.group_size=1", "generation.group_size must be >= 2"),
    ("generation.temperature=0", "generation.temperature must be > 0"),
    ("generation.backend=sglang", "generation.backend='sglang' is not valid"),
    ("optim.lr=-1", "optim.lr must be > 0"),
    ("optim.lr=fast", "optim.lr='fast' has the wrong type; expected float"),
    ("optim.schedule=step", "optim.schedule='step' is not valid"),
    ("run.steps=0", "run.steps must be >= 1"),
    ("run.stepz=3", "unknown field(s) run.stepz"),
    ("runn.steps=3", "unknown section 'runn'"),
    ("run.resume=maybe", "run.resume='maybe' must be true or false"),
    ("steps=3", "must look like section.field=value"),
])
def test_bad_values_fail_fast_with_readable_message(override, message):
    with pytest.raises(ConfigError) as info:
        build_config({}, [override])
    assert message in str(info.value)


def test_yaml_recipe_and_overrides(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("run:\n  steps: 7\nalgorithm:\n  beta: 0.01\n  clip_high: 0.3\n")
    config = load_config(str(recipe), ["run.steps=9", "optim.lr=1e-5", "task.options={max_value: 9}"])
    assert (config.run.steps, config.algorithm.beta, config.algorithm.clip_high) == (9, 0.01, 0.3)
    assert config.optim.lr == 1e-5 and config.task.options == {"max_value": 9}
    assert config.to_dict()["run"]["steps"] == 9


def test_bad_recipe_section(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("trainer:\n  steps: 7\n")
    with pytest.raises(ConfigError, match="unknown section"):
        load_config(str(recipe))


def test_cli_rejects_bad_value_before_loading_a_model():
    result = subprocess.run([sys.executable, "-m", "zero_rl.cli", "train", "algorithm.clip_low=-0.1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "algorithm.clip_low must be in (0, 1), got -0.1" in result.stderr
    assert "Traceback" not in result.stderr
