"""Advantage estimators for outcome rewards: pure functions on tensors plus one registry dict.

Rewards arrive prompt-major: rewards_B[i * group_size + j] is completion j of prompt i.
"""

import torch


def _groups(rewards_B: torch.Tensor, group_size: int) -> torch.Tensor:
    if rewards_B.ndim != 1 or rewards_B.numel() % group_size:
        raise ValueError(f"rewards of shape {tuple(rewards_B.shape)} do not split into groups of {group_size}")
    return rewards_B.view(-1, group_size)


def dr_grpo_advantages(rewards_B: torch.Tensor, group_size: int, **_) -> torch.Tensor:
    """Dr.GRPO (Liu et al. 2025): A_i = r_i - mean(r_group), no std scaling."""
    rewards_PG = _groups(rewards_B, group_size)
    return (rewards_PG - rewards_PG.mean(dim=1, keepdim=True)).reshape(-1)


def grpo_advantages(rewards_B: torch.Tensor, group_size: int, std_eps: float = 1e-4, **_) -> torch.Tensor:
    """GRPO (Shao et al. 2024): A_i = (r_i - mean(r_group)) / (std(r_group) + eps), unbiased std as in the paper's code."""
    rewards_PG = _groups(rewards_B, group_size)
    centred_PG = rewards_PG - rewards_PG.mean(dim=1, keepdim=True)
    return (centred_PG / (rewards_PG.std(dim=1, keepdim=True) + std_eps)).reshape(-1)


def rloo_advantages(rewards_B: torch.Tensor, group_size: int, **_) -> torch.Tensor:
    """RLOO (Ahmadian et al. 2024): A_i = r_i - mean(r_j for j != i) = G/(G-1) * (r_i - mean(r_group))."""
    rewards_PG = _groups(rewards_B, group_size)
    others_mean_PG = (rewards_PG.sum(dim=1, keepdim=True) - rewards_PG) / (group_size - 1)
    return (rewards_PG - others_mean_PG).reshape(-1)


def zero_std_groups(rewards_B: torch.Tensor, group_size: int) -> torch.Tensor:
    """Bool per group: all rewards equal, so the group carries no learning signal."""
    rewards_PG = _groups(rewards_B, group_size)
    return (rewards_PG == rewards_PG[:, :1]).all(dim=1)


ADVANTAGES = {
    "grpo": grpo_advantages,
    "dr_grpo": dr_grpo_advantages,
    "rloo": rloo_advantages,
}


def get_advantage_fn(name: str):
    if name not in ADVANTAGES:
        raise KeyError(f"unknown advantage estimator {name!r}; valid: {', '.join(ADVANTAGES)}")
    return ADVANTAGES[name]
