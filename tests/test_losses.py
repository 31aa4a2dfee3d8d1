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
