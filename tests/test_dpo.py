"""DPO: the loss on hand-computed log-probs (beta, IPO, length-normalised), pair selection tables, offline DPO from a
preference file, and online DPO on the training loop raising the chosen-over-rejected margin."""

import copy
import json
import math

import pytest
import torch

from zero_rl.config import build_config
from zero_rl.dpo import (dpo_loss, dpo_pair_update, load_preferences, preference_batch, preference_margins,
                         select_pairs, sequence_logps, train_offline_dpo)
from zero_rl.embedded import build_tiny_random


def softplus(x):
    return math.log1p(math.exp(x))


# chosen: policy -1, ref -2 (ratio +1); rejected: policy -3, ref -2 (ratio -1); h = 2
@pytest.mark.parametrize("beta,loss_type,expected", [
    (0.1, "sigmoid", softplus(-0.2)),  # -log sigmoid(beta * h)
    (1.0, "sigmoid", softplus(-2.0)),
    (0.5, "sigmoid", softplus(-1.0)),
    (0.1, "ipo", (2 - 1 / 0.2) ** 2),  # (h - 1/(2 beta))^2 = 9
    (0.25, "ipo", (2 - 2.0) ** 2),  # at IPO's target margin the loss is 0
])
def test_dpo_loss_hand_computed(beta, loss_type, expected):
    loss, chosen, rejected = dpo_loss(torch.tensor([-1.0]), torch.tensor([-3.0]), torch.tensor([-2.0]),
                                      torch.tensor([-2.0]), beta, loss_type)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert chosen.item() == pytest.approx(beta * 1.0) and rejected.item() == pytest.approx(-beta * 1.0)


def test_dpo_loss_gradient_raises_chosen_lowers_rejected():
    chosen = torch.tensor([-2.0], requires_grad=True)
    rejected = torch.tensor([-2.0], requires_grad=True)
    loss, _, _ = dpo_loss(chosen, rejected, torch.tensor([-2.0]), torch.tensor([-2.0]), 0.1)
    loss.sum().backward()
    assert chosen.grad.item() == pytest.approx(-0.05) and rejected.grad.item() == pytest.approx(0.05)  # beta * 0.5


def test_dpo_loss_unknown_type():
    with pytest.raises(KeyError, match="sigmoid, ipo"):
        dpo_loss(torch.zeros(1), torch.zeros(1), torch.zeros(1), torch.zeros(1), 0.1, "hinge")


def test_length_normalised_sequence_logps():
    logp_BT = torch.tensor([[-1.0, -2.0, -3.0, -9.0], [-4.0, -9.0, -9.0, -9.0]])
    mask_BT = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    assert sequence_logps(logp_BT, mask_BT, False).tolist() == [-6.0, -4.0]
    assert sequence_logps(logp_BT, mask_BT, True).tolist() == [-2.0, -4.0]
    # length-normalised DPO on these: the longer chosen (-6 summed) is no longer penalised for its length
    ref_B = torch.tensor([-2.0, -2.0])
    loss_sum, _, _ = dpo_loss(sequence_logps(logp_BT, mask_BT, False)[:1], sequence_logps(logp_BT, mask_BT, False)[1:],
                              ref_B[:1], ref_B[1:], 1.0)
    loss_mean, _, _ = dpo_loss(sequence_logps(logp_BT, mask_BT, True)[:1], sequence_logps(logp_BT, mask_BT, True)[1:],
                               ref_B[:1], ref_B[1:], 1.0)
    assert loss_sum.item() == pytest.approx(softplus(2.0)) and loss_mean.item() == pytest.approx(softplus(-2.0))


@pytest.mark.parametrize("rewards,group_size,pairs_per_group,expected", [
    ([1, 0, 0.5, 0.2], 4, 1, [(0, 1)]),  # best vs worst
    ([0, 1, 1, 0], 4, 1, [(1, 0)]),  # ties within best / worst: the lower row
    ([0.5, 0.5, 0.5, 0.5], 4, 1, []),  # all equal: no pair
    ([0.5, 0.5, 0.5, 0.5], 4, 3, []),
    ([1, 1, 0, 0], 4, 2, [(0, 2), (1, 3)]),  # several pairs
    ([1, 0, 0, 0], 4, 2, [(0, 1)]),  # the second pair would be a tie (0 vs 0): skipped
    ([3, 2, 1, 0], 4, 5, [(0, 3), (1, 2)]),  # at most G // 2 pairs, each row once
    ([1, 0, 0, 0.3, 0.3, 0.3], 3, 1, [(0, 1)]),  # groups are consecutive rows; the second group ties
    ([1, 0, 0, 1, 0.3, 0.3], 3, 1, [(0, 1), (3, 4)]),
    ([0, 1, 2, 3, 5, 5, 5, 5], 4, 1, [(3, 0)]),
])
def test_select_pairs(rewards, group_size, pairs_per_group, expected):
    assert select_pairs(torch.tensor(rewards, dtype=torch.float), group_size, pairs_per_group) == expected


