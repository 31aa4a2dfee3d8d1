import pytest
import torch

from zero_rl.advantages import ADVANTAGES, dr_grpo_advantages, get_advantage_fn, grpo_advantages, \
    rloo_advantages, zero_std_groups


def test_seed_example_centred():
    assert dr_grpo_advantages(torch.tensor([1.0, 0.0, 2.0]), 3).tolist() == [0.0, -1.0, 1.0]


def test_grpo_scales_by_group_std():
    adv = grpo_advantages(torch.tensor([1.0, 0.0, 2.0]), 3, std_eps=0.0)
    assert torch.allclose(adv, torch.tensor([0.0, -1.0, 1.0]))  # unbiased std of [1, 0, 2] is 1
    adv = grpo_advantages(torch.tensor([0.0, 0.0, 0.0, 4.0]), 4, std_eps=0.0)
    assert torch.allclose(adv, torch.tensor([-0.5, -0.5, -0.5, 1.5]))


@pytest.mark.parametrize("rewards,group,expected", [
    ([1.0, 0.0, 2.0], 3, [0.0, -1.5, 1.5]),  # r_i - mean(others): 1-1, 0-1.5, 2-0.5
    ([1.0, 1.0, 0.0, 0.0], 2, [0.0, 0.0, 0.0, 0.0]),
    ([1.0, 0.0, 0.0, 0.0], 4, [1.0, -1 / 3, -1 / 3, -1 / 3]),
])
def test_rloo_leave_one_out(rewards, group, expected):
    assert torch.allclose(rloo_advantages(torch.tensor(rewards), group), torch.tensor(expected))


def test_vectorised_equals_loop():
    torch.manual_seed(0)
    rewards = torch.rand(24)
    group = 6
    adv = grpo_advantages(rewards, group, std_eps=1e-4)
    for g in range(4):
        r = rewards[g * group:(g + 1) * group].tolist()
        mean = sum(r) / group
        std = (sum((x - mean) ** 2 for x in r) / (group - 1)) ** 0.5
        for j in range(group):
            assert adv[g * group + j].item() == pytest.approx((r[j] - mean) / (std + 1e-4), rel=1e-5)


def test_groups_are_independent_and_zero_std_flagged():
    rewards = torch.tensor([1.0, 1.0, 1.0, 0.0, 1.0, 0.0])
    assert zero_std_groups(rewards, 3).tolist() == [True, False]
    assert grpo_advantages(rewards, 3)[:3].tolist() == [0.0, 0.0, 0.0]


def test_bad_shapes_and_names():
    with pytest.raises(ValueError, match="groups of 4"):
        grpo_advantages(torch.zeros(6), 4)
    with pytest.raises(KeyError, match="grpo, dr_grpo, rloo"):
        get_advantage_fn("gae")
    assert {"grpo", "dr_grpo", "rloo", "grpo_batch_std", "reinforce_pp_baseline"} <= set(ADVANTAGES)


# ---------------------------------------------------------------- GAE (PPO)

from zero_rl.advantages import gae_advantages, length_adaptive_lam, masked_whiten, outcome_rewards_BT  # noqa: E402


def _gae_reference(rewards, values, mask, gamma, lam):
    """A plain per-sequence loop over the valid tokens only (the textbook recursion)."""
    B, T = len(rewards), len(rewards[0])
    advantages = [[0.0] * T for _ in range(B)]
    for b in range(B):
        lam_b = lam[b] if isinstance(lam, list) else lam
        valid = [t for t in range(T) if mask[b][t]]
        running, next_value = 0.0, 0.0
        for t in reversed(valid):
            delta = rewards[b][t] + gamma * next_value - values[b][t]
            running = delta + gamma * lam_b * running
            advantages[b][t] = running
            next_value = values[b][t]
    returns = [[(advantages[b][t] + values[b][t]) if mask[b][t] else 0.0 for t in range(T)] for b in range(B)]
    return advantages, returns


