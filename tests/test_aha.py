"""The aha variant of the embedded base model (zero_rl/aha.py) and the experiment's statistics
(zero_rl/aha_experiment.py)."""

import math
import random
from dataclasses import asdict

import pytest

from zero_rl.aha import AhaRecipe, TASK_OPTIONS, level_options
from zero_rl.aha_experiment import RecordingGenerator, length_ratio, paired_bootstrap, t_interval
from zero_rl.embedded import BaseModelRecipe, corpus_document
from zero_rl.tasks.arithmetic import split_of


def _docs(count=3000, seed=0):
    rng = random.Random(seed)
    recipe = AhaRecipe()
    return [recipe.document(rng) for _ in range(count)]


def test_default_recipe_is_untouched_by_the_variant():
    """The variant is additive: the default recipe's fields (hence its key and the shipped weights) and its
    corpus are what they were."""
    assert "corpus" not in asdict(BaseModelRecipe())
    assert AhaRecipe().key() != BaseModelRecipe().key()
    a, b = random.Random(3), random.Random(3)
    assert [BaseModelRecipe().document(a) for _ in range(50)] == [corpus_document(b, BaseModelRecipe()) for _ in range(50)]


def test_aha_corpus_shares_work_outside_think_and_a_short_habit_inside():
    docs = _docs()
    templated = [d for d in docs if "Assistant:" in d]
    plain = [d for d in docs if "Assistant:" not in d]
    think = [d.rsplit("Assistant: <think>", 1)[1].split("</think>")[0] for d in templated if "Assistant: <think>" in d]
    worked_think = [t for t in think if " = " in t]
    assert 0.45 < len(plain) / len(docs) < 0.65
    assert all(" = " in line for d in plain for line in d.splitlines())  # worksheets always show the work
    assert len(think) > 0.4 * len(templated)  # tags are common in the template ...
    assert 0.03 < len(worked_think) / len(think) < 0.25  # ... but working inside them is rare
    chains = [d for d in plain if d.count(" = ") >= 4]  # five-operand chains, worked in four steps, exist
    assert chains


def test_aha_corpus_uses_train_expressions_only():
    for doc in _docs(1500, seed=1):
        if "User: Compute " in doc:
            expression = doc.split("User: Compute ", 1)[1].split(". Assistant:", 1)[0]
            assert split_of(expression) == "train"


def test_levels_are_exact_operand_counts():
    from zero_rl.tasks import get_task

    for operands in (3, 5):
        task = get_task("arithmetic", **level_options(operands), test_size=20, train_size=1)
        for example in task.load("test"):
            assert sum(isinstance(t, int) for t in example["tokens"]) == operands
    assert TASK_OPTIONS["max_operands"] == 5


@pytest.mark.parametrize("treated,control,mean,excludes_zero", [
    ([1, 1, 1, 1] * 25, [0, 0, 0, 0] * 25, 1.0, True),
    ([1, 0] * 50, [1, 0] * 50, 0.0, False),
    ([1, 0, 1, 1] * 25, [0, 0, 1, 0] * 25, 0.5, True),
])
def test_paired_bootstrap(treated, control, mean, excludes_zero):
    result = paired_bootstrap(treated, control, resamples=2000)
    assert result["mean"] == pytest.approx(mean)
    assert result["low"] <= result["mean"] <= result["high"]
    assert (result["low"] > 0) == excludes_zero


def test_paired_bootstrap_rejects_unpaired():
    with pytest.raises(ValueError, match="equal"):
        paired_bootstrap([1, 0], [1])


def test_t_interval_hand_computed():
    result = t_interval([0.1, 0.2, 0.3])
    half = 4.303 * 0.1 / math.sqrt(3)
    assert result["mean"] == pytest.approx(0.2)
    assert (result["low"], result["high"]) == pytest.approx((0.2 - half, 0.2 + half))
    assert math.isnan(t_interval([0.5])["low"])


def test_length_ratio():
    lengths = [10, 10, 10] + [15] * 6 + [30]
    assert length_ratio(lengths) == {"start": 10, "end": 30, "ratio": 3.0}
    with pytest.raises(ValueError):
        length_ratio([1, 2])


def test_recording_generator_keeps_rollouts_not_greedy_calls():
    from zero_rl.generation import SamplingParams
    from zero_rl.generation import Completion

    class Echo:
        name = "echo"

        def generate(self, prompt_ids, params):
            return [Completion(prompt_index=i, token_ids=[1], text=f"c{i}", logprobs=None,
                               finish_reason="stop")
                    for i in range(len(prompt_ids)) for _ in range(params.n)]

    class Tok:
        def decode(self, ids):
            return "... User: Compute 1 + 2. Assistant:"

    recorder = RecordingGenerator(Echo(), Tok(), keep=2)
    recorder.generate([[1], [2]], SamplingParams(n=1, temperature=0.0, max_new_tokens=4))
    assert recorder.rollouts == []
    recorder.generate([[1], [2]], SamplingParams(n=4, temperature=1.0, max_new_tokens=4))
    recorder.generate([[1], [2]], SamplingParams(n=4, temperature=1.0, max_new_tokens=4))
    assert [r["call"] for r in recorder.rollouts] == [1, 1, 2, 2]
    assert recorder.rollouts[0]["question"] == "Compute 1 + 2. Assistant:" and recorder.name == "echo"


def test_embedded_aha_is_a_model_name_the_config_accepts():
    from zero_rl.config import ConfigError
    from zero_rl.models import embedded_variant_recipe
    from zero_rl.preflight import check_model

    assert isinstance(embedded_variant_recipe("embedded:aha"), AhaRecipe)
    check_model("embedded:aha")  # built on first use, like the default: nothing to find beforehand
    with pytest.raises(ConfigError, match="embedded:nope"):
        check_model("embedded:nope")


def test_aha_recipe_file_names_the_variant():
    from zero_rl.aha_experiment import DEFAULT_RECIPE
    from zero_rl.config import load_config

    config = load_config(str(DEFAULT_RECIPE))
    assert config.model.name_or_path == "embedded:aha"
    assert config.task.options == {k: v for k, v in TASK_OPTIONS.items()}
    assert config.algorithm.beta == 0.0 and config.algorithm.loss_aggregation == "seq_mean_token_sum_norm"


def test_summarize_runs_pairs_each_seed_with_the_control():
    from zero_rl.aha_experiment import print_summary, summarize_runs

    def level(correct, length=10.0):
        return {"correct": correct, "length": length}

    sampled = {"pass@k": {1: 0.1, 2: 0.2}, "mean_length": 20.0}
    base = {"control": {"5 operands": level([False] * 4), "sampled": sampled},
            "plain": {"5 operands": {"correct": [False, False, False, True]}}}
    runs = [{"seed": s, "length": {"start": 10, "end": 25, "ratio": 2.5},
             "eval": {"5 operands": level(c, 30.0), "sampled": dict(sampled, **{"pass@k": {1: 0.5, 2: 0.6}})}}
            for s, c in ((0, [True, True, False, False]), (1, [True, True, True, False]))]
    summary = summarize_runs(base, runs, [1, 2])
    row = summary["levels"]["5 operands"]
    assert row["control_greedy"] == 0.0 and row["base_unprompted_greedy"] == 0.25
    assert row["rl_greedy_per_seed"] == [0.5, 0.75]
    assert row["difference_pooled"]["mean"] == pytest.approx(0.625)  # per problem: 1, 1, 0.5, 0
    assert row["difference_over_seeds_t"]["mean"] == pytest.approx(0.625)
    lines = []
    print_summary(summary, lines.append)
    assert any("+62.5 pts" in line for line in lines)
