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


# ---------------------------------------------------------------- policy-loss variants (algorithm.policy_loss)
#
# Every entry of POLICY_LOSSES has the signature
#     fn(logp_BT, old_logp_BT, adv, mask_BT, *, clip_low, clip_high, clip_ratio_c, cispo_cap, tau_pos, tau_neg)
#         -> (loss_BT, clipped_BT)
# and takes the parameters it needs (the rest arrive in **_). `adv` is adv_B (one advantage per sequence) or adv_BT.
# loss_BT is reduced by aggregate(); clipped_BT marks the tokens whose gradient a clip (or gate cap) removed.
# Sources checked: verl verl/trainer/ppo/core_algos.py (compute_policy_loss_vanilla / _gspo / _sapo / _cispo) and
# TRL trl/trainer/grpo_trainer.py (_compute_loss: importance_sampling_level, loss_type cispo / sapo).

LOG_RATIO_CLAMP = 20.0
"""|log r| is clamped here before any exp (verl's SAPO and dual-clip paths), so one stale token cannot overflow."""
GSPO_LOG_RATIO_MAX = 10.0
"""verl clamps the sequence log-ratio of GSPO at 10 before the exp."""


def _per_token(adv, like_BT):
    return adv.unsqueeze(1).expand_as(like_BT) if adv.ndim == 1 else adv


def dual_clip(loss_BT, adv_BT, clip_ratio_c: float):
    """Dual-clip PPO (Ye et al. 2020, arXiv:1912.09729): for A < 0 the loss is capped at -A * c, so a token whose
    ratio ran far above 1 + clip_high cannot push its probability down without bound (c = 0: off).
    Returns (loss_BT, capped_BT)."""
    if not clip_ratio_c:
        return loss_BT, torch.zeros_like(loss_BT)
    cap_BT = -adv_BT * clip_ratio_c
    capped_BT = ((adv_BT < 0) & (loss_BT > cap_BT)).float()
    return torch.where(adv_BT < 0, torch.minimum(loss_BT, cap_BT), loss_BT), capped_BT


def ppo_clip_policy_loss(logp_BT, old_logp_BT, adv, mask_BT, *, clip_low: float, clip_high: float,
                         clip_ratio_c: float = 0.0, **_):
    """PPO (Schulman et al. 2017) clipped surrogate with clip-higher (DAPO) and optional dual-clip:
    loss = -min(r A, clip(r, 1 - clip_low, 1 + clip_high) A), then for A < 0 min(loss, -c A)."""
    loss_BT, clipped_BT = clipped_policy_loss(logp_BT, old_logp_BT, adv, clip_low, clip_high)
    loss_BT, capped_BT = dual_clip(loss_BT, _per_token(adv, loss_BT), clip_ratio_c)
    return loss_BT, torch.maximum(clipped_BT, capped_BT)


def sequence_log_ratio(logp_BT, old_logp_BT, mask_BT):
    """GSPO's log s_i = mean over sequence i's valid tokens of (logp - old_logp) -> log_ratio_B (0 for empty rows)."""
    return masked_mean(logp_BT - old_logp_BT, mask_BT, dim=1)


def gspo_policy_loss(logp_BT, old_logp_BT, adv, mask_BT, *, clip_low: float, clip_high: float, **_):
    """GSPO (Zheng et al. 2025, arXiv:2507.18071), GSPO-token form as verl's loss_mode=gspo: the per-token ratio
    s_it = sg(s_i) * pi(y_t) / sg(pi(y_t)) with s_i = exp(mean_t log r_t) carries the sequence's ratio in its
    value and one token's gradient, loss = -min(s_it A, clip(s_it, 1 - clip_low, 1 + clip_high) A). With one
    advantage per sequence and seq_mean_token_mean this is the paper's sequence objective; its clip bounds are
    ~1e-3 scale (paper: 3e-4 / 4e-4). No dual-clip (as verl)."""
    log_s_B = sequence_log_ratio(logp_BT, old_logp_BT, mask_BT).clamp(max=GSPO_LOG_RATIO_MAX)
    log_s_BT = log_s_B.detach().unsqueeze(1) + logp_BT - logp_BT.detach()
    s_BT = torch.exp(log_s_BT)
    adv_BT = _per_token(adv, s_BT)
    unclipped_BT = s_BT * adv_BT
    clipped_obj_BT = torch.clamp(s_BT, 1 - clip_low, 1 + clip_high) * adv_BT
    return -torch.minimum(unclipped_BT, clipped_obj_BT), (clipped_obj_BT < unclipped_BT).float()


def cispo_policy_loss(logp_BT, old_logp_BT, adv, mask_BT, *, cispo_cap: float, **_):
    """CISPO (MiniMax-M1, arXiv:2506.13585): loss = -sg(min(r, cap)) * A * logp, a REINFORCE term weighted by the
    clipped importance ratio, so every token keeps a gradient (-min(r, cap) A grad logp) whatever its ratio.
    The clip is TRL's absolute upper cap (loss_type="cispo", epsilon_high=5): MiniMax-M1 drops the lower bound,
    and verl's [1 - clip_low, 1 + clip_high] form with clip_low = 10 (its example) is the same cap at 1 + clip_high.
    clipped_BT marks the tokens whose weight the cap lowered."""
    ratio_BT = torch.exp((logp_BT - old_logp_BT).clamp(max=LOG_RATIO_CLAMP)).detach()
    weight_BT = ratio_BT.clamp(max=cispo_cap)
    return -weight_BT * _per_token(adv, logp_BT) * logp_BT, (ratio_BT > cispo_cap).float()


def sapo_gate(ratio_BT, tau_BT):
    """SAPO's soft gate f(r) = sigmoid(tau (r - 1)) * 4 / tau: f(1) = 2 / tau and f'(1) = 1, the unclipped
    objective's slope, at every temperature."""
    return torch.sigmoid(tau_BT * (ratio_BT - 1.0)) * (4.0 / tau_BT)


def sapo_policy_loss(logp_BT, old_logp_BT, adv, mask_BT, *, tau_pos: float, tau_neg: float, **_):
    """SAPO (Gao et al. 2025, arXiv:2511.20347): loss = -f(r) A with f the soft gate above, tau = tau_pos
    (paper 1.0) where A > 0, tau_neg (1.05) elsewhere; no hard clip (clipped_BT is all 0). The log-ratio is
    clamped to +-20 as in verl."""
    ratio_BT = torch.exp((logp_BT - old_logp_BT).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP))
    adv_BT = _per_token(adv, ratio_BT)
    tau_BT = torch.where(adv_BT > 0, torch.full_like(adv_BT, tau_pos), torch.full_like(adv_BT, tau_neg))
    return -sapo_gate(ratio_BT, tau_BT) * adv_BT, torch.zeros_like(ratio_BT)


POLICY_LOSSES = {
    "ppo_clip": ppo_clip_policy_loss,
    "gspo": gspo_policy_loss,
    "cispo": cispo_policy_loss,
    "sapo": sapo_policy_loss,
}


def policy_loss(name: str, logp_BT, old_logp_BT, adv, mask_BT, **params):
    """Dispatch to POLICY_LOSSES[name] (algorithm.policy_loss) -> (loss_BT, clipped_BT)."""
    if name not in POLICY_LOSSES:
        raise KeyError(f"unknown policy loss {name!r}; valid: {', '.join(POLICY_LOSSES)}")
    return POLICY_LOSSES[name](logp_BT, old_logp_BT, adv, mask_BT, **params)