@pytest.mark.parametrize("gamma,lam", [(1.0, 1.0), (1.0, 0.95), (0.99, 0.9), (0.9, 0.0), (0.5, 1.0)])
@pytest.mark.parametrize("seed", [0, 1])
def test_gae_equals_a_plain_loop(gamma, lam, seed):
    generator = torch.Generator().manual_seed(seed)
    B, T = 5, 9
    lengths = torch.randint(0, T + 1, (B,), generator=generator)
    lengths[0] = T
    mask = (torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)).float()
    mask[1, 2] = 0.0  # a masked token inside a sequence (e.g. a tool observation): skipped, not a boundary
    rewards = torch.randn(B, T, generator=generator) * mask
    values = torch.randn(B, T, generator=generator)
    lam_arg = torch.rand(B, generator=generator) if lam == 0.95 else lam  # per-sequence lambda in one case
    lam_ref = lam_arg.tolist() if torch.is_tensor(lam_arg) else lam_arg
    advantages, returns = gae_advantages(rewards, values, mask, gamma, lam_arg)
    want_adv, want_ret = _gae_reference(rewards.tolist(), values.tolist(), mask.tolist(), gamma, lam_ref)
    assert torch.allclose(advantages, torch.tensor(want_adv), atol=1e-5)
    assert torch.allclose(returns, torch.tensor(want_ret), atol=1e-5)
    assert (advantages[mask == 0] == 0).all() and (returns[mask == 0] == 0).all()


def test_gae_hand_computed_cases():
    mask = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 0.0, 0.0]])
    rewards = outcome_rewards_BT(torch.tensor([1.0, -2.0]), mask)
    assert rewards.tolist() == [[0, 0, 0, 1.0], [0, -2.0, 0, 0]]
    # gamma = lam = 1 and zero values: every token's advantage is the final reward
    advantages, returns = gae_advantages(rewards, torch.zeros(2, 4), mask, 1.0, 1.0)
    assert advantages.tolist() == [[1.0] * 4, [-2.0, -2.0, 0.0, 0.0]]
    assert returns.tolist() == advantages.tolist()
    # a reward of 1 at the last token with V = 0.5 everywhere: delta_T = 1 - 0.5 = 0.5, earlier deltas 0
    values = torch.full((1, 4), 0.5)
    advantages, returns = gae_advantages(rewards[:1], values, mask[:1], 1.0, 0.0)
    assert advantages.tolist() == [[0.0, 0.0, 0.0, 0.5]]
    advantages, returns = gae_advantages(rewards[:1], values, mask[:1], 1.0, 1.0)
    assert advantages.tolist() == [[0.5] * 4] and returns.tolist() == [[1.0] * 4]  # MC return = the reward
    # discounting: gamma 0.5, lam 1, zero values: A_t = 0.5 ** (T - 1 - t)
    advantages, _ = gae_advantages(rewards[:1], torch.zeros(1, 4), mask[:1], 0.5, 1.0)
    assert advantages.tolist() == [[0.125, 0.25, 0.5, 1.0]]


def test_length_adaptive_lambda():
    lam = length_adaptive_lam(torch.tensor([400, 20000, 10, 0]), alpha=0.05)
    assert lam[0].item() == pytest.approx(0.95) and lam[1].item() == pytest.approx(0.999)
    assert lam[2].item() == 0.0 and lam[3].item() == 0.0  # below 1/alpha tokens the formula is clamped at 0


def test_whitening_over_valid_tokens_only():
    values = torch.tensor([[1.0, 2.0, 3.0], [4.0, 100.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    white = masked_whiten(values, mask)
    valid = white[mask > 0]
    assert valid.mean().item() == pytest.approx(0.0, abs=1e-6)
    assert valid.std().item() == pytest.approx(1.0, abs=1e-4)  # unbiased, over the 4 valid tokens
    assert white[1, 1:].tolist() == [0.0, 0.0]
    # a distributed batch: the reduce callback sums the statistics of every rank
    halves = [(values[:1], mask[:1]), (values[1:], mask[1:])]
    stats = sum(torch.stack([(v * m).sum(), (v ** 2 * m).sum(), m.sum()]).double() for v, m in halves)
    parts = [masked_whiten(v, m, reduce=lambda _: stats) for v, m in halves]
    assert torch.allclose(torch.cat(parts), white, atol=1e-6)
