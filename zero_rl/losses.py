"""Policy-gradient losses as pure functions on [B, T] tensors (B sequences, T completion tokens).

Shapes are in names: logp_BT, mask_BT (1 for completion tokens that get loss), adv_B.
"""

import torch


def masked_mean(values: torch.Tensor, mask: torch.Tensor, dim=None) -> torch.Tensor:
    return (values * mask).sum(dim=dim) / mask.sum(dim=dim).clamp(min=1)


def clipped_policy_loss(logp_BT, old_logp_BT, adv_B, clip_low: float, clip_high: float):
    """PPO clipped surrogate with separate bounds (DAPO clip-higher).

    loss = -min(ratio * A, clip(ratio, 1 - clip_low, 1 + clip_high) * A), ratio = exp(logp - old_logp).
    Returns (loss_BT, clipped_BT) where clipped_BT marks tokens whose gradient the clip removed.
    """
    ratio_BT = torch.exp(logp_BT - old_logp_BT)
    adv_BT = adv_B.unsqueeze(1)
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


def kl_k3(logp_BT, ref_logp_BT):
    """k3 = ref/pi - 1 - log(ref/pi) (Schulman 2020; GRPO paper): unbiased, non-negative."""
    log_ratio_BT = ref_logp_BT - logp_BT
    return torch.exp(log_ratio_BT) - 1 - log_ratio_BT


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
