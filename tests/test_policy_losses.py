"""Policy-loss variants (ppo_clip + dual-clip, GSPO, CISPO, SAPO), the batch-level advantages (Lite PPO's batch
std, REINFORCE++-baseline), the entropy bonus and DAPO's overlong shaping, on hand-computed tensors."""

import math
import re

import pytest
import torch

from zero_rl.advantages import get_advantage_fn
from zero_rl.batch import differentiable_entropy, token_entropy
from zero_rl.losses import AGGREGATIONS, POLICY_LOSSES, aggregate, policy_loss, sapo_gate, sequence_log_ratio
from zero_rl.rewards.length import add_overlong_term, soft_overlong_penalty
from zero_rl.scoring import Scores

PARAMS = {"clip_low": 0.2, "clip_high": 0.28, "clip_ratio_c": 3.0, "cispo_cap": 5.0, "tau_pos": 1.0, "tau_neg": 1.05}


def _one_token(name, ratio, adv, **overrides):
    """(loss, d loss / d logp, clipped) of one token with ratio `ratio` (old logp 0) and advantage `adv`."""
    logp = torch.tensor([[math.log(ratio)]], requires_grad=True)
    loss, clipped = policy_loss(name, logp, torch.zeros(1, 1), torch.tensor([adv]), torch.ones(1, 1),
                                **{**PARAMS, **overrides})
    loss.sum().backward()
    return loss.item(), logp.grad.item(), clipped.item()


@pytest.mark.parametrize("ratio,adv,c,loss,grad,clipped", [
    # d(-r A)/d logp = -r A where the unclipped term is active
    (1.0, 1.0, 3.0, -1.0, -1.0, 0.0),
    (2.0, -1.0, 3.0, 2.0, 2.0, 0.0),  # A < 0, r above 1 + clip_high: PPO keeps -r A, below the cap 3
    (4.0, -1.0, 3.0, 3.0, 0.0, 1.0),  # dual-clip: loss capped at -A c = 3, no gradient
    (4.0, -2.0, 3.0, 6.0, 0.0, 1.0),
    (4.0, -1.0, 0.0, 4.0, 4.0, 0.0),  # c = 0: dual-clip off, the loss grows with r
    (4.0, 1.0, 3.0, -1.28, 0.0, 1.0),  # A > 0: clipped at 1 + clip_high, dual-clip does not apply
    (0.5, -1.0, 3.0, 0.8, 0.0, 1.0),  # A < 0 below 1 - clip_low: clipped
])
def test_ppo_clip_with_dual_clip_hand_computed(ratio, adv, c, loss, grad, clipped):
    got = _one_token("ppo_clip", ratio, adv, clip_ratio_c=c)
    assert got == pytest.approx((loss, grad, clipped), abs=1e-6)


