"""Policy-gradient losses as pure functions on [B, T] tensors (B sequences, T completion tokens).

Shapes are in names: logp_BT, mask_BT (1 for completion tokens that get loss), adv_B (or adv_BT, per token).
"""

import torch


def masked_mean(values: torch.Tensor, mask: torch.Tensor, dim=None) -> torch.Tensor:
    return (values * mask).sum(dim=dim) / mask.sum(dim=dim).clamp(min=1)


def clipped_policy_loss(logp_BT, old_logp_BT, adv_B, clip_low: float, clip_high: float):
    """PPO clipped surrogate with separate bounds (DAPO clip-higher). `adv_B` is one advantage per sequence
    (GRPO) or a [B, T] tensor of per-token advantages (PPO's GAE).

    loss = -min(ratio * A, clip(ratio, 1 - clip_low, 1 + clip_high) * A), ratio = exp(logp - old_logp).
    Returns (loss_BT, clipped_BT) where clipped_BT marks tokens whose gradient the clip removed.
    """
    ratio_BT = torch.exp(logp_BT - old_logp_BT)
    adv_BT = adv_B.unsqueeze(1) if adv_B.ndim == 1 else adv_B
    unclipped_BT = ratio_BT * adv_BT
    clipped_obj_BT = torch.clamp(ratio_BT, 1 - clip_low, 1 + clip_high) * adv_BT
    loss_BT = -torch.minimum(unclipped_BT, clipped_obj_BT)
    clipped_BT = (clipped_obj_BT < unclipped_BT).float()
    return loss_BT, clipped_BT


def kl_k1(logp_BT, ref_logp_BT):
    """k1 = log(pi/ref): unbiased, high variance, can be negative."""
    return logp_BT - ref_logp_BT


def kl_k2(logp_BT, ref_logp_BT):
    """k2 = 0.5 * (log(pi/ref))^2: biased, low variance, gradient of the squared log-ratio."""
    return 0.5 * (logp_BT - ref_logp_BT) ** 2


KL_LOG_RATIO_CLAMP = 20.0
K3_MAX = 10.0


def kl_k3(logp_BT, ref_logp_BT):
    """k3 = ref/pi - 1 - log(ref/pi) (Schulman 2020; GRPO paper): unbiased, non-negative. The log-ratio is clamped
    to +-20 before the exp and k3 to at most 10, so one token far from the reference cannot overflow the loss or
    its gradient (verl's kl_penalty_forward; NaN collapses from the unclamped form: verl#751)."""
    log_ratio_BT = (ref_logp_BT - logp_BT).clamp(-KL_LOG_RATIO_CLAMP, KL_LOG_RATIO_CLAMP)
    return (torch.exp(log_ratio_BT) - 1 - log_ratio_BT).clamp(max=K3_MAX)


KL_ESTIMATORS = {"k1": kl_k1, "k2": kl_k2, "k3": kl_k3}


def seq_mean_token_mean(loss_BT, mask_BT, max_length=None):
    """GRPO paper: mean over each sequence's tokens, then mean over sequences."""
    per_seq_B = masked_mean(loss_BT, mask_BT, dim=1)
    has_tokens_B = (mask_BT.sum(dim=1) > 0).float()
    return (per_seq_B * has_tokens_B).sum() / has_tokens_B.sum().clamp(min=1)


def token_mean(loss_BT, mask_BT, max_length=None):
    """DAPO: mean over every token of the batch, so long sequences weigh more."""
    return masked_mean(loss_BT, mask_BT)


def seq_mean_token_sum_norm(loss_BT, mask_BT, max_length=None):
    """Dr.GRPO: sum over each sequence's tokens divided by a constant (max completion length), mean over sequences."""
    if not max_length:
        raise ValueError("seq_mean_token_sum_norm needs max_length (the generation's max_new_tokens)")
    return ((loss_BT * mask_BT).sum(dim=1) / max_length).mean()


AGGREGATIONS = {
    "seq_mean_token_mean": seq_mean_token_mean,
    "token_mean": token_mean,
    "seq_mean_token_sum_norm": seq_mean_token_sum_norm,
}


def aggregate(loss_BT, mask_BT, mode: str, max_length: int | None = None):
    """Reduce a [B, T] loss to a scalar; `mode` is a key of AGGREGATIONS (like verl's agg_loss)."""
    if mode not in AGGREGATIONS:
        raise KeyError(f"unknown loss aggregation {mode!r}; valid: {', '.join(AGGREGATIONS)}")
    return AGGREGATIONS[mode](loss_BT, mask_BT, max_length=max_length)


def aggregate_share(mask_BT, mode: str) -> float:
    """The weight of one micro-batch's aggregated loss within its step: sequences (or tokens, for token_mean)
    that carry loss. Dividing each micro-batch's share by the step's total makes gradient accumulation
    equal to aggregating the whole batch at once."""
    if mode == "token_mean":
        return float(mask_BT.sum())
    return float((mask_BT.sum(dim=1) > 0).sum()) if mode == "seq_mean_token_mean" else float(mask_BT.shape[0])


def clipped_value_loss(values_BT, old_values_BT, returns_BT, clip: float):
    """PPO value loss with value clipping (as verl, OpenRLHF, ORZ):
    loss = 0.5 * max((V - R)^2, (clip(V, V_old - c, V_old + c) - R)^2). clip <= 0 turns clipping off.
    Returns (loss_BT, clipped_BT), clipped_BT marking tokens where the clipped term is the larger one."""
    unclipped_BT = (values_BT - returns_BT) ** 2
    if clip <= 0:
        return 0.5 * unclipped_BT, torch.zeros_like(unclipped_BT)
    clipped_values_BT = old_values_BT + (values_BT - old_values_BT).clamp(-clip, clip)
    clipped_loss_BT = (clipped_values_BT - returns_BT) ** 2
    return 0.5 * torch.maximum(unclipped_BT, clipped_loss_BT), (clipped_loss_BT > unclipped_BT).float()


def explained_variance(values_BT, returns_BT, mask_BT) -> float:
    """1 - Var(R - V) / Var(R) over the valid tokens: 1 for a perfect critic, 0 for one that predicts the mean,
    negative for worse. NaN when the returns do not vary."""
    mask_BT = mask_BT.float()
    var_returns = masked_mean((returns_BT - masked_mean(returns_BT, mask_BT)) ** 2, mask_BT)
    residual_BT = returns_BT - values_BT
    var_residual = masked_mean((residual_BT - masked_mean(residual_BT, mask_BT)) ** 2, mask_BT)
    if float(var_returns) <= 1e-12:
        return float("nan")
    return float(1 - var_residual / var_returns)


def adaptive_kl_coef(coef: float, observed_kl: float, target_kl: float, horizon: int, n_samples: int) -> float:
    """Ziegler et al. 2019's controller (verl's AdaptiveKLController): the proportional error
    e = clip(KL / target - 1, -0.2, 0.2) moves the coefficient as coef * (1 + e * n_samples / horizon)."""
    error = min(max(observed_kl / target_kl - 1.0, -0.2), 0.2)
    return coef * (1.0 + error * n_samples / horizon)
