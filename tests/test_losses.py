import math

import pytest
import torch

from zero_rl.losses import AGGREGATIONS, aggregate, aggregate_share, clipped_policy_loss, kl_k1, kl_k2, kl_k3


def _grad_of_loss(ratio: float, adv: float, clip_low=0.2, clip_high=0.28):
    logp = torch.tensor([[math.log(ratio)]], requires_grad=True)
    loss, clipped = clipped_policy_loss(logp, torch.zeros(1, 1), torch.tensor([adv]), clip_low, clip_high)
    loss.sum().backward()
    return logp.grad.item(), clipped.item()


@pytest.mark.parametrize("ratio,adv,has_grad", [
    (1.0, 1.0, True),
    (1.27, 1.0, True),  # inside clip-higher bound 1.28
    (1.30, 1.0, False),  # above 1 + clip_high with positive advantage: clipped
    (1.30, -1.0, True),  # negative advantage: the unclipped term is the min, gradient flows
    (0.79, -1.0, False),  # below 1 - clip_low with negative advantage: clipped
    (0.79, 1.0, True),
])
def test_clip_zeroes_gradient_outside_bounds(ratio, adv, has_grad):
    grad, clipped = _grad_of_loss(ratio, adv)
    assert (abs(grad) > 0) == has_grad
    assert clipped == (0.0 if has_grad else 1.0)


def test_ratio_one_gives_policy_gradient():
    grad, _ = _grad_of_loss(1.0, 2.5)
    assert grad == pytest.approx(-2.5)


def test_kl_estimators_hand_computed():
    logp = torch.tensor([[math.log(0.5)]])
    ref = torch.tensor([[math.log(0.25)]])
    assert kl_k1(logp, ref).item() == pytest.approx(math.log(2))
    assert kl_k2(logp, ref).item() == pytest.approx(0.5 * math.log(2) ** 2)
    assert kl_k3(logp, ref).item() == pytest.approx(0.5 - 1 + math.log(2))
    assert kl_k3(ref, ref).item() == 0.0


def test_aggregations_hand_computed():
    loss = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    assert aggregate(loss, mask, "seq_mean_token_mean").item() == pytest.approx((2.0 + 4.0) / 2)
    assert aggregate(loss, mask, "token_mean").item() == pytest.approx(10.0 / 4)
    assert aggregate(loss, mask, "seq_mean_token_sum_norm", max_length=5).item() == pytest.approx((6 / 5 + 4 / 5) / 2)
    with pytest.raises(ValueError, match="max_length"):
        aggregate(loss, mask, "seq_mean_token_sum_norm")
    with pytest.raises(KeyError, match="token_mean"):
        aggregate(loss, mask, "sum")


@pytest.mark.parametrize("mode", list(AGGREGATIONS))
def test_micro_batch_shares_reproduce_full_batch(mode):
    torch.manual_seed(0)
    loss = torch.rand(6, 5)
    mask = (torch.rand(6, 5) > 0.3).float()
    mask[2] = 0  # a sequence with no loss tokens
    full = aggregate(loss, mask, mode, max_length=5)
    parts = [slice(0, 2), slice(2, 5), slice(5, 6)]
    total = sum(aggregate_share(mask[p], mode) for p in parts)
    accumulated = sum(aggregate(loss[p], mask[p], mode, max_length=5) * aggregate_share(mask[p], mode) / total
                      for p in parts)
    assert accumulated.item() == pytest.approx(full.item(), rel=1e-6)


# ---------------------------------------------------------------- PPO critic and KL control

from zero_rl.losses import adaptive_kl_coef, clipped_value_loss, explained_variance  # noqa: E402


def test_value_clipping_and_clip_fraction_hand_computed():
    old = torch.tensor([[0.0, 0.0, 0.0, 1.0]])
    new = torch.tensor([[0.3, 1.0, -1.0, 1.1]], requires_grad=True)
    returns = torch.tensor([[1.0, 0.0, 0.5, 0.0]])
    loss, clipped = clipped_value_loss(new, old, returns, clip=0.5)
    # token 0: V=0.3 inside the clip range: 0.5 * 0.7^2
    # token 1: V=1.0 clipped to 0.5; (0.5-0)^2 < (1-0)^2: the unclipped (larger) term: 0.5 * 1
    # token 2: V=-1 clipped to -0.5; (-0.5-0.5)^2 = 1 < (-1-0.5)^2 = 2.25: unclipped: 0.5 * 2.25
    # token 3: V=1.1 inside the range around 1.0: 0.5 * 1.21
    assert loss[0].tolist() == pytest.approx([0.5 * 0.49, 0.5, 0.5 * 2.25, 0.5 * 1.21])
    assert clipped.tolist() == [[0.0, 0.0, 0.0, 0.0]]
    # the clipped term dominates when the value moved far past the return, away from the old value
    new2 = torch.tensor([[2.0]], requires_grad=True)
    loss2, clipped2 = clipped_value_loss(new2, torch.tensor([[0.0]]), torch.tensor([[1.5]]), clip=0.5)
    assert loss2.item() == pytest.approx(0.5 * 1.0) and clipped2.item() == 1.0  # clip(2) = 0.5; (0.5-1.5)^2 = 1
    loss2.sum().backward()
    assert new2.grad.item() == 0.0  # the clipped branch carries no gradient to V
    loss_off, clipped_off = clipped_value_loss(new, old, returns, clip=0.0)
    assert torch.allclose(loss_off, 0.5 * (new - returns) ** 2) and clipped_off.sum() == 0


def test_explained_variance():
    returns = torch.tensor([[1.0, 2.0, 3.0, 9.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    assert explained_variance(returns, returns, mask) == pytest.approx(1.0)
    assert explained_variance(torch.full((1, 4), 2.0), returns, mask) == pytest.approx(0.0)
    assert explained_variance(torch.tensor([[3.0, 2.0, 1.0, 0.0]]), returns, mask) == pytest.approx(-3.0)
    assert math.isnan(explained_variance(returns, torch.ones(1, 4), mask))


@pytest.mark.parametrize("observed,expected_error", [
    (0.1, 0.0),  # at the target: unchanged
    (0.15, 0.2),  # 0.5 above, clipped to +0.2
    (0.11, 0.1),
    (0.05, -0.2),  # 0.5 below, clipped to -0.2
    (0.0, -0.2),
])
def test_adaptive_kl_controller(observed, expected_error):
    coef = adaptive_kl_coef(0.01, observed, target_kl=0.1, horizon=1000, n_samples=100)
    assert coef == pytest.approx(0.01 * (1 + expected_error * 100 / 1000))


def test_adaptive_kl_controller_converges_toward_the_target():
    coef, kl_per_unit_coef = 0.5, 1.0  # a toy system where the observed KL falls as the coefficient rises
    for _ in range(200):
        coef = adaptive_kl_coef(coef, kl_per_unit_coef * 0.05 / coef, target_kl=0.1, horizon=100, n_samples=10)
    assert 0.05 / coef == pytest.approx(0.1, rel=0.05)


def test_k3_is_clamped_where_the_log_ratio_is_large():
    logp = torch.tensor([[-100.0, 0.0]], requires_grad=True)
    ref = torch.tensor([[0.0, -100.0]])
    kl = kl_k3(logp, ref)
    assert torch.isfinite(kl).all() and kl.max().item() <= 10.0
    kl.sum().backward()
    assert torch.isfinite(logp.grad).all()