def test_select_pairs_leaves_out_ineligible_rows():
    rewards = torch.tensor([1.0, 0.0, 0.5, 0.9])
    assert select_pairs(rewards, 4, 1, eligible_B=torch.tensor([False, True, True, True])) == [(3, 1)]
    assert select_pairs(rewards, 4, 1, eligible_B=torch.tensor([True, False, False, False])) == []


def test_select_pairs_bad_shape():
    with pytest.raises(ValueError, match="groups of 3"):
        select_pairs(torch.zeros(4), 3)


PLANTED = [{"prompt": f"Compute {a} + {b}.", "chosen": f" <answer> {a + b} </answer>",
            "rejected": f" The answer is {a + b}."} for a in range(1, 10) for b in range(1, 8)]


def test_load_preferences(tmp_path):
    path = tmp_path / "prefs.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in PLANTED[:3]) + "\n\n")
    assert load_preferences(path) == PLANTED[:3]
    path.write_text(json.dumps({"prompt": "p", "chosen": [{"role": "assistant", "content": "x"}], "rejected": "y"}))
    with pytest.raises(ValueError, match="row 1 has no string 'chosen'"):
        load_preferences(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="line 1 is not JSON"):
        load_preferences(path)


def test_preference_batch_layout():
    model, tokenizer = build_tiny_random(seed=0)
    batch, pairs = preference_batch(tokenizer, PLANTED[:2])
    assert pairs == [(0, 1), (2, 3)] and batch.prompt_index_B.tolist() == [0, 0, 1, 1]
    chosen_ids = tokenizer(PLANTED[0]["chosen"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    assert int(batch.completion_mask_BT[0].sum()) == len(chosen_ids)
    assert batch.input_ids_BL[0, batch.prompt_width: batch.prompt_width + len(chosen_ids)].tolist() == chosen_ids


def dpo_config(tmp_path, *extra):
    return build_config({}, ["algorithm.name=online_dpo", "run.progress=false", f"run.output_dir={tmp_path}",
                             "optim.lr=1e-3", "optim.warmup_steps=0", "optim.micro_batch_size=8", *extra])


@pytest.mark.parametrize("loss_type,normalize", [("sigmoid", False), ("ipo", True)])
def test_offline_dpo_learns_planted_preference(tmp_path, loss_type, normalize):
    model, tokenizer = build_tiny_random(seed=0)
    config = dpo_config(tmp_path, "run.steps=30", "run.prompts_per_step=8", f"algorithm.dpo_loss={loss_type}",
                        f"algorithm.dpo_length_normalize={str(normalize).lower()}", "algorithm.dpo_beta=0.5")
    train_rows, held_out = PLANTED[::2], PLANTED[1::2]
    history = train_offline_dpo(model, tokenizer, train_rows, config, eval_rows=held_out, log=lambda line: None)
    assert history[0]["dpo/margin"] == pytest.approx(0.0, abs=1e-5)  # policy == reference before the first step
    assert history[-1]["eval/accuracy"] >= 0.95
    if loss_type == "ipo":  # IPO regresses h to 1 / (2 beta): the implicit margin beta * h heads for 0.5, not beyond
        assert 0.25 < history[-1]["eval/margin"] < 0.75
    else:
        assert history[-1]["eval/margin"] > 0.5


def test_dpo_pair_update_raises_the_margin_on_its_pairs(tmp_path):
    from accelerate import Accelerator

    model, tokenizer = build_tiny_random(seed=2)
    reference = copy.deepcopy(model).eval().requires_grad_(False)
    config = dpo_config(tmp_path)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    batch, pairs = preference_batch(tokenizer, PLANTED[:6])
    margins = [dpo_pair_update(model, reference, optimizer, batch, pairs, config, Accelerator(cpu=True))["dpo/margin"]
               for _ in range(4)]
    assert margins[0] == pytest.approx(0.0, abs=1e-5) and margins == sorted(margins) and margins[-1] > 0
    # no pairs: no optimizer step, NaN metrics
    before = [p.detach().clone() for p in model.parameters()]
    metrics = dpo_pair_update(model, reference, optimizer, batch, [], config, Accelerator(cpu=True))
    assert metrics["dpo/pairs"] == 0 and math.isnan(metrics["dpo/margin"])
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_online_dpo_on_the_training_loop_raises_the_margin(tmp_path):
    """online_dpo through trainer.train on the embedded model and the arithmetic task: pairs from each group's
    verifier rewards. Afterwards, pairs of the initial model's own samples on held-out prompts (never trained on),
    ranked by the same rewards, have a positive implicit-reward margin."""
    from zero_rl.embedded import embedded_base_model
    from zero_rl.generation import SamplingParams
    from zero_rl.generation.hf import HFGenerator
    from zero_rl.models import load_model_and_tokenizer
    from zero_rl.scoring import score_inline
    from zero_rl.tasks import get_task
    from zero_rl.trainer import train

    task = get_task("arithmetic", train_size=256, test_size=64)
    model, tokenizer = load_model_and_tokenizer(str(embedded_base_model(progress=False)))
    initial = copy.deepcopy(model).eval()
    examples = task.load("test")[:32]
    prompts = [task.prompt(e) for e in examples]
    generated = HFGenerator(initial, tokenizer).generate(
        [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts],
        SamplingParams(n=4, max_new_tokens=40, seed=123))
    scores = score_inline(task.rewards, [c.text for c in generated], [examples[c.prompt_index] for c in generated])
    held = [{"prompt": prompts[generated[a].prompt_index], "chosen": generated[a].text, "rejected": generated[b].text}
            for a, b in select_pairs(torch.tensor(scores.total_B), 4, 2)]
    assert len(held) >= 10
    before = preference_margins(model, initial, tokenizer, held, dpo_config(tmp_path))
    assert before["margin"] == pytest.approx(0.0, abs=1e-5)

    config = dpo_config(tmp_path, "run.steps=6", "run.prompts_per_step=8", "generation.group_size=4",
                        "generation.max_new_tokens=40", "task.eval_size=8", "algorithm.dpo_pairs_per_group=2",
                        "algorithm.dpo_beta=0.1", "optim.lr=3e-4")
    train(config, model=model, tokenizer=tokenizer, task=task)
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all(m["dpo/pairs"] >= 1 for m in metrics)
    assert metrics[0]["dpo/margin"] == pytest.approx(0.0, abs=1e-5)  # step 1: the policy is the reference
    for key in ("dpo/loss", "dpo/accuracy", "dpo/chosen_reward", "dpo/rejected_reward", "reward/accuracy"):
        assert key in metrics[-1]
    first, last = [sum(m["reward/total"] for m in part) / 2 for part in (metrics[:2], metrics[-2:])]
    assert last > first + 0.1  # the verifier's reward rose
    after = preference_margins(model, initial, tokenizer, held, config)
    assert after["margin"] > 0 and after["accuracy"] > 0.5, after


def test_online_dpo_under_two_process_ddp(tmp_path):
    """Two ranks, each with its own prompts and pairs, end with identical, changed parameters."""
    from launching import launch_two_cpu_processes

    result = launch_two_cpu_processes("ddp_train_dpo.py", tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=False)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=False)
    assert rank0["world"] == rank1["world"] == 2
    initial, _ = build_tiny_random(seed=3)
    changed = False
    for name, tensor in rank0["state"].items():
        assert torch.equal(tensor, rank1["state"][name]), f"{name} differs between ranks"
        changed |= not torch.equal(tensor, initial.state_dict()[name])
    assert changed
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2] and all(m["dpo/pairs"] >= 1 for m in metrics)


