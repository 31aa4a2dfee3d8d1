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
    assert set(ADVANTAGES) == {"grpo", "dr_grpo", "rloo"}
