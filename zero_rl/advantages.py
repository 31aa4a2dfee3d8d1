"""Advantage estimators for outcome rewards: pure functions on tensors plus one registry dict.

Group estimators (GRPO's) take rewards_B prompt-major: rewards_B[i * group_size + j] is completion j of prompt i.
GAE (PPO's) takes per-token rewards and values on [B, T] completion tokens.
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


def grpo_batch_std_advantages(rewards_B: torch.Tensor, group_size: int, std_eps: float = 1e-4, **_) -> torch.Tensor:
    """Lite PPO (Liu et al. 2025, "Tricks or Traps", arXiv:2508.08221; TRL scale_rewards="batch"):
    A_i = (r_i - mean(r_group)) / (std(r_batch) + eps), the std over every reward of the step (unbiased)."""
    rewards_PG = _groups(rewards_B, group_size)
    centred_B = (rewards_PG - rewards_PG.mean(dim=1, keepdim=True)).reshape(-1)
    std = rewards_B.std() if rewards_B.numel() > 1 else torch.tensor(0.0)
    return centred_B / (std + std_eps)


def reinforce_pp_baseline_advantages(rewards_B: torch.Tensor, group_size: int, std_eps: float = 1e-4,
                                     **_) -> torch.Tensor:
    """REINFORCE++-baseline (Hu et al. 2025, arXiv:2501.03262; verl reinforce_plus_plus_baseline): the group mean
    as baseline, then whitened over the batch: A = (c - mean(c_batch)) / (std(c_batch) + eps), c = r - mean(r_group).
    verl whitens over tokens (longer completions weigh more); here every completion counts once."""
    rewards_PG = _groups(rewards_B, group_size)
    centred_B = (rewards_PG - rewards_PG.mean(dim=1, keepdim=True)).reshape(-1)
    std = centred_B.std() if centred_B.numel() > 1 else torch.tensor(0.0)
    return (centred_B - centred_B.mean()) / (std + std_eps)


ADVANTAGES = {
    "grpo": grpo_advantages,
    "dr_grpo": dr_grpo_advantages,
    "rloo": rloo_advantages,
    "grpo_batch_std": grpo_batch_std_advantages,
    "reinforce_pp_baseline": reinforce_pp_baseline_advantages,
}

BATCH_ADVANTAGES = {"grpo_batch_std", "reinforce_pp_baseline"}
"""Estimators whose statistics span the whole step's batch: under DDP they see every rank's rewards."""


def get_advantage_fn(name: str):
    if name not in ADVANTAGES:
        raise KeyError(f"unknown advantage estimator {name!r}; valid: {', '.join(ADVANTAGES)}")
    return ADVANTAGES[name]


# ---------------------------------------------------------------- PPO: GAE on completion tokens


def outcome_rewards_BT(rewards_B: torch.Tensor, mask_BT: torch.Tensor) -> torch.Tensor:
    """The outcome reward on each sequence's last valid completion token, 0 elsewhere (rows without tokens: 0)."""
    lengths_B = mask_BT.sum(dim=1).long()
    rewards_BT = torch.zeros_like(mask_BT, dtype=torch.float)
    rows_B = (lengths_B > 0).nonzero().squeeze(1)
    rewards_BT[rows_B, lengths_B[rows_B] - 1] = rewards_B[rows_B].float()
    return rewards_BT


def gae_advantages(rewards_BT, values_BT, mask_BT, gamma: float, lam) -> tuple:
    """Generalised advantage estimation (Schulman et al. 2016) over completion tokens -> (advantages_BT, returns_BT).

        delta_t = r_t + gamma * V_{t+1} - V_t          (V after the last valid token = 0)
        A_t     = delta_t + gamma * lam * A_{t+1}
        R_t     = A_t + V_t                             (the critic's target; before any whitening)

    `lam` is a float or a per-sequence tensor lam_B (length-adaptive GAE). Tokens with mask 0 are skipped: the
    next value and the running advantage carry over them unchanged (verl's compute_gae_advantage_return), and
    they get advantage and return 0.
    """
    B, T = rewards_BT.shape
    mask_BT = mask_BT.float()
    lam_B = torch.as_tensor(lam, dtype=torch.float).expand(B) if not torch.is_tensor(lam) or lam.ndim == 0 else lam
    lam_B = lam_B.float()
    next_value_B = torch.zeros(B)
    running_B = torch.zeros(B)
    advantages_BT = torch.zeros(B, T)
    for t in reversed(range(T)):
        m_B = mask_BT[:, t]
        delta_B = rewards_BT[:, t] + gamma * next_value_B - values_BT[:, t]
        advantage_B = delta_B + gamma * lam_B * running_B
        next_value_B = torch.where(m_B > 0, values_BT[:, t].float(), next_value_B)
        running_B = torch.where(m_B > 0, advantage_B, running_B)
        advantages_BT[:, t] = advantage_B * m_B
    returns_BT = (advantages_BT + values_BT.float()) * mask_BT
    return advantages_BT, returns_BT


def length_adaptive_lam(lengths_B: torch.Tensor, alpha: float) -> torch.Tensor:
    """VAPO (Yue et al. 2025): lam = 1 - 1 / (alpha * length) per sequence, so the bias-variance trade-off follows
    the length (alpha 0.05: 0.95 at 400 tokens, 0.999 at 20,000). Clamped to [0, 1]: below 1/alpha tokens the
    formula would go negative."""
    return (1.0 - 1.0 / (alpha * lengths_B.float().clamp(min=1))).clamp(0.0, 1.0)


def masked_whiten(values_BT, mask_BT, reduce=None, eps: float = 1e-8) -> torch.Tensor:
    """(x - mean) / sqrt(var + eps) over the valid tokens; padding stays 0. `reduce` sums a tensor over processes
    (an all-reduce) so that a distributed batch is whitened with the statistics of all its ranks' tokens."""
    mask_BT = mask_BT.float()
    stats = torch.stack([(values_BT * mask_BT).sum(), (values_BT ** 2 * mask_BT).sum(), mask_BT.sum()]).double()
    if reduce is not None:
        stats = reduce(stats)
    total, squares, count = stats.tolist()
    if count < 1:
        return values_BT * mask_BT
    mean = total / count
    var = max(squares / count - mean ** 2, 0.0) * (count / (count - 1) if count > 1 else 1.0)  # unbiased, as verl
    return (values_BT - mean) / (var + eps) ** 0.5 * mask_BT