def test_gspo_sequence_ratio_over_masks_of_different_lengths():
    # sequence 0: 2 valid tokens with log-ratios 0.1, 0.3 (mean 0.2); sequence 1: 1 valid token, 0.6.
    # The padded positions hold log-ratios 5.0 that must not count.
    delta = torch.tensor([[0.1, 0.3, 5.0], [0.6, 5.0, 5.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    old = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -1.5, -2.5]])
    logp = (old + delta).requires_grad_(True)
    assert sequence_log_ratio(logp, old, mask).tolist() == pytest.approx([0.2, 0.6])
    adv = torch.tensor([1.0, -1.0])
    loss, clipped = policy_loss("gspo", logp, old, adv, mask, **PARAMS)
    s0, s1 = math.exp(0.2), math.exp(0.6)
    # s0 = 1.221 inside [0.8, 1.28]: loss -s0 on both valid tokens; s1 = 1.822 with A < 0: unclipped -A s1 is
    # the larger loss (min of objectives), so s1, with a gradient
    assert torch.allclose(loss * mask, torch.tensor([[-s0, -s0, 0.0], [s1, 0.0, 0.0]]), rtol=1e-5)
    assert (clipped * mask).tolist() == [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    aggregate(loss, mask, "seq_mean_token_mean").backward()
    # token t of sequence i: -A_i s_i / |y_i| / B (the sequence's ratio carried by each token's gradient)
    assert torch.allclose(logp.grad * mask, torch.tensor([[-s0 / 2 / 2, -s0 / 2 / 2, 0.0], [s1 / 2, 0.0, 0.0]]),
                          rtol=1e-5)


def test_gspo_clips_the_sequence_not_the_token():
    # one token far off (log-ratio 1.0) in a long sequence of on-policy tokens: the token ratio e = 2.7 would be
    # clipped by PPO, the sequence ratio exp(1/10) = 1.105 is not (bounds 0.8 / 1.28)
    logp = torch.zeros(1, 10)
    logp[0, 3] = 1.0
    logp.requires_grad_(True)
    adv, mask = torch.tensor([1.0]), torch.ones(1, 10)
    _, clipped_gspo = policy_loss("gspo", logp, torch.zeros(1, 10), adv, mask, **PARAMS)
    _, clipped_ppo = policy_loss("ppo_clip", logp, torch.zeros(1, 10), adv, mask, **PARAMS)
    assert clipped_gspo.sum() == 0 and clipped_ppo[0, 3] == 1
    # with the paper's bounds 3e-4 / 4e-4 the whole sequence is clipped
    _, clipped = policy_loss("gspo", logp, torch.zeros(1, 10), adv, mask, **{**PARAMS, "clip_low": 3e-4,
                                                                           "clip_high": 4e-4})
    assert clipped.tolist() == [[1.0] * 10]


@pytest.mark.parametrize("ratio,adv,weight,clipped", [
    (1.0, 1.0, 1.0, 0.0),
    (0.5, 1.0, 0.5, 0.0),  # no lower bound (MiniMax-M1, TRL)
    (2.0, -1.0, 2.0, 0.0),
    (7.0, 2.0, 5.0, 1.0),  # capped at 5, the gradient stays
    (7.0, -1.0, 5.0, 1.0),
])
def test_cispo_gradient_is_minus_clipped_ratio_times_advantage(ratio, adv, weight, clipped):
    loss, grad, got_clipped = _one_token("cispo", ratio, adv)
    assert grad == pytest.approx(-weight * adv)  # -sg(clip(r)) A grad log pi, whatever r
    assert loss == pytest.approx(-weight * adv * math.log(ratio), abs=1e-6)
    assert got_clipped == clipped


@pytest.mark.parametrize("ratio,tau,gate,slope", [
    (1.0, 1.0, 2.0, 1.0),  # f(1) = 2 / tau, f'(1) = 1: the unclipped objective's slope
    (1.0, 1.05, 2 / 1.05, 1.0),
    (1.0, 2.0, 1.0, 1.0),
    (1.5, 1.0, 4 / (1 + math.exp(-0.5)), 4 * math.exp(-0.5) / (1 + math.exp(-0.5)) ** 2),
    (3.0, 1.0, 4 / (1 + math.exp(-2.0)), 4 * math.exp(-2.0) / (1 + math.exp(-2.0)) ** 2),  # soft decay, no cut
])
def test_sapo_gate_values_and_slope(ratio, tau, gate, slope):
    r = torch.tensor(ratio, requires_grad=True)
    value = sapo_gate(r, torch.tensor(tau))
    value.backward()
    assert value.item() == pytest.approx(gate)
    assert r.grad.item() == pytest.approx(slope)


@pytest.mark.parametrize("adv,tau", [(1.0, 1.0), (-1.0, 1.05), (0.0, 1.05)])
def test_sapo_temperature_follows_the_advantage_sign(adv, tau):
    loss, grad, clipped = _one_token("sapo", 1.2, adv)
    gate = 4 / tau / (1 + math.exp(-tau * 0.2))
    slope = 4 * math.exp(-tau * 0.2) / (1 + math.exp(-tau * 0.2)) ** 2
    assert loss == pytest.approx(-gate * adv)
    assert grad == pytest.approx(-slope * 1.2 * adv)  # d/dlogp = d/dr * r
    assert clipped == 0.0


@pytest.mark.parametrize("name", list(POLICY_LOSSES))
@pytest.mark.parametrize("aggregation", list(AGGREGATIONS))
def test_on_policy_gradient_equals_plain_policy_gradient(name, aggregation):
    """At r = 1 (old = current log-probs) every loss's gradient is the policy gradient -A grad log pi, aggregated
    as configured: the clips, dual-clip, CISPO's cap (>= 1), GSPO's sequence ratio and SAPO's gate (slope 1)
    all act only off-policy."""
    generator = torch.Generator().manual_seed(0)
    logp = (-torch.rand(4, 6, generator=generator) * 3).requires_grad_(True)
    mask = torch.tensor([[1.0] * 6, [1.0] * 3 + [0.0] * 3, [1.0] + [0.0] * 5, [1.0] * 5 + [0.0]])
    adv = torch.randn(4, generator=generator)
    loss, clipped = policy_loss(name, logp, logp.detach(), adv, mask, **PARAMS)
    (got,) = torch.autograd.grad(aggregate(loss, mask, aggregation, max_length=6), logp)
    (want,) = torch.autograd.grad(aggregate(-adv.unsqueeze(1) * logp, mask, aggregation, max_length=6), logp)
    assert torch.allclose(got * mask, want * mask, atol=1e-6)
    assert clipped.sum() == 0


@pytest.mark.parametrize("name,ratio,has_grad", [
    ("ppo_clip", 2.0, False), ("gspo", 2.0, False), ("cispo", 2.0, True), ("sapo", 2.0, True)])
def test_off_policy_the_variants_differ(name, ratio, has_grad):
    """A > 0 and r = 2: the hard clips remove the gradient, CISPO and SAPO keep one (weighted)."""
    _, grad, _ = _one_token(name, ratio, 1.0)
    assert (grad != 0) == has_grad


def test_unknown_policy_loss_lists_the_valid_ones():
    with pytest.raises(KeyError, match="ppo_clip, gspo, cispo, sapo"):
        policy_loss("grpo", torch.zeros(1, 1), torch.zeros(1, 1), torch.zeros(1), torch.ones(1, 1), **PARAMS)


# ---------------------------------------------------------------- batch-level advantages


def test_lite_ppo_batch_std_hand_computed():
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    # group means 0.5 and 1; batch mean 0.75, unbiased batch variance (6 x 0.0625 + 2 x 0.5625) / 7 = 1.5 / 7
    std = math.sqrt(1.5 / 7)
    got = get_advantage_fn("grpo_batch_std")(rewards, 4, std_eps=1e-4)
    assert got.tolist() == pytest.approx([x / (std + 1e-4) for x in [0.5, -0.5, -0.5, 0.5, 0, 0, 0, 0]])
    # group-std GRPO would scale the first group by its own std instead
    assert get_advantage_fn("grpo")(rewards, 4)[0].item() == pytest.approx(0.5 / (math.sqrt(1 / 3) + 1e-4))


def test_reinforce_pp_baseline_hand_computed():
    rewards = torch.tensor([3.0, 1.0, 2.0, 2.0, 0.0, 1.0])
    # group-centred: [1, -1, 0, 1, -1, 0]; batch mean 0, unbiased std sqrt(4 / 5)
    got = get_advantage_fn("reinforce_pp_baseline")(rewards, 3, std_eps=1e-4)
    assert got.tolist() == pytest.approx([x / (math.sqrt(4 / 5) + 1e-4) for x in [1, -1, 0, 1, -1, 0]])


# ---------------------------------------------------------------- entropy bonus


def test_differentiable_entropy_equals_the_logged_entropy_and_has_its_gradient():
    logits = torch.randn(5, 7, generator=torch.Generator().manual_seed(1), requires_grad=True)
    entropy = differentiable_entropy(logits, temperature=0.7)
    assert torch.allclose(entropy.detach(), token_entropy(logits.detach(), 0.7), atol=1e-6)
    entropy.sum().backward()
    probs = torch.softmax(logits.detach() / 0.7, dim=-1)
    log_probs = torch.log_softmax(logits.detach() / 0.7, dim=-1)
    # dH/dz_j = -p_j (log p_j + H) / T
    want = -probs * (log_probs + entropy.detach().unsqueeze(1)) / 0.7
    assert torch.allclose(logits.grad, want, atol=1e-5)


def test_entropy_bonus_moves_the_weights_when_advantages_are_zero():
    """With every advantage 0 the policy loss has no gradient: only the entropy bonus can move the weights."""
    from tests.test_update import _step
    from tests.test_logprobs import random_batch
    from zero_rl.embedded import build_model

    model = build_model(100, hidden_size=32, intermediate_size=64, num_layers=2, seed=4)
    batch = random_batch(seed=11, prompt_lengths=(6, 2), group_size=3)
    before = torch.cat([p.detach().flatten() for p in model.parameters()])
    zero = torch.zeros(len(batch))
    assert torch.equal(_step(model, batch, zero, ["algorithm.entropy_coef=0.0"]), before)
    assert not torch.allclose(_step(model, batch, zero, ["algorithm.entropy_coef=0.1"]), before)


# ---------------------------------------------------------------- DAPO overlong shaping


@pytest.mark.parametrize("length,factor,expected", [
    (10, 1.0, 0.0), (16, 1.0, 0.0),  # up to L_max - L_cache = 16: no penalty
    (17, 1.0, -0.25), (18, 1.0, -0.5), (20, 1.0, -1.0),  # linear over the buffer
    (21, 1.0, -1.0), (100, 1.0, -1.0),  # beyond L_max
    (18, 0.5, -0.25),
])
def test_soft_overlong_penalty_hand_computed(length, factor, expected):
    assert soft_overlong_penalty(length, max_length=20, buffer=4, factor=factor) == pytest.approx(expected)


def test_overlong_term_is_added_as_a_reward_component():
    scores = Scores(total_B=[1.0, 0.0, 1.0], components={"accuracy": [1.0, 0.0, 1.0]}, errors={"accuracy": 1})
    shaped = add_overlong_term(scores, [5, 18, 20], max_length=20, buffer=4)
    assert shaped.total_B == pytest.approx([1.0, -0.5, 0.0])
    assert shaped.components["overlong"] == pytest.approx([0.0, -0.5, -1.0])
    assert shaped.errors == {"accuracy": 1} and scores.total_B == [1.0, 0.0, 1.0]  # the input is left alone
    with pytest.raises(ValueError, match="buffer"):
        soft_overlong_penalty(5, max_length=20, buffer=20)
    with pytest.raises(ValueError, match="2 lengths for 3"):
        add_overlong_term(scores, [1, 2], max_length=20, buffer=4)


# ---------------------------------------------------------------- config validation


@pytest.mark.parametrize("override,message", [
    ("algorithm.policy_loss=grpo", "algorithm.policy_loss='grpo' is not valid; choose one of: cispo, gspo, ppo_clip, sapo"),
    ("algorithm.clip_ratio_c=0.5", "algorithm.clip_ratio_c must be 0 (dual-clip off) or > 1 (verl: 3.0), got 0.5"),
    ("algorithm.cispo_cap=0", "algorithm.cispo_cap must be > 0"),
    ("algorithm.sapo_tau_neg=0", "algorithm.sapo_tau_pos / sapo_tau_neg must be > 0"),
    ("algorithm.entropy_coef=-0.1", "algorithm.entropy_coef must be >= 0"),
    ("algorithm.max_generation_rounds=0", "algorithm.max_generation_rounds must be >= 1"),
    ("task.overlong_buffer=-1", "task.overlong_buffer must be >= 0"),
    ("task.overlong_buffer=64", "task.overlong_buffer=64 must be smaller than the overlong max length 64"),
])
def test_bad_values_name_the_field(override, message):
    from zero_rl.config import ConfigError, build_config

    with pytest.raises(ConfigError, match=re.escape(message)):
        build_config(overrides=[override])


@pytest.mark.parametrize("overrides,message", [
    (["algorithm.policy_loss=gspo", "algorithm.loss_aggregation=token_mean"],
     "algorithm.policy_loss=gspo is a per-sequence objective: it needs algorithm.loss_aggregation=seq_mean_token_mean"),
    (["algorithm.name=ppo", "algorithm.dynamic_sampling=true"], "use it with algorithm.name=grpo"),
])
def test_combinations_that_do_not_fit_are_refused(overrides, message):
    from zero_rl.config import ConfigError, build_config

    with pytest.raises(ConfigError, match=re.escape(message)):
        build_config(overrides=overrides)


def test_recipes_of_every_variant_load():
    from pathlib import Path

    from zero_rl.config import load_config

    recipes = Path(__file__).resolve().parent.parent / "launch" / "recipes"
    loaded = {path.name: load_config(str(path)) for path in sorted(recipes.glob("*.yaml"))}
    assert loaded["arithmetic_tiny_gspo.yaml"].algorithm.policy_loss == "gspo"
    assert loaded["arithmetic_tiny_cispo.yaml"].algorithm.policy_loss == "cispo"
    assert loaded["arithmetic_tiny_sapo.yaml"].algorithm.policy_loss == "sapo"
    dapo = loaded["arithmetic_tiny_dapo.yaml"]
    assert dapo.algorithm.dynamic_sampling and dapo.task.overlong_buffer > 0
    assert dapo.algorithm.loss_aggregation == "token_mean" and dapo.algorithm.clip_high > dapo.algorithm.clip_low