def test_dpo_command(tmp_path):
    from zero_rl.cli import main

    model_dir = tmp_path / "tiny"
    build_tiny_random(model_dir, seed=0)
    data = tmp_path / "prefs.jsonl"
    data.write_text("\n".join(json.dumps(row) for row in PLANTED))
    out = tmp_path / "dpo"
    assert main(["dpo", "--data", str(data), "--model", str(model_dir), "--output-dir", str(out), "run.steps=3",
                 "run.prompts_per_step=4", "algorithm.dpo_loss=ipo"]) == 0
    lines = [json.loads(line) for line in (out / "dpo.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [1, 2, 3] and "eval/accuracy" in lines[-1]
    assert (out / "config.json").is_file()
    assert main(["dpo", "--data", str(tmp_path / "missing.jsonl"), "--output-dir", str(out)]) == 2
    assert main(["dpo", "--data", str(data), "--output-dir", str(out), "algorithm.dpo_loss=hinge"]) == 2


def test_online_dpo_config_errors():
    from zero_rl.config import ConfigError

    with pytest.raises(ConfigError, match="ddp only"):
        build_config({}, ["algorithm.name=online_dpo", "distributed.strategy=fsdp2"])
    with pytest.raises(ConfigError, match="dpo_loss"):
        build_config({}, ["algorithm.name=online_dpo", "algorithm.dpo_loss=hinge"])
    with pytest.raises(ConfigError, match="dpo_beta"):
        build_config({}, ["algorithm.dpo_beta=0"])
